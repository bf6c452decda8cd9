'use strict'
// The JS surface of the OpenFlow 1.1 codec, against bytes recorded from Open vSwitch.

const { execFileSync } = require('node:child_process')
const { encode, decode, encodeBatch, FrameDecoder, parseFlow } = require('..')
const { ensureOvs } = require('../testing/sandbox.js')
const { vectorRows, switchMsg } = require('./helpers.js')

const SEED_HEX =
  '020e00880000000600000000000000000000000000000000000000000000fff7ffffffffffffffffffffffff00000000000000580000000400000356aef74b846c8b000000000000000000000000ffffffffffff0000000008000006c0a805f200000000c0a8053700000000000013c400000000000000000000000000000000ffffffffffffffff'

describe('decode / encode', () => {
  test('the seed flow decodes to the documented shape and re-encodes byte for byte', () => {
    const m = decode(Buffer.from(SEED_HEX, 'hex'))
    expect(m).toMatchObject({
      type: 'flow_mod',
      xid: 6,
      command: 'add',
      priority: 65527,
      cookie: 0n,
      bufferId: 0xffffffff,
      outPort: 'any',
      match: {
        inPort: 4,
        dlSrc: 'ae:f7:4b:84:6c:8b',
        dlType: 0x0800,
        nwProto: 6,
        nwSrc: '192.168.5.242',
        nwDst: '192.168.5.55',
        tpDst: 5060,
      },
      instructions: [],
    })
    expect(m.match.dlDst).toBeUndefined()
    expect(encode(m).toString('hex')).toBe(SEED_HEX)
  })

  test.each(vectorRows('flow_mods.tsv').map((r) => [r[0], r[1], r[2]]))('%s %s round-trips', (_cmd, _text, hex) => {
    const m = decode(Buffer.from(hex, 'hex'))
    expect(m.type).toBe('flow_mod')
    expect(encode(m).toString('hex')).toBe(hex)
  })

  test.each(vectorRows('switch_msgs.tsv').map((r) => [r[0], r[1]]))('%s round-trips', (_name, hex) => {
    const m = decode(Buffer.from(hex, 'hex'))
    expect(typeof m.type).toBe('string')
    expect(encode(m).toString('hex')).toBe(hex)
  })

  test('messages XO\'s codec throws on decode here', () => {
    expect(decode(switchMsg('async.flow_removed.hard_timeout'))).toMatchObject({
      type: 'flow_removed',
      reason: 'hard_timeout',
      priority: 301,
      cookie: 0x9an,
      hardTimeout: 1,
    })
    expect(decode(switchMsg('async.port_status.add'))).toMatchObject({ type: 'port_status', reason: 'add' })
    const pin = decode(switchMsg('async.packet_in.no_match'))
    expect(pin).toMatchObject({ type: 'packet_in', reason: 'no_match' })
    expect(Buffer.isBuffer(pin.data)).toBe(true)
    expect(pin.data.length).toBeGreaterThan(13)
    expect(decode(switchMsg('rep.barrier_reply'))).toMatchObject({ type: 'barrier_reply' })
    const hello = decode(switchMsg('rep.hello'))
    expect(hello).toMatchObject({ type: 'hello', version: 4, elements: [{ type: 'version_bitmap' }] })
    expect(hello.elements[0].bitmaps[0] & (1 << 2)).toBe(1 << 2) // OF1.1 offered
  })

  test('an error names its type and code and keeps the offending message, which decodes', () => {
    const err = decode(switchMsg('rep.error.bad_out_group'))
    expect(err).toMatchObject({ type: 'error', errorType: 'bad_action', code: 'bad_out_group' })
    const offending = decode(err.data)
    expect(offending.type).toBe('flow_mod')
    expect(offending.instructions[0].actions[0]).toEqual({ type: 'group', groupId: 5 })
  })

  test('an unknown error type and code stay numbers and round-trip', () => {
    const bytes = encode({ type: 'error', xid: 9, errorType: 0x1234, code: 77, data: Buffer.from('abcd') })
    expect(decode(bytes)).toEqual({ type: 'error', xid: 9, errorType: 0x1234, code: 77, data: Buffer.from('abcd') })
  })

  test('another version or an unknown type decodes raw', () => {
    expect(decode(Buffer.from('0402000c0000000101020304', 'hex'))).toEqual({
      type: 'raw',
      xid: 1,
      version: 4,
      msgType: 2,
      body: Buffer.from('01020304', 'hex'),
    })
    const unknownType = Buffer.from('02630008000000aa', 'hex')
    expect(decode(unknownType)).toMatchObject({ type: 'raw', msgType: 0x63 })
    expect(encode(decode(unknownType))).toEqual(unknownType)
  })

  test('64-bit fields are BigInt both ways', () => {
    const m = decode(encode({ type: 'flow_mod', cookie: 0xfedcba9876543210n, cookieMask: (1n << 64n) - 1n }))
    expect(m.cookie).toBe(0xfedcba9876543210n)
    expect(m.cookieMask).toBe(0xffffffffffffffffn)
    const f = decode(switchMsg('rep.features_reply'))
    expect(typeof f.datapathId).toBe('bigint')
  })

  test('masked fields use OVS notation', () => {
    const m = decode(
      encode({
        type: 'flow_mod',
        match: { dlType: 0x800, nwSrc: '10.0.0.0/8', nwDst: '10.0.0.0/255.0.255.0', dlDst: '01:00:00:00:00:00/01:00:00:00:00:00' },
      }),
    )
    expect(m.match).toEqual({
      dlType: 0x800,
      nwSrc: '10.0.0.0/8',
      nwDst: '10.0.0.0/255.0.255.0',
      dlDst: '01:00:00:00:00:00/01:00:00:00:00:00',
    })
  })
})

describe('invalid input from JS', () => {
  const cases = [
    ['not an object', 42, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['no type', { xid: 1 }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ['unknown type', { type: 'flowmod' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ['priority too big', { type: 'flow_mod', priority: 70000 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['negative xid', { type: 'barrier_request', xid: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['fractional port', { type: 'flow_mod', match: { inPort: 1.5 } }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['fractional priority', { type: 'flow_mod', priority: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['bad MAC', { type: 'flow_mod', match: { dlSrc: 'zz:00:00:00:00:00' } }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ['bad CIDR', { type: 'flow_mod', match: { nwSrc: '10.0.0.0/33' } }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ['unknown match field', { type: 'flow_mod', match: { tcpDst: 80 } }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ['unknown port name', { type: 'packet_out', inPort: 'nowhere' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ['string for a number', { type: 'flow_mod', idleTimeout: '10' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['cookie too big', { type: 'flow_mod', cookie: 1n << 64n }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['unknown action', { type: 'flow_mod', instructions: [{ type: 'apply_actions', actions: [{ type: 'teleport' }] }] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ['function value', { type: 'flow_mod', priority: () => 1 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ]
  test.each(cases)('%s', (_name, input, Cls, code) => {
    let thrown
    try {
      encode(input)
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(Cls)
    expect(thrown.code).toBe(code)
  })

  test('parseFlow options that are not an object: TypeError with a code', () => {
    for (const options of [null, 'add', 1]) expect(() => parseFlow('priority=1 actions=drop', options)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }))
  })

  test('the error names the field', () => {
    expect(() => encode({ type: 'flow_mod', match: { dlSrc: 'nope' } })).toThrow(/match\.dlSrc/)
    expect(() =>
      encode({ type: 'flow_mod', instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 1 }, { type: 'output', port: -2 }] }] }),
    ).toThrow(/instructions\[0\]/)
  })

  test('a cycle is refused, not a stack overflow', () => {
    const m = { type: 'flow_mod', match: {} }
    m.match.self = m
    expect(() => encode(m)).toThrow(RangeError)
  })

  test('encodeBatch is all or nothing and names the bad message', () => {
    expect(() => encodeBatch([{ type: 'barrier_request' }, { type: 'flow_mod', priority: 1e6 }])).toThrow(/\[1\]/)
  })

  test('decode of bad bytes throws an error with an OpenFlow code, never crashes', () => {
    const cases = [
      ['', 'OFP_BAD_REQUEST_BAD_LEN'],
      ['0200', 'OFP_BAD_REQUEST_BAD_LEN'],
      ['0200000a00000000', 'OFP_BAD_REQUEST_BAD_LEN'], // length says 10, 8 given
      ['0200000400000000', 'OFP_BAD_REQUEST_BAD_LEN'], // length under the header
      [SEED_HEX.slice(0, 100).replace(/^020e0088/, '020e0032'), 'OFP_BAD_REQUEST_BAD_LEN'], // truncated flow_mod
      ['020e00880000000600000000000000000000000000000000000000000000fff7ffffffffffffffffffffffff000000000005005800000004', 'OFP_BAD_REQUEST_BAD_LEN'],
    ]
    for (const [hex, code] of cases) {
      let thrown
      try {
        decode(Buffer.from(hex, 'hex'))
      } catch (e) {
        thrown = e
      }
      expect(thrown).toBeInstanceOf(Error)
      expect(thrown.code).toBe(code)
    }
    expect(() => decode('020000080000')).toThrow(TypeError)
  })

  test('an oversized message cannot be encoded', () => {
    let thrown
    try {
      encode({ type: 'echo_request', data: Buffer.alloc(70000) })
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(RangeError)
    expect(thrown.code).toBe('ERR_OUT_OF_RANGE')
  })
})

describe('encodeBatch and FrameDecoder', () => {
  test('a batch is the concatenation of single encodings', () => {
    const msgs = vectorRows('flow_mods.tsv').map((r) => decode(Buffer.from(r[2], 'hex')))
    const batch = encodeBatch(msgs)
    expect(batch).toEqual(Buffer.concat(msgs.map(encode)))
  })

  test('the stream decoder copes with every split and with merged messages', () => {
    const msgs = vectorRows('switch_msgs.tsv').slice(0, 30).map((r) => Buffer.from(r[1], 'hex'))
    const stream = Buffer.concat(msgs)
    const expected = msgs.map((b) => decode(b))
    for (const chunk of [1, 3, 7, 64, 1000, stream.length]) {
      const fd = new FrameDecoder()
      const got = []
      for (let i = 0; i < stream.length; i += chunk) got.push(...fd.push(stream.subarray(i, i + chunk)))
      expect(got).toEqual(expected)
      expect(fd.buffered).toBe(0)
    }
  })

  test('a framed but malformed message is reported and the stream goes on', () => {
    const fd = new FrameDecoder()
    const bad = Buffer.from('020e001000000007' + '0000000000000000', 'hex') // flow_mod far too short
    const good = Buffer.from('0215000800000008', 'hex')
    const out = fd.push(Buffer.concat([bad, good]))
    expect(out[0]).toMatchObject({ type: 'invalid', xid: 7, msgType: 14, code: 'OFP_BAD_REQUEST_BAD_LEN' })
    expect(out[0].data).toEqual(bad)
    expect(out[1]).toEqual({ type: 'barrier_reply', xid: 8 })
  })

  test('an impossible length poisons the stream with OFP_BAD_FRAME', () => {
    const fd = new FrameDecoder()
    expect(() => fd.push(Buffer.from('0200000300000000', 'hex'))).toThrow(expect.objectContaining({ code: 'OFP_BAD_FRAME' }))
    expect(() => fd.push(Buffer.from('0215000800000008', 'hex'))).toThrow(expect.objectContaining({ code: 'OFP_BAD_FRAME' }))
  })
})

describe("Open vSwitch's own decoder reads our encodings", () => {
  beforeAll(() => ensureOvs())

  function ofpPrint(buf) {
    return execFileSync('ovs-ofctl', ['ofp-print', buf.toString('hex')], { encoding: 'utf8' })
  }

  const sane = (text) => {
    expect(text).not.toMatch(/decode error|truncated to|only uses|bad length/i)
  }

  test.each(vectorRows('flow_mods.tsv').map((r) => [r[1], r[2]]))('%s', (_text, hex) => {
    const ours = encode(decode(Buffer.from(hex, 'hex')))
    const printed = ofpPrint(ours)
    sane(printed)
    expect(printed).toMatch(/^OFPT_FLOW_MOD \(OF1\.1\)/)
  })

  test('messages built from scratch in JS', () => {
    const msgs = [
      { type: 'hello', xid: 1, elements: [{ type: 'version_bitmap', bitmaps: [0b10100] }] },
      { type: 'features_request', xid: 2 },
      { type: 'set_config', xid: 3, flags: [], missSendLen: 0xffff },
      { type: 'barrier_request', xid: 4 },
      { type: 'echo_request', xid: 5, data: Buffer.from('ping') },
      { type: 'stats_request', xid: 6, body: { type: 'flow', tableId: 0xff, cookie: 0x5d0n, cookieMask: 0xffffn } },
      { type: 'stats_request', xid: 7, body: { type: 'aggregate' } },
      { type: 'stats_request', xid: 8, body: { type: 'port', portNo: 'any' } },
      { type: 'group_mod', xid: 9, command: 'add', groupType: 'select', groupId: 1, buckets: [{ weight: 1, actions: [{ type: 'output', port: 1 }] }] },
      { type: 'packet_out', xid: 10, actions: [{ type: 'output', port: 'flood' }], data: Buffer.alloc(60, 1) },
      { type: 'port_mod', xid: 11, portNo: 1, hwAddr: '02:00:00:00:00:01', config: ['port_down'], mask: ['port_down'] },
      { type: 'table_mod', xid: 12, tableId: 0, config: 'miss_drop' },
      { type: 'queue_get_config_request', xid: 13, port: 1 },
      {
        type: 'flow_mod',
        xid: 14,
        cookie: 0x1234n,
        priority: 40000,
        flags: ['send_flow_rem'],
        match: { inPort: 3, dlType: 0x800, nwProto: 17, nwDst: '12.0.0.0/12', tpDst: 1212 },
        instructions: [
          { type: 'write_metadata', metadata: 0x12n, metadataMask: 0xffn },
          { type: 'apply_actions', actions: [{ type: 'set_nw_dst', nwAddr: '10.0.0.1' }, { type: 'output', port: 'normal' }] },
          { type: 'goto_table', tableId: 1 },
        ],
      },
    ]
    for (const m of msgs) {
      const printed = ofpPrint(encode(m))
      sane(printed)
      expect(printed).toMatch(/\(OF1\.1\)|OFPT_HELLO/)
    }
  })
})

describe('the native boundary', () => {
  test('a panic inside the addon becomes an error with code ERR_PANIC; the process lives on', () => {
    const native = require('../js/binding.js')
    let thrown
    try {
      native.__panicForTest()
    } catch (e) {
      thrown = e
    }
    expect(thrown.code).toBe('ERR_PANIC')
    // The addon still works afterwards.
    expect(decode(encode({ type: 'barrier_request', xid: 1 }))).toEqual({ type: 'barrier_request', xid: 1 })
  })
})
