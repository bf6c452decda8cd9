'use strict'
// Codec micro-benchmark: xo-sdn-native (Rust, through N-API) against
// @xen-orchestra/openflow 0.1.4 (pure JS), in one Node process, on the same 160-byte
// FLOW_MOD. Run: `node bench/codec.bench.js [--json] [--quick]`.
//
// Each case is warmed up, then timed in several rounds (process.hrtime.bigint), XO and ours
// alternating; a round runs enough iterations to last ~ROUND_MS. The median round gives
// ns/op (ns/msg for the 1000-message cases).

const path = require('path')
const os = require('os')
const assert = require('assert')

const native = require(path.join(__dirname, '..', 'js', 'index.js'))
const xo = require('@xen-orchestra/openflow').default

const JSON_OUT = process.argv.includes('--json')
const QUICK = process.argv.includes('--quick')
const ROUNDS = QUICK ? 5 : 15
const ROUND_MS = QUICK ? 20 : 60
const WARMUP_MS = QUICK ? 100 : 400
const BATCH = 1000

const of = xo.protocols[xo.versions.openFlow11]

// ---- the message, in both shapes ----

const xoFlowMod = (xid = 1, tpDst = 5060) => ({
  header: { version: of.version, type: of.type.flowMod, xid },
  command: of.flowModCommand.add,
  priority: 65527,
  match: {
    type: of.matchType.standard,
    in_port: 4,
    dl_src: 'ae:f7:4b:84:6c:8b',
    dl_type: of.dlType.ip,
    nw_proto: of.nwProto.tcp,
    nw_src: '192.168.5.242',
    nw_dst: '192.168.5.55',
    tp_dst: tpDst,
  },
  instructions: [
    { type: of.instructionType.applyActions, actions: [{ type: of.actionType.output, port: of.port.normal }] },
  ],
})

const ourFlowMod = (xid = 1, tpDst = 5060) => ({
  type: 'flow_mod',
  xid,
  cookie: 0n,
  cookieMask: 0xffffffffffffffffn, // what XO writes when no cookie is given
  command: 'add',
  priority: 65527,
  match: {
    inPort: 4,
    dlSrc: 'ae:f7:4b:84:6c:8b',
    dlType: 0x0800,
    nwProto: 6,
    nwSrc: '192.168.5.242',
    nwDst: '192.168.5.55',
    tpDst,
  },
  instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 'normal' }] }],
})

const BYTES = xo.pack(xoFlowMod())
assert.strictEqual(BYTES.length, 160, 'the benchmark FLOW_MOD must be 160 bytes')
assert.ok(native.encode(ourFlowMod()).equals(BYTES), 'both codecs must encode the same bytes')

const xoBatch = Array.from({ length: BATCH }, (_, i) => xoFlowMod(i + 1, 1000 + i))
const ourBatch = Array.from({ length: BATCH }, (_, i) => ourFlowMod(i + 1, 1000 + i))
const STREAM = Buffer.concat(xoBatch.map(m => xo.pack(m)))
assert.ok(native.encodeBatch(ourBatch).equals(STREAM), 'batches must match too')
const CHUNK = 64 * 1024 // what a socket read typically hands over

// ---- the operations ----

let sink = 0 // keeps results observable so nothing is optimized away

const ops = {
  'encode/xo': () => {
    sink += xo.pack(xoBatch[0]).length
  },
  'encode/ours': () => {
    sink += native.encode(ourBatch[0]).length
  },
  'decode/xo': () => {
    sink += xo.unpack(BYTES).priority
  },
  'decode/ours': () => {
    sink += native.decode(BYTES).priority
  },
  'batch-encode/xo': () => {
    const parts = new Array(BATCH)
    for (let i = 0; i < BATCH; i++) parts[i] = xo.pack(xoBatch[i])
    sink += Buffer.concat(parts).length
  },
  'batch-encode/ours': () => {
    sink += native.encodeBatch(ourBatch).length
  },
  // XO's parse-socket reads a header, then the body, and unpacks at offset 0; a subarray per
  // frame is the same work minus the socket and the copy.
  'stream-decode/xo': () => {
    let n = 0
    for (let at = 0; at < STREAM.length; ) {
      const len = STREAM.readUInt16BE(at + 2)
      n += xo.unpack(STREAM.subarray(at, at + len)).priority
      at += len
    }
    sink += n
  },
  'stream-decode/ours': () => {
    const d = new native.FrameDecoder()
    let n = 0
    for (let at = 0; at < STREAM.length; at += CHUNK) n += d.push(STREAM.subarray(at, at + CHUNK)).length
    assert.strictEqual(n, BATCH)
    sink += n
  },
}

// Per-op divisor: batched cases report ns per message.
const PER = { 'batch-encode/xo': BATCH, 'batch-encode/ours': BATCH, 'stream-decode/xo': BATCH, 'stream-decode/ours': BATCH }

function timeLoop(fn, iterations) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) fn()
  return Number(process.hrtime.bigint() - t0)
}

/** Warms `name` up; returns the iterations that make a ~ROUND_MS round. */
function warm(name) {
  const fn = ops[name]
  let iterations = 1
  let spent = 0
  let done = 0
  while (spent < WARMUP_MS * 1e6) {
    const t = timeLoop(fn, iterations)
    spent += t
    done += iterations
    if (t < 10e6) iterations *= 2
  }
  return Math.max(1, Math.round((ROUND_MS * 1e6) / (spent / done)))
}

/**
 * Times the XO and our variants of a case in alternating rounds, so that load from other
 * processes on the machine hits both alike. Returns per-variant median/min/max.
 */
function measurePair(key) {
  const names = [`${key}/xo`, `${key}/ours`]
  const n = names.map(warm)
  const samples = [[], []]
  for (let r = 0; r < ROUNDS; r++) {
    for (let v = 0; v < 2; v++) samples[v].push(timeLoop(ops[names[v]], n[v]) / n[v] / (PER[names[v]] ?? 1))
  }
  return samples.map((s, v) => {
    s.sort((a, b) => a - b)
    return { median: s[s.length >> 1], min: s[0], max: s[s.length - 1], iterations: n[v], rounds: ROUNDS }
  })
}

const CASES = [
  { key: 'encode', label: 'encode, 1 FLOW_MOD', unit: 'ns/op', target: 5 },
  { key: 'decode', label: 'decode, 1 FLOW_MOD', unit: 'ns/op', target: 5 },
  { key: 'batch-encode', label: `encode ${BATCH} (XO: pack each + concat)`, unit: 'ns/msg', target: 30 },
  { key: 'stream-decode', label: `decode a ${BATCH}-message stream`, unit: 'ns/msg', target: null },
]

const results = {}
for (const c of CASES) {
  const [theirs, mine] = measurePair(c.key)
  const speedup = theirs.median / mine.median
  results[c.key] = {
    label: c.label,
    unit: c.unit,
    xo: theirs,
    ours: mine,
    speedup,
    target: c.target,
    met: c.target === null ? null : speedup >= c.target,
  }
}

const env = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  messageBytes: BYTES.length,
  batch: BATCH,
}

if (JSON_OUT) {
  process.stdout.write(JSON.stringify({ env, results }, null, 2) + '\n')
} else {
  const fmt = ns => (ns >= 100 ? ns.toFixed(0) : ns.toFixed(1)).padStart(9)
  console.log(`xo-sdn-native vs @xen-orchestra/openflow 0.1.4, ${BYTES.length}-byte FLOW_MOD`)
  console.log(`${env.date}  node ${env.node}  ${env.cpu} x${env.cores}  median of ${ROUNDS} rounds`)
  console.log('')
  console.log(`${'case'.padEnd(44)} ${'unit'.padEnd(7)} ${'XO'.padStart(9)} ${'ours'.padStart(9)}   speedup  target`)
  for (const c of CASES) {
    const r = results[c.key]
    const target = r.target === null ? '-' : `>= ${r.target}x ${r.met ? 'met' : 'MISSED'}`
    console.log(
      `${r.label.padEnd(44)} ${r.unit.padEnd(7)} ${fmt(r.xo.median)} ${fmt(r.ours.median)}   ${(r.speedup.toFixed(1) + 'x').padStart(7)}  ${target}`
    )
  }
  console.log('')
  for (const c of CASES) {
    const r = results[c.key]
    if (r.target === null) continue
    console.log(
      `${r.met ? 'MET   ' : 'MISSED'} ${c.key}: ours is ${r.speedup.toFixed(1)}x faster than XO (target >= ${r.target}x)`
    )
  }
}
if (sink === -1) console.log(sink)
