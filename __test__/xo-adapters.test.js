'use strict'
// js/xo-adapters.js: XO's OpenFlowChannel, OvsdbClient and traffic-rules backend on
// one SdnController, against real Open vSwitch hosts of the sandbox (TLS like
// XCP-ng): flows as ovs-ofctl shows them, verdicts of ofproto/trace, OVSDB rows as
// ovs-vsctl shows them.

const { EventEmitter } = require('node:events')
const { freePorts } = require('../testing/sandbox.js')
const { sdnSuite, OURS } = require('./sdn-suite.js')
const { createLegacyOpenFlowChannel, createOvsdbClientAdapter, createTrafficRulesBackend, defaultHostId, registerXapiHost, _internals } = require('../js/xo-adapters.js')
const { rejection, waitFor } = require('./helpers.js')

// Cookies the traffic-rules tests use (the engine's, outside our namespace).
const XO_COOKIES = ['0x0123456789abcdef', '0x00000000000000a1', '0x00000000000000b2', '0x00000000000000c3']

const suite = sdnSuite({
  hosts: 2,
  nports: 4,
  hostSpec: (h) => ({ id: xoHost(h).$ref, ...specOf(h) }),
  cleanup: (h) => {
    for (const c of XO_COOKIES) h.ofctl('del-flows', `cookie=${c}/-1`)
  },
})
let sb
beforeAll(() => {
  sb = suite.sb
})

// ---- XAPI-like objects for the sandbox hosts ----

/** A XAPI host as XO's xen-api client gives it (the fields the adapters read). */
function xoHost(h, networks = []) {
  return { $ref: `OpaqueRef:${h.name}`, uuid: `aaaaaaaa-0000-0000-0000-00000000000${h.index}`, address: h.ip, name_label: h.name, $PIFs: networks.map((n) => ({ $network: n })) }
}

/** What the controller needs to reach a sandbox host. */
const specOf = (h) => ({ address: h.ip, ovsdbPort: h.ports.ovsdbSsl, openflowPort: h.ports.openflowSsl, serverCert: h.certs.server.cert })

/** A XAPI network on `hosts` (its PIFs), bridge `br0` by default. */
function xoNetwork(hosts, { uuid = sb.hosts[0].networkUuid, bridge = 'br0' } = {}) {
  return { uuid, bridge, $PIFs: hosts.map((h) => ({ $host: h })) }
}

const xoVif = (v, { upper = false } = {}) => ({ uuid: v.uuid, MAC: upper ? v.mac.toUpperCase() : v.mac, device: '0' })

/** A controller with `hosts` registered under their XAPI $ref. */
const controller = (hosts, options) => suite.controller(hosts, options)

// ---- reading the switches ----

/** Flow lines of a dump (cookie 0 and priority 32768 are not printed by ovs-ofctl). */
function flowLines(text) {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('OFPST') && !l.startsWith('NXST'))
    .sort()
}

/** `ovs-ofctl -O OpenFlow11 dump-flows --no-stats` of a bridge (also one a test added). */
const dump = (h, bridge, filter) => flowLines(h.ofctlRaw('-O', 'OpenFlow11', 'dump-flows', `unix:${h.rundir}/${bridge}.mgmt`, '--no-stats', filter))
/** Our flows (the controller's namespace) on a host. */
const ourFlows = (h, bridge = 'br0') => dump(h, bridge, OURS)
/** The flows with one exact cookie. */
const cookieFlows = (h, cookie, bridge = 'br0') => dump(h, bridge, `cookie=${cookie}/-1`)
/** Every flow of br0. */
const allFlows = (h) => flowLines(h.ofctl('dump-flows', '--no-stats'))
const verdict = (h, flow) => h.trace(flow).verdict
const vifOf = (h, n) => h.bridges[0].vifs[n - 1]
/** ovs-ofctl prints cookies without leading zeros. */
const shortCookie = (c) => '0x' + BigInt(c).toString(16)

/** `ovs-vsctl get ...` values, one per line, without OVSDB string quotes. */
const vget = (h, ...args) =>
  h
    .vsctl('get', ...args)
    .trim()
    .split('\n')
    .map((l) => l.replace(/"/g, ''))

// ---------------------------------------------------------------------------
// Pure parts: no switch needed
// ---------------------------------------------------------------------------

describe('without a switch', () => {
  test('host ids: $ref, else uuid', () => {
    expect(defaultHostId({ $ref: 'OpaqueRef:1', uuid: 'u' })).toBe('OpaqueRef:1')
    expect(defaultHostId({ uuid: 'u' })).toBe('u')
  })

  test("XO's rule fields become a controller rule, in XO 1.4's meaning or the packet meaning", () => {
    const { legacyRule, clearHostBits, xoKey, xoRuleId } = _internals
    const tcp = { allow: false, protocol: 'TCP', port: 22, ipRange: '10.0.0.0/24' }
    // XO 1.4: TCP/UDP cover both packet directions; port = the VIF's own port for `from`, the remote one for `to`.
    expect(legacyRule({ ...tcp, direction: 'from' })).toEqual({ allow: false, protocol: 'tcp', port: 22, portSide: 'local', ipRange: '10.0.0.0/24', direction: 'both' })
    expect(legacyRule({ ...tcp, direction: 'to' })).toMatchObject({ portSide: 'remote', direction: 'both' })
    expect(legacyRule({ ...tcp, direction: 'from/to' })).toMatchObject({ portSide: 'either', direction: 'both' })
    expect(legacyRule({ ...tcp, port: undefined, direction: 'to' })).toEqual({ allow: false, protocol: 'tcp', ipRange: '10.0.0.0/24', direction: 'both' })
    expect(legacyRule({ allow: true, protocol: 'ICMP', port: 8, ipRange: '', direction: 'from' })).toEqual({ allow: true, protocol: 'icmp', icmpType: 8, direction: 'both' })
    // IP, ARP, all traffic: one way.
    expect(legacyRule({ allow: true, protocol: 'IP', ipRange: '10.0.0.1/24', direction: 'to' })).toEqual({ allow: true, protocol: 'ip', ipRange: '10.0.0.0/24', direction: 'to' })
    // XO5's "all traffic": no protocol, ipRange ''.
    expect(legacyRule({ allow: true, protocol: '', ipRange: '', direction: 'to', ofport: 4 })).toEqual({ allow: true, direction: 'to' })
    // The packet meaning: direction of the packet, port = its destination port.
    expect(legacyRule({ ...tcp, direction: 'from/to' }, 'packet')).toEqual({ allow: false, protocol: 'tcp', port: 22, ipRange: '10.0.0.0/24', direction: 'from/to' })
    expect(clearHostBits('10.0.0.1/24')).toBe('10.0.0.0/24')
    expect(clearHostBits('10.1.2.3/16')).toBe('10.1.0.0/16')
    expect(clearHostBits('192.168.5.55/32')).toBe('192.168.5.55/32')
    expect(clearHostBits('10.9.9.9/0')).toBe('0.0.0.0/0')
    expect(clearHostBits('10.0.0.1')).toBe('10.0.0.1')
    expect(clearHostBits('10.0.300.1/24')).toBe('10.0.300.1/24') // left for the validator to name
    // Identity: what XO's delete compares (allow excluded); case and host bits do not matter.
    expect(xoKey({ protocol: 'TCP', port: 22, ipRange: '10.0.0.1/24', direction: 'From' })).toBe(xoKey({ protocol: 'tcp', port: '22', ipRange: '10.0.0.0/24', direction: 'from', allow: true }))
    expect(xoKey({ protocol: 'TCP', port: 22, ipRange: '', direction: 'from' })).not.toBe(xoKey({ protocol: 'TCP', port: 22, ipRange: '', direction: 'to' }))
    const id = xoRuleId('vif', 'V', xoKey(tcp))
    expect(id).toMatch(/^xo-vif:v:[0-9a-f]{16}$/)
    expect(xoRuleId('vif', 'v', xoKey(tcp))).toBe(id)
  })

  test("sdncontroller.py's flows, from the OVSDB replica (untagged bridge, VLAN fake bridge, uplinks)", () => {
    const { networkTopology, pluginFlows, pluginRule } = _internals
    // br0: 2 VIFs, a NIC (type ''), a vxlan tunnel, its LOCAL port, and fake bridge
    // xapi1 (VLAN 100) with one VIF. Rows in the replica's natural notation.
    const iface = (uuid, name, type, ofport) => ({ _uuid: uuid, name, type, ofport })
    const port = (uuid, name, ifaces, tag = []) => ({ _uuid: uuid, name, interfaces: ifaces, tag })
    const rows = {
      Bridge: [{ _uuid: 'B0', name: 'br0', ports: ['P0', 'P1', 'P2', 'P3', 'P4', 'P5', 'P6'], external_ids: { 'xs-network-uuids': 'net0' } }],
      Port: [port('P0', 'br0', ['I0']), port('P1', 'vif1.0', ['I1']), port('P2', 'vif2.0', ['I2']), port('P3', 'eth0', ['I3']), port('P4', 'vx0', ['I4']), port('P5', 'xapi1', ['I5'], 100), port('P6', 'vif7.0', ['I6'], 100)],
      Interface: [iface('I0', 'br0', 'internal', 65534), iface('I1', 'vif1.0', '', 1), iface('I2', 'vif2.0', '', 2), iface('I3', 'eth0', '', 3), iface('I4', 'vx0', 'vxlan', 30), iface('I5', 'xapi1', 'internal', 6), iface('I6', 'vif7.0', '', 7)],
    }
    const db = { rows: (t) => rows[t], getBridgeForNetwork: (u) => (u === 'net0' ? 'br0' : undefined) }
    expect(networkTopology(db, { uuid: 'net0', bridge: 'br0' })).toEqual({ bridge: 'br0', vlan: undefined, ofports: [1, 2], uplinks: [3, 30] })
    expect(networkTopology(db, { uuid: 'net0' })).toEqual({ bridge: 'br0', vlan: undefined, ofports: [1, 2], uplinks: [3, 30] })
    expect(networkTopology(db, { uuid: 'vlan100', bridge: 'xapi1' })).toEqual({ bridge: 'br0', vlan: 100, ofports: [7], uplinks: [3, 30] })
    expect(networkTopology(db, { uuid: 'other', bridge: 'xapi9' })).toBeUndefined()

    const topo = networkTopology(db, { uuid: 'vlan100', bridge: 'xapi1' })
    const vifRule = pluginRule({ mac: 'AA:BB:CC:DD:EE:FF', allow: true, protocol: 'TCP', port: 22, ipRange: '10.0.0.0/24', direction: 'from/to' }, { needAllow: true })
    expect(pluginFlows(vifRule, topo, { actions: true })).toEqual([
      'tcp,dl_src=aa:bb:cc:dd:ee:ff,nw_dst=10.0.0.0/24,tp_dst=22 actions=normal',
      'tcp,dl_dst=aa:bb:cc:dd:ee:ff,nw_src=10.0.0.0/24,tp_src=22 actions=normal',
    ])
    const netRule = pluginRule({ allow: false, protocol: 'udp', port: '53', ipRange: '192.0.2.0/24', direction: 'TO' }, { needAllow: true })
    expect(pluginFlows(netRule, topo, { actions: true })).toEqual([
      'udp,in_port=7,nw_dst=192.0.2.0/24,tp_dst=53 actions=drop',
      'udp,dl_vlan=100,in_port=3,nw_dst=192.0.2.0/24,tp_dst=53 actions=drop',
      'udp,dl_vlan=100,in_port=30,nw_dst=192.0.2.0/24,tp_dst=53 actions=drop',
    ])
    // Untagged: uplinks match dl_vlan=0xffff (no 802.1Q header); deletes have no actions.
    expect(pluginFlows(pluginRule({ protocol: 'ip', ipRange: '10.0.0.1', direction: 'from' }, { needAllow: false }), networkTopology(db, { uuid: 'net0', bridge: 'br0' }), { actions: false })).toEqual([
      'ip,in_port=1,nw_src=10.0.0.1',
      'ip,in_port=2,nw_src=10.0.0.1',
      'ip,dl_vlan=65535,in_port=3,nw_src=10.0.0.1',
      'ip,dl_vlan=65535,in_port=30,nw_src=10.0.0.1',
    ])
    // No port of the network on this host: no flow (the plugin's error '4').
    expect(pluginFlows(netRule, { bridge: 'br1', ofports: [], uplinks: [3] }, { actions: true })).toEqual([])
  })

  test("engine rules are checked as sdncontroller.py checks them; TypeError/RangeError name the field", () => {
    const { pluginRule } = _internals
    const ok = { allow: true, protocol: 'tcp', port: 22, ipRange: '10.0.0.0/8', direction: 'to' }
    const bad = [
      [{ ...ok, protocol: 'gopher' }, TypeError, /protocol/],
      [{ ...ok, protocol: 6 }, TypeError, /protocol/],
      [{ ...ok, direction: 'both' }, TypeError, /direction/],
      [{ ...ok, mac: '02:00:00:00:01' }, TypeError, /mac/],
      [{ ...ok, ipRange: '10.0.0.0/33' }, TypeError, /ipRange/],
      [{ ...ok, ipRange: 'fe80::/64' }, TypeError, /ipRange/],
      [{ ...ok, port: 70000 }, RangeError, /port/],
      [{ ...ok, port: 'ssh' }, RangeError, /port/],
      [{ ...ok, protocol: 'ip' }, TypeError, /port/],
      [{ ...ok, allow: 'true' }, TypeError, /allow/],
    ]
    for (const [rule, Cls, re] of bad) {
      let err
      try {
        pluginRule(rule, { needAllow: true })
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(Cls)
      expect(err.message).toMatch(re)
    }
    expect(pluginRule({ ...ok, ipRange: '', port: undefined }, { needAllow: true })).toEqual({ protocol: 'tcp', to: true, from: false, allow: true })
  })

  test('the backend never throws: bad input fails every host the same way, nothing reaches the controller', async () => {
    const calls = []
    const fake = {
      hosts: () => [{ id: 'OpaqueRef:a' }, { id: 'OpaqueRef:b' }],
      addHost: () => {},
      ovsdbOf: async () => ({ rows: () => [], getBridgeForNetwork: () => undefined }),
      putForeignFlows: async (a) => calls.push(a),
      deleteForeignFlows: async (a) => calls.push(a),
    }
    const backend = createTrafficRulesBackend(fake)
    const a = { $ref: 'OpaqueRef:a' }
    const b = { $ref: 'OpaqueRef:b' }
    const net = { uuid: 'n', bridge: 'br0', $PIFs: [{ $host: a }, { $host: b }, { $host: a }] }
    expect(backend.hostsOf(net)).toEqual([a, b])
    const entry = { allow: true, protocol: 'tcp', port: 22, ipRange: '10.0.0.0/8', direction: 'to', priority: 65000, cookie: '0x0123456789abcdef' }
    for (const [e, Cls] of [
      [{ ...entry, protocol: 'gopher' }, TypeError],
      [{ ...entry, cookie: 'nope' }, TypeError],
      [{ ...entry, cookie: '0x123456789abcdef01' }, TypeError],
      [{ ...entry, priority: 70000 }, RangeError],
    ]) {
      const out = await backend.install(net, e)
      expect([...out.keys()]).toEqual(['OpaqueRef:a', 'OpaqueRef:b'])
      for (const err of out.values()) expect(err).toBeInstanceOf(Cls)
    }
    expect((await backend.deleteCookie(net, entry, 'zz')).get('OpaqueRef:a')).toBeInstanceOf(TypeError)
    expect((await backend.install(null, entry, [a])).get('OpaqueRef:a')).toBeInstanceOf(TypeError)
    // The network has no bridge on these hosts: install fails, deletes have nothing to do.
    expect((await backend.install(net, entry)).get('OpaqueRef:b')).toMatchObject({ code: 'SDN_NETWORK_NOT_FOUND' })
    expect([...(await backend.deleteCookie(net, entry, entry.cookie)).values()]).toEqual([undefined, undefined])
    expect([...(await backend.deleteLegacy(net, entry)).values()]).toEqual([undefined, undefined])
    // An unknown host without `register`.
    const c = { $ref: 'OpaqueRef:c' }
    expect((await backend.install(net, entry, [c])).get('OpaqueRef:c')).toMatchObject({ code: 'SDN_HOST_NOT_FOUND' })
    expect(await backend.supportsCookies(c)).toBeUndefined()
    expect(await backend.supportsCookies(a)).toBe(true)
    expect(calls).toEqual([])
  })

  test('adapters check their controller and options', () => {
    expect(() => createLegacyOpenFlowChannel(null)).toThrow(TypeError)
    expect(() => createTrafficRulesBackend({ hosts() {}, addHost() {}, ovsdbOf() {} })).toThrow(/putForeignFlows/)
    expect(() => createOvsdbClientAdapter({ hosts() {}, addHost() {} })).toThrow(/ovsdbOf/)
    const fake = { hosts: () => [], addHost() {}, addRule() {}, deleteRule() {}, updateRule() {}, getRule() {}, rules: () => [] }
    expect(() => createLegacyOpenFlowChannel(fake, { ifMissing: 'maybe' })).toThrow(TypeError)
    expect(() => createLegacyOpenFlowChannel(fake, { semantics: 'xo 1.3' })).toThrow(/semantics/)
    expect(() => createLegacyOpenFlowChannel(fake, { colour: 1 })).toThrow(/unknown option colour/)
    const Channel = createLegacyOpenFlowChannel(fake)
    expect(() => new Channel({})).toThrow(TypeError) // no $ref, no uuid
    const ch = new Channel({ uuid: 'u' }, 'tls helper')
    expect(ch).toBeInstanceOf(EventEmitter)
    expect(ch.hostId).toBe('u')
  })

  test("registerXapiHost: XO's host address and its XAPI certificate, asked of the host's own XAPI connection", async () => {
    const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
    const calls = []
    const $xapi = { call: async (...args) => (calls.push(args), PEM) }
    await expect(registerXapiHost({ $ref: 'OpaqueRef:h1', address: '10.0.0.1', $xapi })).resolves.toEqual({ address: '10.0.0.1', serverCert: PEM })
    expect(calls).toEqual([['host.get_server_certificate', 'OpaqueRef:h1']])
    await expect(registerXapiHost({ $ref: 'OpaqueRef:h1', address: '10.0.0.1' })).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('host.$xapi') })
    // A function is not a connection, though it has a `call` (Function.prototype.call).
    await expect(registerXapiHost({ $ref: 'OpaqueRef:h1', address: '10.0.0.1', $xapi: class Xapi {} })).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('host.$xapi') })
    // XAPI's own failure keeps its cause and says what could not be had.
    const down = Object.assign(new Error('HOST_OFFLINE'), { code: 'HOST_OFFLINE' })
    const refused = await registerXapiHost({ $ref: 'OpaqueRef:h1', address: '10.0.0.1', $xapi: { call: async () => Promise.reject(down) } }).catch((e) => e)
    expect(refused).toMatchObject({ code: 'SDN_HOST_CERT_UNAVAILABLE', host: 'OpaqueRef:h1', cause: down, message: expect.stringContaining('HOST_OFFLINE') })
    await expect(registerXapiHost({ address: '10.0.0.1', $xapi })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('host.$ref') })
    await expect(registerXapiHost({ $ref: 'OpaqueRef:h1', $xapi })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('host.address') })
    const noCert = { call: async () => '' }
    await expect(registerXapiHost({ $ref: 'OpaqueRef:h1', address: '10.0.0.1', $xapi: noCert })).rejects.toMatchObject({ code: 'SDN_HOST_CERT_UNAVAILABLE', host: 'OpaqueRef:h1' })
  })
})

// ---------------------------------------------------------------------------
// 1. XO's OpenFlowChannel
// ---------------------------------------------------------------------------

describe('legacy OpenFlowChannel', () => {
  test("semantics 'packet': XO's TCP rule from/to is one flow per packet direction, port = destination port, ofport ignored", async () => {
    const h = sb.hosts[0]
    const vif = vifOf(h, 1)
    const sdn = controller()
    const Channel = createLegacyOpenFlowChannel(sdn, { semantics: 'packet' })
    const host = xoHost(h)
    const ch = new Channel(host, { whatever: 'tlsHelper' })
    expect(ch.host).toBe(host)
    expect(ch.hostId).toBe(host.$ref)
    const r = await ch.addRule({ vif: xoVif(vif, { upper: true }), allow: false, protocol: 'TCP', port: 22, ipRange: '10.0.0.0/24', direction: 'from/to', ofport: 99 })
    expect(r.flows).toBe(2)
    expect(sdn.rules()).toEqual([expect.objectContaining({ vif: expect.objectContaining({ uuid: vif.uuid, mac: vif.mac }), allow: false, protocol: 'tcp', host: host.$ref })])
    const flows = ourFlows(h)
    expect(flows).toHaveLength(2)
    expect(flows).toContainEqual(expect.stringMatching(new RegExp(`tcp,in_port=1,dl_src=${vif.mac},nw_dst=10\\.0\\.0\\.0/24,tp_dst=22 actions=drop$`)))
    expect(flows).toContainEqual(expect.stringMatching(new RegExp(`tcp,dl_dst=${vif.mac},nw_src=10\\.0\\.0\\.0/24,tp_dst=22 actions=drop$`)))
    expect(ourFlows(sb.hosts[1])).toEqual([]) // restricted to this host
    const sent = (dst, dport) => `in_port=1,tcp,dl_src=${vif.mac},dl_dst=02:00:00:00:00:02,nw_src=192.168.0.1,nw_dst=${dst},tp_src=40000,tp_dst=${dport}`
    const received = (src, sport, dport) => `in_port=2,tcp,dl_src=02:00:00:00:00:02,dl_dst=${vif.mac},nw_src=${src},nw_dst=192.168.0.1,tp_src=${sport},tp_dst=${dport}`
    expect(verdict(h, sent('10.0.0.9', 22))).toBe('drop')
    expect(verdict(h, sent('10.0.0.9', 80))).toBe('forward')
    expect(verdict(h, sent('10.0.1.9', 22))).toBe('forward')
    expect(verdict(h, received('10.0.0.9', 40000, 22))).toBe('drop')
    // Unlike XO's channel (flows B/D), the replies of a conversation on port 22 are not matched.
    expect(verdict(h, received('10.0.0.9', 22, 40000))).toBe('forward')
  })

  test("XO5's all-traffic rule (no protocol, ipRange ''), `from` = what the VIF sends; host bits of a CIDR are cleared", async () => {
    const h = sb.hosts[0]
    const vif = vifOf(h, 2)
    const sdn = controller([h])
    const ch = new (createLegacyOpenFlowChannel(sdn))(xoHost(h))
    expect((await ch.addRule({ vif: xoVif(vif), allow: false, ipRange: '', direction: 'from' })).flows).toBe(1)
    expect(sdn.rules()[0].protocol).toBe('any')
    expect(verdict(h, `in_port=2,udp,dl_src=${vif.mac},dl_dst=02:00:00:00:00:03,nw_src=10.0.0.2,nw_dst=10.0.0.3,udp_src=1,udp_dst=2`)).toBe('drop')
    expect(verdict(h, `in_port=2,arp,dl_src=${vif.mac},dl_dst=ff:ff:ff:ff:ff:ff`)).toBe('drop')
    expect(verdict(h, `in_port=3,udp,dl_src=02:00:00:00:00:03,dl_dst=${vif.mac},nw_src=10.0.0.3,nw_dst=10.0.0.2,udp_src=1,udp_dst=2`)).toBe('forward')
    const { rule } = await ch.addRule({ vif: xoVif(vif), allow: false, protocol: 'IP', ipRange: '10.1.2.3/16', direction: 'to' })
    expect(rule.ipRange).toBe('10.1.0.0/16')
    expect(ourFlows(h)).toContainEqual(expect.stringContaining(`ip,dl_dst=${vif.mac},nw_src=10.1.0.0/16`))
  })

  test('the same match again: one rule, left alone when unchanged, updated in place (same priority) when its action changes', async () => {
    const h = sb.hosts[0]
    const vif = vifOf(h, 3)
    const sdn = controller([h])
    const ch = new (createLegacyOpenFlowChannel(sdn, { semantics: 'packet' }))(xoHost(h))
    const args = { vif: xoVif(vif), allow: false, protocol: 'TCP', port: 443, ipRange: '', direction: 'from' }
    const first = (await ch.addRule(args)).rule
    await ch.addRule({ vif: xoVif(vif), allow: false, protocol: 'udp', port: 53, direction: 'from' }) // another match, below
    const again = (await ch.addRule({ ...args, protocol: 'tcp' })).rule
    expect(again).toMatchObject({ id: first.id, priority: first.priority })
    expect(sdn.rules()).toHaveLength(2)
    // 'packet' semantics are the controller's: no range, so IPv4 and IPv6 flows.
    expect(ourFlows(h)).toHaveLength(4)
    expect(again.cookie).toBe(first.cookie) // XO re-adds every stored rule on connect: nothing to redo
    // Lost on the switch (by hand): the controller's repair restores it.
    h.ofctl('del-flows', `table=0,cookie=${again.cookie}/-1`)
    expect(ourFlows(h)).toHaveLength(2)
    await sdn.sync()
    expect(ourFlows(h)).toHaveLength(4)
    // Another action for the match: in place, XO's last ADD won in OVS too.
    const allowed = (await ch.addRule({ ...args, allow: true })).rule
    expect(allowed).toMatchObject({ id: first.id, priority: first.priority, allow: true })
    expect(sdn.rules().map((r) => r.id)).toEqual([first.id, expect.any(String)])
    expect(ourFlows(h).filter((l) => l.includes('tp_dst=443'))).toEqual([expect.stringContaining('actions=NORMAL'), expect.stringContaining('actions=NORMAL')])
  })

  test("deleteRule matches as XO: protocol in any case, allow ignored; a missing rule resolves (or is SDN_RULE_NOT_FOUND with ifMissing: 'reject')", async () => {
    const h = sb.hosts[0]
    const vif = vifOf(h, 4)
    const sdn = controller([h])
    const Channel = createLegacyOpenFlowChannel(sdn)
    const ch = new Channel(xoHost(h))
    const before = allFlows(h)
    await ch.addRule({ vif: xoVif(vif), allow: true, protocol: 'TCP', port: 22, ipRange: '10.0.0.0/8', direction: 'to' })
    await ch.addRule({ vif: xoVif(vif), allow: false, protocol: 'TCP', port: 23, ipRange: '10.0.0.0/8', direction: 'to' })
    // Not the legacy channel's: a rule on the same VIF for every host.
    const other = (await sdn.addRule({ vif: { uuid: vif.uuid, mac: vif.mac }, allow: false, protocol: 'tcp', port: 22, ipRange: '10.0.0.0/8', direction: 'to' })).rule
    const ids = sdn.rules().map((r) => r.id)
    const { deleted } = await ch.deleteRule({ vif: xoVif(vif), protocol: 'tcp', port: 22, ipRange: '10.0.0.0/8', direction: 'to', ofport: 4 })
    expect(deleted.map((r) => r.id)).toEqual([ids[0]])
    expect(sdn.rules().map((r) => r.id)).toEqual([ids[1], other.id])
    const e = await rejection(new (createLegacyOpenFlowChannel(sdn, { ifMissing: 'reject' }))(xoHost(h)).deleteRule({ vif: xoVif(vif), protocol: 'TCP', port: 22, ipRange: '10.0.0.0/8', direction: 'to' }))
    expect(e.code).toBe('SDN_RULE_NOT_FOUND')
    expect(await ch.deleteRule({ vif: xoVif(vif), protocol: 'TCP', port: 22, ipRange: '10.0.0.0/8', direction: 'to' })).toEqual({ deleted: [] })
    await ch.deleteRule({ vif: xoVif(vif), protocol: 'TCP', port: 23, ipRange: '10.0.0.0/8', direction: 'to' })
    await sdn.deleteRule(other.id)
    expect(allFlows(h)).toEqual(before)
  })

  test('errors are thrown: bad input before any I/O, a VIF on another host, an unknown host; nothing kept', async () => {
    const [a, b] = sb.hosts
    const sdn = controller([a])
    const Channel = createLegacyOpenFlowChannel(sdn)
    const ch = new Channel(xoHost(a))
    const vif = xoVif(vifOf(a, 1))
    const before = allFlows(a)
    const bad = [
      [{ vif, allow: false, protocol: 'gopher', direction: 'from' }, TypeError],
      [{ vif, allow: false, protocol: 'TCP', port: 70000, direction: 'from' }, RangeError],
      [{ vif, allow: false, ipRange: '10.0.0.0/8', direction: 'from' }, TypeError], // an address needs a protocol
      [{ vif, allow: 'false', protocol: 'TCP', direction: 'from' }, TypeError],
      [{ vif, allow: false, protocol: 'TCP', direction: 'sideways' }, TypeError],
      [{ vif: { uuid: vif.uuid }, allow: false, direction: 'from' }, TypeError],
      [{ vif: null, allow: false, direction: 'from' }, TypeError],
    ]
    for (const [args, Cls] of bad) expect(await rejection(ch.addRule(args))).toBeInstanceOf(Cls)
    expect(await rejection(ch.deleteRule({ vif, protocol: 'gopher', direction: 'from' }))).toBeInstanceOf(TypeError)
    // The VIF lives on host a; host b's channel does not find it.
    const chB = new (createLegacyOpenFlowChannel(sdn, { register: specOf.bind(null, b) }))(xoHost(b))
    expect((await rejection(chB.addRule({ vif, allow: false, protocol: 'TCP', port: 22, direction: 'from' }))).code).toBe('SDN_VIF_NOT_FOUND')
    expect(sdn.hosts().map((h) => h.id)).toContain(xoHost(b).$ref) // registered on first use
    expect((await rejection(new Channel({ $ref: 'OpaqueRef:nope', address: '127.0.0.99' }).addRule({ vif, allow: false, direction: 'from' }))).code).toBe('SDN_HOST_NOT_FOUND')
    expect(sdn.rules()).toEqual([])
    expect(allFlows(a)).toEqual(before)
  })

  test('a VIF that migrated: the copy left on the old host goes when XO re-adds the rule on the new one', async () => {
    const [a, b] = sb.hosts
    const sdn = controller()
    const Channel = createLegacyOpenFlowChannel(sdn)
    const [chA, chB] = [new Channel(xoHost(a)), new Channel(xoHost(b))]
    const uuid = '00000000-0000-0000-0300-0000000000cc'
    const mac = '02:00:03:00:00:cc'
    const plug = (h, ofport) => h.vsctl('add-port', 'br0', 'vif30.0', '--', 'set', 'Interface', 'vif30.0', 'type=dummy', `ofport_request=${ofport}`, `external_ids:xs-vif-uuid=${uuid}`, `external_ids:attached-mac="${mac}"`)
    const unplug = (h) => h.vsctl('--if-exists', 'del-port', 'br0', 'vif30.0')
    const args = { vif: { uuid, MAC: mac }, allow: false, protocol: 'TCP', port: 22, ipRange: '', direction: 'to' }
    try {
      plug(a, 30)
      await chA.addRule(args)
      // XO's meaning of TCP 22 `to`: the remote port 22, both packet directions.
      const both = [expect.stringContaining(`tcp,dl_dst=${mac},tp_src=22 `), expect.stringMatching(new RegExp(`tcp,in_port=\\d+,dl_src=${mac},tp_dst=22 `))]
      expect(ourFlows(a)).toEqual(both)
      // Migrated to b, XO's delete on a before it failed (or never came): XO re-adds on b.
      unplug(a)
      plug(b, 31)
      const { rule } = await chB.addRule(args)
      expect(sdn.rules()).toEqual([expect.objectContaining({ id: rule.id, host: xoHost(b).$ref })])
      expect(ourFlows(b)).toEqual(both)
      // Back on a: the stale copy does not come back with it.
      unplug(b)
      plug(a, 30)
      await new Promise((r) => setTimeout(r, 500))
      expect(ourFlows(a)).toEqual([])
      // XO deletes it through the channel of the VM's host (a): the copy on b goes too.
      expect((await chA.deleteRule(args)).deleted.map((r) => r.id)).toEqual([rule.id])
      expect(sdn.rules()).toEqual([])
    } finally {
      unplug(a)
      unplug(b)
    }
  })

  test('a switch down: addRule rejects and keeps nothing; deleteRule rejects and keeps the rule (same id, position)', async () => {
    const h = sb.hosts[1]
    const sdn = controller([h])
    const ch = new (createLegacyOpenFlowChannel(sdn))(xoHost(h))
    const v1 = xoVif(vifOf(h, 1))
    const v2 = xoVif(vifOf(h, 2))
    const kept = (await ch.addRule({ vif: v1, allow: false, protocol: 'TCP', port: 22, direction: 'to' })).rule
    await ch.addRule({ vif: v2, allow: false, protocol: 'TCP', port: 22, direction: 'to' })
    await h.killSwitch()
    const add = await rejection(ch.addRule({ vif: v1, allow: false, protocol: 'UDP', port: 53, direction: 'to' }))
    expect(add.code).toMatch(/^(CONNECT|CHANNEL_|TLS_|OF_)/)
    expect(sdn.rules()).toHaveLength(2)
    const del = await rejection(ch.deleteRule({ vif: v1, protocol: 'TCP', port: 22, ipRange: '', direction: 'to' }))
    expect(del.code).toMatch(/^(CONNECT|CHANNEL_|TLS_|OF_)/)
    expect(sdn.rules()[0]).toMatchObject({ id: kept.id, vif: expect.objectContaining({ uuid: v1.uuid }) })
    await h.restartSwitch()
    await waitFor(async () => (await sdn.sync()).hosts[xoHost(h).$ref].ok)
    expect((await ch.deleteRule({ vif: v1, protocol: 'TCP', port: 22, ipRange: '', direction: 'to' })).deleted).toHaveLength(1)
    expect(ourFlows(h)).toEqual([expect.stringContaining(`tcp,dl_dst=${v2.MAC},tp_src=22 `), expect.stringContaining(`tcp,in_port=2,dl_src=${v2.MAC},tp_dst=22 `)])
  })
})

// ---------------------------------------------------------------------------
// 2. XO's OvsdbClient
// ---------------------------------------------------------------------------

describe('OvsdbClient adapter', () => {
  const NET9 = '99999999-2222-3333-4444-555555555555'
  const NONE = '00000000-dead-0000-0000-000000000000'

  test("getOfPortForVif on the controller's own connection", async () => {
    const h = sb.hosts[0]
    const sdn = controller([h])
    const OvsdbClient = createOvsdbClientAdapter(sdn, { ofportTimeoutMs: 200 })
    const host = xoHost(h)
    const c = new OvsdbClient(host, { whatever: 'tlsHelper' })
    expect(c.host).toBe(host)
    expect(c.address).toBe(h.ip)
    expect(await c.getOfPortForVif({ uuid: vifOf(h, 2).uuid, MAC: vifOf(h, 2).mac })).toBe(2)
    expect(await c.getOfPortForVif(vifOf(h, 3).uuid)).toBe(3)
    expect(await c.client()).toBe(await sdn.ovsdbOf(host.$ref)) // one connection per host
    expect(sdn.hosts()[0].ovsdb).toBe(true)
    expect(await rejection(c.getOfPortForVif({ uuid: NONE }))).toMatchObject({ code: 'OVSDB_VIF_NOT_FOUND' })
    expect(await rejection(new OvsdbClient({ $ref: 'OpaqueRef:nope' }).getOfPortForVif(NONE))).toMatchObject({ code: 'SDN_HOST_NOT_FOUND' })
  })

  test('setBridgeController / ForNetwork: the target on each PIF network bridge, OpenFlow11 added, existing rows reused', async () => {
    const h = sb.hosts[0]
    const existing = h
      .vsctl('get-controller', 'br0')
      .split('\n')
      .find((t) => t.startsWith('pssl:'))
    h.vsctl('add-br', 'br9', '--', 'set', 'bridge', 'br9', 'datapath_type=dummy', `external_ids:xs-network-uuids=${NET9}`)
    try {
      const sdn = controller([h])
      const target = ({ bridge }) => (bridge === 'br0' ? existing : `punix:${h.rundir}/${bridge}.xo-test.sock`)
      const OvsdbClient = createOvsdbClientAdapter(sdn, { target })
      const net0 = { uuid: h.networkUuid, name_label: 'net0' }
      const net9 = { uuid: NET9 }
      const c = new OvsdbClient(xoHost(h, [net0, net9, undefined, { uuid: NONE }]))
      expect(await c.setBridgeControllerForNetwork(net9)).toEqual({ network: NET9, bridge: 'br9', target: `punix:${h.rundir}/br9.xo-test.sock`, changed: true })
      expect(h.vsctl('get-controller', 'br9').trim()).toBe(`punix:${h.rundir}/br9.xo-test.sock`)
      expect(vget(h, 'bridge', 'br9', 'protocols')).toEqual(['[OpenFlow11]'])
      expect(await c.setBridgeControllerForNetwork({ uuid: NONE })).toBeUndefined()
      const all = await c.setBridgeController()
      expect(all).toEqual([
        { network: h.networkUuid, bridge: 'br0', target: existing, changed: false },
        { network: NET9, bridge: 'br9', target: `punix:${h.rundir}/br9.xo-test.sock`, changed: false },
      ])
      expect(h.vsctl('get-controller', 'br0').split('\n').filter((t) => t === existing)).toHaveLength(1)
      expect(vget(h, 'bridge', 'br0', 'protocols')).toEqual(['[OpenFlow11, OpenFlow13]'])
    } finally {
      h.vsctl('--if-exists', 'del-br', 'br9')
    }
  })

  test('addInterfaceAndPort / resetForNetwork: one tunnel per remote, replaced when the password changes, removed by reset', async () => {
    const h = sb.hosts[0]
    const sdn = controller([h])
    const c = new (createOvsdbClientAdapter(sdn))(xoHost(h))
    const net0 = { uuid: h.networkUuid }
    const tunnels = () =>
      h
        .vsctl('list-ports', 'br0')
        .split('\n')
        .filter((p) => /^(vxlan|gre)/.test(p))
    // XO's private network: several hosts may add the same tunnel at once.
    const [b1, b2] = await Promise.all([c.addInterfaceAndPort(net0, '192.0.2.9', 'vxlan', '7', undefined, 'pn-xo'), c.addInterfaceAndPort(net0, '192.0.2.9', 'vxlan', '7', undefined, 'pn-xo')])
    expect([b1, b2]).toEqual(['br0', 'br0'])
    expect(tunnels()).toHaveLength(1)
    const [port] = tunnels()
    expect(vget(h, 'interface', port, 'type', 'options:remote_ip', 'options:key')).toEqual(['vxlan', '192.0.2.9', '7'])
    expect(vget(h, 'port', port, 'other_config:"xo:sdn-controller:private-network-uuid"')).toEqual(['pn-xo'])
    // Encrypted: a new password each time XO adds the host replaces the tunnel.
    await c.addInterfaceAndPort(net0, '192.0.2.9', 'vxlan', '7', 's3cret', 'pn-xo')
    expect(tunnels()).toHaveLength(1)
    expect(vget(h, 'interface', tunnels()[0], 'options:psk')).toEqual(['s3cret'])
    await c.addInterfaceAndPort(net0, '192.0.2.10', 'gre', '7', undefined, 'pn-xo')
    expect(tunnels()).toHaveLength(2)
    expect(await c.resetForNetwork(net0, 'pn-other')).toBe(0)
    expect(await c.resetForNetwork(net0, 'pn-xo')).toBe(2)
    expect(tunnels()).toEqual([])
    expect(await c.resetForNetwork(net0, 'pn-xo')).toBe(0)
    expect(await c.resetForNetwork({ uuid: NONE }, 'pn-xo')).toBe(0)
    expect(await rejection(c.addInterfaceAndPort({ uuid: NONE }, '192.0.2.9', 'gre', '7', undefined, 'pn-xo'))).toMatchObject({ code: 'OVSDB_BRIDGE_NOT_FOUND' })
  })
})

// ---------------------------------------------------------------------------
// 3. The traffic-rules engine's backend
// ---------------------------------------------------------------------------

describe('traffic-rules backend', () => {
  const none = (map) => [...map.values()].every((v) => v === undefined)

  function setup(hosts = sb.hosts, options) {
    const sdn = controller(hosts)
    const xo = sb.hosts.map((h) => xoHost(h))
    const backend = createTrafficRulesBackend(sdn, options)
    const network = xoNetwork(xo)
    return { sdn, xo, backend, network }
  }

  test("a VIF rule: the plugin's flow with the engine's priority and cookie, on every host of the network", async () => {
    const { xo, backend, network } = setup()
    const [a, b] = sb.hosts
    const vif = vifOf(a, 1)
    const entry = { mac: vif.mac.toUpperCase(), allow: false, protocol: 'TCP', port: 22, ipRange: '10.0.0.0/24', direction: 'to', priority: 65000, cookie: '0x0123456789abcdef' }
    const out = await backend.install(network, entry)
    expect(out).toEqual(new Map([[xo[0].$ref, undefined], [xo[1].$ref, undefined]]))
    const expected = `cookie=0x123456789abcdef, priority=65000,tcp,dl_src=${vif.mac},nw_dst=10.0.0.0/24,tp_dst=22 actions=drop`
    expect(cookieFlows(a, entry.cookie)).toEqual([expected])
    expect(cookieFlows(b, entry.cookie)).toEqual([expected])
    const sent = (dst, port) => `in_port=1,tcp,dl_src=${vif.mac},dl_dst=02:00:00:00:00:02,nw_src=192.168.0.1,nw_dst=${dst},tp_src=40000,tp_dst=${port}`
    expect(verdict(a, sent('10.0.0.5', 22))).toBe('drop')
    expect(verdict(a, sent('10.0.0.5', 23))).toBe('forward')
    // Installed again with both directions: the cookie's flows are replaced, not added to.
    expect(none(await backend.install(network, { ...entry, direction: 'from/to' }))).toBe(true)
    expect(cookieFlows(a, entry.cookie)).toEqual([expected, `cookie=0x123456789abcdef, priority=65000,tcp,dl_dst=${vif.mac},nw_src=10.0.0.0/24,tp_src=22 actions=drop`].sort())
    expect(verdict(a, `in_port=2,tcp,dl_src=02:00:00:00:00:02,dl_dst=${vif.mac},nw_src=10.0.0.5,nw_dst=192.168.0.1,tp_src=22,tp_dst=40000`)).toBe('drop')
    expect(none(await backend.install(network, { ...entry, port: 2222, allow: true }, [xo[0]]))).toBe(true)
    expect(cookieFlows(a, entry.cookie)).toEqual([`cookie=0x123456789abcdef, priority=65000,tcp,dl_src=${vif.mac},nw_dst=10.0.0.0/24,tp_dst=2222 actions=NORMAL`])
    expect(cookieFlows(b, entry.cookie)).toHaveLength(2) // not asked: unchanged
    expect(ourFlows(a)).toEqual([]) // nothing in the controller's own namespace
  })

  test('a network rule: one flow per port of the network and per uplink (dl_vlan=0xffff), nothing where it has no port', async () => {
    const { xo, backend } = setup()
    const [a, b] = sb.hosts
    a.vsctl('add-port', 'br0', 'vx0', '--', 'set', 'interface', 'vx0', 'type=vxlan', 'options:remote_ip=192.0.2.1', 'ofport_request=30')
    // br9 on host b: the network's bridge there, with an OpenFlow listener and no port.
    const [port] = await freePorts(b.ip, 1)
    b.vsctl('add-br', 'br9', '--', 'set', 'bridge', 'br9', 'datapath_type=dummy', 'other_config:hwaddr=02:ff:00:00:99:09', 'external_ids:xs-network-uuids=99999999-2222-3333-4444-555555555555')
    b.vsctl('set-controller', 'br9', `pssl:${port}:${b.ip}`)
    try {
      const network = xoNetwork(xo)
      const entry = { allow: false, protocol: 'udp', port: 53, ipRange: '', direction: 'from/to', priority: 64000, cookie: '0x00000000000000a1' }
      expect(none(await backend.install(network, entry))).toBe(true)
      const onA = cookieFlows(a, entry.cookie)
      expect(onA).toHaveLength(10) // (4 VIFs + 1 uplink) x 2 directions
      for (const p of [1, 2, 3, 4]) {
        expect(onA).toContainEqual(`cookie=0xa1, priority=64000,udp,in_port=${p},tp_dst=53 actions=drop`)
        expect(onA).toContainEqual(`cookie=0xa1, priority=64000,udp,in_port=${p},tp_src=53 actions=drop`)
      }
      expect(onA).toContainEqual('cookie=0xa1, priority=64000,udp,in_port=30,vlan_tci=0x0000/0x1fff,tp_dst=53 actions=drop')
      expect(cookieFlows(b, entry.cookie)).toHaveLength(8)
      expect(verdict(a, 'in_port=30,udp,dl_src=02:00:00:00:00:77,dl_dst=02:00:00:00:00:01,nw_src=10.0.0.7,nw_dst=10.0.0.1,udp_src=999,udp_dst=53')).toBe('drop')
      expect(verdict(a, 'in_port=30,udp,dl_src=02:00:00:00:00:77,dl_dst=02:00:00:00:00:01,nw_src=10.0.0.7,nw_dst=10.0.0.1,udp_src=999,udp_dst=54')).toBe('forward')
      // The other network, on host b only: no port there, so no flow, and a success.
      const net9 = xoNetwork([xo[1]], { uuid: '99999999-2222-3333-4444-555555555555', bridge: 'br9' })
      const c3 = { ...entry, cookie: '0x00000000000000c3' }
      expect(await backend.install(net9, c3)).toEqual(new Map([[xo[1].$ref, undefined]]))
      expect(cookieFlows(b, c3.cookie, 'br9')).toEqual([])
    } finally {
      a.vsctl('--if-exists', 'del-port', 'br0', 'vx0')
      b.vsctl('--if-exists', 'del-br', 'br9')
    }
  })

  test('OVS restarted (flows lost): the controller puts the engine\'s flows back, as its own', async () => {
    const { sdn, backend, network } = setup([sb.hosts[0]])
    const h = sb.hosts[0]
    const vif = vifOf(h, 3)
    const entry = { mac: vif.mac, allow: false, protocol: 'ip', ipRange: '192.0.2.0/24', direction: 'from/to', priority: 61000, cookie: '0x00000000000000a1' }
    expect(none(await backend.install(network, entry, [xoHost(h)]))).toBe(true)
    const installed = cookieFlows(h, entry.cookie)
    expect(installed).toHaveLength(2)
    const synced = new Promise((resolve) => sdn.once('synced', resolve))
    await h.restartSwitch()
    await synced
    expect(cookieFlows(h, entry.cookie)).toEqual(installed)
    // Deleted by cookie: forgotten, not restored by the next sync.
    await backend.deleteCookie(network, entry, entry.cookie, [xoHost(h)])
    h.ofctl('add-flow', `cookie=${entry.cookie},priority=61000,ip,dl_src=${vif.mac},actions=drop`) // someone else's now
    await waitFor(async () => (await sdn.sync()).hosts[xoHost(h).$ref].ok)
    expect(cookieFlows(h, entry.cookie)).toEqual([`cookie=0xa1, priority=61000,ip,dl_src=${vif.mac} actions=drop`])
  })

  test('deleteCookie removes exactly that cookie; deleteLegacy exactly the pre-cookie flows of the rule', async () => {
    const { xo, backend, network } = setup()
    const [a, b] = sb.hosts
    const vif = vifOf(a, 2)
    const entry = { mac: vif.mac, allow: false, protocol: 'tcp', port: 22, ipRange: '10.0.0.0/24', direction: 'to', priority: 65000, cookie: '0x00000000000000b2' }
    // Others' flows: XAPI's VIF locking (cookie 0x1), the plugin's legacy flows of
    // this rule and of another one (cookie 0, default priority), a legacy flow more
    // specific than the rule (also the plugin's: non-strict), another engine cookie.
    a.xapiLockVif(vif, { ips: ['10.0.0.2'] })
    const legacy = `tcp,dl_src=${vif.mac},nw_dst=10.0.0.0/24,tp_dst=22`
    a.ofctl('add-flow', `${legacy},actions=drop`)
    a.ofctl('add-flow', `tcp,dl_src=${vif.mac},nw_dst=10.0.0.0/24,tp_dst=80,actions=drop`)
    a.ofctl('add-flow', `tcp,in_port=2,${legacy.slice(4)},actions=drop`)
    a.ofctl('add-flow', `cookie=0xa1,priority=50000,${legacy},actions=drop`)
    expect(none(await backend.install(network, entry))).toBe(true)
    const before = allFlows(a)
    expect(await backend.deleteCookie(network, entry, entry.cookie)).toEqual(new Map([[xo[0].$ref, undefined], [xo[1].$ref, undefined]]))
    expect(cookieFlows(a, entry.cookie)).toEqual([])
    expect(cookieFlows(b, entry.cookie)).toEqual([])
    expect(allFlows(a)).toEqual(before.filter((l) => !l.startsWith('cookie=0xb2,')))
    const beforeLegacy = allFlows(a)
    expect(none(await backend.deleteLegacy(network, { mac: vif.mac, protocol: 'TCP', port: 22, ipRange: '10.0.0.0/24', direction: 'to' }))).toBe(true)
    const gone = beforeLegacy.filter((l) => !allFlows(a).includes(l))
    expect(gone).toHaveLength(2)
    expect(gone.every((l) => !l.startsWith('cookie=') && l.includes('tp_dst=22'))).toBe(true)
    // What the plugin could never have installed has no legacy flow: nothing sent.
    const kept = allFlows(a)
    expect(none(await backend.deleteLegacy(network, { mac: vif.mac, protocol: 'ip', ipRange: '', direction: 'from/to' }))).toBe(true)
    expect(none(await backend.deleteLegacy(network, { mac: vif.mac, protocol: 'tcp', ipRange: '10.0.0.0/24', direction: 'to' }))).toBe(true)
    expect(allFlows(a)).toEqual(kept)
    a.xapiUnlockVif(vif)
    a.ofctl('del-flows', `cookie=0/-1,tcp,dl_src=${vif.mac}`)
  })

  test("the controller's own cookies and priorities are refused, per host, nothing sent", async () => {
    const { xo, backend, network } = setup()
    const entry = { allow: false, protocol: 'tcp', port: 22, ipRange: '', direction: 'to', priority: 65000, cookie: '0x00000000000000a1' }
    const before = sb.hosts.map(allFlows)
    const ns = await backend.install(network, { ...entry, cookie: '0x5d4e000000000001' })
    const band = await backend.install(network, { ...entry, priority: 20000 })
    const xapi = await backend.install(network, { ...entry, cookie: '0x0000000000000001' })
    for (const ref of xo.map((x) => x.$ref)) {
      expect(ns.get(ref)).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
      expect(band.get(ref)).toMatchObject({ code: 'ERR_OUT_OF_RANGE' })
      expect(xapi.get(ref)).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
    }
    expect((await backend.deleteCookie(network, entry, '0x5d4e000000000001')).get(xo[0].$ref)).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
    expect(sb.hosts.map(allFlows)).toEqual(before)
  })

  test('a host down: its own Error in the map, the others succeed; supportsCookies says undefined until it is back', async () => {
    const { xo, backend, network } = setup()
    const [a, b] = sb.hosts
    expect(await backend.supportsCookies(xo[0])).toBe(true)
    await b.killSwitch()
    await b.stopDb()
    const entry = { allow: false, protocol: 'icmp', ipRange: '192.0.2.0/24', direction: 'from', priority: 63000, cookie: '0x00000000000000a1' }
    const out = await backend.install(network, entry)
    expect(out.get(xo[0].$ref)).toBeUndefined()
    expect(out.get(xo[1].$ref)).toBeInstanceOf(Error)
    expect(out.get(xo[1].$ref).code).toMatch(/^(CONNECT|CHANNEL_|TLS_)/)
    expect(cookieFlows(a, entry.cookie)).toHaveLength(4)
    expect(await backend.supportsCookies(xo[1])).toBeUndefined()
    await b.restartDb()
    await b.restartSwitch()
    let back
    for (let i = 0; i < 100 && back !== true; i++) {
      back = await backend.supportsCookies(xo[1])
      if (back !== true) await new Promise((r) => setTimeout(r, 100))
    }
    expect(back).toBe(true)
    backend.forgetHosts([xo[1]])
    expect(none(await backend.install(network, entry, [xo[1]]))).toBe(true)
    expect(cookieFlows(b, entry.cookie)).toHaveLength(4)
  })

  test('hosts unknown to the controller: SDN_HOST_NOT_FOUND, or registered on first use with `register`', async () => {
    const sdn = controller([])
    const xo = sb.hosts.map((h) => xoHost(h))
    const network = xoNetwork(xo)
    const entry = { allow: true, protocol: 'arp', ipRange: '', direction: 'to', priority: 62000, cookie: '0x00000000000000a1' }
    const plain = await createTrafficRulesBackend(sdn).install(network, entry)
    expect(plain.get(xo[0].$ref)).toMatchObject({ code: 'SDN_HOST_NOT_FOUND' })
    const register = jest.fn((host) => specOf(sb.hosts.find((h) => xoHost(h).$ref === host.$ref)))
    const backend = createTrafficRulesBackend(sdn, { register })
    const [o1, o2] = await Promise.all([backend.install(network, entry), backend.install(network, entry)])
    expect(none(o1) && none(o2)).toBe(true)
    expect(register).toHaveBeenCalledTimes(2) // once per host
    expect(sdn.hosts().map((h) => h.id).sort()).toEqual(xo.map((x) => x.$ref).sort())
    expect(cookieFlows(sb.hosts[0], entry.cookie)).toHaveLength(4)
  })
})
