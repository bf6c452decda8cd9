'use strict'
// js/xo-openflow.js against the codec it replaces, @xen-orchestra/openflow 0.1.4:
// same bytes from `pack`, same objects from `unpack` and `parse`, and the messages XO
// cannot read (recorded from Open vSwitch) read by ours.

const fs = require('fs')
const path = require('path')
const { PassThrough } = require('stream')

const ours = require('../js/xo-openflow.js')
const xo = require('@xen-orchestra/openflow').default
const xoParse = require('@xen-orchestra/openflow/parse-socket').default

const version = xo.versions.openFlow11
const of = xo.protocols[version]

function vectors(file, hexColumn) {
  const text = fs.readFileSync(path.join(__dirname, '..', 'tests', 'vectors', 'openflow', file), 'utf8')
  return text
    .split('\n')
    .slice(1)
    .filter(l => l !== '' && !l.startsWith('#'))
    .map(l => l.split('\t'))
    .map(c => ({ name: hexColumn === 2 ? `${c[0]} ${c[1]}` : c[0], bytes: Buffer.from(c[hexColumn], 'hex') }))
}
const SWITCH = vectors('switch_msgs.tsv', 1)
const FLOW_MODS = vectors('flow_mods.tsv', 2)
const vector = name => {
  const v = SWITCH.find(r => r.name === name)
  if (v === undefined) throw new Error(`no vector ${name}`)
  return v.bytes
}

// XO's pack mutates its argument (lengths), so each codec gets a fresh object.
function samePack(make) {
  const a = make()
  const b = make()
  const theirs = xo.pack(a)
  const mine = ours.pack(b)
  expect(mine.toString('hex')).toBe(theirs.toString('hex'))
  expect(b.header.length).toBe(a.header.length)
  return mine
}

const header = (type, xid = 1) => ({ version, type, xid })
const MAC = 'AA:55:aa:55:00:04'

// The match shapes XO's SDN plugin builds (openflow-channel.js addRule/deleteRule).
const PLUGIN_MATCHES = {
  'tcp from, with in_port and a /24': () => ({
    type: of.matchType.standard,
    dl_type: of.dlType.ip,
    dl_src: MAC,
    nw_proto: of.nwProto.tcp,
    nw_dst: '10.0.0.0',
    nw_dst_mask: '0.0.0.255',
    tp_src: 5060,
    in_port: 4,
  }),
  'udp to, no IP range (undefined fields)': () => ({
    type: of.matchType.standard,
    dl_type: of.dlType.ip,
    dl_dst: MAC,
    nw_proto: of.nwProto.udp,
    nw_src: undefined,
    nw_src_mask: undefined,
    tp_dst: 53,
  }),
  'icmp, single host': () => ({
    type: of.matchType.standard,
    dl_type: of.dlType.ip,
    dl_src: MAC,
    nw_proto: of.nwProto.icmp,
    nw_dst: '192.168.5.55',
    nw_dst_mask: undefined,
    tp_src: undefined,
    in_port: 1,
  }),
  'arp': () => ({ type: of.matchType.standard, dl_type: of.dlType.arp, dl_dst: MAC, nw_proto: undefined }),
  'every other field': () => ({
    type: of.matchType.standard,
    in_port: of.port.local,
    dl_src: '02:00:00:00:00:01',
    dl_src_mask: '00:00:00:00:00:ff',
    dl_dst: '01:00:00:00:00:00',
    dl_dst_mask: 'fe:ff:ff:ff:ff:ff',
    dl_vlan: 100,
    dl_type: of.dlType.ip,
    nw_tos: 0x10,
    nw_src: '10.1.0.0',
    nw_src_mask: '0.0.255.255',
    nw_dst: '10.2.3.4',
    nw_dst_mask: '0.255.0.255',
    mpls_label: 77,
  }),
}

const allow = () => [
  { type: of.instructionType.applyActions, actions: [{ type: of.actionType.output, port: of.port.normal }] },
]
const drop = () => [{ type: of.instructionType.applyActions, actions: [] }]

const flowMod = (command, match, instructions, extra = {}) => () => ({
  header: header(of.type.flowMod, 7),
  command,
  flags: of.flowModFlags.sendFlowRem,
  match: match(),
  ...(instructions === undefined ? {} : { instructions: instructions() }),
  ...extra,
})

/** Our object with XO's two unpack bugs applied (lost actions, 16/32-bit reads of 8-bit fields). */
function withXoUnpackBugs(object, bytes) {
  const o = { ...object }
  if (o.instructions !== undefined) o.instructions = o.instructions.map(i => (i.actions ? { ...i, actions: [] } : i))
  if (o.match !== undefined) {
    o.match = { ...o.match }
    if (o.match.dl_vlan_pcp !== undefined) o.match.dl_vlan_pcp = bytes.readUInt16BE(48 + 38)
    if (o.match.mpls_tc !== undefined) o.match.mpls_tc = bytes.readUInt32BE(48 + 68)
  }
  return o
}

describe('module surface', () => {
  test('same versions and constant tables as XO', () => {
    expect(ours.versions).toEqual(xo.versions)
    expect(ours.protocols).toEqual(xo.protocols)
    expect(Object.keys(ours.protocols[version]).sort()).toEqual(Object.keys(of).sort())
  })

  test('importable like XO: default export, pack/unpack, and the parse-socket generator', () => {
    expect(ours.default.pack).toBe(ours.pack)
    expect(ours.default.unpack).toBe(ours.unpack)
    expect(typeof ours.parse).toBe('function')
    expect(Object.prototype.toString.call(ours.parse(new PassThrough()))).toBe('[object AsyncGenerator]')
  })
})

describe('pack gives the same bytes as XO, unpack the same object', () => {
  const cases = {
    hello: () => ({ header: header(of.type.hello, 0x593) }),
    'features request': () => ({ header: header(of.type.featuresRequest, 2) }),
    'get_config request': () => ({ header: header(of.type.getConfigRequest, 3) }),
    'echo request with data': () => ({ header: header(of.type.echoRequest, 9), data: Buffer.from('ping!') }),
    'echo reply without data': () => ({ header: header(of.type.echoReply, 9) }),
    'set_config': () => ({ header: header(of.type.setConfig, 4), flags: of.configFlags.fragDrop, miss_send_len: 0xffff }),
    'get_config reply': () => ({ header: header(of.type.getConfigReply, 4), flags: 0, miss_send_len: 128 }),
    'error with data (header.length given)': () => ({
      header: { ...header(of.type.error, 6), length: 20 },
      type: of.errorType.badAction,
      code: of.badActionCode.badOutGroup,
      data: Buffer.from('020e009800000006', 'hex'),
    }),
    'error without data': () => ({
      header: { ...header(of.type.error, 6), length: 12 },
      type: of.errorType.flowModFailed,
      code: of.flowModFailedCode.tableFull,
    }),
    'features reply': () => ({
      header: header(of.type.featuresReply, 2),
      datapath_id: 0x2ff00000000n,
      n_buffers: 256,
      n_tables: 254,
      capabilities: Object.values(of.capabilities).reduce((a, b) => a | b),
      reserved: 0,
      ports: [
        {
          port_no: of.port.local,
          hw_addr: '02:ff:00:00:00:00',
          name: 'br0',
          config: Object.values(of.portConfig).reduce((a, b) => a | b),
          state: of.portState.live,
          curr: 0xffff,
          advertised: of.portFeatures.f1GbFd | of.portFeatures.copper,
          supported: of.portFeatures.f10GbFd,
          peer: 0,
          curr_speed: 1000000,
          max_speed: 10000000,
        },
        {
          port_no: 3,
          hw_addr: 'aa:55:aa:55:00:02',
          name: 'vif3.0',
          config: 0,
          state: of.portState.linkDown | of.portState.blocked,
          curr: 0,
          advertised: 0,
          supported: 0,
          peer: of.portFeatures.pauseAsym,
          curr_speed: 0,
          max_speed: 0,
        },
      ],
    }),
  }
  for (const [name, make] of Object.entries(cases)) {
    test(name, () => {
      const bytes = samePack(make)
      expect(ours.unpack(bytes)).toEqual(xo.unpack(bytes))
    })
  }

  for (const [name, match] of Object.entries(PLUGIN_MATCHES)) {
    test(`flow_mod add, output NORMAL: ${name}`, () => {
      const bytes = samePack(flowMod(of.flowModCommand.add, match, allow))
      const mine = ours.unpack(bytes)
      expect(withXoUnpackBugs(mine, bytes)).toEqual(xo.unpack(bytes))
      // XO's unpack loses the actions; ours keeps them.
      expect(xo.unpack(bytes).instructions[0].actions).toEqual([])
      expect(mine.instructions[0].actions).toEqual([{ type: of.actionType.output, len: 16, port: of.port.normal, max_len: 0 }])
    })
    test(`flow_mod add, drop: ${name}`, () => {
      const bytes = samePack(flowMod(of.flowModCommand.add, match, drop))
      expect(ours.unpack(bytes)).toEqual(xo.unpack(bytes))
    })
    test(`flow_mod delete, no instructions: ${name}`, () => {
      const bytes = samePack(flowMod(of.flowModCommand.delete, match, undefined))
      expect(ours.unpack(bytes)).toEqual(xo.unpack(bytes))
    })
  }

  test('flow_mod with every header field and a cookie/cookie_mask', () => {
    const bytes = samePack(
      flowMod(of.flowModCommand.modifyStrict, PLUGIN_MATCHES['tcp from, with in_port and a /24'], allow, {
        cookie: Buffer.from('0000000000001234', 'hex'),
        cookie_mask: Buffer.from('000000000000ffff', 'hex'),
        table_id: 3,
        idle_timeout: 60,
        hard_timeout: 600,
        priority: 65527,
        buffer_id: 42,
        out_port: 2,
        out_group: of.group.all,
        flags: of.flowModFlags.sendFlowRem | of.flowModFlags.checkOverlap,
      })
    )
    expect(withXoUnpackBugs(ours.unpack(bytes), bytes)).toEqual(xo.unpack(bytes))
  })

  test('flow_mod with several outputs, write_actions and clear_actions', () => {
    const bytes = samePack(
      flowMod(of.flowModCommand.add, PLUGIN_MATCHES.arp, () => [
        { type: of.instructionType.writeActions, actions: [{ type: 0, port: 1 }, { type: 0, port: of.port.controller, max_len: 128 }] },
        { type: of.instructionType.clearActions },
        { type: of.instructionType.applyActions, actions: [{ type: 0, port: of.port.flood }] },
      ])
    )
    const mine = ours.unpack(bytes)
    expect(withXoUnpackBugs(mine, bytes)).toEqual(xo.unpack(bytes))
    expect(mine.instructions[0].actions[1]).toEqual({ type: 0, len: 16, port: of.port.controller, max_len: 128 })
  })

  test('pack sets header.length on its argument, as XO does', () => {
    const m = { header: header(of.type.echoRequest), data: Buffer.alloc(4) }
    ours.pack(m)
    expect(m.header.length).toBe(12)
  })

  test('unpack reads at an offset inside a larger buffer, as parse-socket uses it', () => {
    const bytes = xo.pack({ header: header(of.type.echoReply, 77), data: Buffer.from('abc') })
    const big = Buffer.concat([Buffer.alloc(5, 0xee), bytes, Buffer.alloc(1000, 0xee)])
    expect(ours.unpack(big, 5)).toEqual(xo.unpack(big, 5))
  })
})

describe('Open vSwitch recordings', () => {
  test('every recording XO can unpack unpacks to the same object (but for XO bugs)', () => {
    let compared = 0
    for (const { name, bytes } of [...SWITCH, ...FLOW_MODS]) {
      let theirs
      try {
        theirs = xo.unpack(bytes)
      } catch {
        continue
      }
      compared++
      expect([name, withXoUnpackBugs(ours.unpack(bytes), bytes)]).toEqual([name, theirs])
    }
    expect(compared).toBeGreaterThan(100)
  })

  test('every recording round-trips through the XO-shaped object (the OF1.1 HELLO bitmap aside)', () => {
    for (const { name, bytes } of [...SWITCH, ...FLOW_MODS]) {
      if (name === 'req.hello') continue // an OF1.1 HELLO unpacks to { header }, as with XO
      expect([name, ours.pack(ours.unpack(bytes)).toString('hex')]).toEqual([name, bytes.toString('hex')])
    }
  })

  test('the handshake replies OVS sends read the same with both', () => {
    for (const name of ['rep.features_reply', 'rep.get_config_reply', 'rep.echo_reply', 'async.echo_request', 'rep.error.bad_out_group']) {
      expect(ours.unpack(vector(name))).toEqual(xo.unpack(vector(name)))
    }
    expect(ours.unpack(vector('rep.features_reply')).datapath_id).toBe('000002ff00000000')
  })
})

describe('messages XO cannot read', () => {
  const gap = SWITCH.filter(
    v => /^async\.(flow_removed|port_status|packet_in)\./.test(v.name) || v.name === 'rep.barrier_reply' || v.name === 'rep.hello'
  )

  test('the gap vectors are all there', () => {
    expect(gap.map(v => v.name.split('.').slice(0, 2).join('.')).sort()).toEqual(
      expect.arrayContaining(['async.flow_removed', 'async.packet_in', 'async.port_status', 'rep.barrier_reply', 'rep.hello'])
    )
    expect(gap.length).toBeGreaterThanOrEqual(12)
  })

  for (const { name, bytes } of gap) {
    test(`${name}: XO throws, ours decodes and re-encodes it`, () => {
      expect(() => xo.unpack(bytes)).toThrow()
      const m = ours.unpack(bytes)
      expect(m.header).toEqual({ version: bytes[0], type: bytes[1], length: bytes.length, xid: bytes.readUInt32BE(4) })
      expect(ours.pack(m).equals(bytes)).toBe(true)
    })
  }

  test('FLOW_REMOVED in XO style', () => {
    const m = ours.unpack(vector('async.flow_removed.hard_timeout'))
    expect(m.header.type).toBe(of.type.flowRemoved)
    expect(m).toMatchObject({
      cookie: Buffer.from('000000000000009a', 'hex'),
      priority: 301,
      reason: of.flowRemovedReason.hardTimeout,
      table_id: 0,
      duration_sec: 1,
      idle_timeout: 0,
      packet_count: 0n,
      byte_count: 0n,
      match: { type: 0, length: 88, in_port: 3 },
    })
  })

  test('PORT_STATUS in XO style', () => {
    const m = ours.unpack(vector('async.port_status.modify.port_down'))
    expect(m.header.type).toBe(of.type.portStatus)
    expect(m.reason).toBe(of.portReason.modify)
    expect(m.desc).toEqual({
      port_no: 9,
      hw_addr: 'aa:55:aa:55:00:07',
      name: 'vif9.0',
      config: of.portConfig.down,
      state: 0,
      curr: 0,
      advertised: 0,
      supported: 0,
      peer: 0,
      curr_speed: 0,
      max_speed: 0,
    })
  })

  test('PACKET_IN in XO style', () => {
    const bytes = vector('async.packet_in.no_match')
    const m = ours.unpack(bytes)
    expect(m).toMatchObject({ buffer_id: 0xffffffff, in_port: 3, in_phy_port: 3, total_len: 106, reason: of.packetInReason.noMatch, table_id: 0 })
    expect(m.data.equals(bytes.subarray(24))).toBe(true)
  })

  test('BARRIER_REPLY and the OF1.3 HELLO', () => {
    expect(ours.unpack(vector('rep.barrier_reply'))).toEqual({ header: { version, type: of.type.barrierReply, length: 8, xid: 4 } })
    const hello = ours.unpack(vector('rep.hello'))
    expect(hello).toEqual({ header: { version: 4, type: of.type.hello, length: 16, xid: 0x593 }, elements: [{ type: 1, bitmaps: [0x14] }] })
    expect(() => xo.pack({ header: { version: 4, type: of.type.hello, xid: 0x593 } })).toThrow(/Unsupported OpenFlow version/)
    const packed = ours.pack({ header: { version: 4, type: of.type.hello, xid: 0x593 }, elements: [{ type: 1, bitmaps: [0x14] }] })
    expect(packed.equals(vector('rep.hello'))).toBe(true)
  })

  test('pack of the actions XO throws on', () => {
    const make = () => ({
      header: header(of.type.flowMod),
      command: of.flowModCommand.add,
      match: { type: 0 },
      instructions: [
        {
          type: of.instructionType.applyActions,
          actions: [
            { type: of.actionType.setVlanId, vlan_id: 10 },
            { type: of.actionType.setDlDst, dl_addr: '02:00:00:00:00:09' },
            { type: of.actionType.group, group_id: 5 },
          ],
        },
        { type: of.instructionType.goToTable, table_id: 2 },
      ],
    })
    expect(() => xo.pack(make())).toThrow()
    const m = ours.unpack(ours.pack(make()))
    expect(m.instructions).toEqual([
      {
        type: 4,
        len: 40,
        actions: [
          { type: 1, len: 8, vlan_id: 10 },
          { type: 4, len: 16, dl_addr: '02:00:00:00:00:09' },
          { type: 22, len: 8, group_id: 5 },
        ],
      },
      { type: 1, len: 8, table_id: 2 },
    ])
  })
})

describe('errors', () => {
  test('unsupported version and unknown type throw with both codecs', () => {
    for (const codec of [xo, ours]) {
      expect(() => codec.pack({ header: { version: 1, type: of.type.featuresRequest, xid: 1 } })).toThrow(/Unsupported OpenFlow version/)
      expect(() => codec.pack({ header: { version, type: 99, xid: 1 } })).toThrow()
    }
  })

  test('a truncated buffer throws', () => {
    const bytes = vector('rep.features_reply')
    expect(() => ours.unpack(bytes.subarray(0, bytes.length - 1))).toThrow(RangeError)
  })
})

describe('parse(socket)', () => {
  const MESSAGES = ['rep.hello', 'rep.features_reply', 'rep.get_config_reply', 'async.echo_request', 'rep.error.bad_len']

  /** Writes `bytes` to a stream in uneven chunks, then ends it. */
  function streamOf(bytes, sizes = [1, 7, 3, 100, 13]) {
    const s = new PassThrough()
    let at = 0
    let i = 0
    const tick = () => {
      if (at >= bytes.length) return s.end()
      const n = sizes[i++ % sizes.length]
      s.write(bytes.subarray(at, at + n))
      at += n
      setImmediate(tick)
    }
    setImmediate(tick)
    return s
  }

  async function collect(gen) {
    const out = []
    for await (const m of gen) out.push(m)
    return out
  }

  test('yields what XO yields for the messages XO reads', async () => {
    const names = MESSAGES.filter(n => n !== 'rep.hello')
    const bytes = Buffer.concat(names.map(vector))
    const [mine, theirs] = await Promise.all([collect(ours.parse(streamOf(bytes))), collect(xoParse(streamOf(bytes)))])
    expect(mine).toHaveLength(names.length)
    expect(mine).toEqual(theirs)
  })

  test('goes on where XO stops: OF1.3 HELLO, PORT_STATUS, FLOW_REMOVED', async () => {
    const names = ['rep.hello', 'rep.features_reply', 'async.port_status.add', 'async.flow_removed.delete', 'rep.barrier_reply']
    const bytes = Buffer.concat(names.map(vector))
    await expect(collect(xoParse(streamOf(bytes)))).rejects.toThrow()
    const mine = await collect(ours.parse(streamOf(bytes)))
    expect(mine.map(m => m.header.type)).toEqual([
      of.type.hello,
      of.type.featuresReply,
      of.type.portStatus,
      of.type.flowRemoved,
      of.type.barrierReply,
    ])
  })

  test('a framed message that does not decode comes out without a header, and parsing goes on', async () => {
    const bad = Buffer.from('020e000c00000001deadbeef', 'hex') // a FLOW_MOD cut short
    const bytes = Buffer.concat([bad, vector('rep.barrier_reply')])
    const mine = await collect(ours.parse(streamOf(bytes)))
    expect(mine[0].header).toBeUndefined()
    expect(mine[0].error).toBeInstanceOf(Error)
    expect(mine[0].data.equals(bad)).toBe(true)
    expect(mine[1].header.type).toBe(of.type.barrierReply)
  })

  test('a length under 8 ends the generator with an error', async () => {
    await expect(collect(ours.parse(streamOf(Buffer.from('0200000400000000', 'hex'))))).rejects.toThrow(/under 8/)
  })

  test('accepts any async iterable of chunks', async () => {
    async function* chunks() {
      yield vector('async.echo_request')
      yield vector('rep.barrier_reply').subarray(0, 3)
      yield vector('rep.barrier_reply').subarray(3)
    }
    const mine = await collect(ours.parse(chunks()))
    expect(mine.map(m => m.header.type)).toEqual([of.type.echoRequest, of.type.barrierReply])
  })

  test('a chunk that is a thenable is refused as not bytes, never waited on', async () => {
    const never = { then() {} } // calls back neither way
    const asyncSource = {
      [Symbol.asyncIterator]() {
        let n = 0
        return { next: async () => (n++ === 0 ? { value: never, done: false } : { done: true }) }
      },
    }
    for (const source of [[never, vector('async.echo_request')], asyncSource]) {
      await expect(collect(ours.parse(source))).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringMatching(/not bytes/) })
    }
  })
})
