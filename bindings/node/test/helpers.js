// Test set-up shared by every file: each suite runs on SQLite (a fresh file)
// and on MySQL/MariaDB when CRM_TEST_MYSQL_URL is set (a fresh database per
// file with a unique name, dropped at the end). Without the variable the
// MySQL cases are skipped, loudly; with CI=true a missing MySQL fails.
'use strict'

const { randomUUID } = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, before, after } = require('node:test')

const { Crm } = require('..')

const MYSQL_URL = (process.env.CRM_TEST_MYSQL_URL || '').trim()
const IN_CI = ['1', 'true', 'yes'].includes((process.env.CI || '').toLowerCase())

if (IN_CI && !MYSQL_URL) {
  throw new Error('CI=true but CRM_TEST_MYSQL_URL is not set: the MySQL tests cannot run')
}

/** A fresh SQLite file URL in a temporary directory. */
function sqliteUrl() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-node-'))
  return { url: `sqlite://${path.join(dir, 'crm.db')}`, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/** A fresh MySQL database beside the one CRM_TEST_MYSQL_URL names. */
async function mysqlUrl() {
  const mysql = require('mysql2/promise')
  const base = new URL(MYSQL_URL)
  const name = `crm_test_node_${randomUUID().replace(/-/g, '').slice(0, 12)}`
  const admin = await mysql.createConnection({
    host: base.hostname,
    port: Number(base.port || 3306),
    user: decodeURIComponent(base.username),
    password: decodeURIComponent(base.password),
  })
  await admin.query(`CREATE DATABASE \`${name}\``)
  const url = new URL(MYSQL_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
      await admin.end()
    },
  }
}

/**
 * `describe`s `body` once per backend; `body(ctx)` reads `ctx.crm` (a
 * connected Crm) and `ctx.backend` inside its tests.
 */
function eachBackend(title, body) {
  for (const backend of ['sqlite', 'mysql']) {
    const skip = backend === 'mysql' && !MYSQL_URL
    if (skip) {
      console.error(`\n!!! MySQL/MariaDB SKIPPED: "${title}" did not run on MySQL (set CRM_TEST_MYSQL_URL, e.g. mysql://crm:crm@127.0.0.1:3306/crm_test)\n`)
    }
    describe(`${title} [${backend}]`, { skip: skip && 'CRM_TEST_MYSQL_URL is not set' }, () => {
      const ctx = { backend }
      let db
      before(async () => {
        db = backend === 'sqlite' ? sqliteUrl() : await mysqlUrl()
        ctx.url = db.url
        ctx.crm = await Crm.connect(db.url)
      })
      after(async () => {
        if (ctx.crm) await ctx.crm.close()
        if (db) await db.drop()
      })
      body(ctx)
    })
  }
}

let counter = 0
/** A value unique within this run: `prefix-<n>-<random>`. */
function uniq(prefix = 'x') {
  counter += 1
  return `${prefix}-${counter}-${randomUUID().slice(0, 8)}`
}

/** A unique, valid Indonesian mobile number. */
function phone() {
  const digits = String(Math.floor(Math.random() * 1e8)).padStart(8, '0')
  return `0812${digits}`
}

/** A unique email. */
function email() {
  return `${uniq('c')}@example.com`
}

/** Resolves to the error a promise rejects with (fails if it resolves). */
async function rejection(promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected the call to reject, it resolved')
}

module.exports = { eachBackend, uniq, phone, email, rejection, MYSQL_URL, IN_CI, Crm }
