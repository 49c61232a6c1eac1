// A till backend on the CRM SDK: the tiny POS flow a cashier needs.
//
//   GET  /customers/by-phone/:phone   the customer with this phone (any notation)
//   POST /sales                       record a receipt; its points are earned
//   GET  /customers/:id/balance       points available now
//   GET  /events                      loyalty_points events, as server-sent events
//
// Every rule (phone normalisation, idempotent receipts, exact money, points)
// is the SDK's; this file only maps HTTP to calls and error codes to statuses.
'use strict'

const express = require('express')
const { Crm } = require('crm-sdk')

/** HTTP status of each SDK error code (the same table the Rust server uses). */
const STATUS = {
  validation: 422,
  not_found: 404,
  duplicate_customer: 409,
  insufficient_points: 409,
  idempotency_conflict: 409,
  conflict: 409,
  unauthorized: 401,
  unavailable: 503,
}

/** Sends an SDK rejection as `{ error: { code, message, fields? } }`. */
function sendError(res, err) {
  const status = STATUS[err.code] ?? 500
  const body = { code: err.code ?? 'internal', message: status === 500 ? 'internal error' : err.message }
  if (err.fields) body.fields = err.fields
  if (err.available !== undefined) body.available = err.available
  res.status(status).json({ error: body })
}

/** The Express app over a connected `Crm`. */
function createApp(crm) {
  const app = express()
  app.use(express.json({ limit: '64kb' }))

  app.get('/customers/by-phone/:phone', async (req, res) => {
    try {
      const page = await crm.customers.list({ q: req.params.phone, limit: 1 })
      if (page.items.length === 0) {
        return res.status(404).json({ error: { code: 'not_found', message: `no customer has phone ${req.params.phone}` } })
      }
      const c = page.items[0]
      res.json({ id: c.id, customerCode: c.customerCode, name: c.name, phone: c.phone })
    } catch (err) {
      sendError(res, err)
    }
  })

  app.post('/sales', async (req, res) => {
    try {
      const { customerId, storeId, receiptId, totalAmount, purchaseDate } = req.body ?? {}
      const sale = await crm.loyalty.recordPurchase({
        customerId,
        storeId,
        receiptId,
        totalAmount,
        purchaseDate: purchaseDate ?? new Date().toISOString(),
      })
      res.status(sale.replayed ? 200 : 201).json({
        purchaseId: sale.purchase.id,
        totalAmount: sale.purchase.totalAmount,
        pointsEarned: sale.earned ? sale.earned.points : 0,
        replayed: sale.replayed,
      })
    } catch (err) {
      sendError(res, err)
    }
  })

  app.get('/customers/:id/balance', async (req, res) => {
    try {
      const balance = await crm.loyalty.balance(Number(req.params.id))
      res.json(balance)
    } catch (err) {
      sendError(res, err)
    }
  })

  // Server-sent events: each loyalty_points event with its outbox id, so a
  // browser's EventSource resumes after a dropped connection (Last-Event-ID)
  // without a gap or a duplicate.
  app.get('/events', async (req, res) => {
    const lastSeen = Number(req.get('Last-Event-ID') ?? req.query.after ?? NaN)
    const after = Number.isSafeInteger(lastSeen) && lastSeen >= 0 ? lastSeen : undefined
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
    })
    res.write(': connected\n\n')
    const events = crm.events.subscribe({ after, pollMs: 100 })
    const it = events[Symbol.asyncIterator]()
    req.on('close', () => {
      it.return().catch(() => {})
    })
    try {
      for (;;) {
        const { value: event, done } = await it.next()
        if (done) break
        if (event.eventType !== 'loyalty_points') continue
        res.write(`id: ${event.id}\nevent: loyalty_points\ndata: ${JSON.stringify({ customerId: event.customerId, ...event.payload })}\n\n`)
      }
    } catch (err) {
      res.write(`event: error\ndata: ${JSON.stringify({ code: err.code ?? 'internal', message: err.message })}\n\n`)
    }
    res.end()
  })

  return app
}

module.exports = { createApp }

if (require.main === module) {
  const url = process.env.CRM_DATABASE_URL ?? 'sqlite://till.db'
  const port = Number(process.env.PORT ?? 3000)
  Crm.connect(url)
    .then((crm) => {
      const server = createApp(crm).listen(port, () => console.log(`till backend on http://127.0.0.1:${port} (${crm.backend})`))
      const stop = () => server.close(() => crm.close().then(() => process.exit(0)))
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
    .catch((err) => {
      console.error(err)
      process.exit(1)
    })
}
