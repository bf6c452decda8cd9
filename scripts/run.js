#!/usr/bin/env node
'use strict'
// One entry point for the README's commands, so a fresh clone needs nothing
// installed by hand: `npm run demo`, `npm test`, `npm run bench`.
// Each step installs what is missing (npm packages, Open vSwitch through apt when
// root), builds the addon when its sources changed, then runs.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...opts })
  if (r.error) throw r.error
  return r.status ?? 1
}

function must(cmd, args, opts) {
  const status = run(cmd, args, opts)
  if (status !== 0) {
    console.error(`\n${cmd} ${args.join(' ')} failed (exit ${status})`)
    process.exit(status)
  }
}

function mtime(p) {
  try {
    return fs.statSync(p).mtimeMs
  } catch {
    return 0
  }
}

function newestUnder(dir) {
  let newest = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(p) : mtime(p))
  }
  return newest
}

function ensureNodeModules() {
  const stamp = path.join(ROOT, 'node_modules', '.package-lock.json')
  if (mtime(stamp) >= mtime(path.join(ROOT, 'package-lock.json'))) return
  // `npm install`, not `npm ci`: npm 11's ci refuses this lock file because the
  // optional per-platform packages of a dev dependency are not all listed in it.
  console.log('» installing npm dependencies')
  must('npm', ['install', '--no-audit', '--no-fund'])
}

function addonPath() {
  return fs.readdirSync(ROOT).find((f) => /^xo-sdn-native\..*\.node$/.test(f))
}

function ensureAddon() {
  const addon = addonPath()
  const sources = Math.max(newestUnder(path.join(ROOT, 'src')), mtime(path.join(ROOT, 'Cargo.toml')), mtime(path.join(ROOT, 'Cargo.lock')))
  if (addon && mtime(path.join(ROOT, addon)) >= sources && fs.existsSync(path.join(ROOT, 'native.js'))) return
  console.log('» building the native addon (release)')
  must('npx', ['napi', 'build', '--platform', '--release', '--js', 'native.js', '--dts', 'native.d.ts'])
}

function setup() {
  ensureNodeModules()
  ensureAddon()
  // Open vSwitch: the sandbox helper installs it through apt when missing.
  require('../js/sandbox.js').ensureOvs()
}

function test() {
  setup()
  let passed = 0
  let failed = 0

  console.log('\n» cargo test (Rust core)')
  const cargo = spawnSync('cargo', ['test', '--no-default-features', '--color', 'never'], { cwd: ROOT, encoding: 'utf8' })
  process.stdout.write(cargo.stdout)
  process.stderr.write(cargo.stderr)
  for (const m of cargo.stdout.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    passed += Number(m[1])
    failed += Number(m[2])
  }
  if (cargo.status !== 0 && failed === 0) failed += 1 // a build failure counts

  console.log('\n» jest (JS surface, against the real Open vSwitch sandbox)')
  const results = path.join(ROOT, 'jest-results.json')
  fs.rmSync(results, { force: true })
  const jestStatus = run('npx', ['jest', '--json', `--outputFile=${results}`])
  try {
    const r = JSON.parse(fs.readFileSync(results, 'utf8'))
    passed += r.numPassedTests
    failed += r.numFailedTests
    // A suite that fails to run has no failed tests; count it, and never count
    // skipped or todo tests as passed.
    failed += r.numRuntimeErrorTestSuites
    if (r.numPendingTests + r.numTodoTests > 0) console.log(`(${r.numPendingTests + r.numTodoTests} skipped, not counted)`)
  } catch {
    failed += 1
  }
  if (jestStatus !== 0 && failed === 0) failed += 1

  console.log(`\n${passed} passed, ${failed} failed`)
  process.exit(failed === 0 ? 0 : 1)
}

function demo() {
  setup()
  must('node', [path.join('js', 'demo.js'), ...process.argv.slice(3)])
}

function bench() {
  setup()
  const args = process.argv.slice(3)
  must('node', [path.join('bench', 'codec.bench.js'), ...args])
  must('node', ['--expose-gc', path.join('bench', 'channel.bench.js'), ...args])
  must('node', [path.join('bench', 'ovsdb.bench.js'), ...args])
  must('node', [path.join('bench', 'rules.bench.js'), ...args])
  must('node', [path.join('bench', 'security-groups.bench.js'), ...args])
  must('node', ['--expose-gc', path.join('bench', 'isolation.bench.js'), ...args])
  must('cargo', ['bench', '--no-default-features', '--bench', 'codec'])
}

const commands = { setup, test, demo, bench }
const cmd = commands[process.argv[2]]
if (!cmd) {
  console.error(`usage: node scripts/run.js ${Object.keys(commands).join('|')}`)
  process.exit(2)
}
cmd()
