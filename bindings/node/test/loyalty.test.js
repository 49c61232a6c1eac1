'use strict'
const assert = require('node:assert/strict')
const { test } = require('node:test')
const { eachBackend, uniq, email, rejection } = require('./helpers')

eachBackend('loyalty', (ctx) => {
  const newCustomer = () => ctx.crm.customers.create({ name: 'Pelanggan Setia', email: email() })

  test('a purchase earns points; the same receipt again answers the first answer', async () => {
    const c = await newCustomer()
    const receipt = { customerId: c.id, storeId: 'JKT-01', receiptId: uniq('rcpt'), purchaseDate: '2026-11-02T09:30:00+07:00', totalAmount: '125000.50' }
    const first = await ctx.crm.loyalty.recordPurchase(receipt)
    assert.equal(first.replayed, false)
    assert.equal(first.purchase.totalAmount, '125000.50')
    assert.equal(first.purchase.purchaseDate, '2026-11-02T02:30:00Z')
    assert.equal(first.purchase.currency, 'IDR')
    assert.ok(first.earned.points > 0)
    const again = await ctx.crm.loyalty.recordPurchase(receipt)
    assert.equal(again.replayed, true)
    assert.deepEqual(again.purchase, first.purchase)
    const balance = await ctx.crm.loyalty.balance(c.id)
    assert.equal(balance.balance, first.earned.points)
    assert.deepEqual(await ctx.crm.loyalty.purchase({ storeId: 'JKT-01', receiptId: receipt.receiptId }), first.purchase)
    assert.equal(await ctx.crm.loyalty.purchase({ storeId: 'JKT-01', receiptId: 'never' }), null)
  })

  test('money is exact: a float with more than two decimals is refused', async () => {
    const c = await newCustomer()
    const err = await rejection(
      ctx.crm.loyalty.recordPurchase({ customerId: c.id, storeId: 'S', receiptId: uniq('r'), purchaseDate: '2026-11-02T09:30:00Z', totalAmount: 0.1 + 0.2 }),
    )
    assert.equal(err.code, 'validation')
    assert.deepEqual(err.fields.map((f) => f.field), ['totalAmount'])
  })

  test('earn, redeem, adjust; insufficient points carries what is available; a refusal is final', async () => {
    const c = await newCustomer()
    const earn = await ctx.crm.loyalty.earn({ customerId: c.id, points: 500, referenceType: 'promo', referenceId: uniq('p') })
    assert.equal(earn.entry.entryType, 'EARN')
    assert.equal(earn.entry.balanceAfter, 500)
    const redeem = { customerId: c.id, points: 800, referenceType: 'voucher', referenceId: uniq('v') }
    const err = await rejection(ctx.crm.loyalty.redeem(redeem))
    assert.equal(err.code, 'insufficient_points')
    assert.equal(err.available, 500)
    assert.equal(err.requested, 800)
    await ctx.crm.loyalty.earn({ customerId: c.id, points: 1000, referenceType: 'promo', referenceId: uniq('p') })
    const replay = await rejection(ctx.crm.loyalty.redeem(redeem))
    assert.equal(replay.code, 'insufficient_points')
    assert.equal(replay.available, 500)
    const ok = await ctx.crm.loyalty.redeem({ ...redeem, referenceId: uniq('v') })
    assert.equal(ok.entry.points, -800)
    const adj = await ctx.crm.loyalty.adjust({ customerId: c.id, points: -50, referenceType: 'correction', referenceId: uniq('a') })
    assert.equal(adj.entry.balanceAfter, 650)
    const check = await ctx.crm.loyalty.checkBalance(c.id)
    assert.equal(check.consistent, true)
    assert.equal(check.storedBalance, 650)
    const summary = await ctx.crm.loyalty.summary(c.id)
    assert.equal(summary.balance, 650)
    assert.ok(summary.recentEntries.length >= 4)
  })

  test('a cashier is capped by role', async () => {
    const c = await newCustomer()
    const cashier = ctx.crm.actingAs({ user: 'kasir@example.com', role: 'cashier' })
    const err = await rejection(cashier.loyalty.earn({ customerId: c.id, points: 10001, referenceType: 'promo', referenceId: uniq('p') }))
    assert.equal(err.code, 'validation')
    assert.equal(err.fields[0].rule, 'role_cap')
    assert.throws(() => ctx.crm.actingAs({ user: 'x', role: 'owner' }), /role must be/)
  })

  test('refunds reverse points pro rata and replay', async () => {
    const c = await newCustomer()
    const receiptId = uniq('r')
    const bought = await ctx.crm.loyalty.recordPurchase({ customerId: c.id, storeId: 'S1', receiptId, purchaseDate: '2026-11-01T10:00:00Z', totalAmount: '200000' })
    const refund = { storeId: 'S1', receiptId, refundId: uniq('rf'), amount: '100000' }
    const r = await ctx.crm.loyalty.refund(refund)
    assert.equal(r.purchase.refundedAmount, '100000.00')
    assert.equal(r.purchase.totalAmount, '200000.00')
    assert.equal(r.earnReversed.points, -Math.floor(bought.earned.points / 2))
    assert.equal((await ctx.crm.loyalty.refund(refund)).replayed, true)
    const over = await rejection(ctx.crm.loyalty.refund({ ...refund, refundId: uniq('rf'), amount: '150000' }))
    assert.ok(['conflict', 'validation'].includes(over.code), over.code)
  })

  test('history import skips stored receipts and earns nothing', async () => {
    const c = await newCustomer()
    const rows = Array.from({ length: 5 }, (_, i) => ({ customerId: c.id, storeId: 'H', receiptId: `${uniq('h')}-${i}`, purchaseDate: `2025-0${i + 1}-15T08:00:00Z`, totalAmount: '50000' }))
    const first = await ctx.crm.loyalty.importHistory(rows)
    assert.equal(first.inserted, 5)
    const second = await ctx.crm.loyalty.importHistory(rows)
    assert.equal(second.skipped, 5)
    assert.deepEqual(second.skippedRows, [0, 1, 2, 3, 4])
    assert.equal((await ctx.crm.loyalty.balance(c.id)).balance, 0)
    const bad = await rejection(ctx.crm.loyalty.importHistory([{ customerId: c.id, storeId: 'H' }]))
    assert.deepEqual(bad.fields.map((f) => f.field).sort(), ['[0].purchaseDate', '[0].receiptId', '[0].totalAmount'])
    const run = await ctx.crm.loyalty.runExpiry()
    assert.equal(typeof run.points, 'number')
  })

  test('balance of an unknown customer is not_found', async () => {
    const err = await rejection(ctx.crm.loyalty.balance(987654321))
    assert.equal(err.code, 'not_found')
  })
})
