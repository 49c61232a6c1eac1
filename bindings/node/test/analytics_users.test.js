'use strict'
const assert = require('node:assert/strict')
const { test } = require('node:test')
const { eachBackend, email, rejection, Crm } = require('./helpers')

eachBackend('analytics and users', (ctx) => {
  test('scores every customer with purchases, as an array and in batches', async () => {
    const rows = []
    const customers = await ctx.crm.customers.import(
      Array.from({ length: 30 }, (_, i) => ({ name: `Analytic ${i}`, email: email() })),
    )
    customers.forEach((c, i) => {
      for (let k = 0; k <= i % 4; k++) {
        const month = String(1 + ((i + k * 3) % 12)).padStart(2, '0')
        rows.push({ customerId: c.id, storeId: 'A', receiptId: `a-${c.id}-${k}`, purchaseDate: `2025-${month}-1${k}T10:00:00Z`, totalAmount: `${10000 * (k + 1) + i}.25` })
      }
    })
    await ctx.crm.loyalty.importHistory(rows)
    const model = await ctx.crm.analytics.refit()
    assert.equal(typeof model, 'object')
    assert.equal(model.customers, 30)
    const all = await ctx.crm.analytics.scoreAll()
    assert.equal(all.length, 30)
    const one = all.find((s) => s.customerId === customers[7].id)
    assert.ok(['CHAMPION', 'LOYAL', 'POTENTIAL_LOYAL', 'AT_RISK', 'LOST'].includes(one.segment))
    assert.match(one.lifetimeValue, /^-?\d+(\.\d+)?$/)
    assert.equal(typeof one.T, 'number')
    assert.equal(one.rfm.recency >= 1 && one.rfm.recency <= 5, true)
    assert.deepEqual(await ctx.crm.analytics.customer(customers[7].id), one)

    const batches = []
    for await (const batch of ctx.crm.analytics.scoreBatches({ batchSize: 7 })) {
      assert.ok(batch.length <= 7)
      batches.push(batch)
    }
    assert.equal(batches.length, 5)
    assert.deepEqual(batches.flat().map((s) => s.customerId).sort((a, b) => a - b), all.map((s) => s.customerId).sort((a, b) => a - b))

    const segments = await ctx.crm.analytics.segments()
    assert.equal(segments.reduce((n, s) => n + s.customers, 0), 30)
    // The listing filters by the placements of the last fit.
    const inSegment = await ctx.crm.customers.list({ segment: one.segment, limit: 100 })
    assert.equal(inSegment.total, segments.find((s) => s.segment === one.segment).customers)
    assert.ok(inSegment.items.some((c) => c.id === customers[7].id))
    const inCell = await ctx.crm.customers.list({ recencyScore: one.rfm.recency, frequencyScore: one.rfm.frequency, limit: 100 })
    assert.ok(inCell.items.some((c) => c.id === customers[7].id))
    const outOfRange = await rejection(ctx.crm.customers.list({ recencyScore: 6 }))
    assert.equal(outOfRange.fields[0].field, 'recencyScore')
    const fit = await ctx.crm.analytics.lastFit()
    assert.equal(fit.model.customers, 30)
    await ctx.crm.analytics.loadModel(JSON.stringify(model))
    await ctx.crm.analytics.loadModel(model)
    const bad = await rejection(ctx.crm.analytics.loadModel({ nonsense: true }))
    assert.equal(bad.code, 'validation')
  })

  test('users: create, authenticate, roles, the last admin', async () => {
    const admin = await ctx.crm.users.create({ email: email(), password: 'correct horse battery', role: 'admin' })
    assert.equal(admin.role, 'admin')
    assert.equal(admin.active, true)
    const who = await ctx.crm.users.authenticate({ email: admin.email, password: 'correct horse battery' })
    assert.equal(who.id, admin.id)
    const wrong = await rejection(ctx.crm.users.authenticate({ email: admin.email, password: 'wrong password!' }))
    assert.equal(wrong.code, 'unauthorized')
    const cashier = await ctx.crm.users.create({ email: email(), password: 'till password 1', role: 'cashier' })
    const promoted = await ctx.crm.users.setRole({ id: cashier.id, role: 'manager' })
    assert.equal(promoted.role, 'manager')
    assert.ok(promoted.tokenVersion > cashier.tokenVersion)
    const lastAdmin = await rejection(ctx.crm.users.setRole({ id: admin.id, role: 'analyst' }))
    assert.equal(lastAdmin.code, 'conflict')
    assert.equal(lastAdmin.reason, 'last_admin')
    await ctx.crm.users.changePassword({ id: cashier.id, currentPassword: 'till password 1', newPassword: 'till password 2' })
    await ctx.crm.users.resetPassword({ id: cashier.id, newPassword: 'till password 3' })
    assert.equal((await ctx.crm.users.disable(cashier.id)).active, false)
    assert.equal((await ctx.crm.users.enable(cashier.id)).active, true)
    assert.equal((await ctx.crm.users.get(cashier.id)).email, cashier.email)
    assert.ok((await ctx.crm.users.list()).length >= 2)
    const invalid = await rejection(ctx.crm.users.create({ email: 'nope', password: 'x', role: 'cashier' }))
    assert.equal(invalid.code, 'validation')
    assert.deepEqual(invalid.fields.map((f) => f.field).sort(), ['email', 'password'])
  })

  test('close() releases the pool and later calls reject', async () => {
    const other = await Crm.connect(ctx.url, { maxConnections: 2, acquireTimeoutMs: 2000 })
    assert.equal(other.backend, ctx.backend)
    await other.ping()
    const customers = other.customers
    await other.close()
    const err = await rejection(customers.list())
    assert.equal(err.code, 'unavailable')
    assert.match(err.message, /closed/)
    await assert.rejects(other.ping(), (e) => e.code === 'unavailable')
  })
})

test('connect rejects a bad URL with a code', async () => {
  const err = await rejection(Crm.connect('postgres://nowhere/db'))
  assert.equal(typeof err.code, 'string')
  assert.ok(err.message.length > 0)
})
