// Type-checked against the committed index.d.ts (`npm run typecheck`): the
// README's example and the shapes a backend relies on. Never run.
import { Crm, type Campaign, type Communication, type Customer, type CustomerScore, type ImportSummary, type OutboxEvent, type PointsApplied, type RowIssue, type Template } from '..'

async function pos(): Promise<void> {
  const crm = await Crm.connect('sqlite:///var/lib/pos/crm.db', { maxConnections: 8, acquireTimeoutMs: 5000 })
  const customer: Customer = await crm.customers.create({
    name: 'Toko Sinar Jaya',
    email: 'owner@sinarjaya.co.id',
    phone: '0812-3456-7890',
    customerType: 'RETAIL',
  })
  const code: string = customer.customerCode
  const id: number = customer.id
  const sale = await crm.loyalty.recordPurchase({
    customerId: id,
    storeId: 'JKT-01',
    receiptId: 'R-1001',
    purchaseDate: new Date().toISOString(),
    totalAmount: '125000.50',
  })
  const earned: number | undefined = sale.earned?.points
  const applied: PointsApplied = await crm.loyalty.earn({ customerId: id, points: 100, referenceType: 'promo', referenceId: 'welcome' })
  const balance: number = (await crm.loyalty.balance(id)).available
  try {
    await crm.loyalty.redeem({ customerId: id, points: 1_000_000, referenceType: 'voucher', referenceId: 'v-1' })
  } catch (err) {
    const e = err as Error & { code?: string; available?: number }
    if (e.code === 'insufficient_points') console.log(e.available)
  }
  const page = await crm.customers.list({ q: 'Toko', limit: 10, sort: 'name', direction: 'asc' })
  const names: string[] = page.items.map((c) => c.name)
  const next: string | undefined = page.nextCursor
  for await (const event of crm.events.subscribe({ after: 0 })) {
    const e: OutboxEvent = event
    if (e.eventType === 'loyalty_points') break
  }
  for await (const batch of crm.analytics.scoreBatches({ batchSize: 1000 })) {
    const scores: CustomerScore[] = batch
    const churn: number = scores[0].churnProbability
    const segment: 'CHAMPION' | 'LOYAL' | 'POTENTIAL_LOYAL' | 'AT_RISK' | 'LOST' = scores[0].segment
    console.log(churn, segment, scores[0].T)
  }
  const template: Template = await crm.comms.createTemplate({
    name: 'Poin',
    channel: 'email',
    locale: 'id',
    subject: 'Poin Anda, {customer_name}',
    text: 'Halo {customer_name}: {loyalty_points}',
  })
  await crm.comms.setConsent({ customerId: id, channel: 'email', granted: true, source: 'till' })
  const campaign: Campaign = await crm.comms.createCampaign({ name: 'Dec', templateId: template.id, target: { segment: 'CHAMPION' } })
  const progress: number = (await crm.comms.sendCampaign({ campaignId: campaign.id })).progress.sent
  const log: Communication[] = await crm.comms.communications({ customerId: id })
  console.log(progress, log.length)
  const imported: ImportSummary = await crm.customers.importCsv('/var/lib/pos/pelanggan.csv', {
    onDuplicate: 'update',
    dryRun: true,
    runId: 'pelanggan-2026-12',
    report: '/var/lib/pos/pelanggan.rejected.csv',
    mapping: { 'Nama Toko': 'name', 'Kode Pos': 'address.postalCode' },
    delimiter: ';',
    batchSize: 500,
  })
  const created: number = imported.totals.created
  const rejected: RowIssue[] = imported.issues.filter((i) => i.status === 'rejected')
  const firstField: string | undefined = rejected[0]?.field
  const existingCode: string | undefined = imported.issues[0]?.existingCode
  const header: string | undefined = imported.mapping[0]?.header
  const exported: number = await crm.customers.exportCsv('/tmp/pelanggan.csv', { tag: 'vip', status: 'all' })
  console.log(created, firstField, existingCode, header, exported, imported.report, imported.ignoredColumns.length)
  const manager = crm.actingAs({ user: 'ana@example.com', role: 'manager' })
  await manager.customers.update({ id, email: null })
  await crm.close()
  console.log(code, earned, applied.replayed, balance, names, next)
}

// @ts-expect-error customerType is a closed set
void (async () => (await Crm.connect('sqlite::memory:')).customers.create({ name: 'x', customerType: 'ALIEN' }))()

// @ts-expect-error onDuplicate is a closed set
void (async () => (await Crm.connect('sqlite::memory:')).customers.importCsv('x.csv', { onDuplicate: 'merge' }))()

void pos
