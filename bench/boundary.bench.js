'use strict'
// The codec's N-API boundary, measured (issue 11): today's value tape (`js/codec.js`,
// `src/tape`) against typed napi objects (`src/node/typed_codec.rs`: `#[napi(object)]`
// types, and napi-rs's serde support for reference), with XO's pure-JS
// @xen-orchestra/openflow 0.1.4 as the yardstick, all in one Node process.
//
// Needs the addon built with the `bench-typed` feature, which the release never has:
//   npx napi build --platform --release --features test-hooks,bench-typed --no-js --dts target/boundary.d.ts
// Run: `node bench/boundary.bench.js [--json] [--quick]`.
//
// Before timing, it checks that the typed path encodes the same bytes and decodes the
// same objects (same keys in the same order, same values and types) as the tape path,
// and stops with an error otherwise. Then each case is warmed up and timed in rounds,
// the variants one after the other inside every round, so load from other processes
// hits them alike; the median round gives ns/op (ns/msg for the 1000-message cases).

const path = require('path')
const os = require('os')
const assert = require('assert')

const binding = require(path.join(__dirname, '..', 'js', 'binding.js'))
const tape = require(path.join(__dirname, '..', 'js', 'index.js'))
const xo = require('@xen-orchestra/openflow').default
const { CHECKS, assertLikeForLike, assertSameShape, u64AsSerdeWritesIt } = require('./boundary-checks.js')

if (typeof binding.__encodeTyped !== 'function') {
  console.error(
    'bench/boundary.bench.js: the addon was built without the `bench-typed` feature. Build it with\n' +
      '  npx napi build --platform --release --features test-hooks,bench-typed --no-js --dts target/boundary.d.ts\n' +
      'then run this again (and rebuild without it before `npm test`, which builds its own).'
  )
  process.exit(1)
}

const JSON_OUT = process.argv.includes('--json')
const QUICK = process.argv.includes('--quick')
const ROUNDS = QUICK ? 5 : 15
const ROUND_MS = QUICK ? 20 : 60
const WARMUP_MS = QUICK ? 100 : 400
const BATCH = 1000
const CHUNK = 64 * 1024 // what a socket read typically hands over

const of = xo.protocols[xo.versions.openFlow11]

// ---- the message: the same 160-byte FLOW_MOD as bench/codec.bench.js ----

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
  cookieMask: 0xffffffffffffffffn,
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

// ---- like for like, or stop ----

assertLikeForLike(binding, tape, [['the benchmark FLOW_MOD', ourFlowMod()], ...CHECKS])

const BYTES = xo.pack(xoFlowMod())
assert.strictEqual(BYTES.length, 160, 'the benchmark FLOW_MOD must be 160 bytes')
assert.ok(tape.encode(ourFlowMod()).equals(BYTES), 'the tape path must encode what XO encodes')

const xoBatch = Array.from({ length: BATCH }, (_, i) => xoFlowMod(i + 1, 1000 + i))
const ourBatch = Array.from({ length: BATCH }, (_, i) => ourFlowMod(i + 1, 1000 + i))
const STREAM = Buffer.concat(xoBatch.map((m) => xo.pack(m)))
assert.ok(tape.encodeBatch(ourBatch).equals(STREAM), 'tape batch')
assert.ok(binding.__encodeBatchTyped(ourBatch).equals(STREAM), 'typed batch')
assert.ok(binding.__encodeBatchSerde(ourBatch).equals(STREAM), 'serde batch')

function pushAll(decoder) {
  const out = []
  for (let at = 0; at < STREAM.length; at += CHUNK) out.push(...decoder.push(STREAM.subarray(at, at + CHUNK)))
  return out
}
const tapeStream = pushAll(new tape.FrameDecoder())
assert.strictEqual(tapeStream.length, BATCH)
assertSameShape(pushAll(new binding.TypedFrameDecoder()), tapeStream, 'typed stream decode')
assertSameShape(pushAll(new binding.SerdeFrameDecoder()), u64AsSerdeWritesIt(tapeStream), 'serde stream decode')

// ---- the operations ----

let sink = 0 // keeps results observable so nothing is optimized away

function streamDecode(decoder) {
  let n = 0
  for (let at = 0; at < STREAM.length; at += CHUNK) n += decoder.push(STREAM.subarray(at, at + CHUNK)).length
  if (n !== BATCH) throw new Error(`decoded ${n} messages, not ${BATCH}`)
  sink += n
}

const VARIANTS = ['xo', 'tape', 'typed', 'serde']

const ops = {
  encode: {
    xo: () => (sink += xo.pack(xoBatch[0]).length),
    tape: () => (sink += tape.encode(ourBatch[0]).length),
    typed: () => (sink += binding.__encodeTyped(ourBatch[0]).length),
    serde: () => (sink += binding.__encodeSerde(ourBatch[0]).length),
  },
  decode: {
    xo: () => (sink += xo.unpack(BYTES).priority),
    tape: () => (sink += tape.decode(BYTES).priority),
    typed: () => (sink += binding.__decodeTyped(BYTES).priority),
    serde: () => (sink += binding.__decodeSerde(BYTES).priority),
  },
  'batch-encode': {
    xo: () => {
      const parts = new Array(BATCH)
      for (let i = 0; i < BATCH; i++) parts[i] = xo.pack(xoBatch[i])
      sink += Buffer.concat(parts).length
    },
    tape: () => (sink += tape.encodeBatch(ourBatch).length),
    typed: () => (sink += binding.__encodeBatchTyped(ourBatch).length),
    serde: () => (sink += binding.__encodeBatchSerde(ourBatch).length),
  },
  // XO's parse-socket reads a header, then the body, and unpacks at offset 0.
  'stream-decode': {
    xo: () => {
      let n = 0
      for (let at = 0; at < STREAM.length; ) {
        const len = STREAM.readUInt16BE(at + 2)
        n += xo.unpack(STREAM.subarray(at, at + len)).priority
        at += len
      }
      sink += n
    },
    tape: () => streamDecode(new tape.FrameDecoder()),
    typed: () => streamDecode(new binding.TypedFrameDecoder()),
    serde: () => streamDecode(new binding.SerdeFrameDecoder()),
  },
}

const CASES = [
  { key: 'encode', label: 'encode, 1 FLOW_MOD', unit: 'ns/op', per: 1 },
  { key: 'decode', label: 'decode, 1 FLOW_MOD', unit: 'ns/op', per: 1 },
  { key: 'batch-encode', label: `encode ${BATCH} (XO: pack each + concat)`, unit: 'ns/msg', per: BATCH },
  { key: 'stream-decode', label: `decode a ${BATCH}-message stream`, unit: 'ns/msg', per: BATCH },
]

function timeLoop(fn, iterations) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) fn()
  return Number(process.hrtime.bigint() - t0)
}

/** Warms `fn` up; returns the iterations that make a ~ROUND_MS round. */
function warm(fn) {
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

/** Every variant of a case, one after the other in each round. */
function measure(c) {
  const fns = VARIANTS.map((v) => ops[c.key][v])
  const n = fns.map(warm)
  const samples = VARIANTS.map(() => [])
  for (let r = 0; r < ROUNDS; r++) {
    for (let v = 0; v < VARIANTS.length; v++) samples[v].push(timeLoop(fns[v], n[v]) / n[v] / c.per)
  }
  const out = {}
  VARIANTS.forEach((v, i) => {
    const s = samples[i].sort((a, b) => a - b)
    out[v] = { median: s[s.length >> 1], min: s[0], max: s[s.length - 1], iterations: n[i], rounds: ROUNDS }
  })
  return out
}

const results = {}
for (const c of CASES) {
  const r = measure(c)
  results[c.key] = {
    label: c.label,
    unit: c.unit,
    ...r,
    typedOverTape: r.typed.median / r.tape.median,
    serdeOverTape: r.serde.median / r.tape.median,
    xoOver: Object.fromEntries(['tape', 'typed', 'serde'].map((v) => [v, r.xo.median / r[v].median])),
  }
}

const env = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  load: os.loadavg().map((l) => l.toFixed(2)).join(' '),
  messageBytes: BYTES.length,
  batch: BATCH,
  rounds: ROUNDS,
}

if (JSON_OUT) {
  process.stdout.write(JSON.stringify({ env, results }, null, 2) + '\n')
} else {
  const fmt = (ns) => (ns >= 100 ? ns.toFixed(0) : ns.toFixed(1)).padStart(7)
  const x = (r) => `${r.toFixed(2)}x`.padStart(7)
  console.log(`N-API boundary: tape vs typed napi objects vs napi-rs serde, and XO 0.1.4; ${BYTES.length}-byte FLOW_MOD`)
  console.log(`${env.date}  node ${env.node}  ${env.cpu} x${env.cores}  load ${env.load}  median of ${ROUNDS} rounds`)
  console.log('')
  console.log(
    `${'case'.padEnd(40)} ${'unit'.padEnd(6)} ${'XO'.padStart(7)} ${'tape'.padStart(7)} ${'typed'.padStart(7)} ${'serde'.padStart(7)}` +
      `  ${'typed/tape'.padStart(10)} ${'serde/tape'.padStart(10)}  ${'XO/tape'.padStart(7)} ${'XO/typed'.padStart(8)} ${'XO/serde'.padStart(8)}`
  )
  for (const c of CASES) {
    const r = results[c.key]
    console.log(
      `${r.label.padEnd(40)} ${r.unit.padEnd(6)} ${fmt(r.xo.median)} ${fmt(r.tape.median)} ${fmt(r.typed.median)} ${fmt(r.serde.median)}` +
        `  ${x(r.typedOverTape).padStart(10)} ${x(r.serdeOverTape).padStart(10)}  ${x(r.xoOver.tape)} ${x(r.xoOver.typed).padStart(8)} ${x(r.xoOver.serde).padStart(8)}`
    )
  }
  console.log('')
  console.log('typed/tape > 1.20 in a case: the typed boundary costs more than 20% over the tape there.')
  console.log('serde decodes u64s under 2^32 as Numbers (cookie: 0, not 0n): not the same shape, reference only.')
}
if (sink === -1) console.log(sink)
