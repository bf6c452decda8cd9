'use strict'
// Security groups against real Open vSwitch hosts (sandbox, TLS like XCP-ng):
// the blog's EC2 scenario proven by ofproto/trace, stateless replies, source
// groups following membership, one group on two hosts, budgets, restarts.

const { SecurityGroups } = require('..')
const { sdnSuite, ourFlows, deleteOurs, OURS } = require('./sdn-suite.js')
const { eui64LinkLocal } = require('../testing/packets.js')

const suite = sdnSuite({ hosts: 2, nports: 4 })
let sb
beforeAll(() => {
  sb = suite.sb
})

function setup(hosts = sb.hosts) {
  const sdn = suite.controller(hosts)
  return { sdn, sg: new SecurityGroups(sdn, { stateful: false }) }
}

const BCAST = 'ff:ff:ff:ff:ff:ff'

/** A VIF of the sandbox as the API takes it, with its private address 10.0.0.<n>. */
const vifOf = (h, n) => ({ uuid: h.vifs[n - 1].uuid, mac: h.vifs[n - 1].mac, ips: [`10.0.${h.index}.${n}`] })

/** Packets around VIF n of host h, in ofproto/trace flow syntax. */
function packets(h, n) {
  const v = h.vifs[n - 1]
  const ip = `10.0.${h.index}.${n}`
  const peer = h.vifs[n === 4 ? 2 : 3] // a neighbour port the packets come in on
  return {
    /** Delivered to the VIF: `proto` tcp/udp to its `port` from `src`:`sport`. */
    in: (proto, src, port, sport = 40000) => `in_port=${peer.ofport},${proto},dl_src=${peer.mac},dl_dst=${v.mac},nw_src=${src},nw_dst=${ip},${proto === 'udp' ? 'udp_src' : 'tp_src'}=${sport},${proto === 'udp' ? 'udp_dst' : 'tp_dst'}=${port}`,
    /** Sent by the VIF: `proto` to `dst`:`port` from its `sport`. */
    out: (proto, dst, port, sport = 40000, src = ip) => `in_port=${v.ofport},${proto},dl_src=${v.mac},dl_dst=${BCAST},nw_src=${src},nw_dst=${dst},${proto === 'udp' ? 'udp_src' : 'tp_src'}=${sport},${proto === 'udp' ? 'udp_dst' : 'tp_dst'}=${port}`,
    arpIn: () => `in_port=${peer.ofport},arp,dl_src=${peer.mac},dl_dst=${v.mac},arp_op=2,arp_spa=10.0.0.254,arp_tpa=${ip}`,
    arpOut: () => `in_port=${v.ofport},arp,dl_src=${v.mac},dl_dst=${BCAST},arp_op=1,arp_spa=${ip},arp_tpa=10.0.0.254`,
    dhcpOffer: () => `in_port=${peer.ofport},udp,dl_src=${peer.mac},dl_dst=${v.mac},nw_src=10.0.0.254,nw_dst=${ip},udp_src=67,udp_dst=68`,
    dhcpDiscover: () => `in_port=${v.ofport},udp,dl_src=${v.mac},dl_dst=${BCAST},nw_src=0.0.0.0,nw_dst=255.255.255.255,udp_src=68,udp_dst=67`,
    pingIn: (src) => `in_port=${peer.ofport},icmp,dl_src=${peer.mac},dl_dst=${v.mac},nw_src=${src},nw_dst=${ip},icmp_type=8,icmp_code=0`,
  }
}

function expectVerdicts(h, cases) {
  const got = cases.map(([name, flow]) => [name, h.trace(flow).verdict])
  expect(got).toEqual(cases.map(([name, , want]) => [name, want]))
}

test("the blog's scenario: everything blocked, then tcp 80 from anywhere and tcp 22 from 10.10.1.0/24", async () => {
  const h = sb.hosts[0]
  const { sg } = setup([h])
  const p = packets(h, 1)
  const g = sg.createSecurityGroup('Test Group', 'blog scenario')
  expect(g).toMatchObject({ name: 'Test Group', ingress: [], egress: [{ protocol: 'all', cidr: '0.0.0.0/0' }] })
  const r = await sg.attach(vifOf(h, 1), ['Test Group'])
  expect(r.hosts[h.name]).toEqual({ ok: true })
  expectVerdicts(h, [
    ['http in', p.in('tcp', '203.0.113.9', 80), 'drop'],
    ['ssh in', p.in('tcp', '10.10.1.5', 22), 'drop'],
    ['ping in', p.pingIn('203.0.113.9'), 'drop'],
    ['ARP reply in', p.arpIn(), 'forward'],
    ['DHCP offer in', p.dhcpOffer(), 'forward'],
    ['anything out (egress open)', p.out('tcp', '203.0.113.9', 8080), 'forward'],
    ['another VIF, not in a group', packets(h, 2).in('tcp', '203.0.113.9', 80), 'forward'],
  ])
  await sg.authorizeIngress('Test Group', { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0' })
  await sg.authorizeIngress('Test Group', { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '10.10.1.0/24' })
  expectVerdicts(h, [
    ['http in from anywhere', p.in('tcp', '203.0.113.9', 80), 'forward'],
    ['ssh in from 10.10.1.5', p.in('tcp', '10.10.1.5', 22), 'forward'],
    ['ssh in from 10.10.2.5', p.in('tcp', '10.10.2.5', 22), 'drop'],
    ['tcp 443 in', p.in('tcp', '203.0.113.9', 443), 'drop'],
    ['udp 80 in', p.in('udp', '203.0.113.9', 80), 'drop'],
  ])
  // Stateless: the reply of an outbound connection is not let in until the client service is declared.
  const reply443 = p.in('tcp', '93.184.216.34', 51000, 443)
  expect(h.trace(reply443).verdict).toBe('drop')
  await sg.authorizeEgress('Test Group', { protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '0.0.0.0/0' })
  expect(h.trace(reply443).verdict).toBe('forward')
  expect(sg.describe()).toEqual([expect.objectContaining({ name: 'Test Group', members: [h.vifs[0].uuid] })])
})

test('egress restricted (default egress revoked): declared services out, replies of inbound services out, DHCP and ARP still work', async () => {
  const h = sb.hosts[0]
  const { sg } = setup([h])
  const p = packets(h, 2)
  sg.createSecurityGroup('locked')
  await sg.authorizeIngress('locked', { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '10.10.1.0/24' })
  await sg.authorizeEgress('locked', { protocol: 'udp', fromPort: 53, toPort: 53, cidr: '10.0.0.53/32' })
  await sg.revokeEgress('locked', { protocol: -1, cidr: '0.0.0.0/0' })
  await sg.attach(vifOf(h, 2), ['locked'])
  expectVerdicts(h, [
    ['tcp 8080 out', p.out('tcp', '203.0.113.9', 8080), 'drop'],
    ['dns out to the resolver', p.out('udp', '10.0.0.53', 53), 'forward'],
    ['dns out elsewhere', p.out('udp', '8.8.8.8', 53), 'drop'],
    ['dns reply in', p.in('udp', '10.0.0.53', 40000, 53), 'forward'],
    ['ssh reply out to 10.10.1.5', p.out('tcp', '10.10.1.5', 50000, 22), 'forward'],
    ['ssh reply out to 10.10.2.5', p.out('tcp', '10.10.2.5', 50000, 22), 'drop'],
    ['spoofed source out', p.out('udp', '10.0.0.53', 53, 40000, '10.0.0.99'), 'drop'],
    ['DHCP discover out (from 0.0.0.0)', p.dhcpDiscover(), 'forward'],
    ['ARP out', p.arpOut(), 'forward'],
  ])
})

test("two VIFs of one bridge: a packet meets the sender's egress and the receiver's ingress, not just one of them", async () => {
  const h = sb.hosts[0]
  const { sg } = setup([h])
  const [a, b, c] = h.vifs
  sg.createSecurityGroup('client') // egress restricted to mysql and ssh
  await sg.revokeEgress('client', { protocol: 'all', cidr: '0.0.0.0/0' })
  await sg.authorizeEgress('client', [
    { protocol: 'tcp', fromPort: 3306, toPort: 3306, cidr: '0.0.0.0/0' },
    { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '0.0.0.0/0' },
  ])
  sg.createSecurityGroup('db') // mysql in; default egress
  await sg.authorizeIngress('db', { protocol: 'tcp', fromPort: 3306, toPort: 3306, cidr: '10.0.0.0/24' })
  sg.createSecurityGroup('web') // http in; default egress
  await sg.authorizeIngress('web', { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0' })
  await sg.attach(vifOf(h, 1), ['client'])
  await sg.attach(vifOf(h, 2), ['db'])
  await sg.attach(vifOf(h, 3), ['web'])
  const ipOf = (n) => `10.0.${h.index}.${n}`
  const tcp = (from, n, to, m, port) => `in_port=${from.ofport},tcp,dl_src=${from.mac},dl_dst=${to.mac},nw_src=${ipOf(n)},nw_dst=${ipOf(m)},tp_src=40000,tp_dst=${port}`
  expectVerdicts(h, [
    // Both verdicts allow: delivered.
    ['client -> db mysql', tcp(a, 1, b, 2, 3306), 'forward'],
    // The sender's egress allows ssh, but db's groups take no ssh: before, client's egress flow delivered it.
    ['client -> db ssh', tcp(a, 1, b, 2, 22), 'drop'],
    // web takes http from anywhere, but client's egress does not send it: before, web's ingress flow delivered it.
    ['client -> web http', tcp(a, 1, c, 3, 80), 'drop'],
    // Unrestricted senders meet only the receiver's verdict.
    ['db -> web http', tcp(b, 2, c, 3, 80), 'forward'],
    ['web -> db ssh', tcp(c, 3, b, 2, 22), 'drop'],
    // Allowed out, to a VIF in no group: delivered (the ingress stage's default).
    ['client -> vif 4 ssh', tcp(a, 1, h.vifs[3], 4, 22), 'forward'],
  ])
  const via = h.trace(tcp(a, 1, b, 2, 3306)).raw
  expect(via).toMatch(/^ 0\. tcp,in_port=1,.*tp_dst=3306, priority 9900/m)
  expect(via).toMatch(/^ 1\. tcp,dl_dst=02:00:00:00:00:02,nw_src=10\.0\.0\.0\/24,tp_dst=3306, priority 9900/m)
})

test('sourceGroup rules follow membership; one group on two hosts is updated everywhere in one call', async () => {
  const [a, b] = sb.hosts
  const { sg } = setup()
  sg.createSecurityGroup('web')
  sg.createSecurityGroup('db')
  await sg.authorizeIngress('db', { protocol: 'tcp', fromPort: 5432, toPort: 5432, sourceGroup: 'web' })
  await sg.attach(vifOf(a, 3), ['db'])
  await sg.attach(vifOf(a, 2), ['web'])
  const db = packets(a, 3)
  expectVerdicts(a, [
    ['5432 from a web member', db.in('tcp', '10.0.0.2', 5432), 'forward'],
    ['5432 from elsewhere', db.in('tcp', '10.0.0.4', 5432), 'drop'],
  ])
  // A new member on another host: allowed everywhere at once.
  const r = await sg.attach(vifOf(b, 4), ['web'])
  expect(r.hosts).toEqual({ [a.name]: { ok: true }, [b.name]: { ok: true } })
  expect(a.trace(db.in('tcp', '10.0.1.4', 5432)).verdict).toBe('forward')
  await sg.detach(vifOf(b, 4))
  expect(a.trace(db.in('tcp', '10.0.1.4', 5432)).verdict).toBe('drop')
  // db on both hosts; one authorize reaches both.
  await sg.attach(vifOf(b, 1), ['db'])
  const dbB = packets(b, 1)
  expect(b.trace(dbB.in('tcp', '10.9.9.9', 6379)).verdict).toBe('drop')
  const u = await sg.authorizeIngress('db', { protocol: 'tcp', fromPort: 6379, toPort: 6379, cidr: '10.9.0.0/16' })
  expect(u.hosts).toEqual({ [a.name]: { ok: true }, [b.name]: { ok: true } })
  expect(b.trace(dbB.in('tcp', '10.9.9.9', 6379)).verdict).toBe('forward')
  expect(a.trace(db.in('tcp', '10.9.9.9', 6379)).verdict).toBe('forward')
  await sg.revokeIngress('db', { protocol: 'tcp', fromPort: 6379, toPort: 6379, cidr: '10.9.0.0/16' })
  expect(b.trace(dbB.in('tcp', '10.9.9.9', 6379)).verdict).toBe('drop')
  expect((await sg.deleteSecurityGroup('web').catch((e) => e)).code).toBe('SDN_SG_IN_USE')
})

test('port ranges: one flow per masked block, exactly the range allowed, within the budget', async () => {
  const h = sb.hosts[1]
  const sdn = suite.controller([h])
  const sg = new SecurityGroups(sdn, { flowBudget: 40, stateful: false })
  const g = sg.createSecurityGroup('range')
  await sg.revokeEgress('range', { protocol: 'all', cidr: '0.0.0.0/0' }) // restricted: the replies get flows too
  await sg.attach(vifOf(h, 1), ['range'])
  const groupFlows = () => ourFlows(h).filter((l) => l.startsWith(`cookie=0x5d4e${g.id.slice(3).padStart(12, '0')},`))
  expect(groupFlows()).toEqual([])
  await sg.authorizeIngress('range', { protocol: 'tcp', fromPort: 1000, toPort: 2000, cidr: '0.0.0.0/0' })
  // 8 blocks in (tp_dst), their 8 replies out (tp_src) from the VIF's one address.
  const blocks = ['0x3e8/0xfff8', '0x3f0/0xfff0', '0x400/0xfe00', '0x600/0xff00', '0x700/0xff80', '0x780/0xffc0', '0x7c0/0xfff0', '2000']
  expect(groupFlows()).toHaveLength(16)
  expect(groupFlows().map((l) => /tp_dst=([^ ,]+)/.exec(l)?.[1]).filter(Boolean).sort()).toEqual([...blocks].sort())
  expect(groupFlows().map((l) => /tp_src=([^ ,]+)/.exec(l)?.[1]).filter(Boolean).sort()).toEqual([...blocks].sort())
  const p = packets(h, 1)
  const cases = (ports, want) => ports.flatMap((port) => [[`in ${port}`, p.in('tcp', '198.51.100.7', port), want], [`reply from ${port}`, p.out('tcp', '198.51.100.7', 40000, port), want]])
  expectVerdicts(h, [...cases([1000, 1500, 1535, 1536, 2000], 'forward'), ...cases([999, 2001, 22], 'drop')])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  // A masked flow lost: the sync repairs it.
  // ovs-ofctl writes a masked port in OpenFlow 1.3 only (OF1.1 has none).
  h.ofctlRaw('-O', 'OpenFlow13', 'del-flows', h.bridges[0].mgmt, `table=1,cookie=0x5d4e${g.id.slice(3).padStart(12, '0')}/-1,tcp,tp_dst=0x400/0xfe00`) // the ingress stage
  expect(groupFlows()).toHaveLength(15)
  expect(h.trace(p.in('tcp', '198.51.100.7', 1500)).verdict).toBe('drop')
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 1, removed: 0 })
  expect(h.trace(p.in('tcp', '198.51.100.7', 1500)).verdict).toBe('forward')
  // Over the budget: 1-65534 is the worst range, 30 blocks each way, refused before anything is sent.
  const flows = ourFlows(h)
  const e = await sg.authorizeIngress('range', { protocol: 'udp', fromPort: 1, toPort: 65534, cidr: '0.0.0.0/0' }).catch((err) => err)
  expect([e.code, e.message]).toEqual(['SDN_FLOW_BUDGET', expect.stringMatching(/^security group range would cost 76 flows per VIF, over the budget of 40: a port range costs one flow per masked block/)])
  expect(ourFlows(h)).toEqual(flows)
  // Every port (0-65535) is no port match at all: one flow in, one reply out.
  await sg.authorizeIngress('range', { protocol: 'udp', fromPort: 0, toPort: 65535, cidr: '10.1.0.0/16' })
  expect(groupFlows()).toHaveLength(18)
})

test('an IPv6 permission: tcp 22 from 2001:db8::/32 lets IPv6 SSH in from inside the range only; neighbour discovery works', async () => {
  const h = sb.hosts[0]
  const { sdn, sg } = setup([h])
  const g = sg.createSecurityGroup('v6')
  await sg.authorizeIngress('v6', { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '2001:db8::/32' })
  expect(g.id).toMatch(/^sg-/)
  expect(sg.describe().find((x) => x.name === 'v6').ingress).toEqual([{ protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '2001:db8::/32' }])
  await sg.attach(vifOf(h, 2), ['v6'])
  const v = h.vifs[1]
  const peer = h.vifs[3]
  const ssh6 = (src, port = 22) => `in_port=${peer.ofport},tcp6,dl_src=${peer.mac},dl_dst=${v.mac},ipv6_src=${src},ipv6_dst=2001:db8:ffff::2,tp_src=40000,tp_dst=${port}`
  const nd = (type) => `in_port=${peer.ofport},icmp6,dl_src=${peer.mac},dl_dst=${v.mac},ipv6_src=fe80::4,ipv6_dst=fe80::2,icmpv6_type=${type},icmpv6_code=0`
  expectVerdicts(h, [
    ['ssh6 from 2001:db8::5', ssh6('2001:db8::5'), 'forward'],
    ['ssh6 from 2001:db8:ffff:ffff::1', ssh6('2001:db8:ffff:ffff::1'), 'forward'],
    ['ssh6 from 2001:db9::5 (outside)', ssh6('2001:db9::5'), 'drop'],
    ['ssh6 from 2001:db7:ffff::5 (outside)', ssh6('2001:db7:ffff::5'), 'drop'],
    ['tcp6/23 from inside', ssh6('2001:db8::5', 23), 'drop'],
    ['ssh over IPv4', packets(h, 2).in('tcp', '10.10.1.5', 22), 'drop'],
    ['neighbour solicitation', nd(135), 'forward'],
    ['neighbour advertisement', nd(136), 'forward'],
    ['echo request', nd(128), 'drop'],
    ['ARP reply', packets(h, 2).arpIn(), 'forward'],
  ])
  const gid = g.id.slice(3).padStart(12, '0')
  const groupFlows = ourFlows(h).filter((l) => l.startsWith(`cookie=0x5d4e${gid},`))
  expect(groupFlows).toEqual([expect.stringContaining(`tcp6,dl_dst=${v.mac},ipv6_src=2001:db8::/32,tp_dst=22 actions=NORMAL`)])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

test('restricted egress, a VIF locked to an IPv6 address: neighbour and router discovery from :: and its own EUI-64 link-local address pass, not from another link-local address', async () => {
  const h = sb.hosts[0]
  const { sdn, sg } = setup([h])
  sg.createSecurityGroup('nd6')
  await sg.authorizeIngress('nd6', { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '2001:db8::/32' })
  await sg.revokeEgress('nd6', { protocol: 'all', cidr: '0.0.0.0/0' })
  const v = h.vifs[0]
  expect((await sg.attach({ uuid: v.uuid, mac: v.mac, ips: ['10.0.0.1', '2001:db8::1'] }, ['nd6'])).hosts[h.name]).toEqual({ ok: true })
  const own = eui64LinkLocal(v.mac)
  const router = h.vifs[3]
  const ns = (src, target) => `in_port=${v.ofport},icmp6,dl_src=${v.mac},dl_dst=33:33:ff:00:00:01,ipv6_src=${src},ipv6_dst=ff02::1:ff00:1,icmpv6_type=135,icmpv6_code=0,nd_target=${target}`
  const rs = (src) => `in_port=${v.ofport},icmp6,dl_src=${v.mac},dl_dst=33:33:00:00:00:02,ipv6_src=${src},ipv6_dst=ff02::2,icmpv6_type=133,icmpv6_code=0`
  const na = (src) => `in_port=${v.ofport},icmp6,dl_src=${v.mac},dl_dst=${router.mac},ipv6_src=${src},ipv6_dst=fe80::1,icmpv6_type=136,icmpv6_code=0,nd_target=${src}`
  expectVerdicts(h, [
    ['neighbour solicitation for the router from its link-local address', ns(own, 'fe80::1'), 'forward'],
    ['duplicate address detection (neighbour solicitation from ::)', ns('::', '2001:db8::1'), 'forward'],
    ['router solicitation from its link-local address', rs(own), 'forward'],
    ['router solicitation from ::', rs('::'), 'forward'],
    ['neighbour advertisement from its link-local address', na(own), 'forward'],
    ['neighbour advertisement from its global address', na('2001:db8::1'), 'forward'],
    ['neighbour advertisement from fe80::dead', na('fe80::dead'), 'drop'],
    ['neighbour solicitation from fe80::dead', ns('fe80::dead', 'fe80::1'), 'drop'],
    ['router solicitation from fe80::dead', rs('fe80::dead'), 'drop'],
    ['neighbour advertisement from ::', na('::'), 'drop'],
    ['router advertisement from its link-local address (from its ips only, as before)', `${rs(own).replace('icmpv6_type=133', 'icmpv6_type=134')}`, 'drop'],
  ])
  // Met at the basics' priority, in the controller's table, then on to the ingress stage.
  const t = h.trace(ns(own, 'fe80::1'))
  expect([t.priority, t.raw]).toEqual([9800, expect.stringMatching(/goto_table:\d+/)])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

test("IPv6 members: a sourceGroup lets IPv6 SSH in from a member's IPv6 address only; DHCPv6 and router advertisements pass", async () => {
  const h = sb.hosts[0]
  const { sdn, sg } = setup([h])
  sg.createSecurityGroup('web6')
  const db = sg.createSecurityGroup('db6')
  await sg.authorizeIngress('db6', { protocol: 'tcp', fromPort: 22, toPort: 22, sourceGroup: 'web6' })
  await sg.revokeEgress('db6', { protocol: 'all', cidr: '0.0.0.0/0' }) // restricted: replies and the DHCPv6 solicit need their flows
  const member = { uuid: h.vifs[2].uuid, mac: h.vifs[2].mac, ips: ['10.0.9.3', '2001:db8:9::3'] }
  await sg.attach(member, ['web6'])
  const r = await sg.attach({ uuid: h.vifs[1].uuid, mac: h.vifs[1].mac, ips: ['10.0.9.2', '2001:db8:9::2'] }, ['db6'])
  expect(r.hosts[h.name]).toEqual({ ok: true })
  const v = h.vifs[1]
  const peer = h.vifs[3]
  const ports = (proto, sport, dport) => (proto === 'udp6' ? `udp_src=${sport},udp_dst=${dport}` : `tcp_src=${sport},tcp_dst=${dport}`)
  const in6 = (proto, src, dst, sport, dport) => `in_port=${peer.ofport},${proto},dl_src=${peer.mac},dl_dst=${v.mac},ipv6_src=${src},ipv6_dst=${dst},${ports(proto, sport, dport)}`
  const out6 = (proto, src, dst, sport, dport, dlDst = peer.mac) => `in_port=${v.ofport},${proto},dl_src=${v.mac},dl_dst=${dlDst},ipv6_src=${src},ipv6_dst=${dst},${ports(proto, sport, dport)}`
  const icmp6In = (type) => `in_port=${peer.ofport},icmp6,dl_src=${peer.mac},dl_dst=${v.mac},ipv6_src=fe80::1,ipv6_dst=fe80::2,icmpv6_type=${type},icmpv6_code=0`
  const cases = [
    ["ssh6 from the member's 2001:db8:9::3", in6('tcp6', '2001:db8:9::3', '2001:db8:9::2', 40000, 22), 'forward'],
    ['ssh6 from 2001:db8:9::4 (no member)', in6('tcp6', '2001:db8:9::4', '2001:db8:9::2', 40000, 22), 'drop'],
    ['tcp6/23 from the member', in6('tcp6', '2001:db8:9::3', '2001:db8:9::2', 40000, 23), 'drop'],
    ["ssh from the member's 10.0.9.3", packets(h, 2).in('tcp', '10.0.9.3', 22), 'forward'],
    ['its ssh6 reply, from its IPv6 address', out6('tcp6', '2001:db8:9::2', '2001:db8:9::3', 22, 40000), 'forward'],
    ['its ssh6 reply, from an address not in ips', out6('tcp6', '2001:db8:9::99', '2001:db8:9::3', 22, 40000), 'drop'],
    ['DHCPv6 reply in (547 -> 546, link-local)', in6('udp6', 'fe80::1', 'fe80::2', 547, 546), 'forward'],
    ['DHCPv6 reply in from a global address', in6('udp6', '2001:db8:9::1', 'fe80::2', 547, 546), 'drop'],
    ['DHCPv6 solicit out (546 -> ff02::1:2:547)', out6('udp6', 'fe80::2', 'ff02::1:2', 546, 547, '33:33:00:01:00:02'), 'forward'],
    ['udp6 546 -> 548 out', out6('udp6', 'fe80::2', 'ff02::1:2', 546, 548, '33:33:00:01:00:02'), 'drop'],
    ['DHCPv6 solicit from a global address', out6('udp6', '2001:db8:9::2', 'ff02::1:2', 546, 547, '33:33:00:01:00:02'), 'drop'],
    ['router advertisement in', icmp6In(134), 'forward'],
    ['neighbour solicitation in', icmp6In(135), 'forward'],
    ['echo request in', icmp6In(128), 'drop'],
  ]
  expectVerdicts(h, cases)
  // Exactly: tcp 22 from each member address (2) and its reply from the VIF's address of that family (2).
  const gid = db.id.slice(3).padStart(12, '0')
  const groupFlows = ourFlows(h).filter((l) => l.startsWith(`cookie=0x5d4e${gid},`))
  expect(groupFlows).toHaveLength(4)
  expect(groupFlows.filter((l) => l.includes('tcp6'))).toEqual([
    expect.stringContaining(`tcp6,in_port=${v.ofport},dl_src=${v.mac},ipv6_src=2001:db8:9::2,ipv6_dst=2001:db8:9::3,tp_src=22 actions=goto_table:1`),
    expect.stringContaining(`tcp6,dl_dst=${v.mac},ipv6_src=2001:db8:9::3,tp_dst=22 actions=NORMAL`),
  ])
  const dhcp6 = ourFlows(h).filter((l) => l.includes('udp6'))
  expect(dhcp6).toHaveLength(2)
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  // Membership: without the member, its IPv6 address is let in no more.
  await sg.detach(member.uuid)
  expect(h.trace(cases[0][1]).verdict).toBe('drop')
  // One strict grammar for ips (std's for IPv6, unicast): junk is refused, naming the field, and nothing changes.
  const before = sg.exportState()
  for (const [ip, message] of [
    ['2001:db8::g', /^vif\.ips\[1\] must be an IPv4 or IPv6 address like 2001:db8::5, got "2001:db8::g"$/],
    ['2001:db8::/64', /^vif\.ips\[1\] must be an IPv4 or IPv6 address/],
    ['fe80::1%eth0', /^vif\.ips\[1\] must be an IPv4 or IPv6 address/],
    ['ff02::1', /^vif\.ips\[1\] must be a unicast address a VIF sends from/],
    ['::', /^vif\.ips\[1\] must be a unicast address a VIF sends from/],
  ]) {
    let e
    try {
      await sg.attach({ ...member, ips: ['10.0.9.3', ip] }, ['web6'])
    } catch (err) {
      e = err
    }
    expect([e?.name, e?.code, e?.message]).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE', expect.stringMatching(message)])
  }
  expect(sg.exportState()).toEqual(before)
})

test('bad permissions are refused with their own message; nothing sent', async () => {
  const h = sb.hosts[0]
  const { sg } = setup([h])
  sg.createSecurityGroup('g')
  const bad = [
    [{ protocol: 'gre', cidr: '0.0.0.0/0' }, TypeError, /protocol/],
    [{ protocol: 'tcp', fromPort: 22, cidr: '0.0.0.0/0' }, TypeError, /toPort/],
    [{ protocol: 'tcp', fromPort: 22, toPort: 70000, cidr: '0.0.0.0/0' }, RangeError, /toPort/],
    [{ protocol: 'tcp', fromPort: 30, toPort: 20, cidr: '0.0.0.0/0' }, TypeError, /above/],
    [{ protocol: 'tcp', fromPort: 22, toPort: 22 }, TypeError, /cidr and sourceGroup/],
    [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '10.0.0.1/8' }, TypeError, /host bits/],
    [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidr: 'fe80::1/10' }, TypeError, /host bits/],
    [{ protocol: 'icmp', cidr: '::/0' }, TypeError, /icmpv6/],
    [{ protocol: 'icmp', fromPort: 300, cidr: '0.0.0.0/0' }, RangeError, /ICMP type/],
    [{ protocol: 'all', fromPort: 1, toPort: 2, cidr: '0.0.0.0/0' }, TypeError, /ports need/],
    [{ protocol: 'tcp', fromPort: 1, toPort: 2, cidr: '0.0.0.0/0', color: 'red' }, TypeError, /color/],
  ]
  const before = ourFlows(h)
  for (const [perm, Cls, re] of bad) {
    const e = await sg.authorizeIngress('g', perm).catch((err) => err)
    expect([perm, e instanceof Cls, e.message]).toEqual([perm, true, expect.stringMatching(re)])
  }
  expect((await sg.authorizeIngress('nope', { protocol: 'tcp', fromPort: 1, toPort: 1, cidr: '0.0.0.0/0' }).catch((e) => e)).code).toBe('SDN_SG_NOT_FOUND')
  expect((await sg.revokeIngress('g', { protocol: 'tcp', fromPort: 1, toPort: 1, cidr: '0.0.0.0/0' }).catch((e) => e)).code).toBe('SDN_SG_PERMISSION_NOT_FOUND')
  expect(() => sg.createSecurityGroup('g')).toThrow(expect.objectContaining({ code: 'SDN_SG_EXISTS' }))
  await expect(sg.attach({ uuid: 'x', mac: '02:00:00:00:00:01' }, ['g'])).rejects.toThrow(TypeError)
  expect(sg.describe()[0].ingress).toEqual([])
  expect(ourFlows(h)).toEqual(before)
})

test('survives an OVS restart and a controller restart (state exported, imported, then sync)', async () => {
  const h = sb.hosts[1]
  const first = setup([h])
  first.sg.createSecurityGroup('web')
  await first.sg.authorizeIngress('web', { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0' })
  await first.sg.attach(vifOf(h, 2), ['web'])
  const flows = ourFlows(h)
  const synced = new Promise((resolve) => first.sdn.once('synced', resolve))
  await h.restartSwitch()
  await synced
  expect(ourFlows(h)).toEqual(flows)
  const state = JSON.parse(JSON.stringify({ sdn: first.sdn.exportState(), sg: first.sg.exportState() }))
  await first.sdn.close()
  const second = setup([h])
  second.sdn.importState(state.sdn)
  second.sg.importState(state.sg)
  expect((await second.sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  deleteOurs(h)
  expect((await second.sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: flows.length, removed: 0 })
  expect(ourFlows(h)).toEqual(flows)
  expect(h.trace(packets(h, 2).in('tcp', '1.2.3.4', 80)).verdict).toBe('forward')
  expect(h.trace(packets(h, 2).in('tcp', '1.2.3.4', 81)).verdict).toBe('drop')
})

test("with the controller's stateFile, groups come back by themselves and their flows are adopted as they are", async () => {
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xo-sdn-sg-'))
  const stateFile = path.join(dir, 'state.json')
  try {
    const h = sb.hosts[1]
    const first = suite.controller([h], { stateFile })
    const sg = new SecurityGroups(first, { stateful: false })
    const group = sg.createSecurityGroup('db')
    await sg.authorizeIngress('db', { protocol: 'tcp', fromPort: 5432, toPort: 5432, cidr: '10.1.0.0/16' })
    await sg.attach(vifOf(h, 3), ['db'])
    const flows = ourFlows(h)
    await first.close()
    const second = suite.controller([h], { stateFile })
    const again = new SecurityGroups(second) // no option: the saved mode
    expect(again.stateful).toBe(false)
    expect(again.describe()).toEqual(sg.describe())
    expect(again.describe()[0].id).toBe(group.id) // the name is the identity: same cookie
    expect((await second.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
    expect(ourFlows(h)).toEqual(flows)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('every port (0-65535) survives describe, revoke and export/import', async () => {
  const h = sb.hosts[0]
  const { sg } = setup([h])
  sg.createSecurityGroup('wide')
  await sg.authorizeIngress('wide', { protocol: 'udp', fromPort: 0, toPort: 65535, cidr: '10.2.0.0/16' })
  const [stored] = sg.describe()[0].ingress
  expect(stored).toEqual({ protocol: 'udp', fromPort: 0, toPort: 65535, cidr: '10.2.0.0/16' })
  const copy = setup([h]).sg
  copy.importState(JSON.parse(JSON.stringify(sg.exportState())))
  expect(copy.describe()[0].ingress).toEqual([stored])
  await sg.revokeIngress('wide', stored)
  expect(sg.describe()[0].ingress).toEqual([])
})
