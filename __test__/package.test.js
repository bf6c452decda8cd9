'use strict'
// The package as an XO packager gets it (issue 13): the release binary built with
// cargo-zigbuild against glibc 2.17 (scripts/package.js, cached by source hash), its glibc
// requirement measured with objdump, `npm pack` of the main package and of the x64 glibc
// platform package, both installed into an empty project with cargo off the PATH, and there:
// ESM named imports, only the exported entries reachable, the coded errors of an unsupported
// platform, and the demo's first rule against the Open vSwitch sandbox of `xo-sdn-native/testing`.

const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { TARGETS, targetFor, versionAtLeast } = require('../js/platform.js')
const release = require('../scripts/package.js')

const ROOT = path.join(__dirname, '..')
const pkg = require('../package.json')
const X64_GNU = TARGETS.find((t) => t.abi === 'linux-x64-gnu')
// The README's seed rule, as ovs-ofctl prints it.
const SEED_FLOW = 'priority=34998,tcp,in_port=4,dl_src=ae:f7:4b:84:6c:8b,nw_dst=192.168.5.55,tp_dst=5060 actions=drop'

describe('the platforms, in every place that names them', () => {
  test('js/platform.js, napi.targets, optionalDependencies, npm/<abi>/package.json and the CI matrix agree', () => {
    expect(pkg.napi.targets.slice().sort()).toEqual(TARGETS.map((t) => t.triple).sort())
    expect(Object.keys(pkg.optionalDependencies).sort()).toEqual(TARGETS.map((t) => `xo-sdn-native-${t.abi}`).sort())
    for (const t of TARGETS) {
      expect(pkg.optionalDependencies[`xo-sdn-native-${t.abi}`]).toBe(pkg.version)
      const sub = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', t.abi, 'package.json'), 'utf8'))
      expect(sub).toMatchObject({
        name: `xo-sdn-native-${t.abi}`,
        version: pkg.version,
        os: [t.platform],
        cpu: [t.arch],
        libc: [t.libc],
        main: `xo-sdn-native.${t.abi}.node`,
        files: [`xo-sdn-native.${t.abi}.node`],
      })
    }
    const workflow = fs.readFileSync(path.join(ROOT, '.github', 'workflows', 'build.yml'), 'utf8')
    const built = [...workflow.matchAll(/^\s+target: (\S+)$/gm)].map((m) => m[1])
    for (const t of TARGETS) expect(built).toContain(t.triple)
  })

  test('an unsupported platform, arch or libc, or too old a glibc: XO_SDN_UNSUPPORTED_PLATFORM naming what was found and what is supported', () => {
    const attempt = (runtime) => {
      try {
        return targetFor(runtime)
      } catch (err) {
        return err
      }
    }
    const cases = [
      [{ platform: 'darwin', arch: 'arm64', libc: null, glibc: null }, 'darwin arm64'],
      [{ platform: 'win32', arch: 'x64', libc: null, glibc: null }, 'win32 x64'],
      [{ platform: 'linux', arch: 'ppc64', libc: 'glibc', glibc: '2.36' }, 'linux ppc64 with glibc 2.36'],
      [{ platform: 'linux', arch: 'x64', libc: 'glibc', glibc: '2.12' }, 'linux x64 with glibc 2.12 (glibc 2.12 is older than the 2.17'],
      [{ platform: 'linux', arch: 'arm64', libc: 'musl', glibc: null }, 'linux arm64 with musl (binaries for linux arm64 need glibc)'],
      [{ platform: 'linux', arch: 'x64', libc: 'unknown', glibc: null }, 'linux x64 with an unknown C library'],
    ]
    for (const [runtime, found] of cases) {
      const err = attempt(runtime)
      expect(err).toBeInstanceOf(Error)
      expect(err.code).toBe('XO_SDN_UNSUPPORTED_PLATFORM')
      expect(err.message).toContain(found)
      expect(err.message).toContain('linux x64 glibc >= 2.17; linux arm64 glibc >= 2.17; linux x64 musl')
      expect(err).toMatchObject({ platform: runtime.platform, arch: runtime.arch })
    }
    expect(attempt({ platform: 'linux', arch: 'x64', libc: 'glibc', glibc: '2.17' }).packageName).toBe('xo-sdn-native-linux-x64-gnu')
    expect(attempt({ platform: 'linux', arch: 'arm64', libc: 'glibc', glibc: '2.28' }).packageName).toBe('xo-sdn-native-linux-arm64-gnu')
    expect(attempt({ platform: 'linux', arch: 'x64', libc: 'musl', glibc: null }).packageName).toBe('xo-sdn-native-linux-x64-musl')
    expect(versionAtLeast('2.9', '2.17')).toBe(false)
  })
})

const onX64Gnu = process.platform === 'linux' && process.arch === 'x64' && !!process.report.getReport().header.glibcVersionRuntime
const installed = onX64Gnu ? describe : describe.skip

installed('installed from the tarballs into an empty project, cargo off the PATH', () => {
  let work
  let binary
  let packed
  let project
  let env

  /** Runs `node args` in the consumer project; returns { status, stdout, stderr }. */
  const node = (args, options = {}) => spawnSync(process.execPath, args, { cwd: project, env, encoding: 'utf8', timeout: 120e3, ...options })

  beforeAll(() => {
    // The release build: cargo-zigbuild against glibc 2.17, no test hooks. Cached by a hash of
    // the Rust sources (node_modules/.cache/xo-sdn-native/release), so it costs ~1-2 min once.
    binary = release.buildRelease(X64_GNU.triple, { quiet: true })
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'xo-sdn-native-package-'))
    packed = release.packAll(path.join(work, 'tarballs'), { triple: X64_GNU.triple, binary })
    project = path.join(work, 'consumer')
    fs.mkdirSync(project)
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
    // No cargo, rustc or rustup: whatever runs there must come from the tarballs.
    const noRust = (dir) => !['cargo', 'rustc', 'rustup'].some((b) => fs.existsSync(path.join(dir, b)))
    env = { ...process.env, PATH: process.env.PATH.split(path.delimiter).filter(noRust).join(path.delimiter) }
    // --offline: the two tarballs are all there is; the other platforms' optional packages are skipped.
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', packed.main.tarball, packed.platform.tarball], {
      cwd: project,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
  }, 20 * 60e3)

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true })
  })

  test('the release binary needs glibc 2.17 at most (objdump -T) and has no test hook', () => {
    const glibc = release.glibcRequirement(binary)
    console.log(`${X64_GNU.triple} release binary (${path.basename(binary)}): newest GLIBC_ symbol version it needs = GLIBC_${glibc} (objdump -T)`)
    expect(glibc).toMatch(/^2\.\d+$/)
    expect(versionAtLeast(X64_GNU.minGlibc, glibc)).toBe(true)
    expect(fs.readFileSync(binary).includes('__panicForTest')).toBe(false)
  })

  test('the main tarball carries no binary, loader of napi, demo or test; the platform tarball carries the binary', () => {
    const files = packed.main.files
    expect(files.filter((f) => f.endsWith('.node'))).toEqual([])
    for (const f of ['index.js', 'index.d.ts', 'js/binding.js', 'js/platform.js', 'js/xo-adapters.d.ts', 'testing/index.js', 'testing/index.d.ts', 'testing/sandbox.js']) {
      expect(files).toContain(f)
    }
    for (const f of files) expect(f).not.toMatch(/^(native\.|scripts\/|__test__\/|src\/|npm\/|bench\/)|demo/)
    expect(packed.platform.files.sort()).toEqual(['README.md', 'package.json', `xo-sdn-native.${X64_GNU.abi}.node`])
    expect(spawnSync('cargo', ['--version'], { env }).error).toBeTruthy()
  })

  test('ESM: import { encode, SdnController } from "xo-sdn-native" works there', () => {
    const r = node([
      '--input-type=module',
      '-e',
      "import { encode, SdnController } from 'xo-sdn-native'; console.log(typeof SdnController, encode({ type: 'hello', xid: 1 }).toString('hex'))",
    ])
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe('function 0200000800000001')
  })

  test("it loads the platform package's binary; only the exported entries are reachable", () => {
    const r = node([
      '-e',
      `require('xo-sdn-native')
       const loaded = Object.keys(require.cache).filter((k) => k.endsWith('.node'))
       const reach = (id) => { try { require(id); return 'ok' } catch (e) { return e.code } }
       console.log(JSON.stringify({ loaded, hook: typeof require('xo-sdn-native-linux-x64-gnu').__panicForTest,
         entries: ['xo-sdn-native/xo-adapters', 'xo-sdn-native/xo-openflow', 'xo-sdn-native/testing', 'xo-sdn-native/package.json'].map(reach),
         hidden: ['xo-sdn-native/native.js', 'xo-sdn-native/js/binding.js', 'xo-sdn-native/js/index.js', 'xo-sdn-native/testing/sandbox.js', 'xo-sdn-native/index.js'].map(reach) }))`,
    ])
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout)
    expect(out.loaded).toEqual([path.join(fs.realpathSync(project), 'node_modules', 'xo-sdn-native-linux-x64-gnu', 'xo-sdn-native.linux-x64-gnu.node')])
    expect(out.hook).toBe('undefined')
    expect(out.entries).toEqual(['ok', 'ok', 'ok', 'ok'])
    expect(out.hidden).toEqual(Array(5).fill('ERR_PACKAGE_PATH_NOT_EXPORTED'))
  })

  test('elsewhere: a coded error naming the platform, arch and libc found and the supported list', () => {
    // Preloads that make this process look like another machine to the loader.
    const preload = (name, code) => {
      const file = path.join(work, `${name}.js`)
      fs.writeFileSync(file, code)
      return file
    }
    const report = (change) => `const real = process.report.getReport.bind(process.report)
      process.report.getReport = () => { const r = real(); ${change}; return r }`
    const cases = [
      [preload('freebsd', "Object.defineProperty(process, 'platform', { value: 'freebsd' })"), 'XO_SDN_UNSUPPORTED_PLATFORM', 'no native binary for freebsd x64'],
      [preload('old-glibc', report("r.header.glibcVersionRuntime = '2.12'")), 'XO_SDN_UNSUPPORTED_PLATFORM', 'linux x64 with glibc 2.12 (glibc 2.12 is older than the 2.17 the binary needs)'],
      [
        preload('musl', report("delete r.header.glibcVersionRuntime; r.sharedObjects = ['/lib/ld-musl-x86_64.so.1']")),
        'XO_SDN_BINARY_MISSING',
        'comes in the package xo-sdn-native-linux-x64-musl, which is not installed',
      ],
    ]
    for (const [file, code, text] of cases) {
      const r = node(['-r', file, '-e', "try { require('xo-sdn-native') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }"])
      const out = JSON.parse(r.stdout)
      expect(out.code).toBe(code)
      expect(out.message).toContain(text)
      if (code === 'XO_SDN_UNSUPPORTED_PLATFORM') expect(out.message).toContain('Prebuilt binaries exist for: linux x64 glibc >= 2.17; linux arm64 glibc >= 2.17; linux x64 musl')
    }
  })

  test("the demo's first rule, run from there against the sandbox of xo-sdn-native/testing", () => {
    // The demo requires the package by name: copied into the project, it uses the installed one.
    fs.copyFileSync(path.join(ROOT, 'scripts', 'demo.js'), path.join(project, 'demo.js'))
    const r = node(['demo.js', '--first-rule'], { timeout: 180e3 })
    console.log(r.stdout)
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.stdout).toContain(SEED_FLOW)
    expect(r.stdout).toContain('Every verdict is what the rules say.')
    expect(r.stdout.match(/✔/g)).toHaveLength(3)
  }, 200e3)
})
