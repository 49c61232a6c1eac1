'use strict'
// customers.importCsv / customers.exportCsv: customer CSV files through
// crm-csv and crm-core's rules, on every backend.
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { test, before, after } = require('node:test')
const { eachBackend, uniq, email, phone, rejection, Crm } = require('./helpers')

let dir
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-node-csv-'))
})
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

/** Writes `lines` to a new CSV file in the temp dir; returns its path. */
function csvFile(lines) {
  const file = path.join(dir, `${uniq('import')}.csv`)
  fs.writeFileSync(file, lines.join('\n') + '\n')
  return file
}

/** A file of good rows, invalid rows and duplicates; `stored` is an email already in the CRM. */
function mixedFile(stored, tag) {
  const [a, b, c, d] = [email(), email(), email(), email()]
  const file = csvFile([
    'Nama Pelanggan,Email,No. HP,Limit Kredit,Kota,Tags,Catatan',
    `Toko Sinar Jaya,${a},,1500000,Bandung,${tag},langganan`, // 2: created
    `Warung Bu Siti,not-an-email,,,Jakarta,${tag},`, // 3: bad email
    `,${b},,,Surabaya,${tag},`, // 4: blank name
    `Toko Kredit,${c},,1.500.000,Medan,${tag},`, // 5: ambiguous credit limit
    `Toko Sinar Jaya Dua,${a.toUpperCase()},,,Bandung,${tag},`, // 6: same email as line 2
    `Toko Lama Baru,${stored},,,Bogor,${tag},`, // 7: a stored customer
    `Toko Maju,${d},,250000.50,Depok,${tag},`, // 8: created
  ])
  return { file, emails: { a, b, c, d } }
}

const TOTALS_ZERO = { rows: 0, created: 0, updated: 0, unchanged: 0, skipped: 0, duplicates: 0, rejected: 0, line: 0 }

eachBackend('customers CSV files', (ctx) => {
  test('importCsv creates the good rows and lists every bad row and duplicate', async () => {
    const existing = await ctx.crm.customers.create({ name: 'Toko Lama', email: email() })
    const tag = uniq('imp')
    const { file, emails } = mixedFile(existing.email, tag)
    const report = path.join(dir, `${uniq('rejected')}.csv`)

    const summary = await ctx.crm.customers.importCsv(file, { report })

    assert.deepEqual(summary.totals, { ...TOTALS_ZERO, rows: 7, created: 2, skipped: 1, rejected: 4, line: 8 })
    assert.equal(summary.dryRun, false)
    assert.equal(summary.alreadyDone, false)
    assert.equal(summary.resumedAfter, 0)
    assert.equal(summary.issuesTruncated, false)
    assert.equal(summary.report, report)
    assert.deepEqual(
      summary.issues.map((i) => [i.line, i.status, i.field, i.rule]),
      [
        [3, 'rejected', 'email', 'email'],
        [4, 'rejected', 'name', 'required'],
        [5, 'rejected', 'creditLimit', 'decimal'],
        [6, 'rejected', 'email', 'duplicate_in_file'],
        [7, 'skipped', 'email', 'duplicate'],
      ],
    )
    for (const i of summary.issues) assert.ok(i.message.length > 0, JSON.stringify(i))
    assert.equal(summary.issues[4].existingCode, existing.customerCode)
    assert.equal(summary.issues[0].existingCode, undefined)
    assert.deepEqual(summary.mapping, [
      { header: 'Nama Pelanggan', field: 'name' },
      { header: 'Email', field: 'email' },
      { header: 'No. HP', field: 'phone' },
      { header: 'Limit Kredit', field: 'creditLimit' },
      { header: 'Kota', field: 'address.city' },
      { header: 'Tags', field: 'tags' },
    ])
    assert.deepEqual(summary.ignoredColumns, ['Catatan'])

    // What is stored: the two good rows, read as written; the stored
    // customer the file repeats is untouched (policy skip).
    const page = await ctx.crm.customers.list({ tag, sort: 'name', direction: 'asc' })
    assert.equal(page.total, 2)
    const [maju, jaya] = page.items
    assert.equal(jaya.name, 'Toko Sinar Jaya')
    assert.equal(jaya.email, emails.a)
    assert.equal(jaya.creditLimit, '1500000.00')
    assert.equal(jaya.address.city, 'Bandung')
    assert.deepEqual(jaya.tags, [tag])
    assert.equal(maju.name, 'Toko Maju')
    assert.equal(maju.creditLimit, '250000.50')
    for (const missing of [emails.b, emails.c]) {
      assert.equal((await ctx.crm.customers.list({ q: missing })).items.length, 0)
    }
    assert.deepEqual(await ctx.crm.customers.get(existing.id), existing)

    // The report file names every rejected row with its cells.
    const lines = fs.readFileSync(report, 'utf8').trim().split(/\r?\n/)
    assert.equal(lines.length, 1 + summary.issues.length)
    assert.match(lines[0], /Nama Pelanggan/)
    assert.ok(lines.some((l) => l.includes('1.500.000')), lines.join('\n'))
  })

  test('onDuplicate update and report, and a header mapping', async () => {
    const stored = await ctx.crm.customers.create({ name: 'Toko Update', email: email() })
    const file = csvFile(['Toko;Surel;Kota', `Toko Update Baru;${stored.email};Malang`])
    const reported = await ctx.crm.customers.importCsv(file, { onDuplicate: 'report', mapping: { Toko: 'name' } })
    assert.deepEqual(reported.totals, { ...TOTALS_ZERO, rows: 1, duplicates: 1, line: 2 })
    assert.deepEqual(
      reported.issues.map((i) => [i.line, i.status, i.field, i.rule, i.existingCode]),
      [[2, 'duplicate', 'email', 'duplicate', stored.customerCode]],
    )
    const updated = await ctx.crm.customers.importCsv(file, { onDuplicate: 'update', mapping: { Toko: 'name' }, delimiter: ';', batchSize: 10 })
    assert.deepEqual(updated.totals, { ...TOTALS_ZERO, rows: 1, updated: 1, line: 2 })
    const after = await ctx.crm.customers.get(stored.id)
    assert.equal(after.name, 'Toko Update Baru')
    assert.equal(after.address.city, 'Malang')
  })

  test('a dry run decides every row and writes nothing', async () => {
    const existing = await ctx.crm.customers.create({ name: 'Toko Kering', email: email() })
    const tag = uniq('dry')
    const { file } = mixedFile(existing.email, tag)
    const before = (await ctx.crm.customers.list({ status: 'all' })).total
    const summary = await ctx.crm.customers.importCsv(file, { dryRun: true })
    assert.equal(summary.dryRun, true)
    assert.deepEqual(summary.totals, { ...TOTALS_ZERO, rows: 7, created: 2, skipped: 1, rejected: 4, line: 8 })
    assert.equal(summary.issues.length, 5)
    assert.equal((await ctx.crm.customers.list({ status: 'all' })).total, before)
    assert.equal((await ctx.crm.customers.list({ tag })).total, 0)
  })

  test('exportCsv writes the filtered customers; importing the export skips them all', async () => {
    const tag = uniq('exp')
    const formula = await ctx.crm.customers.create({ name: '=HYPERLINK("http://evil")', email: email(), tags: [tag] })
    await ctx.crm.customers.create({ name: 'Toko Ekspor', phone: phone(), tags: [tag], creditLimit: '1000000.50' })
    await ctx.crm.customers.create({ name: '+Plus Toko', email: email(), phone: phone(), tags: [tag] })
    await ctx.crm.customers.create({ name: 'Not Exported', email: email() })
    const out = path.join(dir, `${uniq('export')}.csv`)

    const written = await ctx.crm.customers.exportCsv(out, { tag })
    assert.equal(written, 3)
    assert.ok(!fs.existsSync(`${out}.partial`))
    const text = fs.readFileSync(out, 'utf8')
    const lines = text.trim().split(/\r?\n/)
    assert.equal(lines.length, 4)
    assert.ok(text.includes(`'=HYPERLINK(`), text)
    assert.ok(!/(^|,)"?=HYPERLINK/m.test(text), text)
    assert.ok(text.includes(`'+Plus Toko`), text)
    assert.ok(text.includes(formula.customerCode), text)
    assert.ok(!text.includes('Not Exported'))

    const summary = await ctx.crm.customers.importCsv(out)
    assert.deepEqual(summary.totals, { ...TOTALS_ZERO, rows: 3, skipped: 3, line: 4 })
    assert.deepEqual(summary.issues.map((i) => i.status), ['skipped', 'skipped', 'skipped'])
    assert.deepEqual(summary.ignoredColumns, [])
    assert.equal((await ctx.crm.customers.list({ tag })).total, 3)
    // Into an empty CRM the export creates the same customers: the guard
    // is undone on the way back in.
    const fresh = await Crm.connect(`sqlite://${path.join(dir, `${uniq('fresh')}.db`)}`)
    try {
      const copied = await fresh.customers.importCsv(out)
      assert.deepEqual(copied.totals, { ...TOTALS_ZERO, rows: 3, created: 3, line: 4 })
      const items = (await fresh.customers.list({ sort: 'name', direction: 'asc' })).items
      assert.deepEqual(items.map((c) => c.name), ['+Plus Toko', '=HYPERLINK("http://evil")', 'Toko Ekspor'])
      assert.equal(items[1].email, formula.email)
      assert.equal(items[2].creditLimit, '1000000.50')
      assert.deepEqual(items[2].tags, [tag])
    } finally {
      await fresh.close()
    }

    // An empty result is a header only.
    const none = path.join(dir, `${uniq('none')}.csv`)
    assert.equal(await ctx.crm.customers.exportCsv(none, { tag: uniq('nobody') }), 0)
    assert.equal(fs.readFileSync(none, 'utf8').trim().split(/\r?\n/).length, 1)
  })

  test('a file without a name column rejects with a validation error', async () => {
    const file = csvFile(['Email,Kota', `${email()},Bandung`])
    const err = await rejection(ctx.crm.customers.importCsv(file))
    assert.ok(err instanceof Error)
    assert.equal(err.code, 'validation')
    assert.deepEqual(err.fields.map((f) => [f.field, f.rule]), [['path', 'missing_name_column']])
    assert.match(err.fields[0].message, /no name column/)

    const empty = csvFile([''])
    const noHeader = await rejection(ctx.crm.customers.importCsv(empty))
    assert.equal(noHeader.code, 'validation')
    assert.deepEqual(noHeader.fields.map((f) => [f.field, f.rule]), [['path', 'no_header']])

    const unknownHeader = await rejection(ctx.crm.customers.importCsv(file, { mapping: { Nama: 'name' } }))
    assert.equal(unknownHeader.code, 'validation')
    assert.deepEqual(unknownHeader.fields.map((f) => [f.field, f.rule]), [['mapping', 'unknown_header']])
  })

  test('bad options and paths reject with the SDK error shape, and nothing is written', async () => {
    const tag = uniq('opt')
    const file = csvFile(['name,email,tags', `Toko Opsi,${email()},${tag}`])
    const err = await rejection(
      ctx.crm.customers.importCsv(file, { onDuplicate: 'merge', delimiter: 'ab', dryRun: 'yes', mapping: { name: 'nickname' }, bogus: 1 }),
    )
    assert.equal(err.code, 'validation')
    assert.deepEqual(err.fields.map((f) => f.field).sort(), ['bogus', 'delimiter', 'dryRun', 'mapping', 'onDuplicate'])
    assert.equal((await ctx.crm.customers.list({ tag })).total, 0)

    const missing = await rejection(ctx.crm.customers.importCsv(path.join(dir, 'no-such-file.csv')))
    assert.equal(missing.code, 'not_found')

    const paging = await rejection(ctx.crm.customers.exportCsv(path.join(dir, `${uniq('paged')}.csv`), { page: 2 }))
    assert.equal(paging.code, 'validation')
    assert.deepEqual(paging.fields.map((f) => [f.field, f.rule]), [['page', 'not_allowed']])
    const noDir = await rejection(ctx.crm.customers.exportCsv(path.join(dir, 'no-such-dir', 'out.csv')))
    assert.equal(noDir.code, 'not_found')

    // camelCase field names are accepted in a mapping.
    const mapped = csvFile(['Toko,Limit', `Toko Limit,750000`])
    const ok = await ctx.crm.customers.importCsv(mapped, { mapping: { Toko: 'name', Limit: 'creditLimit' }, dryRun: true })
    assert.deepEqual(ok.mapping, [
      { header: 'Toko', field: 'name' },
      { header: 'Limit', field: 'creditLimit' },
    ])
  })
})
