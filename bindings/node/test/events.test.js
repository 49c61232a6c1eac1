'use strict'
const assert = require('node:assert/strict')
const { test } = require('node:test')
const { eachBackend, uniq, email } = require('./helpers')

eachBackend('events', (ctx) => {
  test('subscribe yields outbox events in order and resumes without gap or duplicate', async () => {
    const start = await ctx.crm.events.lastId()
    const c = await ctx.crm.customers.create({ name: 'Event Shop', email: email() })
    const refs = []
    for (let i = 0; i < 5; i++) {
      const ref = uniq('ev')
      refs.push(ref)
      await ctx.crm.loyalty.earn({ customerId: c.id, points: 10 + i, referenceType: 'promo', referenceId: ref })
    }
    const expected = (await ctx.crm.events.list({ after: start, limit: 1000 })).map((e) => e.id)
    assert.equal(expected.length, 6)

    // Read the first three, then leave the loop.
    const first = []
    for await (const event of ctx.crm.events.subscribe({ after: start, pollMs: 20 })) {
      first.push(event)
      if (first.length === 3) break
    }
    assert.equal(first[0].eventType, 'new_customer')
    assert.equal(first[0].customerId, c.id)
    // Customer events are thin: read the customer by id when wanted.
    assert.deepEqual(first[0].payload, { version: c.version })
    assert.equal(first[1].eventType, 'loyalty_points')
    assert.equal(typeof first[1].payload, 'object')
    assert.match(first[1].createdAt, /Z$/)

    // Resume after the last one seen, while more events are written.
    const seen = first.map((e) => e.id)
    const sub = ctx.crm.events.subscribe({ after: seen[seen.length - 1], pollMs: 20 })
    const more = (async () => {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 30))
        await ctx.crm.loyalty.earn({ customerId: c.id, points: 1, referenceType: 'promo', referenceId: uniq('late') })
      }
    })()
    for await (const event of sub) {
      seen.push(event.id)
      if (seen.length === 9) break
    }
    await more
    const all = (await ctx.crm.events.list({ after: start, limit: 1000 })).map((e) => e.id)
    assert.deepEqual(seen, all)
    assert.deepEqual(seen.slice(0, 6), expected)
  })

  test('without after, only new events arrive; next() after return() is done', async () => {
    await ctx.crm.customers.create({ name: 'Old News', email: email() })
    const sub = ctx.crm.events.subscribe({ pollMs: 20 })
    const it = sub[Symbol.asyncIterator]()
    const pending = it.next()
    await new Promise((r) => setTimeout(r, 100))
    const fresh = await ctx.crm.customers.create({ name: 'Fresh News', email: email() })
    const { value, done } = await pending
    assert.equal(done, false)
    assert.equal(value.customerId, fresh.id)
    assert.deepEqual(await it.return(), { value: undefined, done: true })
    assert.equal((await it.next()).done, true)
  })

  test('return() while a next() waits ends both (a client that goes away)', async () => {
    const it = ctx.crm.events.subscribe({ pollMs: 20 })[Symbol.asyncIterator]()
    const waiting = it.next()
    await new Promise((r) => setTimeout(r, 60))
    const started = Date.now()
    const [ended, returned] = await Promise.all([waiting, it.return()])
    assert.equal(ended.done, true)
    assert.equal(returned.done, true)
    assert.ok(Date.now() - started < 1000)
  })

  test('list validates its query', async () => {
    await assert.rejects(ctx.crm.events.list({ limit: 'all' }), (err) => err.code === 'validation' && err.fields[0].field === 'limit')
    await assert.rejects(ctx.crm.events.list({ after: 0, since: 3 }), (err) => err.fields[0].field === 'since')
  })
})
