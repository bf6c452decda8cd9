#!/usr/bin/env node
'use strict'
// Release binaries and npm packages, the napi-rs way, built here.
//
//   node scripts/package.js build [--all | --target <triple>...]   (npm run build:release)
//       Builds the production addon (no `test-hooks`) for each target with cargo-zigbuild
//       through `napi build -x`, the glibc targets against glibc 2.17, into artifacts/
//       (`napi artifacts` then copies them into npm/<abi>/). Default: this machine's target.
//       A build is cached by a hash of the Rust sources under node_modules/.cache/.
//       `npx napi artifacts` (the publish job's step) then copies artifacts/ into npm/<abi>/,
//       and also to the package root, where a binary replaces a checkout's own build (the
//       next `npm test` rebuilds it): run that step in CI or a clean clone.
//   node scripts/package.js pack [--out DIR]                        (npm run pack:platform)
//       `npm pack` of the main package and of this machine's platform package.
//   node scripts/package.js glibc <file.node>
//       The newest GLIBC_ symbol version the binary needs (objdump -T).
//
// Needs cargo, cargo-zigbuild and zig (`pip install cargo-zigbuild ziglang`; ensureZigbuild
// installs them when asked) and, for another architecture or libc, its Rust standard library
// (`rustup target add <triple>`). The cargo target directory is XO_SDN_ZIG_TARGET_DIR
// (default: <tmp>/xo-sdn-native-zig-target), never the checkout's target/.

const { spawnSync, execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { TARGETS } = require('../js/platform.js')
const { which } = require('./which.js')

const ROOT = path.join(__dirname, '..')
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'xo-sdn-native', 'release')
const ARTIFACTS = path.join(ROOT, 'artifacts')
// glibc targets are built against this glibc: zig links to its symbol versions.
const GLIBC_BASELINE = '2.17'

function oneLineError(code, message) {
  const err = new Error(message)
  err.code = code
  return err
}

/** The inputs of the Rust build, hashed: a cached binary is reused only for the same sources. */
function sourceHash(extra = '') {
  const h = crypto.createHash('sha256')
  const add = (p) => {
    const st = fs.statSync(p)
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p).sort()) add(path.join(p, e))
    } else {
      h.update(path.relative(ROOT, p)).update('\0').update(fs.readFileSync(p)).update('\0')
    }
  }
  for (const p of ['src', 'Cargo.toml', 'Cargo.lock', 'build.rs']) add(path.join(ROOT, p))
  h.update(extra)
  return h.digest('hex').slice(0, 20)
}

/**
 * cargo-zigbuild and zig, or an Error with code XO_SDN_TOOL_MISSING saying how to get them.
 * With `install`, runs `pip install cargo-zigbuild ziglang` first when they are missing.
 */
function ensureZigbuild({ install = false } = {}) {
  if (!which('cargo')) throw oneLineError('XO_SDN_TOOL_MISSING', 'cargo is missing: install Rust with rustup (or `apt-get install cargo`) to build the release binaries')
  const zigOk = () => {
    if (!which('cargo-zigbuild')) return false
    if (which('zig')) return true
    const py = which('python3') || which('python')
    return !!py && spawnSync(py, ['-m', 'ziglang', 'version'], { stdio: 'ignore' }).status === 0
  }
  if (zigOk()) return
  const pip = which('pip3') || which('pip')
  if (install && pip) {
    const r = spawnSync(pip, ['install', '--quiet', 'cargo-zigbuild', 'ziglang'], { stdio: ['ignore', 'inherit', 'inherit'] })
    if (r.status === 0 && zigOk()) return
  }
  throw oneLineError('XO_SDN_TOOL_MISSING', 'cargo-zigbuild or zig is missing: install them with `pip install cargo-zigbuild ziglang`')
}

function targetByTriple(triple) {
  const t = TARGETS.find((c) => c.triple === triple)
  if (!t) throw new Error(`unknown target ${triple} (known: ${TARGETS.map((c) => c.triple).join(', ')})`)
  return t
}

function hostTriple() {
  const out = execFileSync('rustc', ['-vV'], { encoding: 'utf8' })
  return /^host: (\S+)/m.exec(out)[1]
}

/**
 * Builds the production addon for `triple` (cached by source hash) and returns the path of
 * the cached `xo-sdn-native.<abi>.node`. `quiet`: cargo's output is kept, and its end shown on
 * failure, instead of inherited; `install`: see ensureZigbuild.
 */
function buildRelease(triple, { quiet = false, install = false } = {}) {
  const t = targetByTriple(triple)
  const file = `xo-sdn-native.${t.abi}.node`
  const dir = path.join(CACHE, `${t.abi}-${sourceHash(triple)}`)
  const cached = path.join(dir, file)
  if (fs.existsSync(cached)) return cached
  ensureZigbuild({ install })
  const targetDir = process.env.XO_SDN_ZIG_TARGET_DIR || path.join(os.tmpdir(), 'xo-sdn-native-zig-target')
  const zigTarget = t.libc === 'glibc' ? `${triple}.${GLIBC_BASELINE}` : triple
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'xo-sdn-native-build-'))
  const env = { ...process.env, CARGO_TARGET_DIR: targetDir }
  // A musl cdylib must link musl dynamically: Rust's musl targets default to a static C runtime.
  if (t.libc === 'musl') env[`CARGO_TARGET_${triple.toUpperCase().replace(/-/g, '_')}_RUSTFLAGS`] = '-C target-feature=-crt-static'
  const napi = path.join(ROOT, 'node_modules', '.bin', 'napi')
  const args = ['build', '--platform', '--release', '-x', '--target', zigTarget, '--no-js', '--dts', 'native.d.ts', '--output-dir', out]
  const r = spawnSync(napi, args, { cwd: ROOT, env, stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8' })
  if (r.status !== 0) {
    const tail = quiet ? `\n${String(r.stderr || '').split('\n').slice(-25).join('\n')}` : ''
    throw new Error(`napi ${args.join(' ')} failed (exit ${r.status ?? r.signal ?? r.error})${tail}`)
  }
  fs.mkdirSync(dir, { recursive: true })
  fs.copyFileSync(path.join(out, file), cached)
  fs.rmSync(out, { recursive: true, force: true })
  return cached
}

/** The newest GLIBC_x.y symbol version `file` needs, per `objdump -T` ('' when none). */
function glibcRequirement(file) {
  if (!which('objdump')) throw oneLineError('XO_SDN_TOOL_MISSING', 'objdump is missing: install it with `apt-get install binutils`')
  const text = execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 })
  const versions = [...new Set([...text.matchAll(/\bGLIBC_([0-9]+(?:\.[0-9]+)+)\b/g)].map((m) => m[1]))]
  const num = (v) => v.split('.').map(Number)
  versions.sort((a, b) => {
    const [x, y] = [num(a), num(b)]
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0)
    return 0
  })
  return versions.pop() || ''
}

/** `npm pack` into `outDir`; returns the tarball's path. */
function npmPack(dir, outDir) {
  const json = execFileSync('npm', ['pack', '--json', '--pack-destination', outDir], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const [info] = JSON.parse(json)
  return { tarball: path.join(outDir, info.filename), files: info.files.map((f) => f.path) }
}

/**
 * The main package and the platform package of `triple` as tarballs in `outDir`: the platform
 * package is npm/<abi>/ with the release binary added, staged in a temporary directory so the
 * source tree is left as it is.
 */
function packAll(outDir, { triple = 'x86_64-unknown-linux-gnu', binary } = {}) {
  const t = targetByTriple(triple)
  fs.mkdirSync(outDir, { recursive: true })
  const main = npmPack(ROOT, outDir)
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), `xo-sdn-native-${t.abi}-`))
  try {
    for (const f of fs.readdirSync(path.join(ROOT, 'npm', t.abi))) fs.copyFileSync(path.join(ROOT, 'npm', t.abi, f), path.join(stage, f))
    fs.copyFileSync(binary || buildRelease(triple), path.join(stage, `xo-sdn-native.${t.abi}.node`))
    const platform = npmPack(stage, outDir)
    return { main, platform }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true })
  }
}

function main(argv) {
  const [cmd, ...rest] = argv
  const opt = (name) => {
    const i = rest.indexOf(name)
    return i >= 0 ? rest[i + 1] : undefined
  }
  if (cmd === 'build') {
    const triples = rest.includes('--all')
      ? TARGETS.map((t) => t.triple)
      : rest.flatMap((a, i) => (rest[i - 1] === '--target' ? [a] : []))
    if (!triples.length) triples.push(hostTriple())
    fs.mkdirSync(ARTIFACTS, { recursive: true })
    for (const triple of triples) {
      const built = buildRelease(triple, { install: rest.includes('--install') })
      const dest = path.join(ARTIFACTS, path.basename(built))
      fs.copyFileSync(built, dest)
      const t = targetByTriple(triple)
      const glibc = t.libc === 'glibc' ? glibcRequirement(dest) : ''
      console.log(`${path.relative(ROOT, dest)}${glibc ? `: needs GLIBC_${glibc}` : ''}`)
    }
    console.log('next (in CI or a clean clone): `npx napi artifacts` copies them into npm/<abi>/ and the package root')
  } else if (cmd === 'pack') {
    const out = path.resolve(opt('--out') || path.join(ROOT, 'artifacts', 'packages'))
    const { main: m, platform } = packAll(out)
    console.log(m.tarball)
    console.log(platform.tarball)
  } else if (cmd === 'glibc') {
    console.log(glibcRequirement(rest[0]) || 'no GLIBC_ symbol version')
  } else {
    console.error('usage: node scripts/package.js build [--all | --target <triple>...] [--install] | pack [--out DIR] | glibc <file>')
    process.exitCode = 2
  }
}

module.exports = { sourceHash, ensureZigbuild, buildRelease, glibcRequirement, packAll, npmPack, GLIBC_BASELINE, CACHE }

if (require.main === module) {
  try {
    main(process.argv.slice(2))
  } catch (err) {
    console.error(err.code === 'XO_SDN_TOOL_MISSING' ? err.message : err)
    process.exit(1)
  }
}
