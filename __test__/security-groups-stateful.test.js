'use strict'
// Stateful security groups against the sandbox's real Open vSwitch: whole TCP
// exchanges (real sequence numbers and checksums) injected with
// netdev-dummy/receive into the userspace datapath's connection tracker, what
// reaches each port counted, and ofproto/trace --ct-next for the states in between.

const { SecurityGroups, ElasticIps } = require('..')
const { sdnSuite } = require('./sdn-suite.js')
const { tcpConversation, tcpFrame, eui64LinkLocal } = require('../testing/packets.js')

const suite = sdnSuite({ hosts: 1, nports: 4 })
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The TCP segments a VIF's port transmits. */
function capture(port) {
  const wire = h.captureTx(port)
  return {
    ...wire,
    tcp() {
      return wire
        .frames()
        .filter((f) => f.readUInt16BE(12) === 0x0800 && f[23] === 6)
        .map((f) => ({ src: [...f.subarray(26, 30)].join('.'), sport: f.readUInt16BE(34), dst: [...f.subarray(30, 34)].join('.'), dport: f.readUInt16BE(36) }))
    },
  }
}

let h
beforeEach(() => {
  h = suite.sb.hosts[0]
  h.appctl('dpctl/flush-conntrack') // connections of an earlier test are not this one's
})

/** VIF n as the API takes it: its private address 10.0.0.n. */
const vifOf = (n) => ({ uuid: h.vifs[n - 1].uuid, mac: h.vifs[n - 1].mac, ips: [`10.0.0.${n}`] })

/**
 * Injects `frame` as sent by VIF `from` and says whether it left by VIF `to`'s port
 * (its tx counter moved within `ms`; not moving in that time is the drop).
 */
async function reaches(from, frame, to, ms = 250) {
  const tx = () => h.portCounters()[h.vifs[to - 1].ofport].txPackets
  const before = tx()
  await h.inject(h.vifs[from - 1], frame)
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (tx() > before) return true
  return false
}

/** The blog's group on VIF 1: tcp 80 from anywhere, tcp 22 from 10.10.1.0/24, default egress. */
async function blogGroup(options = {}) {
  const sdn = suite.controller([h])
  const sg = new SecurityGroups(sdn, { stateful: true, ...options })
  sg.createSecurityGroup('Test Group', 'blog scenario')
  await sg.authorizeIngress('Test Group', [
    { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0' },
    { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '10.10.1.0/24' },
  ])
  expect((await sg.attach(vifOf(1), ['Test Group'])).hosts[h.name]).toEqual({ ok: true })
  return { sdn, sg }
}

// VIF 4 stands for the world outside (the uplink): in no group, any address.
const vm = { mac: () => h.vifs[0].mac, ip: '10.0.0.1' }
const outside = (ip, port) => ({ mac: h.vifs[3].mac, ip, port })

test("the blog's group, stateful: an outbound HTTPS connection gets its replies with no egress permission declared", async () => {
  const { sg } = await blogGroup()
  expect(sg.stateful).toBe(true)
  const tcp = tcpConversation({ mac: vm.mac(), ip: vm.ip, port: 40001 }, outside('203.0.113.9', 443))
  expect(await reaches(1, tcp.syn(), 4)).toBe(true)
  expect(await reaches(4, tcp.synAck(), 1)).toBe(true)
  expect(await reaches(1, tcp.ack(), 4)).toBe(true)
  expect(await reaches(1, tcp.clientData('GET / HTTP/1.1\r\n\r\n'), 4)).toBe(true)
  expect(await reaches(4, tcp.serverData('HTTP/1.1 200 OK\r\n\r\n'), 1)).toBe(true)
  // The tracker holds it in VIF 1's zone, as one established connection.
  const conns = h.appctl('dpctl/dump-conntrack').split('\n').filter((l) => l.includes('sport=40001'))
  expect(conns).toHaveLength(1)
  expect(conns[0]).toMatch(/zone=1,protoinfo=\(state=ESTABLISHED\)/)
})

test('stateful: an unsolicited packet from source port 443 to port 3306 is dropped, SYN or forged ACK', async () => {
  const { sg } = await blogGroup()
  const from443 = { srcMac: h.vifs[3].mac, dstMac: vm.mac(), src: '203.0.113.9', dst: vm.ip, sport: 443, dport: 3306 }
  expect(await reaches(4, tcpFrame({ ...from443, flags: 'syn' }), 1)).toBe(false)
  expect(await reaches(4, tcpFrame({ ...from443, seq: 777, ack: 1001, flags: 'ack' }), 1)).toBe(false)
  expect(await reaches(4, tcpFrame({ ...from443, seq: 777, ack: 1001, flags: 'syn+ack' }), 1)).toBe(false)
  // Stateless groups let this through once the VM declares https as an egress service
  // (its replies come from source port 443); stateful ones still do not.
  await sg.authorizeEgress('Test Group', { protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '0.0.0.0/0' })
  expect(await reaches(4, tcpFrame({ ...from443, seq: 778, ack: 1001, flags: 'ack' }), 1)).toBe(false)
})

test('stateful: SSH from 10.10.1.5 completes a three-way handshake; from 198.51.100.7 it does not', async () => {
  await blogGroup()
  const allowed = tcpConversation(outside('10.10.1.5', 50022), { mac: vm.mac(), ip: vm.ip, port: 22 })
  expect(await reaches(4, allowed.syn(), 1)).toBe(true)
  expect(await reaches(1, allowed.synAck(), 4)).toBe(true)
  expect(await reaches(4, allowed.ack(), 1)).toBe(true)
  expect(await reaches(4, allowed.clientData('SSH-2.0-OpenSSH_9.2\r\n'), 1)).toBe(true)
  expect(await reaches(1, allowed.serverData('SSH-2.0-OpenSSH_9.2\r\n'), 4)).toBe(true)

  const refused = tcpConversation(outside('198.51.100.7', 50023), { mac: vm.mac(), ip: vm.ip, port: 22 })
  expect(await reaches(4, refused.syn(), 1)).toBe(false)
  // The VM never saw that SYN, so the client's next packet belongs to no connection.
  expect(await reaches(4, refused.ack(), 1)).toBe(false)
  // http from anywhere.
  const web = tcpConversation(outside('198.51.100.7', 50080), { mac: vm.mac(), ip: vm.ip, port: 80 })
  expect(await reaches(4, web.syn(), 1)).toBe(true)
  expect(await reaches(1, web.synAck(), 4)).toBe(true)
  expect(await reaches(4, web.ack(), 1)).toBe(true)
})

test('stateful, two VIFs of one bridge: tracked in the sender zone, then the receiver zone', async () => {
  const { sg } = await blogGroup()
  sg.createSecurityGroup('db')
  await sg.authorizeIngress('db', { protocol: 'tcp', fromPort: 3306, toPort: 3306, cidr: '10.0.0.0/24' })
  expect((await sg.attach(vifOf(2), ['db'])).hosts[h.name]).toEqual({ ok: true })
  const db = { mac: h.vifs[1].mac, ip: '10.0.0.2', port: 3306 }
  const mysql = tcpConversation({ mac: vm.mac(), ip: vm.ip, port: 40002 }, db)
  expect(await reaches(1, mysql.syn(), 2)).toBe(true)
  expect(await reaches(2, mysql.synAck(), 1)).toBe(true)
  expect(await reaches(1, mysql.ack(), 2)).toBe(true)
  const zones = h.appctl('dpctl/dump-conntrack').split('\n').filter((l) => l.includes('sport=40002')).map((l) => /zone=(\d+)/.exec(l)[1])
  expect(zones.sort()).toEqual(['1', '2'])
  // The db VM may not open a connection to the web VM's mysql port: VIF 1's groups take none.
  const back = tcpConversation({ mac: db.mac, ip: db.ip, port: 40003 }, { mac: vm.mac(), ip: vm.ip, port: 3306 })
  expect(await reaches(2, back.syn(), 1)).toBe(false)
})

test('stateful over IPv6: SSH from 2001:db8::/32 completes its handshake, from outside the range it does not', async () => {
  const { sg } = await blogGroup()
  await sg.authorizeIngress('Test Group', { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '2001:db8::/32' })
  const vm6 = { mac: vm.mac(), ip: '2001:db8::1', port: 22 }
  const ssh = tcpConversation({ mac: h.vifs[3].mac, ip: '2001:db8::5', port: 50022 }, vm6)
  expect(await reaches(4, ssh.syn(), 1)).toBe(true)
  expect(await reaches(1, ssh.synAck(), 4)).toBe(true)
  expect(await reaches(4, ssh.ack(), 1)).toBe(true)
  expect(await reaches(4, ssh.clientData('SSH-2.0-OpenSSH_9.2\r\n'), 1)).toBe(true)
  const conns = h.appctl('dpctl/dump-conntrack').split('\n').filter((l) => l.includes('sport=50022'))
  expect(conns).toEqual([expect.stringMatching(/^tcp,orig=\(src=2001:db8::5,dst=2001:db8::1,.*zone=1,protoinfo=\(state=ESTABLISHED\)/)])
  const outside = tcpConversation({ mac: h.vifs[3].mac, ip: '2001:db9::5', port: 50023 }, vm6)
  expect(await reaches(4, outside.syn(), 1)).toBe(false)
  // A forged reply from port 22 inside the range, to a port nothing opened: new in the zone, dropped.
  const forged = tcpConversation({ mac: h.vifs[3].mac, ip: '2001:db8::5', port: 22 }, { ...vm6, port: 3306 })
  expect(await reaches(4, forged.ack(), 1)).toBe(false)
  // Neighbour discovery is not tracked: an advertisement to the VM still passes.
  const na = `in_port=${h.vifs[3].ofport},icmp6,dl_src=${h.vifs[3].mac},dl_dst=${vm.mac()},ipv6_src=2001:db8::5,ipv6_dst=2001:db8::1,icmpv6_type=136,icmpv6_code=0`
  expect(h.trace(na).verdict).toBe('forward')
  // The VM is locked to IPv4 addresses (vif.ips): it opens no IPv6 connection of its own (XAPI's lock takes none).
  const out6 = tcpConversation({ mac: vm.mac(), ip: '2001:db8::1', port: 40010 }, { mac: h.vifs[3].mac, ip: '2001:db8::5', port: 443 })
  expect(await reaches(1, out6.syn(), 4)).toBe(false)
})

test("stateful, IPv6 members: SSH from a sourceGroup member's IPv6 address completes its handshake through both zones; the VM opens IPv6 from its own address only", async () => {
  const sdn = suite.controller([h])
  const sg = new SecurityGroups(sdn, { stateful: true })
  sg.createSecurityGroup('web6')
  sg.createSecurityGroup('db6')
  await sg.authorizeIngress('db6', { protocol: 'tcp', fromPort: 22, toPort: 22, sourceGroup: 'web6' })
  const member = { mac: h.vifs[3].mac, ip: '2001:db8:9::4' }
  expect((await sg.attach({ uuid: h.vifs[3].uuid, mac: member.mac, ips: ['10.0.0.4', member.ip] }, ['web6'])).hosts[h.name]).toEqual({ ok: true })
  expect((await sg.attach({ uuid: h.vifs[0].uuid, mac: vm.mac(), ips: [vm.ip, '2001:db8:9::1'] }, ['db6'])).hosts[h.name]).toEqual({ ok: true })
  const vm6 = { mac: vm.mac(), ip: '2001:db8:9::1', port: 22 }
  const ssh = tcpConversation({ ...member, port: 50122 }, vm6)
  expect(await reaches(4, ssh.syn(), 1)).toBe(true)
  expect(await reaches(1, ssh.synAck(), 4)).toBe(true)
  expect(await reaches(4, ssh.ack(), 1)).toBe(true)
  expect(await reaches(4, ssh.clientData('SSH-2.0-OpenSSH_9.2\r\n'), 1)).toBe(true)
  expect(await reaches(1, ssh.serverData('SSH-2.0-OpenSSH_9.2\r\n'), 4)).toBe(true)
  // Tracked in the member's zone (its open egress commits from its IPv6 address) and in the VM's.
  const conns = h.appctl('dpctl/dump-conntrack').split('\n').filter((l) => l.includes('sport=50122'))
  expect(conns.map((l) => /zone=(\d+)/.exec(l)[1]).sort()).toEqual(['1', '2'])
  expect(conns.every((l) => /^tcp,orig=\(src=2001:db8:9::4,dst=2001:db8:9::1,.*protoinfo=\(state=ESTABLISHED\)/.test(l))).toBe(true)
  // VIF 3 is in no group and not a member: its SSH from another IPv6 address is refused.
  const stranger = tcpConversation({ mac: h.vifs[2].mac, ip: '2001:db8:9::7', port: 50123 }, vm6)
  expect(await reaches(3, stranger.syn(), 1)).toBe(false)
  // The member's own egress commits from its addresses only (the IPv6 lock).
  const spoofed = tcpConversation({ ...member, ip: '2001:db8:9::5', port: 50124 }, vm6)
  expect(await reaches(4, spoofed.syn(), 1)).toBe(false)
  // Open egress with an IPv6 address in ips: the VM opens IPv6 connections from it, not from another.
  const out6 = tcpConversation({ mac: vm.mac(), ip: '2001:db8:9::1', port: 40110 }, { mac: h.vifs[2].mac, ip: '2001:db8:9::7', port: 443 })
  expect(await reaches(1, out6.syn(), 3)).toBe(true)
  expect(await reaches(3, out6.synAck(), 1)).toBe(true)
  const other = tcpConversation({ mac: vm.mac(), ip: '2001:db8:9::99', port: 40111 }, { mac: h.vifs[2].mac, ip: '2001:db8:9::7', port: 443 })
  expect(await reaches(1, other.syn(), 3)).toBe(false)
  // The DHCP and DHCPv6 clients are among the basics, above the tracking, both ways even with
  // open egress (the open egress commits connections from the VM's ips only, and a discover
  // from 0.0.0.0 or a solicit from a link-local address is neither). The server is VIF 3.
  const server = h.vifs[2]
  // Verdict, the priorities of the flows met table after table, and whether ct() was run.
  const untracked = (flow) => {
    const t = h.trace(flow)
    return [t.verdict, [...t.raw.matchAll(/^\s*\d+\. .*?priority (\d+)/gm)].map((m) => Number(m[1])), /ct\(/.test(t.raw)]
  }
  const toVm = `in_port=${server.ofport},udp6,dl_src=${server.mac},dl_dst=${vm.mac()},ipv6_src=fe80::3,ipv6_dst=fe80::1`
  const fromVm = `in_port=${h.vifs[0].ofport},dl_src=${vm.mac()}`
  // In: on to the ingress stage (9050), delivered by the DHCPv6 basic (9800); out: let out by
  // the basic (9800), then the ingress stage's default (0) for a multicast or broadcast.
  expect(untracked(`${toVm},udp_src=547,udp_dst=546`)).toEqual(['forward', [9050, 9800], false])
  expect(untracked(`${fromVm},dl_dst=33:33:00:01:00:02,udp6,ipv6_src=fe80::1,ipv6_dst=ff02::1:2,udp_src=546,udp_dst=547`)).toEqual(['forward', [9800, 0], false])
  expect(untracked(`${fromVm},dl_dst=ff:ff:ff:ff:ff:ff,udp,nw_src=0.0.0.0,nw_dst=255.255.255.255,udp_src=68,udp_dst=67`)).toEqual(['forward', [9800, 0], false])
  // Not DHCPv6 (another port): delivered to the VM only through the tracker, which drops it.
  expect(h.trace(`${toVm},udp_src=547,udp_dst=547`).verdict).toBe('drop')
})

test('stateful, a VIF locked to an IPv6 address: its neighbour and router discovery from :: and from its own EUI-64 link-local address pass, from another link-local address they do not', async () => {
  const sdn = suite.controller([h])
  const sg = new SecurityGroups(sdn) // stateful, the default
  expect(sg.stateful).toBe(true)
  sg.createSecurityGroup('nd6')
  await sg.authorizeIngress('nd6', { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '2001:db8::/32' })
  const a = h.vifs[0]
  expect((await sg.attach({ uuid: a.uuid, mac: a.mac, ips: ['10.0.0.1', '2001:db8::1'] }, ['nd6'])).hosts[h.name]).toEqual({ ok: true })
  const own = eui64LinkLocal(a.mac)
  expect(own).toMatch(/^fe80::ff:fe/) // the sandbox's MACs are 02:00:..., locally administered: the bit flips to 0
  const router = h.vifs[3]
  // ovs-ofctl flows sent by VIF 1: to the solicited-node group of the target, to all routers, or to the router.
  const ns = (src, target) => `in_port=${a.ofport},icmp6,dl_src=${a.mac},dl_dst=33:33:ff:00:00:01,ipv6_src=${src},ipv6_dst=ff02::1:ff00:1,icmpv6_type=135,icmpv6_code=0,nd_target=${target}`
  const rs = (src) => `in_port=${a.ofport},icmp6,dl_src=${a.mac},dl_dst=33:33:00:00:00:02,ipv6_src=${src},ipv6_dst=ff02::2,icmpv6_type=133,icmpv6_code=0`
  const na = (src) => `in_port=${a.ofport},icmp6,dl_src=${a.mac},dl_dst=${router.mac},ipv6_src=${src},ipv6_dst=fe80::1,icmpv6_type=136,icmpv6_code=0,nd_target=${src}`
  // A new connection when it meets the tracker: the verdict of the last pass, the priority
  // of the first flow met, and whether ct() ran (the basics are above the tracking).
  const sent = (flow) => {
    const raw = h.appctl('ofproto/trace', h.bridge, flow, '--ct-next', 'trk,new')
    const actions = [...raw.matchAll(/^Datapath actions: (.*)$/gm)].at(-1)[1]
    return [actions === 'drop' ? 'drop' : 'forward', Number(/^\s*0\. .*?priority (\d+)/m.exec(raw)[1]), /ct\(/.test(raw)]
  }
  const passes = ['forward', 9800, false]
  const got = (cases) => cases.map(([name, flow]) => [name, sent(flow)])
  expect(got([
    ['neighbour solicitation for the router from its link-local address', ns(own, 'fe80::1')],
    ['duplicate address detection (neighbour solicitation from ::)', ns('::', '2001:db8::1')],
    ['router solicitation from its link-local address', rs(own)],
    ['router solicitation from ::', rs('::')],
    ['neighbour advertisement from its link-local address', na(own)],
    ['neighbour advertisement from its global address (its ips, as before)', na('2001:db8::1')],
  ])).toEqual([
    ['neighbour solicitation for the router from its link-local address', passes],
    ['duplicate address detection (neighbour solicitation from ::)', passes],
    ['router solicitation from its link-local address', passes],
    ['router solicitation from ::', passes],
    ['neighbour advertisement from its link-local address', passes],
    ['neighbour advertisement from its global address (its ips, as before)', passes],
  ])
  // Not from another machine's link-local address, and no advertisement from :: (it would
  // answer for an address): they fall to the tracking, whose open egress commits from the ips only.
  const verdicts = (cases) => cases.map(([name, flow]) => [name, sent(flow)[0]])
  expect(verdicts([
    ['neighbour advertisement from fe80::dead', na('fe80::dead')],
    ['neighbour solicitation from fe80::dead', ns('fe80::dead', 'fe80::1')],
    ['router solicitation from fe80::dead', rs('fe80::dead')],
    ['neighbour advertisement from ::', na('::')],
  ])).toEqual([
    ['neighbour advertisement from fe80::dead', 'drop'],
    ['neighbour solicitation from fe80::dead', 'drop'],
    ['router solicitation from fe80::dead', 'drop'],
    ['neighbour advertisement from ::', 'drop'],
  ])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

test('ofproto/trace --ct-next: the verdict on VIF 1 follows the tracked state, zone by zone', async () => {
  await blogGroup()
  const a = h.vifs[0]
  const b = h.vifs[3]
  const syn = (src, port) => `in_port=${b.ofport},tcp,dl_src=${b.mac},dl_dst=${a.mac},nw_src=${src},nw_dst=10.0.0.1,tp_src=50000,tp_dst=${port},tcp_flags=syn`
  const trace = (flow, ...states) => h.appctl('ofproto/trace', h.bridge, flow, ...states.flatMap((s) => ['--ct-next', s]))
  // The datapath actions of the last pass (a trace prints one block per recirculation).
  const last = (raw) => [...raw.matchAll(/^Datapath actions: (.*)$/gm)].at(-1)
  // Delivered to VIF 1: one lookup in its zone (1), then the verdict.
  const ssh = trace(syn('10.10.1.5', 22), 'trk,new')
  expect(ssh).toMatch(/ct\(table=1,zone=1\)/)
  expect(ssh).toMatch(/ct\(commit,zone=1\)/)
  expect(last(ssh)[1]).toMatch(/ct\(commit,zone=1\),\d+/)
  // The same packet, new, from outside 10.10.1.0/24: dropped; established: delivered.
  expect(last(trace(syn('198.51.100.7', 22), 'trk,new'))[1]).toBe('drop')
  expect(last(trace(syn('198.51.100.7', 22), 'trk,est'))[1]).toMatch(/^\d+$/)
  expect(last(trace(syn('198.51.100.7', 3306), 'trk,inv'))[1]).toBe('drop')
})

test('stateful groups: a zone per VIF, kept across export and import; flows equal what sync expects', async () => {
  const { sdn, sg } = await blogGroup()
  expect((await sg.attach(vifOf(2), ['Test Group'])).hosts[h.name]).toEqual({ ok: true })
  const state = sg.exportState()
  expect(state.attachments.map((a) => [a.vif.uuid, a.zone])).toEqual([[h.vifs[0].uuid, 1], [h.vifs[1].uuid, 2]])
  await sg.detach(h.vifs[0].uuid)
  expect((await sg.attach(vifOf(3), ['Test Group'])).hosts[h.name]).toEqual({ ok: true })
  expect(sg.exportState().attachments.map((a) => a.zone)).toEqual([2, 1]) // the lowest free zone
  sg.importState(state)
  expect(sg.exportState().attachments.map((a) => a.zone)).toEqual([1, 2])
  expect((await sdn.sync()).hosts[h.name]).toMatchObject({ ok: true })
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

test('stateful groups with an elastic IP: connections in and out by the public address, judged and tracked on the private side', async () => {
  const { sdn, sg } = await blogGroup()
  const eip = new ElasticIps(sdn, { pools: ['203.0.113.0/28'], internal: ['10.0.0.0/8'], securityGroups: sg })
  const { publicIp } = eip.allocateAddress()
  await eip.associateAddress({ uuid: h.vifs[0].uuid, mac: vm.mac(), ip: vm.ip }, publicIp)
  const wire = capture(h.vifs[3].name)
  try {
    const peer = { mac: h.vifs[3].mac, ip: '198.51.100.7' }
    const frame = (from, to, fields) => tcpFrame({ srcMac: from.mac, dstMac: to.mac, src: from.ip, dst: to.ip, ...fields })
    const publicSide = { mac: vm.mac(), ip: publicIp } // where the outside sends (ARP for the public address answers the VIF's MAC)
    const privateSide = { mac: vm.mac(), ip: vm.ip }
    // http in: the SYN to the public address reaches the VM, its SYN-ACK leaves from the public address.
    expect(await reaches(4, frame(peer, publicSide, { sport: 50080, dport: 80, seq: 100, flags: 'syn' }), 1)).toBe(true)
    expect(await reaches(1, frame(privateSide, peer, { sport: 80, dport: 50080, seq: 500, ack: 101, flags: 'syn+ack' }), 4)).toBe(true)
    expect(await reaches(4, frame(peer, publicSide, { sport: 50080, dport: 80, seq: 101, ack: 501, flags: 'ack' }), 1)).toBe(true)
    // mysql is not open, by the public address either.
    expect(await reaches(4, frame(peer, publicSide, { sport: 50081, dport: 3306, seq: 100, flags: 'syn' }), 1)).toBe(false)
    // https out: leaves from the public address, and its reply to the public address comes back as established.
    expect(await reaches(1, frame(privateSide, peer, { sport: 40005, dport: 443, seq: 7000, flags: 'syn' }), 4)).toBe(true)
    expect(await reaches(4, frame(peer, publicSide, { sport: 443, dport: 40005, seq: 9000, ack: 7001, flags: 'syn+ack' }), 1)).toBe(true)
    const sources = wire.tcp().map((t) => `${t.src}:${t.sport}`)
    expect(sources).toEqual([`${publicIp}:80`, `${publicIp}:40005`])
    // One connection per zone lookup, private addresses only.
    const conns = h.appctl('dpctl/dump-conntrack').split('\n').filter((l) => /sport=(50080|40005)/.test(l))
    expect(conns).toHaveLength(2)
    for (const c of conns) expect(c).toMatch(/zone=1,/)
    expect(conns.join('\n')).not.toContain(publicIp)
  } finally {
    wire.stop()
  }
})

test('the mode: stateful by default; a restart keeps the mode the groups were installed in, stateless for a state of before the mode was saved; the option wins', async () => {
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xo-sdn-sg-mode-'))
  const stateFile = path.join(dir, 'state.json')
  const tracking = () => h.flowStats().filter((f) => /ct\(/.test(f.actions)).length
  try {
    const first = suite.controller([h], { stateFile })
    const sg = new SecurityGroups(first)
    expect(sg.stateful).toBe(true)
    sg.createSecurityGroup('web')
    await sg.authorizeIngress('web', { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0' })
    expect((await sg.attach(vifOf(1), ['web'])).hosts[h.name]).toEqual({ ok: true })
    expect(tracking()).toBeGreaterThan(0)
    expect(sg.exportState().stateful).toBe(true)
    const stateful = h.flowStats()
    await first.close()

    // Restarted without the option: still stateful, nothing to change on the switch.
    const second = suite.controller([h], { stateFile })
    expect(new SecurityGroups(second).stateful).toBe(true)
    expect((await second.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
    await second.close()

    // A state written before the mode was saved: its groups were stateless, and stay so.
    const saved = JSON.parse(fs.readFileSync(stateFile, 'utf8'))
    delete saved.providers.securityGroups.stateful
    fs.writeFileSync(stateFile, JSON.stringify(saved))
    const third = suite.controller([h], { stateFile })
    const old = new SecurityGroups(third)
    expect(old.stateful).toBe(false)
    expect((await third.sync()).hosts[h.name]).toMatchObject({ ok: true })
    expect(tracking()).toBe(0)
    await third.close()

    // The caller's option wins over the saved mode.
    const fourth = suite.controller([h], { stateFile })
    expect(new SecurityGroups(fourth, { stateful: true }).stateful).toBe(true)
    expect((await fourth.sync()).hosts[h.name]).toMatchObject({ ok: true })
    expect(h.flowStats().map((f) => `${f.priority} ${f.match} ${f.actions}`).sort()).toEqual(stateful.map((f) => `${f.priority} ${f.match} ${f.actions}`).sort())
    await fourth.close()
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('stateful: a bad option is a TypeError', async () => {
  const sdn = suite.controller([h])
  expect(() => new SecurityGroups(sdn, { stateful: 'yes' })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }))
})

test('a switch whose datapath cannot track connections refuses stateful groups, and the host says why', async () => {
  // Open vSwitch's own switch for this (dpif/set-dp-features): the datapath reports no ct_state support.
  h.appctl('dpif/set-dp-features', h.bridge, 'ct_state', 'false')
  const sdn = suite.controller([h])
  try {
    const sg = new SecurityGroups(sdn, { stateful: true })
    sg.createSecurityGroup('g')
    const r = await sg.attach(vifOf(1), ['g'])
    expect(r.hosts[h.name]).toMatchObject({ ok: false, error: { code: 'SDN_CONNTRACK_UNSUPPORTED', host: h.name } })
    const cause = r.hosts[h.name].error.cause
    expect([cause.code, cause.reason, cause.offending.type]).toEqual(['OF_SWITCH_ERROR', expect.stringMatching(/^NXB[AM]C_CT_DATAPATH_SUPPORT$/), 'flow_mod'])
    // No flow that tracks or reads a connection's state landed (the refused ones).
    expect(h.flowStats().filter((f) => /ct\(|ct_state/.test(`${f.match} ${f.actions}`))).toEqual([])
  } finally {
    h.appctl('dpif/set-dp-features', h.bridge, 'ct_state', 'true')
  }
  // Tracking back: the next sync installs what was refused.
  expect((await sdn.sync()).hosts[h.name]).toMatchObject({ ok: true })
  expect(h.flowStats().filter((f) => /ct\(/.test(f.actions)).length).toBeGreaterThan(0)
})
