'use strict'
// Communications through the Node API, on every backend: templates and
// previews, consent and unsubscribe, campaigns and the log. (Delivery runs in
// a dispatcher, tested in Rust against a real SMTP server.)
const assert = require('node:assert/strict')
const { test } = require('node:test')
const { eachBackend, email, rejection, uniq } = require('./helpers')

eachBackend('communications', (ctx) => {
  test('templates are checked when saved and previews escape HTML', async () => {
    const bad = await rejection(
      ctx.crm.comms.createTemplate({ name: 'Bad', channel: 'email', locale: 'id', subject: 'Halo {nama}', text: '{oops' }),
    )
    assert.equal(bad.code, 'validation')
    assert.deepEqual(
      bad.fields.map((f) => [f.field, f.rule]).sort(),
      [
        ['subject', 'placeholder'],
        ['text', 'syntax'],
      ],
    )
    const t = await ctx.crm.comms.createTemplate({
      name: 'Poin',
      channel: 'email',
      locale: 'id',
      subject: 'Poin Anda, {customer_name}',
      text: 'Halo {customer_name}, poin {loyalty_points}',
      html: '<p>Halo {customer_name}</p>',
    })
    assert.equal(t.channel, 'email')
    assert.match(t.createdAt, /Z$/)
    assert.deepEqual(await ctx.crm.comms.template(t.id), t)
    const c = await ctx.crm.customers.create({ name: '<b>Budi</b> & Co', email: email() })
    const r = await ctx.crm.comms.preview({ templateId: t.id, customerId: c.id })
    assert.equal(r.subject, 'Poin Anda, <b>Budi</b> & Co')
    assert.equal(r.html, '<p>Halo &lt;b&gt;Budi&lt;/b&gt; &amp; Co</p>')
    const missing = await rejection(ctx.crm.comms.preview({ templateId: t.id, customerId: 987654321 }))
    assert.equal(missing.code, 'not_found')
  })

  test('consent is a history and the unsubscribe link opts out once', async () => {
    const c = await ctx.crm.customers.create({ name: 'Sari', email: email() })
    const first = await ctx.crm.comms.setConsent({ customerId: c.id, channel: 'email', granted: true, source: 'till' })
    assert.equal(first.granted, true)
    assert.equal(first.customerId, c.id)
    const url = await ctx.crm.comms.unsubscribeUrl(c.id, 'email', 3)
    const token = url.split('token=')[1]
    const out = await ctx.crm.comms.unsubscribe(token)
    assert.equal(out.granted, false)
    assert.equal((await ctx.crm.comms.unsubscribe(token)).id, out.id)
    const now = await ctx.crm.comms.consent(c.id)
    assert.deepEqual([now.email, now.sms, now.history.length], [false, false, 2])
    const forged = await rejection(ctx.crm.comms.unsubscribe(token.slice(0, -2) + 'xx'))
    assert.equal(forged.code, 'validation')
    assert.equal(forged.fields[0].field, 'token')
    const bad = await rejection(ctx.crm.comms.setConsent({ customerId: c.id, channel: 'fax', granted: 'yes' }))
    assert.deepEqual(bad.fields.map((f) => f.field).sort(), ['channel', 'granted', 'source'])
  })

  test('campaigns are created, scheduled, sent and read back', async () => {
    const tag = uniq('promo')
    const c = await ctx.crm.customers.create({ name: 'Tono', email: email(), tags: [tag] })
    const t = await ctx.crm.comms.createTemplate({ name: 'T', channel: 'email', locale: 'en', subject: 'Hi', text: 'Hi {customer_name}' })
    const bad = await rejection(ctx.crm.comms.createCampaign({ name: '', templateId: t.id, target: { segment: 'VIP' } }))
    assert.deepEqual(bad.fields.map((f) => f.field).sort(), ['name', 'target.segment'])
    const camp = await ctx.crm.comms.createCampaign({ name: 'Dec', templateId: t.id, target: { tag } })
    assert.deepEqual([camp.status, camp.target, camp.quietHours], ['draft', { tag }, 'defer'])
    const at = new Date(Date.now() + 86_400_000).toISOString()
    const scheduled = await ctx.crm.comms.sendCampaign({ campaignId: camp.id, at })
    assert.equal(scheduled.status, 'scheduled')
    const sending = await ctx.crm.comms.sendCampaign({ campaignId: camp.id })
    assert.equal(sending.status, 'sending')
    assert.deepEqual([sending.progress.recipients, sending.progress.pending], [1, 1])
    assert.ok((await ctx.crm.comms.campaigns()).some((x) => x.id === camp.id))
    assert.deepEqual(await ctx.crm.comms.communications({ customerId: c.id, limit: 5 }), [])
  })
})
