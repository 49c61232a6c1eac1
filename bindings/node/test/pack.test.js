'use strict'
// The package as a user gets it: `npm pack`, then `npm install` of the
// tarball into an empty project (no network, no Rust on the PATH), then the
// README's Node example, run from that project.
const assert = require('node:assert/strict')
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { test } = require('node:test')

const pkgDir = path.resolve(__dirname, '..')
const readme = path.resolve(pkgDir, '..', '..', 'README.md')

/** The first ```js block after the "## Using it from Node" heading. */
function readmeExample() {
  const text = fs.readFileSync(readme, 'utf8')
  const section = text.slice(text.indexOf('## Using it from Node'))
  const match = section.match(/```js\n([\s\S]*?)```/)
  assert.ok(match, 'README has a Node example')
  return match[1]
}

test('the packed tarball installs into a fresh project and runs the README example without Rust', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-node-pack-'))
  try {
    const out = execFileSync('npm', ['pack', '--pack-destination', work, '--json'], { cwd: pkgDir, encoding: 'utf8' })
    const [{ filename, files }] = JSON.parse(out)
    const names = files.map((f) => f.path).sort()
    assert.deepEqual(names, ['crm-sdk.linux-x64-gnu.node', 'index.d.ts', 'index.js', 'package.json'])

    const app = path.join(work, 'app')
    fs.mkdirSync(app)
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'till', version: '1.0.0', private: true }))
    // No Rust, no network: only what the tarball holds.
    const env = { ...process.env, PATH: path.dirname(process.execPath) + ':/usr/bin:/bin', CARGO: '/nonexistent', RUSTC: '/nonexistent' }
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', path.join(work, filename)], { cwd: app, env, stdio: 'pipe' })
    fs.writeFileSync(path.join(app, 'example.js'), readmeExample())
    const result = spawnSync(process.execPath, ['example.js'], { cwd: app, env, encoding: 'utf8' })
    assert.equal(result.stderr, '')
    assert.equal(result.status, 0)
    const run = result.stdout
    assert.match(run, /new_customer/)
    assert.match(run, /loyalty_points/)
    assert.match(run, /\nok\n$/)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
})
