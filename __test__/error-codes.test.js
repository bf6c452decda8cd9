'use strict'
// Issue 12: every error a public function throws or rejects with is an Error with a
// stable `code` (/^[A-Z][A-Z0-9_]*$/); ERR_INVALID_ARG_* is a TypeError and
// ERR_OUT_OF_RANGE a RangeError; an invalid argument leaves nothing half-applied.
//
// The entry points are enumerated, not listed: every function exported by the
// package (index.js), js/xo-adapters.js and js/xo-openflow.js (and the functions of
// exported plain objects such as `ovsdb`), every class among them (constructor,
// prototype methods and getters up to EventEmitter/Object), and what a valid call of
// one of them hands back (the classes of the adapter factories, the traffic-rules
// backend, the provider handle of registerProvider). A new export is covered without
// touching this file; a new class needs an instance recipe (the test says so).
//
// Each entry point gets a fresh world (a controller with one host on a fake OVSDB
// peer and one unreachable host, security groups, elastic IPs, OVSDB clients, an
// OpenFlow channel to a closed port) and ITERATIONS calls whose arguments come from a
// seeded generator: hostile values, or valid arguments with one field replaced,
// removed or added. Reproduce a failure with the seed it prints:
//   ERROR_CODES_SEED=<seed> [ERROR_CODES_ONLY=<entry point substring>] npx jest __test__/error-codes.test.js
//
// One kind of error is accepted without a code, deliberately: the very error a
// hostile value of the test threw (a getter, toJSON, a callback such as `register`):
// the caller's own error passes through untouched, as with Node's APIs. A call may
// also stay pending while it waits on a never-settling promise the test gave it.
//
// Uncaught exceptions and unhandled rejections: jest-circus takes over the process's
// `uncaughtException`/`unhandledRejection` listeners while tests run (listeners
// installed here never fire) and fails the running test with the error itself, which
// is what this test wants; the run's own promises are all awaited or handled.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const net = require('node:net')
const { execFileSync } = require('node:child_process')
const { EventEmitter } = require('node:events')
const api = require('..')
const adapters = require('../js/xo-adapters.js')
const xoOpenflow = require('../js/xo-openflow.js')
const { rejection } = require('./helpers.js')
const { fakeOvsdb, closePeers } = require('./fake-peers.js')

const { OvsdbClient, SdnController, SecurityGroups, ElasticIps, TlsConfig, OpenFlowChannel, FrameDecoder } = api

const SEED = process.env.ERROR_CODES_SEED !== undefined && process.env.ERROR_CODES_SEED !== '' ? Number(process.env.ERROR_CODES_SEED) >>> 0 : Date.now() >>> 0
const ITERATIONS = Number(process.env.ERROR_CODES_ITERATIONS ?? 200)
const ONLY = process.env.ERROR_CODES_ONLY ?? ''
/** Entry points found when this test was written: fewer means the enumeration broke. */
const MIN_ENTRY_POINTS = 129
/** How long a call may take to settle (or to throw). */
const CALL_BOUND_MS = 5000
/** Methods documented to wait: a call still pending after WAIT_BOUND_MS is fine, but close() must end it. */
const WAITS = {
  'index.OvsdbClient#getOfPortForVif': 'waits up to options.timeoutMs (default 5000) for OVS to assign the port',
}
const WAIT_BOUND_MS = 30
const CODE = /^[A-Z][A-Z0-9_]*$/

const VIF = '6bb8b2b3-1f5d-4c5e-9a3a-2a0b5c6d7e8f'
const NET = '1a2b3c4d-5e6f-4a0b-8c1d-2e3f4a5b6c7d'
const PRIV = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d'
const MAC = 'ae:f7:4b:84:6c:8b'
/** A logger that says nothing (a fresh one each time: mutations must not reach a shared one). */
const quiet = () => ({ debug() {}, info() {}, warn() {}, error() {} })

// ---------------------------------------------------------------------------
// seeded randomness
// ---------------------------------------------------------------------------

function mulberry32(a) {
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The generator of one entry point: the same seed gives it the same arguments whatever runs before. */
function rngFor(name) {
  let h = 0x811c9dc5
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0
  return mulberry32((h ^ SEED) >>> 0)
}

const int = (rng, lo, hi) => lo + Math.floor(rng() * (hi - lo + 1))
const pick = (rng, list) => list[Math.floor(rng() * list.length)]

// ---------------------------------------------------------------------------
// hostile values
// ---------------------------------------------------------------------------

/** Marks the errors the test's own hostile values throw. */
const HOSTILE = Symbol('thrown by a hostile value of the test')
function hostileError(what) {
  const e = new Error(`hostile ${what}`)
  e[HOSTILE] = true
  return e
}

/** The promises the generator makes: a function may hand one back (ovsdb.one), or wait on one that never settles. */
const GIVEN_PROMISES = new WeakSet()
const NEVER = new WeakSet()
const never = () => {
  const p = new Promise(() => {})
  NEVER.add(p)
  return p
}

/** Do the arguments hold a promise of the test that never settles (a call may wait on it)? */
function holdsNever(v, seen = new Set()) {
  if (v === null || typeof v !== 'object' || seen.has(v)) return false
  if (NEVER.has(v)) return true
  seen.add(v)
  return Reflect.ownKeys(v).some((k) => holdsNever(Object.getOwnPropertyDescriptor(v, k)?.value, seen))
}

const HUGE = 'A'.repeat(1e6)
const KEYS = [
  'type', 'xid', 'id', 'host', 'address', 'port', 'uuid', 'mac', 'MAC', 'ips', 'ip', 'vif', 'vm', 'network', 'pool', 'allow',
  'protocol', 'direction', 'ipRange', 'cookie', 'cookieMask', 'priority', 'flows', 'bridge', 'timeoutMs', 'tableId', 'match',
  'instructions', 'actions', 'header', 'version', 'body', 'data', 'command', 'position', 'hosts', 'state', 'rules', 'groups',
  'pools', 'fromPort', 'toPort', 'cidr', 'sourceGroup', 'networkUuid', 'remoteIp', 'target', 'protocols', 'signal', 'db',
  'natural', 'strict', 'semantics', 'register', 'hostId', 'items', 'message', 'send', '$ref', '$PIFs', '$host', '$network',
  'tls', 'serverCert', 'fingerprint', 'insecure', 'elements', 'ports', 'icmpType', 'sourcePort', 'portSide', 'description',
  'clientCert', 'clientKey', 'poolCa', 'transport', 'reconnect', 'logger', 'priorities', 'flowBudget', 'internal',
  'securityGroups', 'arpRatePerSec', 'ofportTimeoutMs', 'ifMissing', 'legacyTls', 'tables', 'addresses', 'attachments',
  'baseNumber', 'number', 'generation', 'length', 'then', 'toJSON', '__proto__', 'constructor', 'inPort', 'nwSrc', 'dlType',
  'publicIp', 'pool', 'encapsulation', 'key', 'psk', 'privateNetworkUuid', 'cookieMask', 'outPort', 'buckets', 'specJson',
  'endpoints', 'ofport', 'vifUuid', 'name', 'bitmaps', 'flags', 'in_port', 'nw_src', 'dl_src_mask', 'metadata', 'errorType',
]
const STRINGS = [
  '', 'a', ' ', HUGE, 'a\u0000b', '\uD800', 'x\uDC00y', 'héllo ✓ 😀', '0x1234', '0x', '0xffffffffffffffffff', '10.0.0.0/8',
  '10.0.0.1/33', '10.0.0.1/24', '::1', '203.0.113.1', '203.0.113.0/29', MAC, 'ff:ff:ff:ff:ff:ff', 'aa-bb', VIF, VIF.toUpperCase(),
  NET, 'tcp', 'TCP', 'udp', 'icmp', 'ip', 'arp', 'any', 'ssh', 'ipv6', 'from', 'to', 'both', 'from/to', 'flow_mod',
  'barrier_request', 'packet_out', 'stats_request', 'hello', 'raw', 'h1', 'h2', 'r1', 'web', 'db', 'sg-00000000', 'xenbr0',
  'pssl:6653', 'ptcp:', 'Open_vSwitch', 'Bridge', 'Interface', 'priority=1 actions=drop', 'tcp,tp_dst=22 actions=normal',
  'actions=', 'cookie=0x5d4e000000000001,actions=drop', '__proto__', 'constructor', 'toString', '-1', '1e3', '65536', 'NaN',
  'gre', 'vxlan', 'rustls', 'node', 'xo', 'packet', 'reject', 'default', '{"version":1}', '[]', 'null',
]
const NUMBERS = [0, -0, 1, -1, 2, 7, 255, 256, 4095, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53, -(2 ** 53), 2 ** 64, 1e308, -1e308, 0.5, 1.5, NaN, Infinity, -Infinity, Number.MIN_VALUE]
const BIGINTS = [0n, 1n, -1n, 0x5d4en << 48n, (1n << 64n) - 1n, 1n << 64n, 123456789012345678901234567890n]

function randomString(rng) {
  if (rng() < 0.85) return pick(rng, STRINGS)
  const n = int(rng, 1, 24)
  let s = ''
  for (let i = 0; i < n; i++) s += String.fromCharCode(int(rng, 0, rng() < 0.8 ? 127 : 0xffff))
  return s
}

function randomBytes(rng) {
  const n = pick(rng, [0, 1, 7, 8, 9, 16, 64, 300])
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = int(rng, 0, 255)
  if (n >= 8 && rng() < 0.6) {
    // Something like an OpenFlow header, often.
    b[0] = pick(rng, [1, 2, 4])
    b[1] = int(rng, 0, 25)
    b.writeUInt16BE(rng() < 0.7 ? n : int(rng, 0, 65535), 2)
  }
  return b
}

function defineKey(o, key, value) {
  Object.defineProperty(o, key, { value, enumerable: true, configurable: true, writable: true })
}

function randomObject(rng, depth, proto = Object.prototype) {
  const o = Object.create(proto)
  const n = int(rng, 0, 4)
  for (let i = 0; i < n; i++) defineKey(o, rng() < 0.9 ? pick(rng, KEYS) : randomString(rng), randomValue(rng, depth + 1))
  return o
}

/** Any JS value, hostile ones included; compound values get rarer with depth. */
function randomValue(rng, depth = 0) {
  const compound = depth < 3 && rng() < 0.45 - depth * 0.12
  if (!compound) {
    switch (int(rng, 0, 9)) {
      case 0: return pick(rng, [undefined, null])
      case 1: return rng() < 0.5
      case 2: case 3: return rng() < 0.7 ? pick(rng, NUMBERS) : int(rng, -1000, 100000)
      case 4: return pick(rng, BIGINTS)
      case 5: return Symbol(pick(rng, ['x', 'type', '']))
      default: return randomString(rng)
    }
  }
  switch (int(rng, 0, 17)) {
    case 0: return []
    case 1: return [[[]], [pick(rng, STRINGS)]]
    case 2: {
      const a = new Array(int(rng, 1, 5)) // sparse
      a[int(rng, 0, a.length - 1)] = randomValue(rng, depth + 1)
      return a
    }
    case 3: case 4: return Array.from({ length: int(rng, 1, 4) }, () => randomValue(rng, depth + 1))
    case 5: case 6: case 7: return randomObject(rng, depth)
    case 8: return randomObject(rng, depth, null)
    case 9: {
      // A getter that throws.
      const o = randomObject(rng, depth)
      Object.defineProperty(o, pick(rng, KEYS), { get() { throw hostileError('getter') }, enumerable: true, configurable: true })
      return o
    }
    case 10: {
      // Circular.
      const o = randomObject(rng, depth)
      defineKey(o, pick(rng, KEYS), o)
      return rng() < 0.5 ? o : [o, [o]]
    }
    case 11: return pick(rng, [
      () => undefined,
      function named() { return 1 },
      () => { throw hostileError('function') },
      async () => { throw hostileError('async function') },
      class Something {},
    ])
    case 12: case 13: {
      const b = randomBytes(rng)
      return pick(rng, [b, new Uint8Array(b), b.buffer.slice(b.byteOffset, b.byteOffset + b.length), new DataView(new ArrayBuffer(4))])
    }
    case 14: return pick(rng, [new Date(), new Date(NaN)])
    case 15: return pick(rng, [new Map([['xenbr0', []]]), new Map([[1, 2]]), new Set([1, 'a']), new WeakMap()])
    case 16: {
      const rejected = Promise.reject(hostileError('promise'))
      rejected.catch(() => {})
      const p = pick(rng, [Promise.resolve(1), rejected, never()])
      GIVEN_PROMISES.add(p)
      return p
    }
    default: {
      // toJSON / toString / Symbol.toPrimitive that throw.
      const o = randomObject(rng, depth)
      defineKey(o, pick(rng, ['toJSON', 'toString', 'valueOf']), () => { throw hostileError('conversion') })
      if (rng() < 0.3) defineKey(o, Symbol.toPrimitive, () => { throw hostileError('toPrimitive') })
      return o
    }
  }
}

const isPlain = (v) => v !== null && typeof v === 'object' && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)

/** Valid arguments with one change somewhere inside: a value replaced, a key removed, or a key added. */
function mutate(rng, args) {
  const slots = []
  const containers = []
  const visit = (parent, key, depth) => {
    slots.push({ parent, key })
    const v = Object.getOwnPropertyDescriptor(parent, key)?.value
    if (depth < 4 && isPlain(v) && !containers.includes(v)) {
      containers.push(v)
      for (const k of Object.keys(v)) visit(v, k, depth + 1)
    }
  }
  args.forEach((_, i) => visit(args, i, 0))
  const r = rng()
  const objects = containers.filter((c) => Object.keys(c).length > 0)
  if (r < 0.12 && objects.length > 0) {
    const c = pick(rng, objects)
    delete c[pick(rng, Object.keys(c))]
  } else if (r < 0.24 && containers.length > 0) {
    const c = pick(rng, containers)
    defineKey(c, Array.isArray(c) ? c.length : rng() < 0.8 ? pick(rng, KEYS) : randomString(rng), randomValue(rng, 1))
  } else if (slots.length > 0) {
    const s = pick(rng, slots)
    defineKey(s.parent, s.key, randomValue(rng, 1))
  } else {
    args.push(randomValue(rng))
  }
  return args
}

/** A value in a failure message, without running any getter, whatever it is. */
function show(v, depth = 0, seen = new Set()) {
  switch (typeof v) {
    case 'string':
      return v.length > 48 ? `${JSON.stringify(v.slice(0, 24))}…(${v.length} chars)` : JSON.stringify(v)
    case 'bigint':
      return `${v}n`
    case 'symbol':
      return v.toString()
    case 'function':
      return `[function ${v.name || 'anonymous'}]`
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v)
    case 'undefined':
    case 'boolean':
      return String(v)
  }
  if (v === null) return 'null'
  if (seen.has(v)) return '[Circular]'
  if (Buffer.isBuffer(v)) return `<Buffer ${v.subarray(0, 16).toString('hex')}${v.length > 16 ? '…' : ''} (${v.length})>`
  if (ArrayBuffer.isView(v)) return `<${v.constructor.name} ${v.byteLength}>`
  if (v instanceof ArrayBuffer) return `<ArrayBuffer ${v.byteLength}>`
  if (v instanceof Date) return `<Date ${Number.isNaN(v.getTime()) ? 'Invalid' : 'valid'}>`
  if (v instanceof Map || v instanceof Set || v instanceof WeakMap) return `<${v.constructor.name}${v.size !== undefined ? ` ${v.size}` : ''}>`
  if (v instanceof Promise) return '<Promise>'
  if (depth > 3) return Array.isArray(v) ? '[…]' : '{…}'
  seen.add(v)
  let out
  if (Array.isArray(v)) {
    const items = []
    for (let i = 0; i < Math.min(v.length, 8); i++) items.push(i in v ? show(Object.getOwnPropertyDescriptor(v, i)?.value, depth + 1, seen) : '<hole>')
    out = `[${items.join(', ')}${v.length > 8 ? ', …' : ''}]`
  } else {
    const proto = Object.getPrototypeOf(v)
    const prefix = proto === null ? 'Object.create(null)' : proto === Object.prototype ? '' : `${proto.constructor?.name ?? '?'} `
    const parts = Reflect.ownKeys(v).slice(0, 10).map((k) => {
      const d = Object.getOwnPropertyDescriptor(v, k)
      const name = typeof k === 'symbol' ? `[${k.toString()}]` : k
      return d.get ? `get ${name}()` : `${name}: ${show(d.value, depth + 1, seen)}`
    })
    out = `${prefix}{${parts.join(', ')}}`
  }
  seen.delete(v)
  return out
}

const showArgs = (args) => `(${args.map((a) => show(a)).join(', ')})`

// ---------------------------------------------------------------------------
// peers, certificates, worlds
// ---------------------------------------------------------------------------

/** A port nothing listens on. */
async function closedPort() {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A throwaway pool CA and a client certificate it signed (openssl; nothing else here needs OVS). */
function throwawayPki() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'error-codes-pki-'))
  const p = (f) => path.join(dir, f)
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', env: { ...process.env, OPENSSL_CONF: '/dev/null' } })
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2', '-keyout', p('ca-key.pem'), '-out', p('ca.pem'), '-subj', '/CN=error-codes-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-keyout', p('client-key.pem'), '-out', p('client.csr'), '-subj', '/CN=error-codes-client')
  fs.writeFileSync(p('client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n')
  openssl('x509', '-req', '-in', p('client.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca-key.pem'), '-set_serial', '0x1234', '-days', '2', '-sha256', '-extfile', p('client.ext'), '-out', p('client.pem'))
  const read = (f) => fs.readFileSync(p(f), 'utf8')
  const pki = { ca: read('ca.pem'), clientCert: read('client.pem'), clientKey: read('client-key.pem') }
  fs.rmSync(dir, { recursive: true, force: true })
  return pki
}

/** An ovsdb-server (fake-peers.js) that also answers what the random calls send. */
function answeringOvsdb() {
  return fakeOvsdb((socket, request) => {
    let result = null
    let error = null
    const params = Array.isArray(request.params) ? request.params : []
    if (request.method === 'echo') result = params
    else if (request.method === 'transact') result = params.slice(1).map(() => ({}))
    else if (request.method === 'lock' || request.method === 'steal') result = { locked: true }
    else if (request.method === 'unlock') result = {}
    else error = { error: 'unknown method', details: String(request.method) }
    if (request.id !== null && request.id !== undefined) socket.write(JSON.stringify({ id: request.id, result, error }))
  })
}

const env = {}

const xapiHost = (ref = 'h1') => ({ $ref: ref, uuid: `uuid-${ref}`, address: '127.0.0.1', $PIFs: [] })
function xapiNetwork() {
  const host = xapiHost('h1')
  const network = { uuid: NET, bridge: 'xenbr0', $PIFs: [] }
  const pif = { $host: host, $network: network }
  network.$PIFs.push(pif)
  host.$PIFs.push(pif)
  return network
}
const register = async () => ({ address: '127.0.0.1', ovsdbPort: env.closedPort, openflowPort: env.closedPort })

function arpRequest(targetIp) {
  const b = Buffer.alloc(42)
  b.fill(0xff, 0, 6)
  Buffer.from('020000000001', 'hex').copy(b, 6)
  b.writeUInt16BE(0x0806, 12)
  Buffer.from('0001080006040001020000000001', 'hex').copy(b, 14)
  Buffer.from([10, 0, 0, 9]).copy(b, 28)
  Buffer.from(targetIp.split('.').map(Number)).copy(b, 38)
  return b
}

const poolRule = (id, port) => ({ id, pool: true, allow: false, protocol: 'tcp', port, direction: 'to' })

/**
 * A fresh set of instances: a controller with host h1 (OVSDB on the fake peer,
 * OpenFlow on a closed port) and h2 (unreachable), two rules, security groups
 * `web` and `db`, an elastic IP, an idle and a connected OvsdbClient, an
 * OpenFlowChannel to a closed port. Everything is closed by `closeWorld`.
 */
async function makeWorld() {
  const w = { created: [], pending: [], products: new Map() }
  w.sdn = new SdnController({
    hostTimeoutMs: 200,
    syncIntervalMs: 0,
    repair: { minMs: 600000, maxMs: 600000 },
    logger: quiet(),
    openflow: { reconnect: false, connectTimeoutMs: 200, requestTimeoutMs: 300, echoIntervalMs: 600000 },
    ovsdb: { reconnect: false, connectTimeoutMs: 500, requestTimeoutMs: 300, echoIntervalMs: 600000 },
  })
  w.sdn.addHost({ id: 'h1', address: '127.0.0.1', ovsdbPort: env.ovsdbPort, openflowPort: env.closedPort })
  w.sdn.addHost({ id: 'h2', address: '127.0.0.1', ovsdbPort: env.closedPort, openflowPort: env.closedPort })
  await w.sdn.addRules([poolRule('r1', 22), poolRule('r2', 23)])
  w.sg = new SecurityGroups(w.sdn)
  w.sg.createSecurityGroup('web', 'web servers')
  w.sg.createSecurityGroup('db')
  w.eip = new ElasticIps(w.sdn, { pools: ['203.0.113.0/29'], internal: ['10.0.0.0/8'], securityGroups: w.sg })
  w.publicIp = w.eip.allocateAddress().publicIp
  w.ovsdbIdle = new OvsdbClient({ host: '127.0.0.1', port: env.closedPort, reconnect: false, connectTimeoutMs: 200, requestTimeoutMs: 200 })
  w.ovsdbLive = new OvsdbClient({ host: '127.0.0.1', port: env.ovsdbPort, reconnect: false, connectTimeoutMs: 1000, requestTimeoutMs: 300, echoIntervalMs: 600000 })
  w.ovsdbLive.on('error', () => {})
  await w.ovsdbLive.connect()
  w.channel = new OpenFlowChannel({ host: '127.0.0.1', port: env.closedPort, reconnect: false, connectTimeoutMs: 200, requestTimeoutMs: 200 })
  w.channel.on('error', () => {})
  return w
}

/** What an invalid argument must leave as it was. */
function snapshot(w) {
  return JSON.stringify(
    { sdn: w.sdn.exportState(), hosts: w.sdn.hosts().map((h) => h.id), sg: w.sg.exportState(), eip: w.eip.exportState() },
    (k, v) => (typeof v === 'bigint' ? `${v}n` : v),
  )
}

async function closeWorld(w) {
  const closable = [w.channel, w.ovsdbIdle, w.ovsdbLive, w.sdn, ...w.created].filter((x) => x !== null && typeof x === 'object' && typeof x.close === 'function')
  await Promise.all(closable.map((x) => Promise.resolve().then(() => x.close()).catch(() => {})))
}

// ---------------------------------------------------------------------------
// valid arguments and instances, by entry point name
// ---------------------------------------------------------------------------

const barrier = () => ({ type: 'barrier_request', xid: 7 })
const flowMod = () => ({ type: 'flow_mod', command: 'add', priority: 100, match: { dlType: 0x0800, nwSrc: '10.0.0.0/8' }, instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 1 }] }] })
const xoRule = () => ({ vif: { uuid: VIF, MAC }, allow: false, protocol: 'TCP', port: 22, ipRange: '192.168.5.55', direction: 'from' })
const xoNetworkRule = () => ({ network: xapiNetwork(), allow: true, protocol: 'UDP', port: 53, ipRange: '10.0.0.0/8', direction: 'to', cookie: 1 })
const engineEntry = () => ({ mac: 'aa:bb:cc:dd:ee:ff', allow: false, protocol: 'tcp', port: 22, ipRange: '10.0.0.0/8', direction: 'to/from', cookie: '0x1234', priority: 100 })
const sgVif = () => ({ uuid: VIF, mac: MAC, ips: ['10.0.0.5'] })
const permission = () => ({ protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '10.0.0.0/8' })
const provider = () => ({ items: () => new Map(), stateKey: 'probe', exportState: () => ({}) })
const ofChannelOptions = () => ({ host: '127.0.0.1', port: env.closedPort, reconnect: false, connectTimeoutMs: 200, requestTimeoutMs: 200 })
const ovsdbOptions = () => ({ host: '127.0.0.1', port: env.closedPort, reconnect: false, connectTimeoutMs: 200, requestTimeoutMs: 200 })
const FINGERPRINT = 'AB:'.repeat(31) + 'AB'

/** Valid arguments (fresh objects each time), by entry point; some have variants. */
const VALID = {
  'index.encode': (w, rng) => [pick(rng, [barrier, flowMod])()],
  'index.encodeBatch': () => [[barrier(), flowMod()]],
  'index.decode': () => [api.encode(barrier())],
  'index.FrameDecoder#push': () => [Buffer.concat([api.encode(barrier()), api.encode(flowMod()).subarray(0, 9)])],
  'index.parseFlow': () => ['priority=100,tcp,nw_src=10.0.0.0/8,tp_dst=22 actions=drop', { command: 'add' }],
  'index.formatFlow': () => [api.parseFlow('priority=100,tcp,tp_dst=22 actions=drop')],
  'index.TlsConfig': () => [{ clientCert: env.pki.clientCert, clientKey: env.pki.clientKey, poolCa: env.pki.ca }],
  'index.OpenFlowChannel': (w, rng) => [rng() < 0.5 ? ofChannelOptions() : { ...ofChannelOptions(), tls: env.tls, fingerprint: FINGERPRINT, transport: 'node' }],
  'index.OpenFlowChannel#connect': () => [],
  'index.OpenFlowChannel#request': () => [barrier(), { timeoutMs: 200 }],
  'index.OpenFlowChannel#requestEncoded': () => [api.encode(barrier()), { timeoutMs: 200 }],
  'index.OpenFlowChannel#send': () => [[flowMod(), barrier()], { timeoutMs: 200 }],
  'index.OpenFlowChannel#sendEncoded': () => [api.encodeBatch([flowMod()]), { timeoutMs: 200 }],
  'index.OpenFlowChannel#dumpFlows': () => [{ tableId: 0, cookie: 0x1234n, cookieMask: (1n << 64n) - 1n, match: { dlType: 0x0800 }, outPort: 'any', timeoutMs: 200 }],
  'index.OpenFlowChannel#addFlows': () => [['priority=1,tcp actions=drop', flowMod()], { timeoutMs: 200 }],
  'index.OpenFlowChannel#deleteFlows': () => [['tcp,tp_dst=22'], { strict: false, timeoutMs: 200 }],
  'index.OvsdbClient': (w, rng) => [rng() < 0.5 ? ovsdbOptions() : { ...ovsdbOptions(), tls: env.tls, serverCert: env.pki.ca, legacyTls: 'never' }],
  'index.OvsdbClient#call': () => ['echo', ['x', 1], { timeoutMs: 200 }],
  'index.OvsdbClient#getSchema': () => ['Open_vSwitch'],
  'index.OvsdbClient#echo': () => ['x', 1],
  'index.OvsdbClient#transact': (w, rng) => [[{ op: 'select', table: 'Bridge', where: [], columns: ['name'] }], { timeoutMs: 200, natural: rng() < 0.5 }],
  'index.OvsdbClient#lock': () => ['xo-sdn'],
  'index.OvsdbClient#steal': () => ['xo-sdn'],
  'index.OvsdbClient#unlock': () => ['xo-sdn'],
  'index.OvsdbClient#rows': () => ['Bridge'],
  'index.OvsdbClient#getBridgeForNetwork': () => [NET],
  'index.OvsdbClient#getDatapathId': () => ['xenbr0'],
  'index.OvsdbClient#getOfPortForVif': () => [VIF, { timeoutMs: 10 }],
  'index.OvsdbClient#setBridgeController': () => [{ bridge: 'xenbr0', target: 'pssl:6653', protocols: ['OpenFlow11'] }],
  'index.OvsdbClient#addTunnel': () => [{ networkUuid: NET, remoteIp: '10.0.0.2', encapsulation: 'gre', key: 1, psk: 'pw', privateNetworkUuid: PRIV }],
  'index.OvsdbClient#resetForNetwork': () => [NET, PRIV],
  'index.ovsdb.uuid': () => [VIF],
  'index.ovsdb.namedUuid': () => ['row'],
  'index.ovsdb.set': () => [['a', 'b']],
  'index.ovsdb.map': () => [{ a: '1' }],
  'index.ovsdb.one': () => [['x']],
  'index.SdnController': (w, rng) => [{ hostTimeoutMs: 200, syncIntervalMs: 0, logger: quiet(), priorities: 'default', tableId: 0, repair: { minMs: 100, maxMs: 200 }, ...(rng() < 0.3 ? { tls: env.tls } : {}) }],
  'index.SdnController#addHost': () => [{ id: 'h3', address: '127.0.0.1', ovsdbPort: env.closedPort, openflowPort: env.closedPort }],
  'index.SdnController#removeHost': () => ['h2'],
  'index.SdnController#addRule': () => [{ id: 'r3', pool: true, allow: true, protocol: 'udp', port: [1000, 1003], ipRange: '10.0.0.0/8', direction: 'both' }, { position: 0 }],
  'index.SdnController#addRules': () => [[poolRule('r4', 80), { vif: { uuid: VIF, mac: MAC, ips: ['10.0.0.5'] }, allow: false, protocol: 'icmp', icmpType: 8, direction: 'to' }], { host: 'h1' }],
  'index.SdnController#deleteRule': (w, rng) => [pick(rng, ['r1', { id: 'r2' }])],
  'index.SdnController#updateRule': () => ['r1', { port: 2222, description: 'ssh' }],
  'index.SdnController#reorderRules': () => [['r2', 'r1']],
  'index.SdnController#rules': () => [{ vif: VIF }],
  'index.SdnController#getRule': () => ['r1'],
  'index.SdnController#listRules': () => [{ network: NET }],
  'index.SdnController#sync': () => [{ hosts: ['h1'] }],
  'index.SdnController#importState': (w) => [w.sdn.exportState()],
  'index.SdnController#registerProvider': () => [provider()],
  'index.SdnController#ovsdbOf': () => ['h1'],
  'index.SdnController#putForeignFlows': () => [{ host: 'h1', bridge: 'xenbr0', cookie: '0x1234', priority: 100, flows: ['tcp,tp_dst=22 actions=drop'] }],
  'index.SdnController#deleteForeignFlows': () => [{ host: 'h1', bridge: 'xenbr0', cookie: '0x1234', cookieMask: '0xffff', flows: ['tcp'], strict: true }],
  'index.SdnController#registerProvider().allocateNumber': () => ['probe-key'],
  'index.SdnController#registerProvider().reserveNumbers': () => [12345],
  'index.SdnController#registerProvider().report': () => ['probe', new Error('x')],
  'index.SdnController#registerProvider().cookie': () => [12345, 1],
  'index.SdnController#registerProvider().compile': () => [[{ cookie: 0x5d4e000000000001n, priority: 9000, specJson: '{"pool":true,"allow":false,"direction":"to"}', endpoints: [{ ofport: 1, mac: MAC, ips: [] }] }]],
  'index.SdnController#registerProvider().send': () => ['h1', 'xenbr0', [barrier()]],
  'index.SecurityGroups': (w) => [w.sdn, { flowBudget: 512 }],
  'index.SecurityGroups#createSecurityGroup': () => ['app', 'application servers'],
  'index.SecurityGroups#deleteSecurityGroup': () => ['db'],
  'index.SecurityGroups#authorizeIngress': () => ['web', [permission(), { protocol: 'icmp', fromPort: 8, toPort: -1, sourceGroup: 'db' }]],
  'index.SecurityGroups#authorizeEgress': () => ['web', permission()],
  'index.SecurityGroups#revokeIngress': () => ['web', permission()],
  'index.SecurityGroups#revokeEgress': () => ['web', { protocol: 'all', cidr: '0.0.0.0/0' }],
  'index.SecurityGroups#attach': () => [[sgVif()], ['web', 'db']],
  'index.SecurityGroups#detach': () => [VIF, ['web']],
  'index.SecurityGroups#importState': (w) => [w.sg.exportState()],
  'index.SecurityGroups#items': () => ['h1', new Map([['xenbr0', [{ name: 'vif1.0', ofport: 3, vifUuid: VIF, mac: MAC, networks: [NET] }]]])],
  'index.SecurityGroups#rulesOf': () => [VIF],
  'index.ElasticIps': (w) => [w.sdn, { pools: ['198.51.100.0/30'], internal: ['10.0.0.0/8'], arpRatePerSec: 5 }],
  'index.ElasticIps#allocateAddress': () => ['203.0.113.0/29'],
  'index.ElasticIps#associateAddress': (w) => [{ uuid: VIF, mac: MAC, ip: '10.0.0.5' }, w.publicIp],
  'index.ElasticIps#disassociateAddress': (w) => [w.publicIp],
  'index.ElasticIps#releaseAddress': (w) => [w.publicIp],
  'index.ElasticIps#importState': (w) => [w.eip.exportState()],
  'index.ElasticIps#items': () => ['h1', new Map([['xenbr0', [{ name: 'vif1.0', ofport: 3, vifUuid: VIF, mac: MAC, networks: [NET] }]]])],
  'index.ElasticIps#onPacketIn': (w) => [{ host: 'h1', bridge: 'xenbr0', message: { type: 'packet_in', inPort: 3, data: arpRequest(w.publicIp) }, send: async () => ({ count: 1 }) }],
  'xo-adapters.createLegacyOpenFlowChannel': (w) => [w.sdn, { register, semantics: 'xo', ifMissing: 'resolve' }],
  'xo-adapters.createLegacyOpenFlowChannel()': () => [xapiHost('h1'), {}],
  'xo-adapters.createLegacyOpenFlowChannel()#addRule': () => [xoRule()],
  'xo-adapters.createLegacyOpenFlowChannel()#deleteRule': () => [xoRule()],
  'xo-adapters.createLegacyOpenFlowChannel()#addNetworkRule': () => [xoNetworkRule()],
  'xo-adapters.createLegacyOpenFlowChannel()#deleteNetworkRule': () => [xoNetworkRule()],
  'xo-adapters.createOvsdbClientAdapter': (w) => [w.sdn, { register, ofportTimeoutMs: 5, target: 'pssl:', protocols: ['OpenFlow11'] }],
  'xo-adapters.createOvsdbClientAdapter()': () => [xapiHost('h1'), {}],
  'xo-adapters.createOvsdbClientAdapter()#getOfPortForVif': (w, rng) => [pick(rng, [VIF, { uuid: VIF }])],
  'xo-adapters.createOvsdbClientAdapter()#setBridgeControllerForNetwork': () => [xapiNetwork()],
  'xo-adapters.createOvsdbClientAdapter()#addInterfaceAndPort': () => [xapiNetwork(), '10.0.0.2', 'gre', 1, 'pw', PRIV],
  'xo-adapters.createOvsdbClientAdapter()#resetForNetwork': () => [xapiNetwork(), PRIV],
  'xo-adapters.createTrafficRulesBackend': (w) => [w.sdn, { register }],
  'xo-adapters.createTrafficRulesBackend().hostsOf': () => [xapiNetwork()],
  'xo-adapters.createTrafficRulesBackend().install': () => [xapiNetwork(), engineEntry(), [xapiHost('h1')]],
  'xo-adapters.createTrafficRulesBackend().deleteCookie': () => [xapiNetwork(), engineEntry(), '0x1234', [xapiHost('h1')]],
  'xo-adapters.createTrafficRulesBackend().deleteLegacy': () => [xapiNetwork(), engineEntry(), [xapiHost('h1')]],
  'xo-adapters.createTrafficRulesBackend().supportsCookies': () => [xapiHost('h1')],
  'xo-adapters.createTrafficRulesBackend().forgetHosts': () => [[xapiHost('h1')]],
  'xo-adapters.defaultHostId': () => [xapiHost('h1')],
  'xo-adapters.registerXapiHost': () => [{ ...xapiHost('h1'), $xapi: { call: async () => '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' } }],
  'xo-adapters.legacyRuleChanges': () => [[{ allow: true, protocol: 'TCP', port: 22, ipRange: '10.0.0.0/8', direction: 'from' }, '{"allow":false,"protocol":"ICMP","port":8,"direction":"to"}'], { network: false }],
  'xo-openflow.pack': () => [{ header: { version: 2, type: 20, xid: 1 } }],
  'xo-openflow.unpack': () => [api.encode(flowMod()), 0],
  'xo-openflow.parse': () => [[api.encode(barrier()), Buffer.concat([api.encode(flowMod()), Buffer.from([2])])]],
}

/** How to get the instance whose methods are called, by class entry point name. */
const INSTANCES = {
  'index.FrameDecoder': () => new FrameDecoder(),
  'index.TlsConfig': () => env.tls,
  'index.OpenFlowChannel': (w) => w.channel,
  'index.OvsdbClient': (w, rng) => (rng() < 0.5 ? w.ovsdbLive : w.ovsdbIdle),
  'index.SdnController': (w) => w.sdn,
  'index.SecurityGroups': (w) => w.sg,
  'index.ElasticIps': (w) => w.eip,
  'xo-adapters.createLegacyOpenFlowChannel()': (w, rng, C) => new C(xapiHost('h1')),
  'xo-adapters.createOvsdbClientAdapter()': (w, rng, C) => new C(xapiHost('h1')),
}

// ---------------------------------------------------------------------------
// enumeration
// ---------------------------------------------------------------------------

const isClass = (f) => typeof f === 'function' && /^class\b/.test(Function.prototype.toString.call(f))
const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && [Object.prototype, null].includes(Object.getPrototypeOf(v))

/**
 * Entry points `{ name, kind, run(world, rng, args) }`. `get(world, rng)` gives what the
 * entry point lives on: nothing for an export, an instance for a method, the product of
 * the parent's valid call for a derived class or object.
 */
async function enumerate() {
  const eps = []
  const seenFns = new Set()
  const addClass = (name, getClass) => {
    eps.push({ name, kind: 'constructor', run: (w, rng, args) => Reflect.construct(getClass(w), args) })
    const C = getClass(null)
    const seen = new Set()
    for (let proto = C.prototype; proto && proto !== Object.prototype && proto !== EventEmitter.prototype; proto = Object.getPrototypeOf(proto)) {
      for (const key of Object.getOwnPropertyNames(proto)) {
        if (key === 'constructor' || key.startsWith('_') || seen.has(key)) continue
        seen.add(key)
        const d = Object.getOwnPropertyDescriptor(proto, key)
        const instance = (w, rng) => {
          const recipe = INSTANCES[name]
          if (!recipe) throw new Error(`no instance recipe for class ${name}: add one to INSTANCES`)
          return recipe(w, rng, getClass(w))
        }
        // Looked up on the instance's own class: a factory makes a class per world (its private brand too).
        const own = (o) => {
          for (let p = Object.getPrototypeOf(o); p; p = Object.getPrototypeOf(p)) {
            const found = Object.getOwnPropertyDescriptor(p, key)
            if (found) return found
          }
          return d
        }
        if (typeof d.get === 'function') {
          eps.push({ name: `${name}#${key}`, kind: 'getter', run: (w, rng) => { const o = instance(w, rng); return own(o).get.call(o) } })
        } else if (typeof d.value === 'function') {
          eps.push({ name: `${name}#${key}`, kind: 'method', run: (w, rng, args) => { const o = instance(w, rng); return own(o).value.apply(o, args) } })
        }
      }
    }
  }
  const addFunction = (name, fn, thisArg) => {
    eps.push({ name, kind: 'function', run: (w, rng, args) => fn(w).apply(thisArg?.(w), args) })
  }
  const modules = [['index', api], ['xo-adapters', adapters], ['xo-openflow', xoOpenflow]]
  for (const [mod, exports] of modules) {
    for (const [key, value] of Object.entries(exports)) {
      if (key.startsWith('_') || value === exports) continue
      if (typeof value === 'function') {
        if (seenFns.has(value)) continue // parseSocket is parse
        seenFns.add(value)
        if (isClass(value)) addClass(`${mod}.${key}`, () => value)
        else addFunction(`${mod}.${key}`, () => value)
      } else if (isPlainObject(value)) {
        for (const [k2, v2] of Object.entries(value)) if (typeof v2 === 'function') addFunction(`${mod}.${key}.${k2}`, () => v2)
      }
    }
  }
  // What a valid call hands back: classes (adapter factories) and objects of functions
  // (the traffic-rules backend, the provider handle).
  for (const ep of [...eps]) {
    const valid = VALID[ep.name]
    if (!valid || (ep.kind !== 'function' && ep.kind !== 'method')) continue
    const product = (w) => {
      if (!w.products.has(ep.name)) w.products.set(ep.name, ep.run(w, Math.random, valid(w, rngFor(`${ep.name}()`))))
      return w.products.get(ep.name)
    }
    let sample
    try {
      sample = product(env.probe)
    } catch {
      continue
    }
    if (sample !== null && typeof sample === 'object' && typeof sample.then === 'function') {
      await bounded(sample, CALL_BOUND_MS) // a promise hands back no class: only let it settle
      continue
    }
    if (sample === null || sample === undefined) continue
    const name = `${ep.name}()`
    if (isClass(sample)) addClass(name, (w) => product(w ?? env.probe))
    else if (isPlainObject(sample)) {
      for (const [k, v] of Object.entries(sample)) if (typeof v === 'function') addFunction(`${name}.${k}`, (w) => product(w)[k], (w) => product(w))
    }
  }
  return eps
}

// ---------------------------------------------------------------------------
// calling and judging
// ---------------------------------------------------------------------------

const TIMEOUT = Symbol('timeout')

/** `p` settled as `{ value }` / `{ error }`, or TIMEOUT after `ms`. */
async function bounded(p, ms) {
  let timer
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => resolve(TIMEOUT), ms)
  })
  try {
    return await Promise.race([p.then((value) => ({ value }), (error) => ({ error })), expired])
  } finally {
    clearTimeout(timer)
  }
}

/** What is wrong with an error a public function threw or rejected with (null: nothing). */
function judge(e) {
  if (e !== null && typeof e === 'object' && e[HOSTILE] === true) return null
  if (!(e instanceof Error)) {
    const cross = e !== null && typeof e === 'object' && require('node:util').types.isNativeError(e)
    return cross ? `an Error of another realm (${e.constructor?.name}), not instanceof Error here` : `not an Error: ${show(e)}`
  }
  if (typeof e.code !== 'string') return 'no code'
  if (!CODE.test(e.code)) return `code ${JSON.stringify(e.code)} is not /^[A-Z][A-Z0-9_]*$/`
  if (e.code.startsWith('ERR_INVALID_ARG') && !(e instanceof TypeError)) return `${e.code} on a ${e.constructor.name}, not a TypeError`
  if (e.code === 'ERR_OUT_OF_RANGE' && !(e instanceof RangeError)) return `${e.code} on a ${e.constructor.name}, not a RangeError`
  return null
}

const isArgCode = (e) => typeof e?.code === 'string' && (e.code.startsWith('ERR_INVALID_ARG') || e.code === 'ERR_OUT_OF_RANGE')

function errorLine(e) {
  let cls
  let message
  try {
    cls = e?.constructor?.name ?? typeof e
    message = e instanceof Error || (e !== null && typeof e === 'object') ? String(e.message) : show(e)
  } catch {
    message = '<message unreadable>'
  }
  if (message.length > 240) message = `${message.slice(0, 240)}…`
  return `${cls}${e?.code !== undefined ? ` [${show(e.code)}]` : ''}: ${message}`
}

/** Drives what a call gave back: awaits a promise (bounded), pulls a few values from an (async) iterator. */
async function settle(ep, result, waitsOnCaller) {
  const bound = WAITS[ep.name] || waitsOnCaller ? WAIT_BOUND_MS : CALL_BOUND_MS
  if (result !== null && typeof result === 'object' && typeof result.then === 'function' && !GIVEN_PROMISES.has(result)) {
    return bounded(Promise.resolve(result), bound).then((r) => (r === TIMEOUT ? { timeout: Promise.resolve(result) } : r))
  }
  if (result !== null && typeof result === 'object' && typeof result.next === 'function' && (Symbol.asyncIterator in result || Symbol.iterator in result)) {
    for (let i = 0; i < 16; i++) {
      const step = await bounded(Promise.resolve().then(() => result.next()), bound)
      if (step === TIMEOUT) return { timeout: Promise.resolve() }
      if (step.error !== undefined || 'error' in step) return step
      if (step.value?.done) break
    }
    await Promise.resolve(result.return?.()).catch(() => {})
  }
  return { value: result }
}

// ---------------------------------------------------------------------------
// the run
// ---------------------------------------------------------------------------

let entryPoints = []

beforeAll(async () => {
  env.closedPort = await closedPort()
  env.ovsdbPort = await answeringOvsdb()
  env.pki = throwawayPki()
  env.tls = new TlsConfig({ clientCert: env.pki.clientCert, clientKey: env.pki.clientKey, poolCa: env.pki.ca })
  env.probe = await makeWorld()
  entryPoints = await enumerate()
}, 60000)

afterAll(async () => {
  if (env.probe) await closeWorld(env.probe)
  closePeers()
})

test(`every error of every public entry point has a code (seed ${SEED})`, async () => {
  const byKind = Object.create(null)
  for (const ep of entryPoints) byKind[ep.kind] = (byKind[ep.kind] ?? 0) + 1
  console.log(`error-codes: seed ${SEED}, ${entryPoints.length} entry points (${Object.entries(byKind).map(([k, n]) => `${n} ${k}s`).join(', ')}), ${ITERATIONS} iterations each`)
  expect(entryPoints.length).toBeGreaterThanOrEqual(MIN_ENTRY_POINTS)
  const randomOnly = entryPoints.filter((ep) => ep.kind !== 'getter' && !VALID[ep.name]).map((ep) => ep.name)
  if (randomOnly.length > 0) console.log(`error-codes: hostile arguments only (no valid-argument recipe, or none needed): ${randomOnly.join(', ')}`)

  const violations = new Map() // one line per (entry point, problem, error), with a count
  const report = (ep, i, args, problem, e) => {
    const key = `${ep.name}|${problem}|${e === undefined ? '' : errorLine(e).replace(/\d+/g, 'N')}`
    const v = violations.get(key)
    if (v) v.count++
    else violations.set(key, { count: 1, line: `${ep.name} [seed ${SEED}, iteration ${i}] ${args === null ? '' : showArgs(args)}: ${problem}${e === undefined ? '' : ` — ${errorLine(e)}`}` })
  }
  const started = Date.now()
  let calls = 0
  const codes = new Map() // code -> count, for the summary
  let fulfilled = 0
  for (const ep of entryPoints) {
    if (ONLY && !ep.name.includes(ONLY)) continue
    const rng = rngFor(ep.name)
    const valid = VALID[ep.name]
    const world = await makeWorld()
    let hangs = 0
    for (let i = 0; i < ITERATIONS; i++) {
      // The arguments: valid (sometimes), valid with one change, or hostile throughout.
      let args = []
      if (ep.kind !== 'getter') {
        const r = rng()
        if (valid && r < 0.08) args = valid(world, rng)
        else if (valid && r < 0.62) args = mutate(rng, valid(world, rng))
        else {
          const n = int(rng, 0, Math.max(3, valid ? valid(world, rng).length + 1 : 3))
          args = Array.from({ length: n }, () => randomValue(rng))
        }
      }
      const before = snapshot(world)
      // A call may wait for as long as a promise of the caller does not settle (parse() of an iterable holding one).
      const waitsOnCaller = holdsNever(args)
      let outcome
      try {
        const result = ep.run(world, rng, args)
        if (ep.kind === 'constructor' && result !== null && typeof result === 'object') world.created.push(result)
        outcome = await settle(ep, result, waitsOnCaller)
      } catch (error) {
        outcome = { error }
      }
      calls++
      if (outcome.timeout) {
        if (WAITS[ep.name]) {
          world.pending.push({ i, args, promise: outcome.timeout })
          continue
        }
        if (waitsOnCaller) continue
        report(ep, i, args, `neither settled nor threw within ${CALL_BOUND_MS} ms`)
        if (++hangs >= 2) break
        continue
      }
      if (!('error' in outcome)) {
        fulfilled++
        continue
      }
      const code = String(outcome.error?.[HOSTILE] ? '(hostile value)' : outcome.error?.code)
      codes.set(code, (codes.get(code) ?? 0) + 1)
      const problem = judge(outcome.error)
      if (problem) report(ep, i, args, problem, outcome.error)
      else if (isArgCode(outcome.error) && snapshot(world) !== before) report(ep, i, args, 'refused an argument but changed the state (half-applied)', outcome.error)
    }
    await closeWorld(world)
    // What was left waiting must end with close().
    for (const { i, args, promise } of world.pending) {
      const r = await bounded(promise, 3000)
      if (r === TIMEOUT) report({ name: ep.name }, i, args, 'still pending 3 s after close()')
      else if ('error' in r) {
        const problem = judge(r.error)
        if (problem) report({ name: ep.name }, i, args, `after close(): ${problem}`, r.error)
      }
    }
  }
  const top = [...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')
  console.log(`error-codes: ${calls} calls in ${((Date.now() - started) / 1000).toFixed(1)} s: ${fulfilled} fulfilled, ${calls - fulfilled} failed (${top}); ${violations.size} distinct violations`)
  const lines = [...violations.values()].map((v) => `${v.line}${v.count > 1 ? ` (×${v.count})` : ''}`)
  if (lines.length > 0) throw new Error(`${lines.length} violations (seed ${SEED}; rerun with ERROR_CODES_SEED=${SEED}):\n${lines.join('\n')}`)
}, 240000)

// ---------------------------------------------------------------------------
// OvsdbClient#close() ends getOfPortForVif waits
// ---------------------------------------------------------------------------

describe('OvsdbClient#close() ends a pending getOfPortForVif wait', () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

  test.each([
    ['never connected', async () => new OvsdbClient({ host: '127.0.0.1', port: env.closedPort, reconnect: false })],
    ['connected to a fake OVSDB peer', async () => {
      const c = new OvsdbClient({ host: '127.0.0.1', port: env.ovsdbPort, reconnect: false, echoIntervalMs: 600000 })
      await c.connect()
      return c
    }],
  ])('%s: rejects CHANNEL_CLOSED at once and clears its timer', async (_, make) => {
    const client = await make()
    const idle = timers()
    const waits = [client.getOfPortForVif(VIF, { timeoutMs: 600000 }), client.getOfPortForVif(VIF)]
    for (const w of waits) w.catch(() => {})
    expect(timers()).toBeGreaterThan(idle)
    const t0 = Date.now()
    await client.close()
    for (const w of waits) {
      const e = await rejection(w)
      expect(e).toBeInstanceOf(Error)
      expect(e.code).toBe('CHANNEL_CLOSED')
    }
    expect(Date.now() - t0).toBeLessThan(2500)
    expect(timers()).toBeLessThanOrEqual(idle)
    // And after close(), at once.
    const late = await rejection(client.getOfPortForVif(VIF, { timeoutMs: 600000 }))
    expect(late.code).toBe('CHANNEL_CLOSED')
    expect(timers()).toBeLessThanOrEqual(idle)
  }, 10000)

  test('a bad timeoutMs is a RangeError, and nothing waits', async () => {
    const client = new OvsdbClient({ host: '127.0.0.1', port: env.closedPort, reconnect: false })
    for (const timeoutMs of [-1, NaN, 1.5, 2 ** 31, '10', Infinity]) {
      const e = await rejection(client.getOfPortForVif(VIF, { timeoutMs }))
      expect(e).toBeInstanceOf(RangeError)
      expect(e.code).toBe('ERR_OUT_OF_RANGE')
    }
    await client.close()
  })
})
