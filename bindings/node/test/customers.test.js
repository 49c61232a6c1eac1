'use strict'
const assert = require('node:assert/strict')
const { test } = require('node:test')
const { eachBackend, uniq, phone, email, rejection } = require('./helpers')

eachBackend('customers', (ctx) => {
  test('create returns the customer with its code and normalised contact data', async () => {
    const mail = email()
    const c = await ctx.crm.customers.create({
      name: 'Toko Sinar Jaya',
      email: mail.toUpperCase(),
      phone: '0812-3456-' + String(Math.floor(Math.random() * 1e4)).padStart(4, '0'),
      customerType: 'WHOLESALE',
      creditLimit: '2500000.50',
      address: { city: 'Bandung', postalCode: '40111' },
      tags: ['vip'],
    })
    assert.equal(typeof c.id, 'number')
    assert.match(c.customerCode, /^WS\d{8}$/)
    assert.equal(c.email, mail)
    assert.match(c.phone, /^\+62812/)
    assert.equal(c.creditLimit, '2500000.50')
    assert.equal(c.address.postalCode, '40111')
    assert.deepEqual(c.tags, ['vip'])
    assert.equal(c.isActive, true)
    assert.match(c.createdAt, /^\d{4}-\d\d-\d\dT/)
    assert.equal(new Date(c.createdAt).toISOString().slice(0, 10), c.createdAt.slice(0, 10))

    assert.deepEqual(await ctx.crm.customers.get(c.id), c)
    assert.deepEqual(await ctx.crm.customers.byCode(c.customerCode), c)
  })

  test('every failing field is reported, named in camelCase', async () => {
    // Shape first: unknown and mistyped fields, all of them.
    const shape = await rejection(
      ctx.crm.customers.create({ name: 'Ok Name', customerType: 'ALIEN', creditLimit: 'x', bogusField: 1, address: { postalCode: 5 } }),
    )
    assert.ok(shape instanceof Error)
    assert.equal(shape.code, 'validation')
    assert.deepEqual(shape.fields.map((f) => f.field).sort(), ['address', 'bogusField', 'creditLimit', 'customerType'])
    // Then the rules, all of them.
    const err = await rejection(
      ctx.crm.customers.create({ name: '', email: 'not-an-email', phone: '12', creditLimit: '-5' }),
    )
    assert.equal(err.code, 'validation')
    assert.deepEqual(err.fields.map((f) => f.field).sort(), ['creditLimit', 'email', 'name', 'phone'])
    for (const f of err.fields) {
      assert.equal(typeof f.rule, 'string')
      assert.ok(f.message.length > 0)
    }
  })

  test('a duplicate names the existing customer code', async () => {
    const mail = email()
    const first = await ctx.crm.customers.create({ name: 'First Shop', email: mail })
    const err = await rejection(ctx.crm.customers.create({ name: 'Second Shop', email: mail }))
    assert.equal(err.code, 'duplicate_customer')
    assert.equal(err.existingCustomerCode, first.customerCode)
    assert.equal(err.field, 'email')
  })

  test('not found has its code; ids beyond 2^53 are refused, not rounded', async () => {
    const missing = await rejection(ctx.crm.customers.get(987654321))
    assert.equal(missing.code, 'not_found')
    const big = await rejection(ctx.crm.customers.get(2 ** 53 + 2))
    assert.equal(big.code, 'validation')
    assert.equal(big.fields[0].rule, 'safe_integer')
    const frac = await rejection(ctx.crm.customers.get(1.5))
    assert.equal(frac.code, 'validation')
    const inBody = await rejection(
      ctx.crm.loyalty.earn({ customerId: 2 ** 53 + 2, points: 1, referenceType: 'promo', referenceId: uniq('r') }),
    )
    assert.equal(inBody.code, 'validation')
    assert.deepEqual(inBody.fields.map((f) => [f.field, f.rule]), [['customerId', 'safe_integer']])
  })

  test('update changes the given fields, null clears, immutable fields are refused', async () => {
    const c = await ctx.crm.customers.create({ name: 'Warung Maju', email: email(), phone: phone() })
    const u = await ctx.crm.customers.update({ id: c.id, name: 'Warung Maju Jaya', email: null })
    assert.equal(u.name, 'Warung Maju Jaya')
    assert.equal(u.email ?? null, null)
    assert.equal(u.phone, c.phone)
    assert.ok(u.version > c.version)
    const err = await rejection(ctx.crm.customers.update({ id: c.id, customerType: 'CORPORATE', customerCode: 'X' }))
    assert.equal(err.code, 'validation')
    assert.deepEqual(err.fields.map((f) => f.field).sort(), ['customerCode', 'customerType'])
    const rule = await rejection(ctx.crm.customers.update({ id: c.id, name: '', email: 'nope' }))
    assert.deepEqual(rule.fields.map((f) => f.field).sort(), ['email', 'name'])
    const noId = await rejection(ctx.crm.customers.update({ name: 'x y' }))
    assert.deepEqual(noId.fields.map((f) => [f.field, f.rule]), [['id', 'required']])
  })

  test('import is all or none, failures named by row', async () => {
    const before = (await ctx.crm.customers.list({ status: 'all' })).total
    const err = await rejection(
      ctx.crm.customers.import([
        { name: 'Row Zero', email: email() },
        { name: 'Row One', email: 'bad' },
        { name: '', phone: phone() },
      ]),
    )
    assert.equal(err.code, 'validation')
    assert.deepEqual(err.fields.map((f) => f.field).sort(), ['[1].email', '[2].name'])
    assert.equal((await ctx.crm.customers.list({ status: 'all' })).total, before)

    const rows = Array.from({ length: 25 }, (_, i) => ({ name: `Imported ${i}`, email: email(), tags: ['imp'] }))
    const created = await ctx.crm.customers.import(rows)
    assert.equal(created.length, 25)
    assert.deepEqual(created.map((c) => c.name), rows.map((r) => r.name))
  })

  test('list filters and pages with a cursor', async () => {
    const tag = uniq('t').replace(/-/g, '')
    for (let i = 0; i < 7; i++) {
      await ctx.crm.customers.create({ name: `Paged ${i}`, email: email(), tags: [tag] })
    }
    const seen = []
    let cursor
    do {
      const page = await ctx.crm.customers.list({ tag, limit: 3, sort: 'name', cursor })
      // Counted on the first (offset) page only, unless asked.
      assert.equal(page.total ?? null, cursor === undefined ? 7 : null)
      assert.ok(page.items.length <= 3)
      seen.push(...page.items.map((c) => c.name))
      cursor = page.nextCursor ?? undefined
    } while (cursor)
    assert.deepEqual(seen, Array.from({ length: 7 }, (_, i) => `Paged ${i}`))
    const searched = await ctx.crm.customers.list({ q: 'Paged', tag, limit: 2 })
    assert.equal(searched.total ?? null, null)
    assert.ok(searched.nextCursor)
    assert.equal((await ctx.crm.customers.list({ q: 'Paged', tag, count: true })).total, 7)
    const bad = await rejection(ctx.crm.customers.list({ limit: 'many', sort: 'shoe size' }))
    assert.equal(bad.code, 'validation')
    assert.deepEqual(bad.fields.map((f) => f.field).sort(), ['limit', 'sort'])
  })

  test('deactivate, reactivate, merge and the audit trail', async () => {
    const a = await ctx.crm.customers.create({ name: 'Keeper', email: email() })
    const b = await ctx.crm.customers.create({ name: 'Duplicate', email: email() })
    assert.equal((await ctx.crm.customers.deactivate(b.id)).isActive, false)
    assert.equal((await ctx.crm.customers.reactivate(b.id)).isActive, true)
    const merged = await ctx.crm.customers.merge({ into: a.id, from: b.id, mergedBy: 'test' })
    assert.equal(merged.into.id, a.id)
    assert.equal(merged.merged.mergedInto, a.id)
    assert.equal(merged.replayed, false)
    const again = await ctx.crm.customers.merge({ into: a.id, from: b.id, mergedBy: 'test' })
    assert.equal(again.replayed, true)

    const actor = ctx.crm.actingAs({ user: 'ana@example.com', role: 'manager' })
    await actor.customers.update({ id: a.id, name: 'Keeper Two' })
    const trail = await ctx.crm.customers.audit({ customerId: a.id })
    const last = trail[trail.length - 1]
    assert.equal(last.action, 'customer.update')
    assert.equal(last.actor, 'ana@example.com')
    assert.equal(last.role, 'manager')
    const badQuery = await rejection(ctx.crm.customers.audit({ customerId: 0, limit: 100000 }))
    assert.equal(badQuery.code, 'validation')
  })

  test('erase blanks personal data and keeps the customer', async () => {
    const c = await ctx.crm.customers.create({ name: 'Forget Me', email: email(), phone: phone() })
    const erased = await ctx.crm.customers.erase(c.id)
    assert.equal(erased.id, c.id)
    assert.equal(erased.email ?? null, null)
    assert.equal(erased.phone ?? null, null)
    assert.notEqual(erased.name, 'Forget Me')
  })
})
