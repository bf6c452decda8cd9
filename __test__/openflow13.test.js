'use strict'
// OpenFlow 1.3 on the wire against the sandbox's real Open vSwitch (its bridges offer
// OpenFlow11 and OpenFlow13, like `ovs-vsctl set Bridge br0 protocols=...`): the channel
// negotiates the highest version both offer, keeps speaking OpenFlow 1.1 to its callers,
// and translates on the wire (src/openflow/of13.rs). What lands is read back with
// ovs-ofctl and exercised with ofproto/trace.

const { once } = require('node:events')
const { OpenFlowChannel, SecurityGroups, formatFlow } = require('..')
const { sdnSuite, ourFlows } = require('./sdn-suite.js')

const suite = sdnSuite({ hosts: 2, nports: 4 })
const BOTH = ['1.1', '1.3']

const channels = []
function channel(h, extra = {}) {
  const ch = new OpenFlowChannel({ host: h.ip, port: h.ports.openflowSsl, tls: suite.tls, serverCert: h.certs.server.cert, ...extra })
  channels.push(ch)
  return ch
}

afterEach(async () => {
  await Promise.all(channels.splice(0).map((c) => c.close()))
  for (const h of suite.sb.hosts) h.ofctl('del-flows')
})

const stable = (line) => line.trim().replace(/duration=[\d.]+s, /, '')

test('negotiates OpenFlow 1.3 when the bridge offers it (by default), 1.1 when asked or on a 1.1-only bridge; the features and ports are the same', async () => {
  const h = suite.sb.hosts[0]
  const of13 = channel(h) // the default offers both
  const of11 = channel(h, { versions: ['1.1'] })
  const [a, b] = [await of13.connect(), await of11.connect()]
  expect([of13.version, of11.version]).toEqual(['1.3', '1.1'])
  expect(a.datapathId).toBe(b.datapathId)
  expect(a.ports.map((p) => [p.portNo, p.name, p.hwAddr])).toEqual(b.ports.map((p) => [p.portNo, p.name, p.hwAddr]))
  // A bridge of OpenFlow 1.1 only (as XO's plugin sets it): 1.1, whatever we offer.
  const other = suite.sb.hosts[1]
  other.vsctl('set', 'Bridge', other.bridge, 'protocols=OpenFlow11')
  try {
    const only11 = channel(other, { versions: BOTH })
    await only11.connect()
    expect(only11.version).toBe('1.1')
    // And a channel of 1.3 only is refused by it, with a code.
    const only13 = channel(other, { versions: ['1.3'], reconnect: false })
    await expect(only13.connect()).rejects.toMatchObject({ code: 'OF_VERSION_NEGOTIATION_FAILED' })
  } finally {
    other.vsctl('set', 'Bridge', other.bridge, 'protocols=OpenFlow11,OpenFlow13')
  }
  // The same session over a node:tls socket negotiates the same.
  const overNode = channel(h, { versions: BOTH, transport: 'node' })
  await overNode.connect()
  expect(overNode.version).toBe('1.3')
  expect(() => channel(h, { versions: ['1.2'] })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }))
})

test('OpenFlow 1.1 flows sent over 1.3 land as ovs-ofctl shows them, read back the same, and act on packets', async () => {
  const h = suite.sb.hosts[0]
  const ch = channel(h, { versions: BOTH })
  await ch.connect()
  const [v1, v2] = [h.vifs[0], h.vifs[1]]
  const flows = [
    'priority=65527,tcp,in_port=4,dl_src=ae:f7:4b:84:6c:8b,nw_src=192.168.5.242,nw_dst=192.168.5.55,tp_dst=5060 actions=drop',
    'cookie=0x5d0,priority=40000,udp,nw_dst=12.0.0.0/12,tp_dst=1212 actions=NORMAL',
    // An elastic IP's rewrite: SET_FIELD on the wire, set_nw_dst/set_dl_dst read back.
    `cookie=0x5d1,priority=9980,ip,nw_dst=203.0.113.1 actions=mod_dl_dst:${v2.mac},mod_nw_dst:10.0.0.2,goto_table:1`,
    `table=1,priority=9150,ip,dl_dst=${v2.mac} actions=output:${v2.ofport}`,
    'priority=300,in_port=1,dl_src=02:00:00:00:00:01 actions=output:2',
  ]
  await ch.addFlows(flows)
  const ours = (await ch.dumpFlows()).map(formatFlow).map(stable).sort()
  const theirs = h.ofctl('dump-flows').split('\n').slice(1).filter(Boolean).map(stable).sort()
  expect(ours).toEqual(theirs)
  expect(theirs.join('\n')).toContain('actions=mod_dl_dst:' + v2.mac + ',mod_nw_dst:10.0.0.2,goto_table:1')
  const t = h.trace(`in_port=${v1.ofport},tcp,dl_src=${v1.mac},dl_dst=02:00:00:00:00:99,nw_src=198.51.100.7,nw_dst=203.0.113.1,tp_dst=80`)
  expect(t.outputs).toEqual([v2.ofport])
  expect(t.actions).toContain('dst=10.0.0.2')
  // Extensions (OXM matches, ct) cross too: masked ports and IPv6 over OXM, conntrack.
  const { parseFlow } = require('..')
  await ch.send([
    parseFlow('cookie=0x5d2,priority=500,tcp,tp_dst=0x400/0xfc00 actions=drop', { extensions: true }),
    parseFlow('cookie=0x5d2,priority=501,tcp6,ipv6_src=2001:db8::/32,tp_dst=22 actions=drop', { extensions: true }),
    parseFlow('cookie=0x5d2,priority=502,ip,in_port=3 actions=ct(zone=7,table=1)', { extensions: true }),
  ])
  const x = h.ofctl('dump-flows', 'cookie=0x5d2/-1')
  expect(x).toMatch(/priority=500,tcp,tp_dst=0x400\/0xfc00 actions=drop/)
  expect(x).toMatch(/priority=501,tcp6,ipv6_src=2001:db8::\/32,tp_dst=22 actions=drop/)
  expect(x).toMatch(/priority=502,ip,in_port=3 actions=ct\(table=1,zone=7\)/)
  // Host bits under a mask, as XO 1.4 sends 10.1.2.3/16: Open vSwitch reads 10.1.0.0/16
  // in OpenFlow 1.1, and refuses them in OXM (OFPBMC_BAD_WILDCARDS) unless cleared.
  await ch.send([{ type: 'flow_mod', cookie: 0x5d3n, priority: 503, match: { dlType: 0x800, nwSrc: '10.1.2.3/255.255.0.0' }, instructions: [] }])
  expect(h.ofctl('dump-flows', '--no-stats', 'cookie=0x5d3/-1')).toMatch(/priority=503,ip,nw_src=10\.1\.0\.0\/16 actions=drop/)
  const read = (await ch.dumpFlows({ cookie: 0x5d2n, cookieMask: -1n & 0xffffffffffffffffn })).map(formatFlow).map(stable).sort()
  expect(read).toEqual(x.split('\n').slice(1).filter(Boolean).map(stable).sort())
})

test('over 1.3, a refused FLOW_MOD rejects with the decoded error and its index; what has no 1.3 form is refused before anything is sent', async () => {
  const h = suite.sb.hosts[0]
  const ch = channel(h, { versions: BOTH })
  await ch.connect()
  const err = await ch.addFlows(['priority=11,ip,actions=normal', 'priority=12,ip,actions=group:5', 'priority=13,arp,actions=normal']).catch((e) => e)
  expect(err).toMatchObject({ code: 'OF_SWITCH_ERROR', index: 1, errorType: 'bad_action', errorCode: 'bad_out_group', applied: 2 })
  expect(err.offending.type).toBe('flow_mod')
  const dump = () => h.ofctl('dump-flows', '--no-stats')
  const before = dump()
  const refused = await ch.addFlows(['priority=14,ip,actions=normal', 'priority=15,ip,nw_tos=32,actions=normal']).catch((e) => e)
  expect(refused).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/message 1 of the batch cannot be sent over OpenFlow 1.3: nw_tos/) })
  expect(dump()).toBe(before)
})

test('over 1.3, packet-ins say their input port, flow removals and port status arrive as in 1.1', async () => {
  const h = suite.sb.hosts[0]
  const ch = channel(h, { versions: BOTH })
  await ch.connect()
  const v = h.vifs[2]
  await ch.addFlows([`priority=100,in_port=${v.ofport},udp,actions=controller`])
  const got = once(ch, 'packetIn')
  await h.inject(v, `eth(src=${v.mac},dst=02:00:00:00:00:01),eth_type(0x0800),ipv4(src=10.0.0.3,dst=10.0.0.1,proto=17,tos=0,ttl=64,frag=no),udp(src=1000,dst=2000)`)
  const [pi] = await got
  expect(pi).toMatchObject({ type: 'packet_in', inPort: v.ofport, reason: 'action' })
  expect(pi.data.subarray(6, 12)).toEqual(Buffer.from(v.mac.split(':').map((x) => parseInt(x, 16))))
  const removed = once(ch, 'flowRemoved')
  await ch.addFlows([{ cookie: 0x77n, priority: 5, hardTimeout: 1, flags: ['send_flow_rem'], match: { dlType: 0x806 } }])
  const [fr] = await removed
  expect(fr).toMatchObject({ type: 'flow_removed', cookie: 0x77n, reason: 'hard_timeout', priority: 5, hardTimeout: 0 })
  const port = once(ch, 'portStatus')
  h.vsctl('add-port', h.bridge, 'vif9.0', '--', 'set', 'interface', 'vif9.0', 'type=dummy', 'ofport_request=9')
  const [ps] = await port
  expect(ps).toMatchObject({ type: 'port_status', reason: 'add', port: { name: 'vif9.0', portNo: 9 } })
  h.vsctl('del-port', h.bridge, 'vif9.0')
}, 20000)

test('a controller over 1.3: rules, stateful groups and their reconcile hold; a host without tracking still says why', async () => {
  const h = suite.sb.hosts[1]
  const sdn = suite.controller([h], { openflow: { reconnectMinMs: 50, reconnectMaxMs: 300, versions: BOTH } })
  const [v1, v2] = [h.vifs[0], h.vifs[1]]
  const r = await sdn.addRule({ vif: { uuid: v1.uuid, mac: v1.mac }, allow: false, protocol: 'tcp', port: '1000-2000', direction: 'from' })
  expect(r.hosts[h.name]).toMatchObject({ ok: true, flows: 16 })
  const sg = new SecurityGroups(sdn)
  sg.createSecurityGroup('web')
  await sg.authorizeIngress('web', { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0' })
  expect((await sg.attach({ uuid: v2.uuid, mac: v2.mac, ips: ['10.0.0.2'] }, ['web'])).hosts[h.name]).toEqual({ ok: true })
  const landed = ourFlows(h)
  expect(landed.some((l) => /ct\(/.test(l))).toBe(true)
  // The dump over 1.3 reads back as what was sent: nothing to repair.
  expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  const t = h.trace(`in_port=${v1.ofport},tcp,dl_src=${v1.mac},dl_dst=02:00:00:00:00:99,nw_src=10.0.0.1,nw_dst=10.0.0.9,tp_dst=1500`)
  expect(t.verdict).toBe('drop')
  // Open vSwitch's refusal of tracking comes as an OpenFlow 1.3 experimenter error: still named.
  h.appctl('dpif/set-dp-features', h.bridge, 'ct_state', 'false')
  try {
    sg.createSecurityGroup('db')
    const refused = await sg.attach({ uuid: h.vifs[2].uuid, mac: h.vifs[2].mac, ips: ['10.0.0.3'] }, ['db'])
    expect(refused.hosts[h.name]).toMatchObject({ ok: false, error: { code: 'SDN_CONNTRACK_UNSUPPORTED' } })
    expect(refused.hosts[h.name].error.cause.reason).toMatch(/^NXB[AM]C_CT_DATAPATH_SUPPORT$/)
  } finally {
    h.appctl('dpif/set-dp-features', h.bridge, 'ct_state', 'true')
  }
  expect((await sdn.sync()).hosts[h.name]).toMatchObject({ ok: true })
})
