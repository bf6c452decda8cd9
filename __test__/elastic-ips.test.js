'use strict'
// Elastic IPs against a real Open vSwitch (sandbox, TLS like XCP-ng): traffic to
// the public address reaches the VIF rewritten, replies leave with the public
// source, ARP for it is answered by the controller (PACKET_IN -> PACKET_OUT,
// captured on the wire of the requesting port), a move re-announces it, a
// release stops it; security groups decide on the private side.

const { SecurityGroups, ElasticIps } = require('..')
const { sdnSuite, deleteOurs, OURS } = require('./sdn-suite.js')
const { waitFor } = require('./helpers.js')

const ROUTER_MAC = '02:aa:00:00:00:01'
const suite = sdnSuite({ hosts: 1, nports: 4 })
let h
beforeAll(() => {
  h = suite.sb.hosts[0]
})

function setup({ withGroups = false } = {}) {
  const sdn = suite.controller()
  const sg = withGroups ? new SecurityGroups(sdn, { stateful: false }) : undefined
  const eip = new ElasticIps(sdn, { pools: ['203.0.113.0/28'], internal: ['10.0.0.0/8'], securityGroups: sg })
  return { sdn, sg, eip }
}

const vif = (n) => ({ uuid: h.vifs[n - 1].uuid, mac: h.vifs[n - 1].mac, ip: `10.0.0.${n}` })

/** The "router": port 3 of the bridge, where the outside world comes in. */
const fromOutside = (dstMac, dst, port, proto = 'tcp') => `in_port=3,${proto},dl_src=${ROUTER_MAC},dl_dst=${dstMac},nw_src=198.51.100.7,nw_dst=${dst},tp_src=50000,tp_dst=${port}`
const fromVif = (n, dst, sport = 80) => `in_port=${n},tcp,dl_src=${h.vifs[n - 1].mac},dl_dst=${ROUTER_MAC},nw_src=10.0.0.${n},nw_dst=${dst},tp_src=${sport},tp_dst=50000`
const arpRequest = (ip) => `arp,dl_src=${ROUTER_MAC},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_sha=${ROUTER_MAC},arp_spa=198.51.100.1,arp_tpa=${ip}`

/** What a port transmits, with its ARP packets read. */
function capture(port) {
  const wire = h.captureTx(port)
  return {
    ...wire,
    arp() {
      return wire
        .frames()
        .filter((f) => f.readUInt16BE(12) === 0x0806)
        .map((f) => ({ op: f.readUInt16BE(20), sha: [...f.subarray(22, 28)].map((x) => x.toString(16).padStart(2, '0')).join(':'), spa: [...f.subarray(28, 32)].join('.'), tpa: [...f.subarray(38, 42)].join('.') }))
    },
  }
}

test('associate: inbound rewritten to the VIF, replies leave from the public address, internal traffic untouched', async () => {
  const { eip } = setup()
  const { publicIp } = eip.allocateAddress()
  expect(publicIp).toBe('203.0.113.1')
  await eip.associateAddress(vif(1), publicIp)
  const inbound = h.trace(fromOutside(h.vifs[0].mac, publicIp, 80))
  expect(inbound.verdict).toBe('forward')
  expect(inbound.actions).toContain('dst=10.0.0.1')
  expect(inbound.outputs).toEqual([1])
  const reply = h.trace(fromVif(1, '198.51.100.7'))
  expect(reply.verdict).toBe('forward')
  expect(reply.actions).toContain('src=203.0.113.1')
  const internal = h.trace(fromVif(1, '10.0.0.2'))
  expect(internal.verdict).toBe('forward')
  expect(internal.actions).not.toContain('203.0.113.1')
  // Another VIF is not translated.
  expect(h.trace(fromVif(2, '198.51.100.7')).actions).not.toContain('203.0.113.1')
  expect(eip.describeAddresses()).toEqual([{ publicIp, pool: '203.0.113.0/28', vif: vif(1) }])
})

test('ARP for the public address is answered with the VIF MAC; after a move, with the new MAC (and a gratuitous ARP); after release, not at all', async () => {
  const { sdn, eip } = setup()
  const { publicIp } = eip.allocateAddress()
  const wire = capture('vif3.0')
  try {
    await eip.associateAddress(vif(1), publicIp)
    const replies = []
    sdn.on('arpReply', (r) => replies.push(r))
    await h.inject('vif3.0', arpRequest(publicIp))
    await waitFor(() => wire.arp().some((a) => a.op === 2), 10000)
    expect(wire.arp().filter((a) => a.op === 2)).toEqual([{ op: 2, sha: h.vifs[0].mac, spa: publicIp, tpa: '198.51.100.1' }])
    expect(replies).toEqual([expect.objectContaining({ publicIp, mac: h.vifs[0].mac, to: '198.51.100.1', port: 3 })])
    // Move to VIF 2: one call; the new place announces itself.
    await eip.associateAddress(vif(2), publicIp)
    const gratuitous = () => wire.arp().filter((a) => a.op === 1 && a.spa === publicIp && a.tpa === publicIp)
    await waitFor(() => gratuitous().length === 2, 10000)
    expect(gratuitous().map((a) => a.sha)).toEqual([h.vifs[0].mac, h.vifs[1].mac]) // at association, then at the move
    await h.inject('vif3.0', arpRequest(publicIp))
    await waitFor(() => wire.arp().filter((a) => a.op === 2).length === 2, 10000)
    expect(wire.arp().filter((a) => a.op === 2)[1]).toEqual({ op: 2, sha: h.vifs[1].mac, spa: publicIp, tpa: '198.51.100.1' })
    const inbound = h.trace(fromOutside(h.vifs[1].mac, publicIp, 80))
    expect(inbound.actions).toContain('dst=10.0.0.2')
    expect(inbound.outputs).toEqual([2])
    // Released: no flow sends ARP for it up any more, nothing answers.
    await eip.releaseAddress(publicIp)
    expect(h.trace(arpRequest(publicIp).replace('arp,', 'in_port=3,arp,')).actions).not.toContain('controller')
    await h.inject('vif3.0', arpRequest(publicIp))
    await new Promise((r) => setTimeout(r, 500))
    expect(wire.arp().filter((a) => a.op === 2)).toHaveLength(2)
    expect(eip.describeAddresses()).toEqual([])
  } finally {
    wire.stop()
  }
})

test('ARP answers are rate-limited per address', async () => {
  const sdn = suite.controller()
  // One answer per 10 s, burst 1: five requests in a row get one answer.
  const eip = new ElasticIps(sdn, { pools: ['203.0.113.0/28'], arpRatePerSec: 0.1 })
  const { publicIp } = eip.allocateAddress()
  await eip.associateAddress(vif(1), publicIp)
  const replies = []
  sdn.on('arpReply', (r) => replies.push(r))
  for (let i = 0; i < 5; i++) await h.inject('vif3.0', arpRequest(publicIp))
  await waitFor(() => replies.length >= 1, 10000)
  await new Promise((r) => setTimeout(r, 300))
  expect(replies).toHaveLength(1)
})

test('security groups apply on the private side of an elastic IP', async () => {
  const { sg, eip } = setup({ withGroups: true })
  sg.createSecurityGroup('web')
  await sg.authorizeIngress('web', { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0' })
  await sg.attach({ uuid: vif(2).uuid, mac: vif(2).mac, ips: [vif(2).ip] }, ['web'])
  const { publicIp } = eip.allocateAddress()
  await eip.associateAddress(vif(2), publicIp)
  const http = h.trace(fromOutside(h.vifs[1].mac, publicIp, 80))
  expect(http.verdict).toBe('forward')
  expect(http.actions).toContain('dst=10.0.0.2')
  expect(h.trace(fromOutside(h.vifs[1].mac, publicIp, 22)).verdict).toBe('drop')
  // Replies of the allowed service leave translated (egress is open in this group).
  expect(h.trace(fromVif(2, '198.51.100.7')).actions).toContain('src=203.0.113.1')
  // A new permission reaches the translated side too.
  await sg.authorizeIngress('web', { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '198.51.100.0/24' })
  const ssh = h.trace(fromOutside(h.vifs[1].mac, publicIp, 22))
  expect(ssh.verdict).toBe('forward')
  expect(ssh.actions).toContain('dst=10.0.0.2')
})

test('bad input and pool limits', async () => {
  const { sdn, eip } = setup()
  expect(() => new ElasticIps(sdn, { pools: ['10.0.0.1/24'] })).toThrow(TypeError)
  expect(() => new ElasticIps(sdn, {})).toThrow(TypeError)
  await expect(eip.associateAddress(vif(1), '203.0.113.9')).rejects.toMatchObject({ code: 'SDN_EIP_NOT_FOUND' })
  const { publicIp } = eip.allocateAddress()
  await expect(eip.associateAddress({ uuid: vif(1).uuid, mac: vif(1).mac }, publicIp)).rejects.toThrow(TypeError)
  await expect(eip.associateAddress({ ...vif(1), mac: 'nope' }, publicIp)).rejects.toThrow(TypeError)
  await expect(eip.disassociateAddress(publicIp)).rejects.toMatchObject({ code: 'SDN_EIP_NOT_ASSOCIATED' })
  for (let i = 0; i < 13; i++) eip.allocateAddress() // a /28 has 14 usable addresses
  expect(() => eip.allocateAddress()).toThrow(expect.objectContaining({ code: 'SDN_EIP_POOL_EXHAUSTED' }))
  expect(() => eip.allocateAddress('192.0.2.0/24')).toThrow(expect.objectContaining({ code: 'SDN_EIP_POOL_NOT_FOUND' }))
  expect(h.ofctl('dump-flows', '--no-stats', OURS).split('\n').filter((l) => l.includes('cookie='))).toEqual([])
})

test('survives an OVS restart and a controller restart', async () => {
  const first = setup()
  const { publicIp } = first.eip.allocateAddress()
  await first.eip.associateAddress(vif(1), publicIp)
  const flows = h.ofctl('dump-flows', '--no-stats', OURS)
  const synced = new Promise((resolve) => first.sdn.once('synced', resolve))
  await h.restartSwitch()
  await synced
  expect(h.ofctl('dump-flows', '--no-stats', OURS)).toEqual(flows)
  const state = JSON.parse(JSON.stringify({ sdn: first.sdn.exportState(), eip: first.eip.exportState() }))
  await first.sdn.close()
  const second = setup()
  second.sdn.importState(state.sdn)
  second.eip.importState(state.eip)
  deleteOurs(h)
  const s = await second.sdn.sync()
  expect(s.hosts[h.name].ok).toBe(true)
  expect(h.ofctl('dump-flows', '--no-stats', OURS)).toEqual(flows)
  expect(h.trace(fromOutside(h.vifs[0].mac, publicIp, 80)).actions).toContain('dst=10.0.0.1')
  expect((await second.sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})

test("a controller in another table gets its elastic IPs' flows in that table, beside its rules and groups", async () => {
  const sdn = suite.controller(undefined, { tableId: 3 })
  const sg = new SecurityGroups(sdn, { stateful: false })
  const eip = new ElasticIps(sdn, { pools: ['203.0.113.0/28'], internal: ['10.0.0.0/8'], securityGroups: sg })
  const { publicIp } = eip.allocateAddress()
  expect((await eip.associateAddress(vif(1), publicIp)).hosts[h.name]).toEqual({ ok: true })
  const inTable = (t) => h.ofctl('dump-flows', '--no-stats', `table=${t},cookie=0x5d4e000000000000/0xffff000000000000`).split('\n').filter((l) => l.includes(publicIp))
  expect(inTable(3).length).toBeGreaterThanOrEqual(3) // ARP to the controller, inbound rewrite, outbound rewrite
  expect(inTable(0)).toEqual([])
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
})
