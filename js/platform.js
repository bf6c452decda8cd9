'use strict'
// Which native binary fits this machine: the platforms xo-sdn-native publishes a
// binary for, what the running process is (platform, arch, C library and its
// version), and the error for everything else. Pure except `detectRuntime`;
// js/binding.js does the loading.

const fs = require('node:fs')

/**
 * The published binaries: one npm package each, `xo-sdn-native-<abi>` (npm/<abi>/),
 * named like napi-rs names them. `minGlibc` is the newest GLIBC_ symbol version the
 * binary needs (built with cargo-zigbuild against glibc 2.17, measured with
 * `objdump -T` by __test__/package.test.js). Keep in step with package.json's
 * `napi.targets` and npm/*\/package.json (checked by __test__/package.test.js).
 */
const TARGETS = [
  { triple: 'x86_64-unknown-linux-gnu', abi: 'linux-x64-gnu', platform: 'linux', arch: 'x64', libc: 'glibc', minGlibc: '2.17' },
  { triple: 'aarch64-unknown-linux-gnu', abi: 'linux-arm64-gnu', platform: 'linux', arch: 'arm64', libc: 'glibc', minGlibc: '2.17' },
  { triple: 'x86_64-unknown-linux-musl', abi: 'linux-x64-musl', platform: 'linux', arch: 'x64', libc: 'musl' },
]

const PACKAGE = 'xo-sdn-native'

/** Compares dotted versions as numbers: '2.9' < '2.17'. */
function versionAtLeast(found, wanted) {
  const a = String(found).split('.').map(Number)
  const b = String(wanted).split('.').map(Number)
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] || 0
    const y = b[i] || 0
    if (x !== y) return x > y
  }
  return true
}

/**
 * What this process runs on: `{ platform, arch, libc, glibc }`; `libc` is 'glibc',
 * 'musl', 'unknown' (Linux, neither found) or null (not Linux), `glibc` the runtime
 * version when glibc. Node's own report knows the glibc it runs with; a musl
 * process has no such field and has musl's loader among its shared objects.
 */
function detectRuntime() {
  const { platform, arch } = process
  if (platform !== 'linux') return { platform, arch, libc: null, glibc: null }
  let report = null
  try {
    const r = process.report
    const excludeNetwork = r.excludeNetwork
    r.excludeNetwork = true // no reverse DNS of the interfaces: this runs at require time
    try {
      report = r.getReport()
    } finally {
      r.excludeNetwork = excludeNetwork
    }
  } catch {
    report = null
  }
  const glibc = report && report.header && report.header.glibcVersionRuntime
  if (glibc) return { platform, arch, libc: 'glibc', glibc }
  const objects = (report && report.sharedObjects) || []
  let musl = objects.some((p) => /(^|\/)(ld-musl-|libc\.musl-)/.test(p))
  if (!musl) {
    try {
      musl = fs.readFileSync('/usr/bin/ldd', 'latin1').includes('musl')
    } catch {
      musl = false
    }
  }
  return { platform, arch, libc: musl ? 'musl' : 'unknown', glibc: null }
}

function describeRuntime({ platform, arch, libc, glibc }) {
  if (!libc) return `${platform} ${arch}`
  if (libc === 'glibc') return `${platform} ${arch} with glibc ${glibc}`
  if (libc === 'musl') return `${platform} ${arch} with musl`
  return `${platform} ${arch} with an unknown C library (neither glibc nor musl found)`
}

function describeTarget(t) {
  return `${t.platform} ${t.arch} ${t.libc === 'glibc' ? `glibc >= ${t.minGlibc}` : t.libc}`
}

/** The Error for a machine no published binary fits. */
function unsupportedPlatform(runtime, why, cause) {
  const supported = TARGETS.map(describeTarget)
  const err = new Error(
    `xo-sdn-native has no native binary for ${describeRuntime(runtime)}${why ? ` (${why})` : ''}. ` +
      `Prebuilt binaries exist for: ${supported.join('; ')}. ` +
      'Anywhere else, build it from a source checkout with Rust (`npm run build`; see the README, "Install").',
    cause ? { cause } : undefined,
  )
  err.code = 'XO_SDN_UNSUPPORTED_PLATFORM'
  err.platform = runtime.platform
  err.arch = runtime.arch
  err.libc = runtime.libc === 'glibc' ? `glibc ${runtime.glibc}` : runtime.libc
  err.supported = supported
  return err
}

/**
 * The published target for `runtime` (from detectRuntime), or throws
 * XO_SDN_UNSUPPORTED_PLATFORM: no binary for this platform/arch/libc, or a glibc
 * older than the binary needs.
 */
function targetFor(runtime) {
  const same = TARGETS.filter((t) => t.platform === runtime.platform && t.arch === runtime.arch)
  const t = same.find((c) => c.libc === runtime.libc)
  if (!t) {
    const why = same.length ? `binaries for ${runtime.platform} ${runtime.arch} need ${same.map((c) => c.libc).join(' or ')}` : ''
    throw unsupportedPlatform(runtime, why)
  }
  if (t.libc === 'glibc' && !versionAtLeast(runtime.glibc, t.minGlibc)) {
    throw unsupportedPlatform(runtime, `glibc ${runtime.glibc} is older than the ${t.minGlibc} the binary needs`)
  }
  return { ...t, packageName: `${PACKAGE}-${t.abi}`, file: `${PACKAGE}.${t.abi}.node` }
}

/** The file names `napi build --platform` gives a local build for `runtime`, best first. */
function localFileNames(runtime) {
  const { platform, arch, libc } = runtime
  if (platform === 'linux') return [`${PACKAGE}.linux-${arch}-${libc === 'musl' ? 'musl' : 'gnu'}.node`]
  if (platform === 'win32') return [`${PACKAGE}.win32-${arch}-msvc.node`, `${PACKAGE}.win32-${arch}-gnu.node`]
  if (platform === 'darwin') return [`${PACKAGE}.darwin-${arch}.node`, `${PACKAGE}.darwin-universal.node`]
  return [`${PACKAGE}.${platform}-${arch}.node`]
}

module.exports = { TARGETS, PACKAGE, detectRuntime, describeRuntime, targetFor, unsupportedPlatform, localFileNames, versionAtLeast }
