'use strict'
// SdnController against real Open vSwitch hosts of the sandbox (TLS like XCP-ng):
// the flows as ovs-ofctl shows them, the verdicts of ofproto/trace, read-back,
// drift repair, restarts, a host down, VIFs moving, and the bad-input matrix.

const { SdnController } = require('..')
const { sdnSuite, ourFlows, deleteOurs, OURS } = require('./sdn-suite.js')
const { rejection, waitFor } = require('./helpers.js')
const { fakePeer, closePeers, lastSockets } = require('./fake-peers.js')

const suite = sdnSuite({ hosts: 3, nports: 4 })
const controller = (hosts, options) => suite.controller(hosts, options)
let sb
beforeAll(() => {
  sb = suite.sb
})

function allFlows(h) {
  return h
    .ofctl('dump-flows', '--no-stats')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('OFPST') && !l.startsWith('NXST'))
    .sort()
}

const verdict = (h, flow) => h.trace(flow).verdict

const vifOf = (h, n, b = 0) => h.bridges[b].vifs[n - 1]

test("the seed's SIP rule: exactly the flow ovs-ofctl shows, and ofproto/trace drops only that traffic", async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 1)
  const sdn = controller()
  const r = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'SIP', ipRange: '192.168.5.55', direction: 'from' })
  expect(r.hosts[h.name]).toEqual({ ok: true, flows: 1 })
  expect(r.rule).toMatchObject({ allow: false, protocol: 'sip', ipRange: '192.168.5.55/32', direction: 'from', priority: 34998 })
  expect(r.rule.cookie).toMatch(/^0x5d4e00[0-9a-f]{10}$/)
  expect(ourFlows(h)).toEqual([`cookie=${r.rule.cookie.replace(/^0x0*/, '0x')}, priority=34998,tcp,in_port=1,dl_src=${vif.mac},nw_dst=192.168.5.55,tp_dst=5060 actions=drop`])
  const pkt = (over) => ({ in_port: 1, dl_src: vif.mac, dl_dst: '02:00:00:00:00:02', nw_src: '192.168.5.242', nw_dst: '192.168.5.55', tp_dst: 5060, ...over })
  const text = (p) => `in_port=${p.in_port},tcp,dl_src=${p.dl_src},dl_dst=${p.dl_dst},nw_src=${p.nw_src},nw_dst=${p.nw_dst},tp_src=40000,tp_dst=${p.tp_dst}`
  expect(verdict(h, text(pkt()))).toBe('drop')
  expect(verdict(h, text(pkt({ tp_dst: 5061 })))).toBe('forward')
  expect(verdict(h, text(pkt({ nw_dst: '192.168.5.56' })))).toBe('forward')
  expect(verdict(h, text(pkt({ in_port: 2, dl_src: vifOf(h, 2).mac })))).toBe('forward')
  // Other hosts answered and hold nothing for this VIF.
  expect(r.hosts[sb.hosts[1].name]).toEqual({ ok: true, flows: 0 })
  expect(ourFlows(sb.hosts[1])).toEqual([])
})

test('allow UDP 1212 to and from 12.12.12.12/12 under a deny of all UDP: order decides', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 2)
  const sdn = controller()
  const target = { uuid: vif.uuid, mac: vif.mac }
  await sdn.addRule({ id: 'allow-1212', vif: target, allow: true, protocol: 'udp', port: 1212, ipRange: '12.0.0.0/12', direction: 'from/to' })
  await sdn.addRule({ id: 'deny-udp', vif: target, allow: false, protocol: 'udp', direction: 'both' })
  expect(ourFlows(h)).toHaveLength(6) // the deny has no range: IPv4 and IPv6, both ways
  const out = (dst, port) => `in_port=2,udp,dl_src=${vif.mac},dl_dst=02:00:00:00:00:03,nw_src=10.0.0.2,nw_dst=${dst},udp_src=5000,udp_dst=${port}`
  const inn = (src, port) => `in_port=3,udp,dl_src=02:00:00:00:00:03,dl_dst=${vif.mac},nw_src=${src},nw_dst=10.0.0.2,udp_src=5000,udp_dst=${port}`
  expect(verdict(h, out('12.12.12.12', 1212))).toBe('forward')
  expect(verdict(h, out('12.16.0.1', 1212))).toBe('drop') // outside /12
  expect(verdict(h, out('12.12.12.12', 1213))).toBe('drop')
  expect(verdict(h, inn('12.1.2.3', 1212))).toBe('forward')
  expect(verdict(h, inn('13.1.2.3', 1212))).toBe('drop')
  // Reversed order: the deny shadows the allow.
  await sdn.reorderRules(['deny-udp', 'allow-1212'])
  expect(verdict(h, out('12.12.12.12', 1212))).toBe('drop')
  expect(verdict(h, inn('12.1.2.3', 1212))).toBe('drop')
  expect(ourFlows(h)).toHaveLength(6) // the old generation is gone
  const list = sdn.rules()
  expect(list.map((r) => r.id)).toEqual(['deny-udp', 'allow-1212'])
  expect(list[0].priority).toBeGreaterThan(list[1].priority)
})

test('listRules reads the switch back: present, counters, missing and extra', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 3)
  const sdn = controller([h])
  const { rule } = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'icmp', direction: 'from' })
  await h.inject(vif, 'icmp,dl_dst=02:00:00:00:00:01,nw_src=10.0.0.3,nw_dst=10.0.0.1,icmp_type=8,icmp_code=0')
  await waitFor(async () => {
    const { rules } = await sdn.listRules({ vif: vif.uuid })
    return rules[0].hosts[h.name].packets === 1n
  })
  let { rules, extra } = await sdn.listRules({ vif: { uuid: vif.uuid } })
  expect(rules).toHaveLength(1)
  expect(rules[0]).toMatchObject({ id: rule.id, state: 'present', hosts: { [h.name]: { state: 'present', expected: 1, present: 1, missing: 0, packets: 1n } } })
  expect(extra).toEqual([])
  // Drift by hand: the rule's flow deleted, a flow in our namespace added.
  h.ofctl('del-flows', `table=0,cookie=${rule.cookie}/-1`)
  h.ofctl('add-flow', 'table=0,cookie=0x5d4e000000abcdef,priority=20000,in_port=4,actions=drop')
  ;({ rules, extra } = await sdn.listRules())
  expect(rules[0]).toMatchObject({ state: 'missing', hosts: { [h.name]: { state: 'missing', expected: 1, present: 0, missing: 1 } } })
  expect(extra).toEqual([{ host: h.name, bridge: 'br0', cookie: '0x5d4e000000abcdef', flows: 1 }])
  const s = await sdn.sync()
  expect(s.hosts[h.name]).toEqual({ ok: true, added: 1, removed: 1 })
  expect(ourFlows(h)).toHaveLength(1)
  expect(ourFlows(h)[0]).toContain('icmp,in_port=3')
  ;({ rules, extra } = await sdn.listRules())
  expect(rules[0].state).toBe('present')
  expect(extra).toEqual([])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

/** ovs-ofctl in OpenFlow 1.3 on the first bridge: how it writes a masked port (OF1.1 has none). */
const ofctl13 = (h, cmd, ...args) => h.ofctlRaw('-O', 'OpenFlow13', cmd, h.bridges[0].mgmt, ...args)

// PortRange::masked of 1000-2000, as ovs-ofctl prints the blocks (2000 is exact: a standard match).
const BLOCKS_1000_2000 = ['0x3e8/0xfff8', '0x3f0/0xfff0', '0x400/0xfe00', '0x600/0xff00', '0x700/0xff80', '0x780/0xffc0', '0x7c0/0xfff0', '2000']

test('a port range is masked flows: deny tcp 1000-2000 is 8 flows per direction and family, drops exactly 1000-2000 over IPv4 and IPv6, reads back present, repairs', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 1)
  const peer = vifOf(h, 4)
  const sdn = controller([h])
  const spec = { id: 'range', vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: '1000-2000', direction: 'both' }
  const { rule, hosts } = await sdn.addRule(spec)
  // No range: IPv4 and its IPv6 twin, 8 blocks each per direction (16 per direction, not 2 × 1,001).
  expect(hosts[h.name]).toEqual({ ok: true, flows: 32 })
  const portsOf = (lines) => lines.map((l) => /tp_dst=([^ ,]+)/.exec(l)[1]).sort()
  const of = (proto, side) => ourFlows(h).filter((l) => l.includes(`,${proto},`) && l.includes(side))
  expect(ourFlows(h)).toHaveLength(32)
  for (const proto of ['tcp', 'tcp6']) {
    expect([proto, portsOf(of(proto, `in_port=1,dl_src=${vif.mac}`))]).toEqual([proto, [...BLOCKS_1000_2000].sort()])
    expect([proto, portsOf(of(proto, `dl_dst=${vif.mac}`))]).toEqual([proto, [...BLOCKS_1000_2000].sort()])
  }
  const out = (port) => `in_port=1,tcp,dl_src=${vif.mac},dl_dst=${peer.mac},nw_src=10.0.0.1,nw_dst=10.0.0.4,tp_src=40000,tp_dst=${port}`
  const inn = (port) => `in_port=4,tcp,dl_src=${peer.mac},dl_dst=${vif.mac},nw_src=10.0.0.4,nw_dst=10.0.0.1,tp_src=40000,tp_dst=${port}`
  const out6 = (port) => `in_port=1,tcp6,dl_src=${vif.mac},dl_dst=${peer.mac},ipv6_src=fd00::1,ipv6_dst=fd00::4,tp_src=40000,tp_dst=${port}`
  const in6 = (port) => `in_port=4,tcp6,dl_src=${peer.mac},dl_dst=${vif.mac},ipv6_src=fd00::4,ipv6_dst=fd00::1,tp_src=40000,tp_dst=${port}`
  const verdicts = (ports) => ports.flatMap((p) => [[`out ${p}`, verdict(h, out(p))], [`in ${p}`, verdict(h, inn(p))], [`out6 ${p}`, verdict(h, out6(p))], [`in6 ${p}`, verdict(h, in6(p))]])
  const expected = (ports, v) => ports.flatMap((p) => [[`out ${p}`, v], [`in ${p}`, v], [`out6 ${p}`, v], [`in6 ${p}`, v]])
  expect(verdicts([1000, 1007, 1500, 1535, 1536, 1999, 2000])).toEqual(expected([1000, 1007, 1500, 1535, 1536, 1999, 2000], 'drop'))
  expect(verdicts([999, 2001, 2047, 22])).toEqual(expected([999, 2001, 2047, 22], 'forward'))
  // Read back (OVS dumps our OXM flows as NXM): all present, nothing to repair.
  const state = async () => (await sdn.listRules({ vif: vif.uuid })).rules[0].hosts[h.name]
  expect(await state()).toMatchObject({ state: 'present', expected: 32, present: 32, missing: 0 })
  expect((await sdn.listRules()).extra).toEqual([])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  // A masked flow deleted by hand is missing, and sync puts it back.
  ofctl13(h, 'del-flows', `table=0,cookie=${rule.cookie}/-1,tcp,in_port=1,tp_dst=0x400/0xfe00`)
  expect(ourFlows(h)).toHaveLength(31)
  expect(verdict(h, out(1100))).toBe('forward')
  expect(await state()).toMatchObject({ expected: 32, present: 31, missing: 1 })
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 1, removed: 0 })
  expect(ourFlows(h)).toHaveLength(32)
  expect(verdict(h, out(1100))).toBe('drop')
  // A masked flow under the rule's cookie that it does not want: removed by a strict delete
  // carrying the dump's own NXM match, its neighbours untouched.
  ofctl13(h, 'add-flow', `table=0,cookie=${rule.cookie},priority=${rule.priority},tcp,in_port=1,tp_dst=0x800/0xfc00,actions=drop`)
  expect(verdict(h, out(2048))).toBe('drop')
  expect((await sdn.listRules()).extra).toEqual([{ host: h.name, bridge: 'br0', cookie: rule.cookie, flows: 1 }])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 1 })
  expect(ourFlows(h)).toHaveLength(32)
  expect(verdict(h, out(2048))).toBe('forward')
  // A narrower range: the new generation's blocks in, every old one out.
  await sdn.updateRule('range', { port: '1000-1990' })
  expect(ourFlows(h)).toHaveLength(36) // 9 blocks: 1984-1990 is three where 1984-1999 was one, and 2000 is gone
  expect(verdicts([1990, 1991, 2000])).toEqual([...expected([1990], 'drop'), ...expected([1991, 2000], 'forward')])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  const flows = ourFlows(h)

  // First contact of a new controller given the rule again: the masked flows on the switch are
  // exact, so their generation (1) is adopted and nothing is sent.
  await sdn.close()
  const second = controller([h])
  const adopted = []
  second.on('adopted', (e) => adopted.push(e))
  expect((await second.addRule({ ...spec, port: '1000-1990' })).hosts[h.name]).toEqual({ ok: true, flows: 36 })
  expect(adopted).toEqual([{ host: h.name, bridge: 'br0', added: 0, removed: 0, adopted: 1 }])
  expect(ourFlows(h)).toEqual(flows)
  expect((await second.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  await second.deleteRule('range')
  expect(ourFlows(h)).toEqual([])
})

test("a foreign flow with exactly one of our masked matches is a conflict, not overwritten", async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 2)
  ofctl13(h, 'add-flow', `cookie=0x99,priority=34998,tcp,dl_dst=${vif.mac},tp_dst=0x3e8/0xfff8,actions=normal`)
  try {
    const sdn = controller([h])
    const r = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: '1000-2000', direction: 'to' })
    expect(r.rule.priority).toBe(34998)
    expect(r.hosts[h.name]).toMatchObject({ ok: false, error: { code: 'SDN_FLOW_CONFLICT', flows: [expect.stringContaining('tp_dst=0x3e8/0xfff8')] } })
    const theirs = h.ofctl('dump-flows', '--no-stats', 'cookie=0x99/-1').split('\n').filter((l) => l.includes('cookie='))
    expect(theirs).toEqual([expect.stringContaining('actions=NORMAL')])
  } finally {
    h.ofctl('del-flows', 'cookie=0x99/-1')
  }
})

test('a VIF locked to an IPv4 and an IPv6 address: an allow rule lets out each family from its own address only', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 1)
  const peer = vifOf(h, 4)
  const sdn = controller([h])
  const locked = { uuid: vif.uuid, mac: vif.mac, ips: ['10.0.0.1', '2001:db8::1'] }
  // https out allowed from the VIF's addresses, everything else it sends dropped (one priority lower).
  const allow = await sdn.addRule({ vif: locked, allow: true, protocol: 'tcp', port: 443, direction: 'from' })
  expect(allow.rule.vif.ips).toEqual(['10.0.0.1', '2001:db8::1'])
  expect(allow.hosts[h.name]).toEqual({ ok: true, flows: 2 })
  expect((await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, direction: 'from' })).hosts[h.name]).toMatchObject({ ok: true })
  const out4 = (src) => `in_port=1,tcp,dl_src=${vif.mac},dl_dst=${peer.mac},nw_src=${src},nw_dst=198.51.100.7,tp_src=40000,tp_dst=443`
  const out6 = (src) => `in_port=1,tcp6,dl_src=${vif.mac},dl_dst=${peer.mac},ipv6_src=${src},ipv6_dst=2001:db8:ffff::7,tp_src=40000,tp_dst=443`
  const cases = [
    ['IPv4 from its address', verdict(h, out4('10.0.0.1')), 'forward'],
    ['IPv4 from another', verdict(h, out4('10.0.0.9')), 'drop'],
    ['IPv6 from its address', verdict(h, out6('2001:db8::1')), 'forward'],
    ['IPv6 from another', verdict(h, out6('2001:db8::9')), 'drop'],
  ]
  expect(cases.map(([name, got]) => [name, got])).toEqual(cases.map(([name, , want]) => [name, want]))
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  // Only IPv4 addresses: no IPv6 allow at all (XAPI's lock takes no IPv6 from it).
  const v4only = await sdn.updateRule(allow.rule.id, { vif: { ...locked, ips: ['10.0.0.1'] } })
  expect(v4only.hosts[h.name]).toEqual({ ok: true, flows: 1 })
  expect(verdict(h, out6('2001:db8::1'))).toBe('drop')
  await expect(sdn.addRule({ vif: { ...locked, ips: ['ff02::1'] }, allow: true, direction: 'from' })).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
})

test('an IPv6 range: deny tcp 22 from 2001:db8::/32 drops IPv6 SSH inside the range only, reads back present', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 1)
  const peer = vifOf(h, 4)
  const sdn = controller([h])
  const { rule, hosts } = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: 22, ipRange: '2001:db8::/32', direction: 'both' })
  expect(rule.ipRange).toBe('2001:db8::/32')
  expect(hosts[h.name]).toEqual({ ok: true, flows: 2 })
  expect(ourFlows(h).map((l) => l.replace(/^cookie=\S+ /, ''))).toEqual([
    `priority=34998,tcp6,dl_dst=${vif.mac},ipv6_src=2001:db8::/32,tp_dst=22 actions=drop`,
    `priority=34998,tcp6,in_port=1,dl_src=${vif.mac},ipv6_dst=2001:db8::/32,tp_dst=22 actions=drop`,
  ])
  const out6 = (dst, port = 22) => `in_port=1,tcp6,dl_src=${vif.mac},dl_dst=${peer.mac},ipv6_src=2001:db8:ffff::1,ipv6_dst=${dst},tp_src=40000,tp_dst=${port}`
  const in6 = (src, port = 22) => `in_port=4,tcp6,dl_src=${peer.mac},dl_dst=${vif.mac},ipv6_src=${src},ipv6_dst=2001:db8:ffff::1,tp_src=40000,tp_dst=${port}`
  const cases = [
    ['out to 2001:db8::5', verdict(h, out6('2001:db8::5')), 'drop'],
    ['out to 2001:db8:ffff:ffff::9', verdict(h, out6('2001:db8:ffff:ffff::9')), 'drop'],
    ['in from 2001:db8:1::2', verdict(h, in6('2001:db8:1::2')), 'drop'],
    ['out to 2001:db9::5 (outside)', verdict(h, out6('2001:db9::5')), 'forward'],
    ['in from 2001:db7:ffff::2 (outside)', verdict(h, in6('2001:db7:ffff::2')), 'forward'],
    ['out to 2001:db8::5 port 23', verdict(h, out6('2001:db8::5', 23)), 'forward'],
    ['IPv4 ssh out', verdict(h, `in_port=1,tcp,dl_src=${vif.mac},dl_dst=${peer.mac},nw_src=10.0.0.1,nw_dst=10.0.0.4,tp_src=40000,tp_dst=22`), 'forward'],
  ]
  expect(cases.map(([name, got]) => [name, got])).toEqual(cases.map(([name, , want]) => [name, want]))
  expect((await sdn.listRules({ vif: vif.uuid })).rules[0].hosts[h.name]).toMatchObject({ state: 'present', expected: 2, present: 2, missing: 0 })
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  ofctl13(h, 'del-flows', `table=0,cookie=${rule.cookie}/-1,tcp6,in_port=1`)
  expect(verdict(h, out6('2001:db8::5'))).toBe('forward')
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 1, removed: 0 })
  expect(verdict(h, out6('2001:db8::5'))).toBe('drop')
})

test('a rule without an address family covers both: deny tcp 22 drops SSH over IPv4 and over IPv6, both ways', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 3)
  const peer = vifOf(h, 4)
  const sdn = controller([h])
  const { rule, hosts } = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: 22, direction: 'both' })
  expect(rule).not.toHaveProperty('ipRange')
  expect(hosts[h.name]).toEqual({ ok: true, flows: 4 })
  expect(ourFlows(h).map((l) => l.replace(/^cookie=\S+ /, ''))).toEqual([
    `priority=34998,tcp,dl_dst=${vif.mac},tp_dst=22 actions=drop`,
    `priority=34998,tcp,in_port=3,dl_src=${vif.mac},tp_dst=22 actions=drop`,
    `priority=34998,tcp6,dl_dst=${vif.mac},tp_dst=22 actions=drop`,
    `priority=34998,tcp6,in_port=3,dl_src=${vif.mac},tp_dst=22 actions=drop`,
  ])
  const v4 = (from, port) => from
    ? `in_port=3,tcp,dl_src=${vif.mac},dl_dst=${peer.mac},nw_src=10.0.0.3,nw_dst=10.0.0.4,tp_src=40000,tp_dst=${port}`
    : `in_port=4,tcp,dl_src=${peer.mac},dl_dst=${vif.mac},nw_src=10.0.0.4,nw_dst=10.0.0.3,tp_src=40000,tp_dst=${port}`
  const v6 = (from, port) => from
    ? `in_port=3,tcp6,dl_src=${vif.mac},dl_dst=${peer.mac},ipv6_src=fe80::3,ipv6_dst=2001:db8::4,tp_src=40000,tp_dst=${port}`
    : `in_port=4,tcp6,dl_src=${peer.mac},dl_dst=${vif.mac},ipv6_src=2001:db8::4,ipv6_dst=fe80::3,tp_src=40000,tp_dst=${port}`
  const cases = []
  for (const [family, pkt] of [['IPv4', v4], ['IPv6', v6]]) {
    for (const from of [true, false]) {
      cases.push([`${family} ${from ? 'out' : 'in'} 22`, verdict(h, pkt(from, 22)), 'drop'])
      cases.push([`${family} ${from ? 'out' : 'in'} 23`, verdict(h, pkt(from, 23)), 'forward'])
    }
  }
  const udp6 = `in_port=4,udp6,dl_src=${peer.mac},dl_dst=${vif.mac},ipv6_src=2001:db8::4,ipv6_dst=fe80::3,udp_src=40000,udp_dst=22`
  cases.push(['IPv6 udp 22', verdict(h, udp6), 'forward'])
  expect(cases.map(([name, got]) => [name, got])).toEqual(cases.map(([name, , want]) => [name, want]))
  expect((await sdn.listRules({ vif: vif.uuid })).rules[0].hosts[h.name]).toMatchObject({ state: 'present', expected: 4, present: 4, missing: 0 })
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  // 0.0.0.0/0 keeps a rule to IPv4 (what it meant before IPv6 rules): the IPv6 twins go.
  await sdn.updateRule(rule.id, { ipRange: '0.0.0.0/0' })
  expect(ourFlows(h)).toHaveLength(2)
  expect([verdict(h, v4(true, 22)), verdict(h, v6(true, 22))]).toEqual(['drop', 'forward'])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

/** The EUI-64 link-local address of `mac` (RFC 4291 Appendix A), as SLAAC forms it. */
function eui64LinkLocal(mac) {
  const b = mac.split(':').map((x) => parseInt(x, 16))
  const word = (hi, lo) => ((hi << 8) | lo).toString(16)
  return `fe80::${word(b[0] ^ 0x02, b[1])}:${word(b[2], 0xff)}:${word(0xfe, b[3])}:${word(b[4], b[5])}`
}

test('deny ip covers IPv6 but keeps neighbour discovery, as ARP is kept: no extra rule, one priority above it; deny icmpv6 and deny any still drop it', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 2)
  const peer = vifOf(h, 4)
  const sdn = controller([h])
  const target = { uuid: vif.uuid, mac: vif.mac }
  const icmp6 = (type, from, src = 'fe80::2') => from
    ? `in_port=2,icmp6,dl_src=${vif.mac},dl_dst=${peer.mac},ipv6_src=${src},ipv6_dst=fe80::4,icmpv6_type=${type},icmpv6_code=0`
    : `in_port=4,icmp6,dl_src=${peer.mac},dl_dst=${vif.mac},ipv6_src=fe80::4,ipv6_dst=fe80::2,icmpv6_type=${type},icmpv6_code=0`
  const arp = (from) => from
    ? `in_port=2,arp,dl_src=${vif.mac},dl_dst=${peer.mac},arp_op=1,arp_spa=10.0.0.2,arp_tpa=10.0.0.4`
    : `in_port=4,arp,dl_src=${peer.mac},dl_dst=${vif.mac},arp_op=2,arp_spa=10.0.0.4,arp_tpa=10.0.0.2`
  const tcp6 = (from, port = 80) => from
    ? `in_port=2,tcp6,dl_src=${vif.mac},dl_dst=${peer.mac},ipv6_src=2001:db8::2,ipv6_dst=2001:db8::4,tp_src=40000,tp_dst=${port}`
    : `in_port=4,tcp6,dl_src=${peer.mac},dl_dst=${vif.mac},ipv6_src=2001:db8::4,ipv6_dst=2001:db8::2,tp_src=40000,tp_dst=${port}`
  const tcp4 = (port) => `in_port=2,tcp,dl_src=${vif.mac},dl_dst=${peer.mac},nw_src=10.0.0.2,nw_dst=10.0.0.4,tp_src=40000,tp_dst=${port}`
  const check = (cases) => expect(cases.map(([name, got]) => [name, got])).toEqual(cases.map(([name, , want]) => [name, want]))

  // deny ip both ways, alone.
  const { rule, hosts } = await sdn.addRule({ id: 'deny-ip', vif: target, allow: false, protocol: 'ip', direction: 'both' })
  expect(hosts[h.name]).toEqual({ ok: true, flows: 10 }) // ip and ipv6 each way, RS/NS/NA sent and RA/NS/NA received
  const nd = ourFlows(h).filter((l) => l.includes('icmp6'))
  expect(nd).toHaveLength(6)
  for (const l of nd) expect(l).toMatch(new RegExp(`priority=${rule.priority + 1},.* actions=NORMAL$`))
  check([
    ['NS out', verdict(h, icmp6(135, true)), 'forward'],
    ['NA out', verdict(h, icmp6(136, true)), 'forward'],
    ['RS out', verdict(h, icmp6(133, true)), 'forward'],
    ['RA out (rogue)', verdict(h, icmp6(134, true)), 'drop'],
    ['NS in', verdict(h, icmp6(135, false)), 'forward'],
    ['NA in', verdict(h, icmp6(136, false)), 'forward'],
    ['RA in', verdict(h, icmp6(134, false)), 'forward'],
    ['RS in', verdict(h, icmp6(133, false)), 'drop'],
    ['echo out', verdict(h, icmp6(128, true)), 'drop'],
    ['echo in', verdict(h, icmp6(128, false)), 'drop'],
    ['tcp6 out', verdict(h, tcp6(true)), 'drop'],
    ['tcp6 in', verdict(h, tcp6(false)), 'drop'],
    ['tcp out', verdict(h, tcp4(80)), 'drop'],
    ['ARP out', verdict(h, arp(true)), 'forward'],
    ['ARP in', verdict(h, arp(false)), 'forward'],
  ])
  expect(h.trace(icmp6(135, false)).priority).toBe(rule.priority + 1)
  expect((await sdn.listRules({ vif: vif.uuid })).rules[0].hosts[h.name]).toMatchObject({ state: 'present', expected: 10, present: 10, missing: 0 })
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  await sdn.deleteRule('deny-ip')

  // The common whitelist: allow https out, then deny ip out. IPv6 https and ND pass, nothing else.
  await sdn.addRules([
    { id: 'https', vif: target, allow: true, protocol: 'tcp', port: 443, direction: 'from' },
    { id: 'rest', vif: target, allow: false, protocol: 'ip', direction: 'from' },
  ])
  check([
    ['tcp6 443 out', verdict(h, tcp6(true, 443)), 'forward'],
    ['tcp 443 out', verdict(h, tcp4(443)), 'forward'],
    ['NS out', verdict(h, icmp6(135, true)), 'forward'],
    ['NA out', verdict(h, icmp6(136, true)), 'forward'],
    ['tcp6 80 out', verdict(h, tcp6(true, 80)), 'drop'],
    ['tcp 80 out', verdict(h, tcp4(80)), 'drop'],
    ['echo out', verdict(h, icmp6(128, true)), 'drop'],
    ['ARP out', verdict(h, arp(true)), 'forward'],
  ])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  await sdn.deleteRule('https')
  await sdn.deleteRule('rest')

  // A rule naming ICMPv6 means it, and `any` drops ARP too: ND is dropped with them.
  await sdn.addRule({ id: 'deny-icmpv6', vif: target, allow: false, protocol: 'icmpv6', direction: 'both' })
  check([
    ['icmpv6: NS out', verdict(h, icmp6(135, true)), 'drop'],
    ['icmpv6: NA in', verdict(h, icmp6(136, false)), 'drop'],
    ['icmpv6: ARP in', verdict(h, arp(false)), 'forward'],
  ])
  await sdn.deleteRule('deny-icmpv6')
  await sdn.addRule({ id: 'deny-any', vif: target, allow: false, direction: 'both' })
  check([
    ['any: NS out', verdict(h, icmp6(135, true)), 'drop'],
    ['any: NA in', verdict(h, icmp6(136, false)), 'drop'],
    ['any: ARP in', verdict(h, arp(false)), 'drop'],
  ])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

test("deny ip from a VIF locked to an IPv6 address keeps XAPI's lock on ND: from its address, its EUI-64 link-local and :: only", async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 2)
  const peer = vifOf(h, 4)
  const sdn = controller([h])
  const linkLocal = eui64LinkLocal(vif.mac)
  const locked = { uuid: vif.uuid, mac: vif.mac, ips: ['10.0.0.2', '2001:db8::2'] }
  const r = await sdn.addRule({ vif: locked, allow: false, protocol: 'ip', direction: 'from' })
  // ip and ipv6 (a deny is never narrowed), then RS and NS from 3 sources, NA from 2.
  expect(r.hosts[h.name]).toEqual({ ok: true, flows: 2 + 3 + 3 + 2 })
  const nd = (type, src) => `in_port=2,icmp6,dl_src=${vif.mac},dl_dst=${peer.mac},ipv6_src=${src},ipv6_dst=ff02::1:ff00:4,icmpv6_type=${type},icmpv6_code=0`
  const cases = [
    ['NS from its address', verdict(h, nd(135, '2001:db8::2')), 'forward'],
    [`NS from its link-local ${linkLocal}`, verdict(h, nd(135, linkLocal)), 'forward'],
    ['NS from :: (duplicate address detection)', verdict(h, nd(135, '::')), 'forward'],
    ['RS from ::', verdict(h, nd(133, '::')), 'forward'],
    ['NA from its address', verdict(h, nd(136, '2001:db8::2')), 'forward'],
    ['NA from ::', verdict(h, nd(136, '::')), 'drop'],
    ['NS from another address', verdict(h, nd(135, '2001:db8::9')), 'drop'],
    ['NS from another link-local', verdict(h, nd(135, 'fe80::9')), 'drop'],
  ]
  expect(cases.map(([name, got]) => [name, got])).toEqual(cases.map(([name, , want]) => [name, want]))
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  // Locked to IPv4 only: XAPI drops its IPv6, so no carve-out from it at all.
  const v4 = await sdn.updateRule(r.rule.id, { vif: { ...locked, ips: ['10.0.0.2'] } })
  expect(v4.hosts[h.name]).toEqual({ ok: true, flows: 2 })
  expect(verdict(h, nd(135, linkLocal))).toBe('drop')
})

test('icmpv6 with a type: deny echo requests to a VIF, neighbour solicitations still pass', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 2)
  const peer = vifOf(h, 4)
  const sdn = controller([h])
  const r = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'icmpv6', icmpType: 128, direction: 'to' })
  expect(r.hosts[h.name]).toEqual({ ok: true, flows: 1 })
  const icmp6 = (type, code = 0) => `in_port=4,icmp6,dl_src=${peer.mac},dl_dst=${vif.mac},ipv6_src=fe80::4,ipv6_dst=fe80::2,icmpv6_type=${type},icmpv6_code=${code}`
  expect([verdict(h, icmp6(128)), verdict(h, icmp6(129)), verdict(h, icmp6(135))]).toEqual(['drop', 'forward', 'forward'])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

test('deleteRule removes exactly our flows; flows of others (XAPI cookie 0x1, cookie 0) stay', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 1)
  h.ofctl('add-flow', 'table=0,cookie=0x1,priority=4000,in_port=4,actions=drop')
  h.ofctl('add-flow', `table=0,priority=32768,tcp,dl_src=${vif.mac},tp_dst=22,actions=drop`)
  const before = allFlows(h)
  const sdn = controller([h])
  const { rule } = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: 22, direction: 'both' })
  expect(ourFlows(h)).toHaveLength(4) // both ways, IPv4 and IPv6
  const d = await sdn.deleteRule(rule.id)
  expect(d.hosts[h.name].ok).toBe(true)
  expect(allFlows(h)).toEqual(before)
  expect(sdn.rules()).toEqual([])
  expect((await rejection(sdn.deleteRule(rule.id))).code).toBe('SDN_RULE_NOT_FOUND')
  h.ofctl('del-flows', 'table=0,cookie=0x1/-1')
  h.ofctl('del-flows', `table=0,cookie=0/-1,tcp,dl_src=${vif.mac},tp_dst=22`)
})

test('updateRule is make-before-break: new generation in, old one out, priority kept', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 1)
  const sdn = controller([h])
  const { rule } = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: 80, direction: 'from' })
  const seen = []
  const probe = `in_port=1,tcp,dl_src=${vif.mac},dl_dst=02:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=999,tp_dst=80`
  expect(verdict(h, probe)).toBe('drop')
  const u = await sdn.updateRule(rule.id, { port: 443 })
  seen.push(u)
  expect(u.rule.priority).toBe(rule.priority)
  expect(u.rule.cookie).not.toBe(rule.cookie)
  expect(BigInt(u.rule.cookie) & 0xffff00ffffffffffn).toBe(BigInt(rule.cookie) & 0xffff00ffffffffffn) // same rule number
  const flows = ourFlows(h)
  expect(flows).toHaveLength(2) // tcp and its IPv6 twin
  for (const f of flows) expect(f).toContain('tp_dst=443')
  for (const f of flows) expect(f).toContain(`cookie=${u.rule.cookie.replace(/^0x0*/, '0x')}`)
  expect(verdict(h, probe)).toBe('forward')
  expect(verdict(h, probe.replace('tp_dst=80', 'tp_dst=443'))).toBe('drop')
  // Same match, new action: ADD replaces in place, nothing left behind.
  await sdn.updateRule(rule.id, { allow: true })
  expect(ourFlows(h)).toHaveLength(2)
  for (const f of ourFlows(h)) expect(f).toContain('actions=NORMAL')
})

test('network and VM levels: every VIF, also one plugged later; a VM is all its VIFs', async () => {
  const h = sb.hosts[1]
  const sdn = controller([h], {})
  const net = h.bridges[0].networkUuid
  const r = await sdn.addRule({ network: { uuid: net }, allow: false, protocol: 'tcp', port: 23, ipRange: '0.0.0.0/0', direction: 'to' })
  expect(r.hosts[h.name]).toEqual({ ok: true, flows: 4 })
  expect(ourFlows(h)).toEqual(h.bridges[0].vifs.map((v) => expect.stringContaining(`tcp,dl_dst=${v.mac},tp_dst=23`)))
  // A VIF plugged afterwards gets the network's rules.
  const uuid = '00000000-0000-0000-0100-0000000000aa'
  h.vsctl('add-port', 'br0', 'vif9.0', '--', 'set', 'Interface', 'vif9.0', 'type=dummy', 'ofport_request=9', `external_ids:xs-vif-uuid=${uuid}`, 'external_ids:attached-mac="02:00:01:00:00:aa"')
  await waitFor(() => ourFlows(h).length === 5)
  expect(ourFlows(h)).toContainEqual(expect.stringContaining('dl_dst=02:00:01:00:00:aa,tp_dst=23'))
  // Unplugged: its flow goes.
  h.vsctl('del-port', 'br0', 'vif9.0')
  await waitFor(() => ourFlows(h).length === 4)
  await sdn.deleteRule(r.rule.id)
  // VM level: the sandbox VM N has VIF N.
  const vm = h.vms[1]
  const v = await sdn.addRule({ vm: { uuid: vm.uuid }, allow: false, protocol: 'arp', direction: 'from' })
  expect(v.hosts[h.name].flows).toBe(vm.vifs.length)
  expect(ourFlows(h)).toEqual(vm.vifs.map((x) => expect.stringContaining(`arp,in_port=${x.ofport},dl_src=${x.mac}`)))
})

test('a VIF that migrates to another host takes its rules along', async () => {
  const [a, b] = sb.hosts
  const sdn = controller([a, b])
  const uuid = '00000000-0000-0000-0200-0000000000bb'
  const mac = '02:00:02:00:00:bb'
  a.vsctl('add-port', 'br0', 'vif20.0', '--', 'set', 'Interface', 'vif20.0', 'type=dummy', 'ofport_request=20', `external_ids:xs-vif-uuid=${uuid}`, `external_ids:attached-mac="${mac}"`)
  const r = await sdn.addRule({ vif: { uuid, mac }, allow: false, protocol: 'ip', ipRange: '10.9.0.0/16', direction: 'from' })
  expect(r.hosts[a.name].flows).toBe(1)
  expect(ourFlows(a)).toEqual([expect.stringContaining('ip,in_port=20')])
  // Migration: the VIF leaves host a and is plugged on host b (another ofport).
  a.vsctl('del-port', 'br0', 'vif20.0')
  b.vsctl('add-port', 'br0', 'vif21.0', '--', 'set', 'Interface', 'vif21.0', 'type=dummy', 'ofport_request=21', `external_ids:xs-vif-uuid=${uuid}`, `external_ids:attached-mac="${mac}"`)
  await waitFor(() => ourFlows(a).length === 0 && ourFlows(b).length === 1)
  expect(ourFlows(b)[0]).toContain(`ip,in_port=21,dl_src=${mac},nw_dst=10.9.0.0/16`)
  b.vsctl('del-port', 'br0', 'vif21.0')
})

test('OVS restarted: the automatic sync on reconnect restores exactly the desired flows', async () => {
  const h = sb.hosts[0]
  const sdn = controller([h])
  const vif = vifOf(h, 4)
  await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: [8000, 8004], direction: 'to' })
  await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: true, protocol: 'ssh', direction: 'from' })
  const desired = ourFlows(h)
  expect(desired).toHaveLength(6) // 8000-8003 as one masked flow, 8004, and ssh; each over IPv4 and IPv6
  expect(desired.filter((l) => l.includes('tp_dst=0x1f40/0xfffc'))).toHaveLength(2)
  const synced = new Promise((resolve) => sdn.once('synced', resolve))
  await h.restartSwitch()
  await synced
  expect(ourFlows(h)).toEqual(desired)
  // And between two calls, an explicit sync does the same.
  await h.restartSwitch()
  await waitFor(async () => (await sdn.sync()).hosts[h.name].ok)
  expect(ourFlows(h)).toEqual(desired)
})

test('three hosts, one down: the others get the rule, the outcome names the third, it is repaired when back', async () => {
  const [a, b, c] = sb.hosts
  const sdn = controller(sb.hosts, { repair: { minMs: 100, maxMs: 400 } })
  const net = a.bridges[0].networkUuid
  await c.killSwitch()
  await c.stopDb()
  try {
    await oneHostDown(sdn, a, b, c, net)
  } finally {
    if (!c.dbRunning) await c.restartDb()
    if (!c.switchRunning) await c.restartSwitch()
  }
})

async function oneHostDown(sdn, a, b, c, net) {
  const r = await sdn.addRule({ network: { uuid: net }, allow: false, protocol: 'udp', port: 53, ipRange: '0.0.0.0/0', direction: 'from' })
  expect(r.hosts[a.name]).toEqual({ ok: true, flows: 4 })
  expect(r.hosts[b.name]).toEqual({ ok: true, flows: 4 })
  expect(r.hosts[c.name].ok).toBe(false)
  expect(r.hosts[c.name].error.code).toMatch(/^(CONNECTION_REFUSED|CONNECT_TIMEOUT|CHANNEL_|TLS_)/)
  expect(ourFlows(a)).toHaveLength(4)
  const s1 = await sdn.sync()
  expect(s1.hosts[c.name].ok).toBe(false)
  // Back: repaired by the controller's own retry, no call needed.
  const up = new Promise((resolve) => sdn.on('hostUp', (e) => e.host === c.name && e.repaired && resolve(e)))
  await c.restartDb()
  await c.restartSwitch()
  // Which path re-sends the 4 flows (the retry, or the refresh its reconnect triggers) is a race: the state is what counts.
  expect((await up).repaired).toMatchObject({ ok: true, removed: 0 })
  expect(ourFlows(c)).toEqual(c.bridges[0].vifs.map((v) => expect.stringContaining(`udp,in_port=${v.ofport},dl_src=${v.mac},tp_dst=53`)))
  expect((await sdn.sync()).hosts[c.name]).toEqual({ ok: true, added: 0, removed: 0 })
}

test('exported state, imported by a new controller (a restart of xo-server), syncs to nothing to do', async () => {
  const h = sb.hosts[0]
  const first = controller([h])
  const vif = vifOf(h, 2)
  await first.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'https', direction: 'from' })
  await first.addRule({ network: { uuid: h.networkUuid }, allow: false, protocol: 'icmp', direction: 'to' })
  const state = JSON.parse(JSON.stringify(first.exportState()))
  const flows = ourFlows(h)
  await first.close()
  const second = controller([h])
  second.importState(state)
  expect(second.rules()).toEqual(first.rules())
  expect((await second.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  expect(ourFlows(h)).toEqual(flows)
  // State imported into a controller whose switch lost everything: sync restores it.
  deleteOurs(h)
  expect((await second.sync()).hosts[h.name]).toEqual({ ok: true, added: flows.length, removed: 0 })
  expect(ourFlows(h)).toEqual(flows)
})

test('the rule list in a small band: a batch past the tail spreads the list, a full band refuses with nothing applied, a bad state changes nothing', async () => {
  const h = sb.hosts[0]
  // 12 priorities: 6 rules, each owning its priority and the one above it (its exceptions').
  const sdn = controller([h], { priorities: { min: 35001, max: 35012 } })
  const pool = (port) => ({ pool: true, allow: false, protocol: 'tcp', port, direction: 'to' })
  const priorities = () => sdn.rules().map((r) => r.priority)
  // Distinct priorities of our flows (a pool rule has one flow per VIF).
  const onSwitch = () => [...new Set(ourFlows(h).map((l) => Number(/priority=(\d+)/.exec(l)[1])))].sort((a, b) => b - a)
  await sdn.addRules([{ id: 'a', ...pool(1) }, { id: 'b', ...pool(2) }])
  expect(priorities()).toEqual([35011, 35009])
  await sdn.addRule({ id: 'top', ...pool(3) }, { position: 0 }) // no room above 35011 (35012 is its P + 1): spread again, step 3
  expect(sdn.rules().map((r) => r.id)).toEqual(['top', 'a', 'b'])
  expect(priorities()).toEqual([35011, 35008, 35005])
  // Three more fit only by spreading again (the tail has room for one: 35003), step 2.
  const r = await sdn.addRules([{ id: 'c', ...pool(4) }, { id: 'd', ...pool(5) }, { id: 'e', ...pool(9) }])
  expect(r.hosts[h.name].ok).toBe(true)
  expect(priorities()).toEqual([35011, 35009, 35007, 35005, 35003, 35001])
  expect(onSwitch()).toEqual(priorities()) // every old generation deleted, the switch holds exactly the list
  const cookies = () => [...new Set(ourFlows(h).map((l) => /cookie=(0x[0-9a-f]+)/.exec(l)[1]))].sort()
  expect(cookies()).toEqual(sdn.rules().map((x) => x.cookie.replace(/^0x0*/, '0x')).sort())
  const flows = ourFlows(h)
  const state = sdn.exportState()
  // Full: refused before any I/O, nothing changed anywhere.
  expect(await rejection(sdn.addRules([{ id: 'f', ...pool(6) }]))).toMatchObject({ code: 'SDN_TOO_MANY_RULES', message: expect.stringContaining('holds at most 6 rules') })
  expect(await rejection(sdn.addRule({ id: 'f', ...pool(6) }, { position: 2 }))).toMatchObject({ code: 'SDN_TOO_MANY_RULES' })
  expect(await rejection(sdn.addRules([{ id: 'x', ...pool(7) }, { id: 'x', ...pool(8) }]))).toMatchObject({ code: 'SDN_RULE_EXISTS' })
  expect(ourFlows(h)).toEqual(flows)
  // A state whose numbers repeat, or whose priority is outside the band, is refused whole.
  const twice = { ...state, rules: state.rules.map((x, i) => (i === 1 ? { ...x, number: state.rules[0].number } : x)) }
  expect(() => sdn.importState(twice)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/state\.rules\[1\]/) }))
  const outside = { ...state, rules: state.rules.map((x, i) => (i === 4 ? { ...x, priority: 35000 } : x)) }
  expect(() => sdn.importState(outside)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }))
  expect(sdn.exportState()).toEqual(state)
  // After a delete the band has room again; the freed number can be taken again.
  await sdn.deleteRule('top')
  await sdn.addRule({ id: 'top', ...pool(3) })
  expect(sdn.rules().map((x) => x.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'top'])
  expect(onSwitch()).toEqual(priorities())
  await sdn.close()
})

test('a batch as the first call of a controller: every rule compiled from the native list, its flows counted per host', async () => {
  const h = sb.hosts[1]
  const sdn = controller([h])
  const rules = [1, 2, 3].map((n) => ({ vif: { uuid: vifOf(h, n).uuid, mac: vifOf(h, n).mac }, allow: false, protocol: 'tcp', port: 2200 + n, direction: 'to' }))
  const r = await sdn.addRules(rules)
  expect(r.hosts[h.name]).toEqual({ ok: true, flows: 6 }) // each over IPv4 and IPv6
  const cookies = new Set(r.rules.map((x) => x.cookie.replace(/^0x0*/, '0x')))
  expect(ourFlows(h).filter((l) => cookies.has(/cookie=(0x[0-9a-f]+)/.exec(l)[1]))).toHaveLength(6)
  for (const x of r.rules) await sdn.deleteRule(x.id)
  await sdn.close()
})

test('a batch of several compile slices (2,500 rules) lands whole: each rule its flow, counted, nothing older deleted, nothing left to repair', async () => {
  const h = sb.hosts[1]
  const sdn = controller([h])
  const vifs = [1, 2, 3, 4].map((n) => vifOf(h, n))
  // IPv4 only (a range): one flow per rule.
  const rules = Array.from({ length: 2500 }, (_, k) => ({ vif: { uuid: vifs[k % 4].uuid, mac: vifs[k % 4].mac }, allow: false, protocol: k % 3 ? 'tcp' : 'udp', port: 10000 + k, ipRange: '0.0.0.0/0', direction: k % 2 ? 'to' : 'from' }))
  const r = await sdn.addRules(rules)
  expect(r.hosts[h.name]).toEqual({ ok: true, flows: 2500 })
  const cookies = new Set(r.rules.map((x) => x.cookie.replace(/^0x0*/, '0x')))
  const landed = ourFlows(h).filter((l) => cookies.has(/cookie=(0x[0-9a-f]+)/.exec(l)[1]))
  expect(landed).toHaveLength(2500)
  // The last rule of the last slice, exactly.
  const last = r.rules[2499]
  expect(landed.filter((l) => l.includes('tp_dst=12499'))).toEqual([`cookie=${last.cookie.replace(/^0x0*/, '0x')}, priority=${last.priority},udp,dl_dst=${vifs[3].mac},tp_dst=12499 actions=drop`])
  const s = await sdn.sync()
  expect(s.hosts[h.name]).toMatchObject({ ok: true, added: 0, removed: 0 })
  for (const x of r.rules) await sdn.deleteRule(x.id)
  expect(ourFlows(h).filter((l) => cookies.has(/cookie=(0x[0-9a-f]+)/.exec(l)[1]))).toEqual([])
  await sdn.close()
})

test('first contact: before any call changes a switch, unknown flows of ours go, exact ones stay (their generation adopted), the rest is replaced', async () => {
  const h = sb.hosts[0]
  const [v1, v2, v3] = [vifOf(h, 1), vifOf(h, 2), vifOf(h, 3)]
  const first = controller([h])
  const keep = (await first.addRule({ id: 'keep', vif: { uuid: v1.uuid, mac: v1.mac }, allow: false, protocol: 'ssh', direction: 'to' })).rule
  await first.updateRule('keep', { allow: true }) // generation 1
  await first.updateRule('keep', { allow: false }) // generation 2: what the switch holds
  const changed = (await first.addRule({ id: 'changed', vif: { uuid: v2.uuid, mac: v2.mac }, allow: false, protocol: 'udp', port: 53, direction: 'from' })).rule
  await first.addRule({ id: 'gone', vif: { uuid: v3.uuid, mac: v3.mac }, allow: false, protocol: 'ip', direction: 'to' })
  const kept = ourFlows(h).filter((l) => l.includes(v1.mac))
  const numberOf = (c) => BigInt(c) & ((1n << 40n) - 1n)
  await first.close()

  // A new controller that knows `keep` unchanged, `changed` in another form, and not `gone`.
  const second = controller([h])
  const adopted = []
  second.on('adopted', (e) => adopted.push(e))
  const seen = []
  const stopAt = Date.now() + 60000
  const traced = (async () => {
    // SSH to v1 must stay dropped throughout: its flows are never deleted and re-added.
    while (adopted.length === 0 && Date.now() < stopAt) {
      seen.push(verdict(h, `in_port=4,tcp,dl_src=02:00:00:00:00:04,dl_dst=${v1.mac},nw_src=10.0.0.4,nw_dst=10.0.0.1,tp_src=40000,tp_dst=22`))
      await new Promise((r) => setTimeout(r, 2))
    }
  })()
  await second.addRules([
    { id: 'keep', vif: { uuid: v1.uuid, mac: v1.mac }, allow: false, protocol: 'ssh', direction: 'to' },
    { id: 'changed', vif: { uuid: v2.uuid, mac: v2.mac }, allow: false, protocol: 'udp', port: 54, direction: 'from' },
  ])
  await traced
  expect(seen.filter((x) => x !== 'drop')).toEqual([])
  // Every rule here has no range: each flow has its IPv6 twin, so `changed` adds 2, and 7 go (its old 2,
  // gone's 2 and the 3 ND carve-outs of its deny of ip).
  expect(adopted).toEqual([{ host: h.name, bridge: 'br0', added: 2, removed: 7, adopted: 1 }])
  const after = ourFlows(h)
  expect(after.filter((l) => l.includes(v1.mac))).toEqual(kept) // same cookie (generation 2), untouched
  expect(second.getRule('keep').cookie).toBe(`0x5d4e02${numberOf(keep.cookie).toString(16).padStart(10, '0')}`)
  expect(after.filter((l) => l.includes(v2.mac))).toEqual([expect.stringContaining('udp,in_port=2'), expect.stringContaining('udp6,in_port=2')])
  for (const l of after.filter((l) => l.includes(v2.mac))) expect(l).toContain('tp_dst=54')
  expect(numberOf(second.getRule('changed').cookie)).toBe(numberOf(changed.cookie)) // same identity, new form
  expect(after.some((l) => l.includes(v3.mac))).toBe(false) // nobody wants it any more
  expect((await second.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

test('stateFile: the state is written on every change and read back by the next controller; a bad file is refused, not ignored', async () => {
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xo-sdn-state-'))
  const stateFile = path.join(dir, 'state.json')
  try {
    const h = sb.hosts[0]
    const vif = vifOf(h, 2)
    const first = controller([h], { stateFile })
    await first.addRule({ id: 'a', vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'https', direction: 'from' })
    await first.addRule({ id: 'b', network: { uuid: h.networkUuid }, allow: false, protocol: 'icmp', direction: 'to' })
    await first.deleteRule('a')
    expect(JSON.parse(fs.readFileSync(stateFile, 'utf8')).rules.map((r) => r.id)).toEqual(['b'])
    expect(fs.statSync(stateFile).mode & 0o777).toBe(0o600)
    const flows = ourFlows(h)
    await first.close()
    const second = controller([h], { stateFile })
    expect(second.rules()).toEqual(first.rules())
    // The first call after the restart changes the rule's text, not its flows: the
    // switch's flows are adopted, never deleted (a re-added flow would be younger).
    const before = Date.now()
    await second.updateRule('b', { description: 'same flows' })
    const age = (Date.now() - before) / 1000
    expect(h.ofctl('dump-flows', OURS).split('\n').filter((l) => l.includes('cookie=')).map((l) => Number(/duration=([\d.]+)s/.exec(l)[1])).filter((d) => d < age)).toEqual([])
    expect((await second.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
    expect(ourFlows(h)).toEqual(flows)
    // A truncated file, or one from a controller with another priority band: refused at construction.
    fs.writeFileSync(stateFile, '{"version":1,"rules":[')
    expect(() => new SdnController({ stateFile, syncIntervalMs: 0 })).toThrow(expect.objectContaining({ code: 'SDN_STATE_UNREADABLE' }))
    fs.writeFileSync(stateFile, JSON.stringify({ version: 1, priorities: { min: 35001, max: 65000 }, rules: [{ id: 'x', pool: true, allow: false, protocol: 'ip', direction: 'to', priority: 40000, number: 7, generation: 0 }] }))
    expect(() => new SdnController({ stateFile, syncIntervalMs: 0 })).toThrow(expect.objectContaining({ code: 'SDN_STATE_UNREADABLE', message: expect.stringContaining('priority band') }))
    expect(() => new SdnController({ stateFile: 42 })).toThrow(TypeError)
    // A directory cannot hold the file: the call rejects SDN_STATE_WRITE_FAILED (its switch change is done).
    const third = controller([h], { stateFile: path.join(dir, 'missing-dir', 'state.json') })
    const e = await rejection(third.addRule({ id: 'c', vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'ssh', direction: 'from' }))
    expect(e.code).toBe('SDN_STATE_WRITE_FAILED')
    expect(third.getRule('c')).toBeDefined()
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('a state saved when a rule took one priority (consecutive) is spread again once: the next sync moves its flows, make-before-break', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 3)
  const target = { uuid: vif.uuid, mac: vif.mac }
  const first = controller([h])
  await first.addRules([
    { id: 'old-a', vif: target, allow: false, protocol: 'tcp', port: 81, direction: 'to' },
    { id: 'old-b', vif: target, allow: false, protocol: 'tcp', port: 82, direction: 'to' },
  ])
  const state = first.exportState()
  await first.close()
  // As an older version left it: the rules at 34998 and 34997 (one priority each), their flows there.
  const old = { ...state, rules: state.rules.map((r, i) => ({ ...r, priority: 34998 - i })) }
  const moved = ourFlows(h).map((l) => l.replace(/priority=34996,/, 'priority=34997,'))
  deleteOurs(h)
  for (const l of moved) ofctl13(h, 'add-flow', `table=0,${l.replace(', ', ',').replace(' actions=', ',actions=')}`)
  expect(ourFlows(h)).toEqual(moved.sort())

  const second = controller([h])
  const adopted = []
  second.on('adopted', (e) => adopted.push(e))
  second.importState(old)
  const rules = second.rules()
  // Spread as a respread does: from max - 1, step 16, every rule a new generation.
  expect(second.exportState().rules.map((r) => [r.id, r.priority, r.generation])).toEqual([['old-a', 34998, 1], ['old-b', 34982, 1]])
  // Moved, as after a respread on insert: old-a keeps 34998, but its saved generation is not adopted back;
  // its new flows replace the old ones in place (same match and priority), old-b's old ones go after.
  const s = await second.sync()
  expect(s.hosts[h.name]).toEqual({ ok: true, added: 4, removed: 2 })
  expect(adopted).toEqual([{ host: h.name, bridge: 'br0', added: 4, removed: 2, adopted: 0 }])
  const now = ourFlows(h)
  expect(now).toHaveLength(4)
  for (const r of rules) {
    const mine = now.filter((l) => l.startsWith(`cookie=${r.cookie.replace(/^0x0*/, '0x')},`))
    expect([r.id, mine.length, mine.every((l) => l.includes(`priority=${r.priority},`))]).toEqual([r.id, 2, true])
  }
  expect((await second.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

test("one rule's commands take effect in call order: update then delete in one tick leave nothing; two updates lose no field", async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 4)
  const sdn = controller([h])
  for (let i = 0; i < 20; i++) {
    const { rule } = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: 1000 + i, direction: 'from' })
    const [updated, deleted] = await Promise.all([sdn.updateRule(rule.id, { port: 2000 + i }), sdn.deleteRule(rule.id)])
    expect(updated.hosts[h.name].ok && deleted.hosts[h.name].ok).toBe(true)
    expect(sdn.rules()).toEqual([])
    expect(ourFlows(h)).toEqual([])
  }
  const { rule } = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: 22, direction: 'from' })
  await Promise.all([sdn.updateRule(rule.id, { port: 23 }), sdn.updateRule(rule.id, { ipRange: '10.0.0.0/8' })])
  expect(sdn.getRule(rule.id)).toMatchObject({ port: 23, ipRange: '10.0.0.0/8' })
  expect(ourFlows(h)).toEqual([expect.stringContaining('nw_dst=10.0.0.0/8,tp_dst=23 actions=drop')])
  // A command on a deleted rule is refused, after the delete, with nothing sent.
  const [, late] = await Promise.allSettled([sdn.deleteRule(rule.id), sdn.updateRule(rule.id, { port: 24 })])
  expect(late.reason.code).toBe('SDN_RULE_NOT_FOUND')
  expect(ourFlows(h)).toEqual([])
})

test('a hung host: SDN_HOST_TIMEOUT for it, the others served; later calls do not dial it again (its retry owns it)', async () => {
  // A fake: an OVSDB port that accepts and never answers (the real server cannot be made to).
  const hungPort = await fakePeer((socket) => socket.on('data', () => {}))
  const sockets = lastSockets()
  try {
    const h = sb.hosts[0]
    const sdn = controller([h], { hostTimeoutMs: 300, repair: { minMs: 60000, maxMs: 60000 }, ovsdb: { connectTimeoutMs: 1500, reconnectMinMs: 50, reconnectMaxMs: 300 } })
    sdn.addHost({ id: 'hung', address: '127.0.0.1', ovsdbPort: hungPort, serverCert: h.certs.server.cert })
    const vif = vifOf(h, 1)
    const first = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'ssh', ipRange: '0.0.0.0/0', direction: 'to' })
    expect(first.hosts[h.name]).toEqual({ ok: true, flows: 1 })
    expect(first.hosts.hung).toMatchObject({ ok: false, error: { code: 'SDN_HOST_TIMEOUT', host: 'hung' } })
    expect(ourFlows(h)).toHaveLength(1)
    const dials = sockets.length
    expect(dials).toBe(1)
    // Every later call: the hung host's last error at once, no new connection to it.
    const second = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'http', ipRange: '0.0.0.0/0', direction: 'to' })
    expect(second.hosts[h.name]).toEqual({ ok: true, flows: 1 })
    expect(second.hosts.hung).toMatchObject({ ok: false, error: { code: 'SDN_HOST_TIMEOUT' } })
    const listed = await sdn.listRules()
    expect(listed.hosts).toMatchObject({ [h.name]: { ok: true }, hung: { ok: false } })
    expect(listed.rules.map((r) => r.hosts[h.name].state)).toEqual(['present', 'present'])
    expect((await sdn.sync()).hosts).toMatchObject({ [h.name]: { ok: true }, hung: { ok: false } })
    expect((await sdn.deleteRule(first.rule.id)).hosts[h.name]).toMatchObject({ ok: true })
    expect(sockets.length).toBe(dials)
  } finally {
    closePeers()
  }
})

test("a foreign flow with exactly our match and priority is neither replaced nor deleted: the rule's outcome says why", async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 1)
  const foreign = `cookie=0x99,priority=34998,tcp,in_port=1,dl_src=${vif.mac},nw_dst=192.168.5.55,tp_dst=5060,actions=normal`
  h.ofctl('add-flow', foreign)
  try {
    const sdn = controller([h])
    const r = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'sip', ipRange: '192.168.5.55', direction: 'from' })
    expect(r.rule.priority).toBe(34998)
    expect(r.hosts[h.name]).toMatchObject({ ok: false, error: { code: 'SDN_FLOW_CONFLICT', flows: [expect.stringContaining('tp_dst=5060')] } })
    const theirs = () => h.ofctl('dump-flows', '--no-stats', 'cookie=0x99/-1').split('\n').filter((l) => l.includes('cookie='))
    expect(theirs()).toEqual([expect.stringContaining('actions=NORMAL')])
    // A rule that does not collide is installed as usual, on the same switch.
    const other = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'ssh', direction: 'from' })
    expect(other.hosts[h.name]).toEqual({ ok: true, flows: 2 }) // IPv4 and IPv6
    expect((await sdn.sync()).hosts[h.name]).toMatchObject({ ok: false, error: { code: 'SDN_FLOW_CONFLICT' } })
    await sdn.deleteRule(r.rule.id)
    expect(theirs()).toEqual([expect.stringContaining('actions=NORMAL')])
    expect(ourFlows(h)).toEqual([expect.stringContaining('tcp,in_port=1'), expect.stringContaining('tcp6,in_port=1')])
    for (const l of ourFlows(h)) expect(l).toContain('tp_dst=22')
  } finally {
    h.ofctl('del-flows', 'cookie=0x99/-1')
  }
})

test('concurrent addRule calls share one batch per switch (group commit); each keeps its own outcome, a conflict only its own', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 2)
  const sdn = controller([h])
  const warm = await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: 999, direction: 'from' })
  const top = warm.rule.priority
  // Call k of the burst appends the rule at priority top - 2 - 2k: a foreign flow holds call 7's key.
  const rule = (k) => ({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: 3000 + k, ipRange: '0.0.0.0/0', direction: 'from' })
  h.ofctl('add-flow', `cookie=0x98,priority=${top - 16},tcp,in_port=${vif.ofport},dl_src=${vif.mac},tp_dst=3007,actions=normal`)
  try {
    await sdn.sync() // reads the foreign flows
    // ovs-vswitchd's own count of the OpenFlow messages it received (summed about once a second).
    const received = async () => {
      await new Promise((resolve) => setTimeout(resolve, 2200))
      return Number(/vconn_received.*total: (\d+)/.exec(h.appctl('coverage/show'))?.[1] ?? 0)
    }
    const before = await received()
    const out = await Promise.all(Array.from({ length: 50 }, (_, k) => sdn.addRule(rule(k))))
    const messages = (await received()) - before
    // One FLOW_MOD per rule; one call each would add a barrier per call (100 and more).
    expect(messages).toBeGreaterThanOrEqual(49)
    expect(messages).toBeLessThan(70)
    out.forEach((o, k) => {
      if (k === 7) expect(o.hosts[h.name]).toMatchObject({ ok: false, error: { code: 'SDN_FLOW_CONFLICT', flows: [expect.stringContaining('tp_dst=3007')] } })
      else expect(o.hosts[h.name]).toEqual({ ok: true, flows: 1 })
    })
    expect(ourFlows(h).filter((l) => /tp_dst=30\d\d/.test(l))).toHaveLength(49)
    expect(h.ofctl('dump-flows', '--no-stats', 'cookie=0x98/-1')).toContain('actions=NORMAL')
  } finally {
    h.ofctl('del-flows', 'cookie=0x98/-1')
  }
})

test('a sync right after commands (no refresh since the first contact) still holds and repairs exactly the desired flows', async () => {
  const h = sb.hosts[0]
  const [a, b] = [vifOf(h, 1), vifOf(h, 2)]
  const sdn = controller([h])
  const rule = (v, port) => ({ vif: { uuid: v.uuid, mac: v.mac }, allow: false, protocol: 'tcp', port, ipRange: '0.0.0.0/0', direction: 'to' })
  // First contact, then a batch, a delete, a concurrent burst: each carries the switch's
  // loaded state forward, so this sync does not recompute it; what it holds must be right.
  const first = await sdn.addRule(rule(a, 7001))
  const batch = await sdn.addRules([rule(a, 7002), rule(b, 7003), rule(b, 7004)])
  await sdn.deleteRule(batch.rules[1].id)
  await Promise.all([sdn.addRule(rule(a, 7005)), sdn.addRule(rule(b, 7006))])
  const ports = () => ourFlows(h).map((l) => Number(/tp_dst=(\d+)/.exec(l)?.[1])).sort()
  expect(ports()).toEqual([7001, 7002, 7004, 7005, 7006])
  h.ofctl('del-flows', `cookie=${first.rule.cookie}/-1`)
  h.ofctl('del-flows', `cookie=${batch.rules[2].cookie}/-1`)
  const r = await sdn.sync()
  expect(r.hosts[h.name]).toEqual({ ok: true, added: 2, removed: 0 })
  expect(ports()).toEqual([7001, 7002, 7004, 7005, 7006])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

test("an allow above XAPI's VIF locking does not let a spoofed source through", async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 3)
  h.xapiLockVif(vif, { ips: ['10.0.0.3'] })
  const sdn = controller([h])
  await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac, ips: ['10.0.0.3'] }, allow: true, protocol: 'tcp', port: 443, direction: 'from' })
  await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', direction: 'from' })
  const pkt = (src, port) => `in_port=3,tcp,dl_src=${vif.mac},dl_dst=02:00:00:00:00:01,nw_src=${src},nw_dst=10.0.0.1,tp_src=999,tp_dst=${port}`
  expect(verdict(h, pkt('10.0.0.3', 443))).toBe('forward')
  expect(verdict(h, pkt('10.0.0.99', 443))).toBe('drop') // spoofed: XAPI's locking still decides
  expect(verdict(h, pkt('10.0.0.3', 80))).toBe('drop') // our deny
  h.xapiUnlockVif(vif)
})

describe('bad input: rejected with its own message, the switch untouched', () => {
  const uuid = '00000000-0000-0000-0000-000000000001'
  const mac = '02:00:00:00:00:01'
  const vif = { uuid, mac }
  const cases = [
    ['not an object', 'x', TypeError],
    ['null', null, TypeError],
    ['array', [], TypeError],
    ['no target', { allow: true, direction: 'from' }, TypeError],
    ['two targets', { vif, network: { uuid }, allow: true, direction: 'from' }, TypeError],
    ['vif not an object', { vif: 'x', allow: true, direction: 'from' }, TypeError],
    ['vif without uuid', { vif: { mac }, allow: true, direction: 'from' }, TypeError],
    ['vif bad uuid', { vif: { uuid: 'nope', mac }, allow: true, direction: 'from' }, TypeError],
    ['vif without mac', { vif: { uuid }, allow: true, direction: 'from' }, TypeError],
    ['bad mac', { vif: { uuid, mac: 'zz:00:00:00:00:01' }, allow: true, direction: 'from' }, TypeError],
    ['short mac', { vif: { uuid, mac: '02:00:00:00:01' }, allow: true, direction: 'from' }, TypeError],
    ['multicast mac', { vif: { uuid, mac: '01:00:5e:00:00:01' }, allow: true, direction: 'from' }, TypeError],
    ['zero mac', { vif: { uuid, mac: '00:00:00:00:00:00' }, allow: true, direction: 'from' }, TypeError],
    ['mac a number', { vif: { uuid, mac: 42 }, allow: true, direction: 'from' }, TypeError],
    ['bad vif ip', { vif: { uuid, mac, ips: ['10.0.0.300'] }, allow: true, direction: 'from' }, TypeError],
    ['vif ips not array', { vif: { uuid, mac, ips: '10.0.0.1' }, allow: true, direction: 'from' }, TypeError],
    ['unknown vif key', { vif: { uuid, mac, color: 'red' }, allow: true, direction: 'from' }, TypeError],
    ['network bad uuid', { network: { uuid: '123' }, allow: true, direction: 'from' }, TypeError],
    ['vm bad uuid', { vm: { uuid: 'g' }, allow: true, direction: 'from' }, TypeError],
    ['pool not true', { pool: 'yes', allow: true, direction: 'from' }, TypeError],
    ['allow missing', { vif, direction: 'from' }, TypeError],
    ['allow a string', { vif, allow: 'true', direction: 'from' }, TypeError],
    ['direction missing', { vif, allow: true }, TypeError],
    ['unknown direction', { vif, allow: true, direction: 'sideways' }, TypeError],
    ['direction a number', { vif, allow: true, direction: 1 }, TypeError],
    ['unknown protocol', { vif, allow: true, protocol: 'gopher', direction: 'from' }, TypeError],
    ['protocol a number', { vif, allow: true, protocol: 6, direction: 'from' }, TypeError],
    ['ipv6 as a protocol', { vif, allow: true, protocol: 'ipv6', direction: 'from' }, TypeError],
    ['icmpv6 with an IPv4 range', { vif, allow: true, protocol: 'icmpv6', ipRange: '10.0.0.0/8', direction: 'from' }, TypeError],
    ['icmp with an IPv6 range', { vif, allow: true, protocol: 'icmp', ipRange: '2001:db8::/32', direction: 'from' }, TypeError],
    ['IPv6 prefix too long', { vif, allow: true, protocol: 'ip', ipRange: '2001:db8::/129', direction: 'from' }, RangeError],
    ['port 0', { vif, allow: true, protocol: 'tcp', port: 0, direction: 'from' }, RangeError],
    ['port 70000', { vif, allow: true, protocol: 'tcp', port: 70000, direction: 'from' }, RangeError],
    ['port negative', { vif, allow: true, protocol: 'udp', port: -1, direction: 'from' }, RangeError],
    ['port fractional', { vif, allow: true, protocol: 'tcp', port: 22.5, direction: 'from' }, TypeError],
    ['port a word', { vif, allow: true, protocol: 'tcp', port: 'ssh', direction: 'from' }, TypeError],
    ['port without protocol', { vif, allow: true, port: 22, direction: 'from' }, TypeError],
    ['port with ip', { vif, allow: true, protocol: 'ip', port: 22, direction: 'from' }, TypeError],
    ['port with icmp', { vif, allow: true, protocol: 'icmp', port: 8, direction: 'from' }, TypeError],
    ['port with a service', { vif, allow: true, protocol: 'http', port: 8080, direction: 'from' }, TypeError],
    ['reversed port range', { vif, allow: true, protocol: 'tcp', port: '2000-1000', direction: 'from' }, TypeError],
    ['an id JSON cannot carry', { id: () => 'r', vif, allow: true, protocol: 'tcp', port: 22, direction: 'from' }, TypeError],
    // An async toJSON returns a rejected promise: refused, and its rejection handled (jest fails a test on an unhandled one).
    ['a promise where data goes', { vif: { toJSON: async () => Promise.reject(new Error('not data')) }, allow: true, protocol: 'tcp', port: 22, direction: 'from' }, TypeError],
    ['bad CIDR', { vif, allow: true, protocol: 'ip', ipRange: '10.0.0.0/33', direction: 'from' }, RangeError],
    ['bad address', { vif, allow: true, protocol: 'ip', ipRange: '10.0.300.0/24', direction: 'from' }, TypeError],
    ['host bits set', { vif, allow: true, protocol: 'ip', ipRange: '10.0.0.1/24', direction: 'from' }, TypeError],
    ['IPv6 range with host bits', { vif, allow: true, protocol: 'ip', ipRange: 'fe80::1/64', direction: 'from' }, TypeError],
    ['ipRange without protocol', { vif, allow: true, ipRange: '10.0.0.0/8', direction: 'from' }, TypeError],
    ['ipRange a number', { vif, allow: true, protocol: 'ip', ipRange: 10, direction: 'from' }, TypeError],
    ['icmpType with tcp', { vif, allow: true, protocol: 'tcp', icmpType: 8, direction: 'from' }, TypeError],
    ['icmpType 300', { vif, allow: true, protocol: 'icmp', icmpType: 300, direction: 'from' }, RangeError],
    ['priority set by caller', { vif, allow: true, direction: 'from', priority: 5 }, TypeError],
    ['cookie set by caller', { vif, allow: true, direction: 'from', cookie: '0x1' }, TypeError],
    ['unknown field', { vif, allow: true, direction: 'from', ofport: 4 }, TypeError],
    ['empty id', { id: '', vif, allow: true, direction: 'from' }, TypeError],
  ]

  test(`${cases.length} cases, each with its own message; flow tables unchanged`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(40)
    const sdn = controller()
    const before = sb.hosts.map(allFlows)
    const messages = new Set()
    for (const [name, rule, Cls] of cases) {
      const e = await rejection(sdn.addRule(rule))
      if (!(e instanceof Cls)) throw new Error(`${name}: expected ${Cls.name}, got ${e?.constructor?.name}: ${e?.message}`)
      expect(e.code).toMatch(/^ERR_(INVALID_ARG_TYPE|INVALID_ARG_VALUE|OUT_OF_RANGE)$/)
      expect(e.message).toMatch(/^rule/)
      if (messages.has(e.message)) throw new Error(`${name}: message not specific: ${e.message}`)
      messages.add(e.message)
    }
    // Valid rules whose target does not exist: a coded error, nothing applied.
    const missing = await rejection(sdn.addRule({ vif: { uuid: '00000000-0000-0000-0000-00000000dead', mac }, allow: false, direction: 'from' }))
    expect(missing.code).toBe('SDN_VIF_NOT_FOUND')
    const noNet = await rejection(sdn.addRule({ network: { uuid: '00000000-0000-0000-0000-00000000beef' }, allow: false, direction: 'from' }))
    expect(noNet.code).toBe('SDN_NETWORK_NOT_FOUND')
    expect(sdn.rules()).toEqual([])
    expect(sb.hosts.map(allFlows)).toEqual(before)
  })

  test('options and calls', async () => {
    expect(() => new SdnController({ tls: {} })).toThrow(TypeError)
    expect(() => new SdnController({ priorities: { min: 5000, max: 9000 } })).toThrow(RangeError)
    const sdn = controller([sb.hosts[0]])
    expect(() => sdn.addHost({ id: sb.hosts[0].name, address: '127.0.0.1', serverCert: 'x' })).toThrow(expect.objectContaining({ code: 'SDN_HOST_EXISTS' }))
    const pool = { pool: true, allow: false, protocol: 'ip', direction: 'to' }
    expect(await rejection(sdn.addRule(pool, { host: Object.create(null) }))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
    expect(await rejection(sdn.addRule(pool, { host: 'nope' }))).toMatchObject({ code: 'SDN_HOST_NOT_FOUND' })
    expect(() => sdn.addHost({ id: 'h', address: '127.0.0.1' })).toThrow(expect.objectContaining({ code: 'TLS_HOST_AUTH_REQUIRED' }))
    expect(() => sdn.addHost({ id: 'h', address: '127.0.0.1', ovsdbPort: 0, serverCert: 'x' })).toThrow(RangeError)
    expect((await rejection(sdn.addRule({ vif, allow: true, direction: 'from' }, { position: 3 }))).constructor).toBe(RangeError)
    expect((await rejection(sdn.updateRule('nope', { allow: false }))).code).toBe('SDN_RULE_NOT_FOUND')
    expect((await rejection(sdn.reorderRules(['x']))).constructor).toBe(TypeError)
    await sdn.close()
    expect((await rejection(sdn.addRule({ vif, allow: true, direction: 'from' }))).code).toBe('SDN_CLOSED')
  })
})

test('a rule that is not plain data is refused whole, before any I/O, by addRule and addRules alike', async () => {
  const sdn = new SdnController({ syncIntervalMs: 0 })
  try {
    const vif = { uuid: '00000000-0000-0000-0000-000000000001', mac: '02:00:00:00:00:01' }
    const throwing = { vif: { uuid: vif.uuid, get mac() { throw new Error('from the getter') } }, allow: false, direction: 'to' }
    const pending = Promise.reject(new Error('never awaited by the caller'))
    const thenable = { vif: pending, allow: false, direction: 'to' }
    for (const rule of [throwing, thenable]) {
      for (const call of [() => sdn.addRule(rule), () => sdn.addRules([{ vif, allow: true, direction: 'to' }, rule])]) {
        const e = await rejection(call())
        expect([e.constructor, e.code, /must be plain data/.test(e.message)]).toEqual([TypeError, 'ERR_INVALID_ARG_VALUE', true])
      }
    }
    // Plain data reaches the next check (no host here), a BigInt port included.
    for (const call of [() => sdn.addRule({ vif, allow: false, protocol: 'tcp', port: 22n, direction: 'to' }), () => sdn.addRules([{ vif, allow: false, direction: 'to' }])]) {
      expect((await rejection(call())).code).toBe('SDN_NO_HOSTS')
    }
  } finally {
    await sdn.close()
  }
})

test('a batch read while it is being added: every reader sees whole rules, and a later update and delete apply in order', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 3)
  const sdn = controller([h])
  const batch = Array.from({ length: 300 }, (_, k) => ({ id: `lazy-${k}`, vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: 3000 + k, ipRange: '0.0.0.0/0', direction: 'to' }))
  const adding = sdn.addRules(batch)
  const updating = sdn.updateRule('lazy-7', { port: 4007 })
  const deleting = sdn.deleteRule('lazy-8')
  // Every synchronous reader, at every turn of the event loop until the batch is in.
  const seen = []
  let done = false
  adding.finally(() => (done = true))
  while (!done) {
    const state = sdn.exportState().rules.filter((r) => r.id.startsWith('lazy-'))
    const listed = sdn.rules({ vif: vif.uuid }).filter((r) => r.id.startsWith('lazy-'))
    seen.push(state.length, listed.length)
    for (const r of [...state, ...listed, sdn.getRule('lazy-299')].filter(Boolean)) {
      expect([r.protocol, r.vif?.uuid, typeof r.port]).toEqual(['tcp', vif.uuid, 'number'])
    }
    await new Promise(setImmediate)
  }
  const added = await adding
  expect(added.rules.map((r) => [r.id, r.port])).toEqual(batch.map((r) => [r.id, r.port]))
  await updating
  await deleting
  expect(seen.some((n) => n === 300)).toBe(true) // some turn saw the batch whole
  expect(sdn.getRule('lazy-7').port).toBe(4007)
  expect(sdn.getRule('lazy-8')).toBeUndefined()
  const flows = ourFlows(h)
  expect(flows).toHaveLength(299)
  expect(flows.filter((f) => /tp_dst=4007\b/.test(f))).toHaveLength(1)
  expect(flows.filter((f) => /tp_dst=300[78]\b/.test(f))).toHaveLength(0)
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

test("a rule handed to the caller is the caller's own: changing it moves nothing of the controller's", async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 4)
  const other = vifOf(h, 2)
  const sdn = controller([h])
  const rule = (port) => ({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port, ipRange: '0.0.0.0/0', direction: 'to' })
  const one = await sdn.addRule(rule(5001))
  const batch = await sdn.addRules([rule(5002), rule(5003)])
  const kept = JSON.stringify(sdn.rules())
  // Every way a rule reaches the caller, changed the way plugin code reuses an object.
  for (const given of [one.rule, ...batch.rules, sdn.getRule(one.rule.id), ...sdn.rules(), ...(await sdn.listRules()).rules, ...sdn.exportState().rules]) {
    given.vif.uuid = other.uuid
    given.vif.mac = other.mac
  }
  expect(JSON.stringify(sdn.rules())).toBe(kept)
  expect(sdn.exportState().rules.map((r) => r.vif.uuid)).toEqual([vif.uuid, vif.uuid, vif.uuid])
  // The flows stay on the VIF the rules name, through a refresh of every switch.
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  const flows = ourFlows(h)
  expect(flows).toHaveLength(3)
  expect(flows.every((f) => f.includes(`dl_dst=${vif.mac}`))).toBe(true)
  await sdn.close()
})

test('addRules hands out each rule as getRule does, field order included, with a host, and when the list is replaced meanwhile', async () => {
  const h = sb.hosts[0]
  const vif = vifOf(h, 4)
  const sdn = controller([h])
  const rule = (port, extra = {}) => ({ vif: { uuid: vif.uuid, mac: vif.mac, ips: ['10.0.0.4'] }, allow: false, protocol: 'udp', port, direction: 'both', ...extra })
  const plain = await sdn.addRules([rule(6001), rule(6002, { id: 'named', ipRange: '10.1.0.0/16' }), { pool: true, allow: true, protocol: 'icmp', direction: 'to' }])
  const onHost = await sdn.addRules([rule(6003)], { host: h.name })
  for (const view of [...plain.rules, ...onHost.rules]) expect(JSON.stringify(view)).toBe(JSON.stringify(sdn.getRule(view.id)))
  expect(onHost.rules[0].host).toBe(h.name)
  // A state imported while a batch is in flight: the batch's rules are still what it hands out.
  const state = sdn.exportState()
  const adding = sdn.addRules([rule(6004), rule(6005)])
  await new Promise(setImmediate)
  sdn.importState(state)
  const late = await adding
  expect(late.rules.map((r) => [r.port, r.vif.uuid, typeof r.cookie])).toEqual([
    [6004, vif.uuid, 'string'],
    [6005, vif.uuid, 'string'],
  ])
  expect(late.rules.every((r) => sdn.getRule(r.id) === undefined)).toBe(true)
  await sdn.close()
})

test('the rule list inserts the rule whose text it is given, whether or not it is the one it validated last', () => {
  const native = require('../js/binding.js')
  const list = new native.NativeRuleList(10000, 30000)
  const rule = (port) => JSON.stringify({ pool: true, allow: false, protocol: 'tcp', port, direction: 'to' })
  const a = list.validate(rule(1))
  const b = list.validate(rule(2)) // the one remembered
  list.insert('a', a, undefined, undefined) // not the last validated: read again
  list.insert('b', b, undefined, undefined)
  list.update('a', list.validate(rule(3)))
  list.update('b', b) // remembered no more (the update above took it): read again
  expect(JSON.parse(list.viewsJson(0, 2)).map((r) => [r.id, r.port])).toEqual([
    ['a', 3],
    ['b', 2],
  ])
  expect(() => list.insert('c', '{"pool":true}', undefined, undefined)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
})
