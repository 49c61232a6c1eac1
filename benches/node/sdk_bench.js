// The Node package measured as a Node backend uses it: earn throughput with
// 16 concurrent calls (16 chains, each earning 25 times on its own customer:
// the shape of benches/benches/ledger.rs `earn_16_tasks_16_customers`) and
// get-by-id latency over 100,000 customers (benches/benches/customers.rs
// `get_by_id`), in-process through the addon on SQLite and MariaDB, and the
// same operations through the example HTTP server (crm-server) when
// CRM_BENCH_SERVER is given.
//
// Build the addon in release first: (cd bindings/node && npm ci && npm run build:release)
// Run: CRM_BENCH_MYSQL_URL=mysql://crm:crm@127.0.0.1:3306/x \
//      CRM_BENCH_SERVER=http://127.0.0.1:8080 CRM_BENCH_SERVER_EMAIL=... CRM_BENCH_SERVER_PASSWORD=... \
//      node benches/node/sdk_bench.js
// CRM_BENCH_ONLY_HTTP=1 skips the in-process part.
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Crm } = require('../../bindings/node')

const CUSTOMERS = Number(process.env.CRM_BENCH_CUSTOMERS ?? 100_000)
const TASKS = 16
const EARNS_PER_TASK = 25
const ROUNDS = Number(process.env.CRM_BENCH_ROUNDS ?? 15)
const GETS = Number(process.env.CRM_BENCH_GETS ?? 3000)

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]

/**
 * Runs `rounds` rounds of 16 chains x 25 earns, each round on the next set of
 * 16 customers (as benches/benches/ledger.rs rotates through 256 sets);
 * earns per second per round.
 */
async function earnRounds(earnOne, customerIds, tag) {
  const rates = []
  const sets = Math.max(1, Math.floor(customerIds.length / TASKS))
  for (let r = 0; r < ROUNDS; r++) {
    const set = customerIds.slice((r % sets) * TASKS, (r % sets) * TASKS + TASKS)
    const started = process.hrtime.bigint()
    await Promise.all(
      set.map(async (id, t) => {
        for (let i = 0; i < EARNS_PER_TASK; i++) await earnOne(id, `${tag}-${r}-${t}-${i}`)
      }),
    )
    const secs = Number(process.hrtime.bigint() - started) / 1e9
    rates.push((TASKS * EARNS_PER_TASK) / secs)
  }
  return rates
}

/** Latencies (µs) of `GETS` sequential gets spread over the table. */
async function getLatencies(getOne, firstId) {
  const lat = []
  let i = 0
  for (let k = 0; k < GETS; k++) {
    i = (i + 7919) % CUSTOMERS
    const t = process.hrtime.bigint()
    await getOne(firstId + i)
    lat.push(Number(process.hrtime.bigint() - t) / 1e3)
  }
  return lat.slice(Math.floor(GETS / 10)) // warm-up
}

async function load(crm) {
  const started = Date.now()
  let first
  for (let i = 0; i < CUSTOMERS; i += 5000) {
    const rows = []
    for (let j = i; j < Math.min(i + 5000, CUSTOMERS); j++) {
      rows.push({ name: `Bench Customer ${j}`, email: `customer${j}@example.co.id`, phone: `+62812${String(j).padStart(8, '0')}` })
    }
    const created = await crm.customers.import(rows)
    first ??= created[0].id
  }
  return { first, secs: (Date.now() - started) / 1000 }
}

function report(label, rates, lat) {
  const r = rates ? `earn ${median(rates).toFixed(0)}/s (min ${Math.min(...rates).toFixed(0)}, max ${Math.max(...rates).toFixed(0)})` : ''
  const l = lat ? `get-by-id median ${median(lat).toFixed(0)} µs, p99 ${pct(lat, 0.99).toFixed(0)} µs` : ''
  console.log(`${label.padEnd(34)} ${r}${r && l ? '; ' : ''}${l}`)
}

async function inProcess(name, url, cleanup) {
  const crm = await Crm.connect(url, { maxConnections: 16 })
  try {
    const { first, secs } = await load(crm)
    console.log(`${name}: loaded ${CUSTOMERS} customers in ${secs.toFixed(1)} s`)
    const ids = Array.from({ length: TASKS * 256 }, (_, t) => first + t)
    const earn = (id, key) => crm.loyalty.earn({ customerId: id, points: 1, referenceType: 'bench', referenceId: key })
    const rates = await earnRounds(earn, ids, 'node')
    const lat = await getLatencies((id) => crm.customers.get(id), first)
    report(`Node in-process, ${name}`, rates, lat)
  } finally {
    await crm.close()
    await cleanup()
  }
}

async function overHttp(base) {
  const login = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: process.env.CRM_BENCH_SERVER_EMAIL, password: process.env.CRM_BENCH_SERVER_PASSWORD }),
  })
  if (!login.ok) throw new Error(`login failed: ${login.status} ${await login.text()}`)
  const { data } = await login.json()
  const auth = { authorization: `Bearer ${data.token}`, 'content-type': 'application/json' }
  const list = await (await fetch(`${base}/api/customers?limit=100&sort=id`, { headers: auth })).json()
  const items = Array.isArray(list.data) ? list.data : list.data.items
  const ids = items.slice(0, TASKS * 6).map((c) => c.id)
  const total = list.meta?.total ?? list.data.total
  const earn = async (id, key) => {
    const res = await fetch(`${base}/api/customers/${id}/loyalty/earn`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ points: 1, reference_type: 'bench', reference_id: key }),
    })
    if (res.status !== 201) throw new Error(`earn: ${res.status} ${await res.text()}`)
    await res.arrayBuffer()
  }
  const rates = await earnRounds(earn, ids, `http-${Date.now()}`)
  const first = ids[0]
  const lat = await getLatencies(async (id) => {
    const res = await fetch(`${base}/api/customers/${first + ((id - first) % Math.max(1, total ?? 1))}`, { headers: auth })
    await res.arrayBuffer()
  }, first)
  report(`HTTP crm-server (${total ?? '?'} customers)`, rates, lat)
}

async function main() {
  if (process.env.CRM_BENCH_ONLY_HTTP !== '1') await inProcessAll()
  if (process.env.CRM_BENCH_SERVER) await overHttp(process.env.CRM_BENCH_SERVER)
}

async function inProcessAll() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-node-bench-'))
  await inProcess('SQLite', `sqlite://${path.join(dir, 'bench.db')}`, async () => fs.rmSync(dir, { recursive: true, force: true }))
  const mysqlUrl = process.env.CRM_BENCH_MYSQL_URL
  if (mysqlUrl) {
    const mysql = require('../../bindings/node/node_modules/mysql2/promise')
    const base = new URL(mysqlUrl)
    const admin = await mysql.createConnection({ host: base.hostname, port: Number(base.port || 3306), user: decodeURIComponent(base.username), password: decodeURIComponent(base.password) })
    const name = `crm_bench_node_${process.pid}`
    await admin.query(`CREATE DATABASE \`${name}\``)
    base.pathname = `/${name}`
    await inProcess('MariaDB', base.toString(), async () => {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
      await admin.end()
    })
  } else {
    console.log('MariaDB: skipped (set CRM_BENCH_MYSQL_URL)')
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
