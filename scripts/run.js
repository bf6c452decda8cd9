#!/usr/bin/env node
'use strict'
// One entry point for the README's commands, so a fresh clone needs nothing
// installed by hand: `npm run demo`, `npm test`, `npm run bench`.
// Each step installs what is missing (npm packages, Open vSwitch through apt when
// root, cargo-zigbuild through pip for the packaging test), builds the addon when its
// sources changed, then runs. What it cannot install (cargo, root for apt) it names
// in one line, with how to get it, and stops.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { which } = require('./which.js')

const ROOT = path.join(__dirname, '..')

/** What is missing and how to get it, in one line; then stop. */
function fatal(line) {
  console.error(`\n${COMMAND}: ${line}`)
  process.exit(1)
}

const COMMAND = `npm ${process.argv[2] === 'test' ? 'test' : `run ${process.argv[2]}`}`
const NO_CARGO = 'cargo (Rust) is missing: install Rust with rustup (https://rustup.rs) or `apt-get install cargo`, then run it again'

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

// The checkout's build (what the tests and the demo load, js/binding.js) has the
// `test-hooks` feature (`__panicForTest`); release and packaged binaries never have it
// (`npm run build`, scripts/package.js). The stamp tells our build from another one.
const FEATURES = 'test-hooks'
const STAMP = path.join(ROOT, 'node_modules', '.cache', 'xo-sdn-native', 'checkout-build.json')

function ensureAddon() {
  const addon = addonPath()
  const sources = Math.max(newestUnder(path.join(ROOT, 'src')), mtime(path.join(ROOT, 'Cargo.toml')), mtime(path.join(ROOT, 'Cargo.lock')))
  let stamp = null
  try {
    stamp = JSON.parse(fs.readFileSync(STAMP, 'utf8'))
  } catch {}
  const built = addon && mtime(path.join(ROOT, addon))
  if (built >= sources && stamp && stamp.file === addon && stamp.mtime === built && stamp.features === FEATURES) return
  if (!which('cargo')) {
    if (process.argv[2] !== 'test' && addon) return console.log(`» ${addon} is older than the sources, and cargo is missing: running it as it is`)
    if (process.argv[2] !== 'test' && platformPackage()) return console.log(`» cargo is missing: using the prebuilt binary of ${platformPackage()}`)
    fatal(NO_CARGO)
  }
  console.log('» building the native addon (release, with the test hooks)')
  must('npx', ['napi', 'build', '--platform', '--release', '--features', FEATURES, '--no-js', '--dts', 'native.d.ts'])
  const file = addonPath()
  fs.mkdirSync(path.dirname(STAMP), { recursive: true })
  fs.writeFileSync(STAMP, JSON.stringify({ file, mtime: mtime(path.join(ROOT, file)), features: FEATURES }) + '\n')
}

/** The installed platform package for this machine (npm/<abi>/, as published), or null. */
function platformPackage() {
  try {
    const { detectRuntime, targetFor } = require('../js/platform.js')
    const { packageName } = targetFor(detectRuntime())
    require.resolve(`${packageName}/package.json`, { paths: [ROOT] })
    return packageName
  } catch {
    return null
  }
}

function ensureOvs() {
  // Open vSwitch: the sandbox installs it through apt when missing, on our opt-in.
  try {
    require('../testing/sandbox.js').ensureOvs({ install: true })
  } catch (err) {
    if (err.code === 'XO_SDN_OVS_MISSING') fatal(err.message)
    throw err
  }
}

function setup() {
  ensureNodeModules()
  ensureAddon()
  ensureOvs()
}

function test() {
  if (!which('cargo')) fatal(NO_CARGO)
  setup()
  // The packaging test builds the release binary with cargo-zigbuild (glibc 2.17).
  try {
    require('./package.js').ensureZigbuild({ install: true })
  } catch (err) {
    console.log(`» ${err.message}: the packaging test (__test__/package.test.js) will fail`)
  }
  let passed = 0
  let failed = 0

  console.log('\n» cargo test (Rust core)')
  const cargo = spawnSync('cargo', ['test', '--no-default-features', '--color', 'never'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 256 << 20 })
  if (cargo.error) fatal(`cargo test could not run: ${cargo.error.message}`)
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
  must('node', [path.join('scripts', 'demo.js'), ...process.argv.slice(3)])
}

function bench() {
  if (!which('cargo')) fatal(NO_CARGO)
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
