'use strict'
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { test, before, after } = require('node:test')
const { Crm } = require('crm-sdk')
const { createApp } = require('../server')

let crm
let server
let base
let dir

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'till-'))
  crm = await Crm.connect(`sqlite://${path.join(dir, 'till.db')}`)
  await new Promise((resolve) => {
    server = createApp(crm).listen(0, '127.0.0.1', resolve)
  })
  base = `http://127.0.0.1:${server.address().port}`
})

after(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  await crm.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

/** Reads server-sent events from `res` until `count` data events came. */
async function readEvents(res, count) {
  const decoder = new TextDecoder()
  const reader = res.body.getReader()
  const events = []
  let buffer = ''
  while (events.length < count) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += decoder.decode(value, { stream: true })
    let cut
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut)
      buffer = buffer.slice(cut + 2)
      const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]))
      if (fields.data) events.push({ id: Number(fields.id), event: fields.event, data: JSON.parse(fields.data) })
    }
  }
  await reader.cancel()
  return events
}

test('a till looks a customer up by phone, records a sale, shows the balance and hears the points', async () => {
  const budi = await crm.customers.create({ name: 'Budi Santoso', phone: '0812-3456-7890' })

  const stream = await fetch(`${base}/events`)
  assert.equal(stream.headers.get('content-type'), 'text/event-stream')
  const heard = readEvents(stream, 2)

  const found = await fetch(`${base}/customers/by-phone/${encodeURIComponent('+62 812-3456-7890')}`)
  assert.equal(found.status, 200)
  const customer = await found.json()
  assert.equal(customer.id, budi.id)
  assert.equal(customer.phone, '+6281234567890')

  const sale = { customerId: customer.id, storeId: 'JKT-01', receiptId: 'R-1001', totalAmount: '155000.00', purchaseDate: '2026-11-01T10:00:00Z' }
  const first = await fetch(`${base}/sales`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sale) })
  assert.equal(first.status, 201)
  const recorded = await first.json()
  assert.equal(recorded.pointsEarned, 15)
  assert.equal(recorded.totalAmount, '155000.00')

  // The till retries after a network cut: same answer, nothing earned twice.
  const retry = await fetch(`${base}/sales`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sale) })
  assert.equal(retry.status, 200)
  assert.equal((await retry.json()).replayed, true)

  const second = await fetch(`${base}/sales`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...sale, receiptId: 'R-1002', totalAmount: '52000.00' }) })
  assert.equal(second.status, 201)

  const balance = await (await fetch(`${base}/customers/${customer.id}/balance`)).json()
  assert.equal(balance.available, 20)

  const events = await heard
  assert.deepEqual(events.map((e) => e.event), ['loyalty_points', 'loyalty_points'])
  assert.ok(events[0].id < events[1].id)
  assert.equal(events[0].data.customerId, customer.id)

  // A browser reconnecting with Last-Event-ID gets only what it missed.
  await fetch(`${base}/sales`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...sale, receiptId: 'R-1003', totalAmount: '10000.00' }) })
  const resumed = await readEvents(await fetch(`${base}/events`, { headers: { 'Last-Event-ID': String(events[1].id) } }), 1)
  assert.equal(resumed.length, 1)
  assert.ok(resumed[0].id > events[1].id)
})

test('bad input and unknown customers get the SDK error codes', async () => {
  const missing = await fetch(`${base}/customers/by-phone/0899-0000-0000`)
  assert.equal(missing.status, 404)
  const bad = await fetch(`${base}/sales`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ customerId: 1, storeId: 'S', totalAmount: 'lots' }) })
  assert.equal(bad.status, 422)
  const body = await bad.json()
  assert.equal(body.error.code, 'validation')
  assert.deepEqual(body.error.fields.map((f) => f.field).sort(), ['receiptId', 'totalAmount'])
  const unknown = await fetch(`${base}/customers/987654/balance`)
  assert.equal(unknown.status, 404)
})
