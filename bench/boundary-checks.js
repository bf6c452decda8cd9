'use strict'
// What makes the boundary comparison like for like (issue 11): the typed prototype
// (`src/node/typed_codec.rs`, feature `bench-typed`) must encode the same bytes and
// decode the same objects as today's tape path. `bench/boundary.bench.js` runs these
// checks before timing anything; `__test__/boundary-typed.test.js` runs them too.

const assert = require('assert')

/** What a decoded value is, the same in every realm (jest runs tests in a vm context
 * of its own, so prototypes differ between objects built by JS and by the addon). */
function kindOf(v) {
  if (v === null) return 'null'
  if (Buffer.isBuffer(v)) return 'Buffer'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'object') return Object.prototype.toString.call(v)
  return typeof v
}

/** Same keys in the same order, same values of the same kinds, all the way down. */
function assertSameShape(actual, expected, where) {
  const kind = kindOf(expected)
  assert.strictEqual(kindOf(actual), kind, `${where}: a ${kindOf(actual)} where the tape path gives a ${kind}`)
  if (kind === 'Buffer') {
    assert.ok(actual.equals(expected), `${where}: bytes differ`)
  } else if (kind === 'array') {
    assert.strictEqual(actual.length, expected.length, `${where}: length`)
    expected.forEach((x, i) => assertSameShape(actual[i], x, `${where}[${i}]`))
  } else if (kind === '[object Object]') {
    assert.deepStrictEqual(Object.keys(actual), Object.keys(expected), `${where}: keys (in order)`)
    for (const k of Object.keys(expected)) assertSameShape(actual[k], expected[k], `${where}.${k}`)
  } else {
    assert.strictEqual(actual, expected, where)
  }
}

/** napi-rs's serde writes a u64 under 2^32 as a Number: compare after doing the same. */
function u64AsSerdeWritesIt(v) {
  if (typeof v === 'bigint') return v <= 0xffffffffn ? Number(v) : v
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v
  if (Array.isArray(v)) return v.map(u64AsSerdeWritesIt)
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, u64AsSerdeWritesIt(x)]))
}

/** A FLOW_MOD that carries every OpenFlow 1.1 instruction and action. */
const EVERY_ACTION = [
  { type: 'output', port: 'controller', maxLen: 128 },
  { type: 'output', port: 3, maxLen: 0 },
  { type: 'set_vlan_vid', vlanVid: 10 },
  { type: 'set_vlan_pcp', vlanPcp: 3 },
  { type: 'set_dl_src', dlAddr: '02:00:00:00:00:01' },
  { type: 'set_dl_dst', dlAddr: '02:00:00:00:00:02' },
  { type: 'set_nw_src', nwAddr: '10.0.0.1' },
  { type: 'set_nw_dst', nwAddr: '10.0.0.2' },
  { type: 'set_nw_tos', nwTos: 8 },
  { type: 'set_nw_ecn', nwEcn: 1 },
  { type: 'set_tp_src', tpPort: 80 },
  { type: 'set_tp_dst', tpPort: 443 },
  { type: 'copy_ttl_out' },
  { type: 'copy_ttl_in' },
  { type: 'set_mpls_label', mplsLabel: 100 },
  { type: 'set_mpls_tc', mplsTc: 2 },
  { type: 'set_mpls_ttl', mplsTtl: 64 },
  { type: 'dec_mpls_ttl' },
  { type: 'push_vlan', ethertype: 0x8100 },
  { type: 'pop_vlan' },
  { type: 'push_mpls', ethertype: 0x8847 },
  { type: 'pop_mpls', ethertype: 0x0800 },
  { type: 'set_queue', queueId: 1 },
  { type: 'group', groupId: 5 },
  { type: 'set_nw_ttl', nwTtl: 9 },
  { type: 'dec_nw_ttl' },
  { type: 'experimenter', experimenter: 0x2320, data: Buffer.from('0011223344556677', 'hex') },
]
const RICH_FLOW_MOD = {
  type: 'flow_mod',
  xid: 77,
  cookie: 0x123456789abcdefn,
  cookieMask: 0n,
  tableId: 1,
  command: 'modify_strict',
  idleTimeout: 10,
  hardTimeout: 20,
  priority: 100,
  bufferId: 7,
  outPort: 'any',
  outGroup: 'any',
  flags: ['send_flow_rem', 'check_overlap'],
  match: {
    inPort: 'local',
    dlSrc: 'aa:bb:cc:dd:ee:ff/ff:ff:ff:00:00:00',
    dlDst: '02:00:00:00:00:02',
    dlVlan: 10,
    dlVlanPcp: 1,
    dlType: 0x0800,
    nwTos: 4,
    nwProto: 17,
    nwSrc: '10.0.0.0/8',
    nwDst: '10.1.2.0/255.0.255.0',
    tpSrc: 53,
    tpDst: 5353,
    mplsLabel: 16,
    mplsTc: 1,
    metadata: { value: 0x12n, mask: 0xffn },
  },
  instructions: [
    { type: 'goto_table', tableId: 2 },
    { type: 'write_metadata', metadata: 0xabn, metadataMask: 0xffffn },
    { type: 'write_actions', actions: EVERY_ACTION.slice(0, 13) },
    { type: 'apply_actions', actions: EVERY_ACTION.slice(13) },
    { type: 'clear_actions' },
  ],
}

const CHECKS = [
  ['a FLOW_MOD with every instruction and action', RICH_FLOW_MOD],
  ['a FLOW_MOD with defaults only', { type: 'flow_mod', match: { metadata: 5n } }],
  ['BARRIER_REQUEST', { type: 'barrier_request', xid: 9 }],
  ['BARRIER_REPLY', { type: 'barrier_reply', xid: 9 }],
  ['ECHO_REQUEST', { type: 'echo_request', xid: 3, data: Buffer.from('keepalive') }],
  ['ECHO_REPLY', { type: 'echo_reply', xid: 3, data: Buffer.alloc(0) }],
]

/**
 * Throws unless the typed and serde paths of `binding` encode what `codec` (the tape
 * path) encodes, and the typed path decodes it to the same object, keys in the same
 * order; serde's decode may differ only by its u64 Numbers.
 * (`codec` is given, not required here, so that a test uses the one in its own realm.)
 */
function assertLikeForLike(binding, codec, messages = CHECKS) {
  for (const [what, m] of messages) {
    const bytes = codec.encode(m)
    assert.ok(binding.__encodeTyped(m).equals(bytes), `${what}: typed encode differs from the tape's`)
    assert.ok(binding.__encodeSerde(m).equals(bytes), `${what}: serde encode differs from the tape's`)
    const expected = codec.decode(bytes)
    assertSameShape(binding.__decodeTyped(bytes), expected, `${what}: typed decode`)
    assertSameShape(binding.__decodeSerde(bytes), u64AsSerdeWritesIt(expected), `${what}: serde decode`)
  }
}

module.exports = { CHECKS, RICH_FLOW_MOD, assertSameShape, u64AsSerdeWritesIt, assertLikeForLike }

