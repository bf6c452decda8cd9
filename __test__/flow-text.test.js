'use strict'
// parseFlow / formatFlow from JS, against what ovs-ofctl itself sent and printed.

const { parseFlow, formatFlow, encode, decode } = require('..')
const { vectorRows } = require('./helpers.js')

const COMMANDS = {
  'add-flow': 'add',
  'mod-flows': 'modify',
  'mod-flows --strict': 'modify_strict',
  'del-flows': 'delete',
  'del-flows --strict': 'delete_strict',
}

const withoutXid = (hex) => hex.slice(0, 8) + hex.slice(16)

test.each(vectorRows('flow_mods.tsv').map((r) => [r[0], r[1], r[2]]))('%s %s: parseFlow encodes as ovs-ofctl did', (cmd, text, hex) => {
  const fm = parseFlow(text, { command: COMMANDS[cmd] })
  expect(fm.type).toBe('flow_mod')
  expect(withoutXid(encode(fm).toString('hex'))).toBe(withoutXid(hex))
})

test.each(vectorRows('dump_flows.tsv').map((r) => [r[0], r[1]]))('%s: formatFlow prints what dump-flows printed', (text, dumped) => {
  const expected = dumped.trim().replace(/^cookie=0x0, /, '').replace(/duration=[\d.]+s, /, '').replace(/n_packets=\d+, n_bytes=\d+, /, '')
  const printed = formatFlow(parseFlow(text))
  expect(printed.replace(/^cookie=0x0, /, '')).toBe(expected)
})

test('formatFlow prints a decoded flow stats entry like dump-flows', () => {
  const { switchMsg } = require('./helpers.js')
  const reply = decode(switchMsg('rep.stats.flow'))
  const lines = reply.body.flows.map(formatFlow)
  expect(lines[0]).toMatch(/^cookie=0x0, duration=[\d.]+s, table=0, n_packets=0, n_bytes=0, priority=65527,tcp,in_port=4,dl_src=ae:f7:4b:84:6c:8b,nw_src=192.168.5.242,nw_dst=192.168.5.55,tp_dst=5060 actions=drop$/)
})

describe('invalid flow text names the token', () => {
  const cases = [
    ['priority=10,tcp,tp_dst=80,bogus=1,actions=drop', 'FLOW_UNKNOWN_FIELD', 'bogus'],
    ['priority=10,tcp,tp_dst=80000,actions=drop', 'FLOW_BAD_VALUE', '80000'],
    ['priority=10,tp_dst=80,actions=drop', 'FLOW_MISSING_PREREQUISITE', 'tp_dst'],
    ['priority=10,ipv6,ipv6_src=::1,actions=drop', 'FLOW_NOT_IN_OF11', 'ipv6_src'],
    ['priority=10,tcp,tp_dst=0x100/0xff00,actions=drop', 'FLOW_NOT_IN_OF11', 'tp_dst'],
    ['priority=10,ip,actions=teleport:3', 'FLOW_UNKNOWN_ACTION', 'teleport'],
    ['priority=10,dl_src=zz:00:00:00:00:00,actions=drop', 'FLOW_BAD_VALUE', 'zz:00:00:00:00:00'],
    ['priority=10,ip,nw_src=10.0.0.0/33,actions=drop', 'FLOW_BAD_VALUE', '10.0.0.0/33'],
  ]
  test.each(cases)('%s', (text, code, token) => {
    let thrown
    try {
      parseFlow(text)
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(TypeError)
    expect(thrown.code).toBe(code)
    expect(thrown.message).toContain(token)
  })

  test('a bad command or a non-string', () => {
    expect(() => parseFlow('actions=drop', { command: 'explode' })).toThrow(TypeError)
    expect(() => parseFlow(42)).toThrow(TypeError)
  })
})

describe('the Nicira extensions (extensions: true), against what Open vSwitch 3.1 sent and printed', () => {
  const rows = vectorRows('../nicira/of11_oxm.tsv')
  const refusedByOf11 = (text) => {
    try {
      parseFlow(text)
      return false
    } catch {
      return true
    }
  }
  // Flows OF1.1 can say keep their standard match (asserted below); the others must be the
  // OF1.1 FLOW_MOD with an OFPMT_OXM match that ovs-vswitchd accepted (of11_flow_mod).
  const nicira = rows.filter((r) => refusedByOf11(r[0]))
  test('most of the recorded flows need the extensions', () => expect(nicira.length).toBeGreaterThanOrEqual(30))
  test.each(nicira.map((r) => [r[0], r[1]]))('%s: parseFlow encodes the bytes OVS accepted', (text, hex) => {
    expect(withoutXid(encode(parseFlow(text, { extensions: true })).toString('hex'))).toBe(withoutXid(hex))
  })

  test.each(rows.filter((r) => r[3]).map((r) => [r[0], r[3], r[4]]))('%s: formatFlow prints the flow stats as dump-flows did', (text, reply, dumped) => {
    const [flow] = decode(Buffer.from(reply, 'hex')).body.flows
    const strip = (line) => line.trim().replace(/^cookie=0x0, /, '').replace(/duration=[\d.]+s, /, '').replace(/^table=0, /, '').replace(/n_packets=\d+, n_bytes=\d+, /, '')
    expect(strip(formatFlow(flow))).toBe(strip(dumped))
  })

  test('without the option, the same text is still refused as not OpenFlow 1.1; a non-add is refused with it', () => {
    expect(() => parseFlow('priority=10,ipv6,ipv6_src=::1,actions=drop')).toThrow(expect.objectContaining({ code: 'FLOW_NOT_IN_OF11' }))
    expect(parseFlow('priority=10,ipv6,ipv6_src=::1,actions=drop', { extensions: true }).match.oxm).toBeDefined()
    expect(() => parseFlow('ipv6,ipv6_src=::1', { command: 'delete', extensions: true })).toThrow(expect.objectContaining({ code: 'FLOW_NOT_IN_OF11', message: expect.stringContaining("'add' only") }))
    expect(() => parseFlow('actions=drop', { extensions: 'yes' })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }))
    // What OF1.1 can say keeps its standard match, extensions or not.
    expect(encode(parseFlow('priority=10,tcp,tp_dst=80,actions=drop', { extensions: true }))).toEqual(encode(parseFlow('priority=10,tcp,tp_dst=80,actions=drop')))
  })
})
