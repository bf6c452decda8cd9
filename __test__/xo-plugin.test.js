'use strict'
// The acceptance test: XO's SDN Controller plugin (1.4.0) driving the adapters with
// its own call sequences (__test__/xo-plugin-driver.js), wired by the code block of
// the README's "Wiring into the XO plugin" section, run as it is printed, against
// real Open vSwitch hosts (TLS like XCP-ng, OVSDB on 6640 of each host address).
// Verdicts come from ofproto/trace, flows from ovs-ofctl dump-flows, and XO 1.4's
// own flows from its codec (@xen-orchestra/openflow, unchanged) sent to the switch.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { startSandbox } = require('../testing/sandbox.js')
const { OpenFlowChannel: NativeChannel, TlsConfig } = require('..')
const adapters = require('../js/xo-adapters.js')
const { xapiWorld, XoPlugin, OF_RULES } = require('./xo-plugin-driver.js')
const { deleteOurs, OURS } = require('./sdn-suite.js')
const { waitFor } = require('./helpers.js')

const XO_OPENFLOW = require('@xen-orchestra/openflow')
const xoCodec = XO_OPENFLOW.default ?? XO_OPENFLOW

let sb
let dataDir
beforeAll(async () => {
  sb = await startSandbox({ hosts: 2, nports: 4, ovsdbPort: 6640 })
}, 180000)
afterAll(async () => {
  await sb?.stop()
})

const running = [] // wirings to close after each test
beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xo-sdn-data-'))
})
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.sdn.close()))
  for (const h of sb.hosts) {
    if (!h.dbRunning) await h.restartDb()
    if (!h.switchRunning) await h.restartSwitch()
    deleteOurs(h)
  }
  fs.rmSync(dataDir, { recursive: true, force: true })
})

// ---- the README's wiring, run as printed ----

/** The code block after the README's `<!-- xo-plugin-wiring -->` marker. */
function readmeWiring() {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')
  const m = /<!-- xo-plugin-wiring -->\s*```js\n([\s\S]*?)```/.exec(readme)
  if (!m) throw new Error('README.md has no <!-- xo-plugin-wiring --> code block')
  return m[1]
}

/** A logger shaped like @xen-orchestra/log's, keeping what it is told. */
function recordingLogger() {
  const lines = []
  const at = (level) => (message, data) => lines.push({ level, message, data })
  return { lines, createLogger: () => ({ debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }) }
}

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor

/** Runs the README block in a plugin's `configure()` (its `this`: certificates, data dir). */
async function wire() {
  const modules = { 'node:path': path, 'xo-sdn-native': require('..'), 'xo-sdn-native/xo-adapters': adapters }
  const requireInBlock = (name) => {
    if (!(name in modules)) throw new Error(`the README wiring requires ${name}, which this test does not provide`)
    return modules[name]
  }
  const plugin = { _clientCert: sb.pki.client.cert, _clientKey: sb.pki.client.key, _caCert: sb.pki.ca.cert, _getDataDir: async () => dataDir }
  const log = recordingLogger()
  const run = new AsyncFunction('require', 'createLogger', `${readmeWiring()}\nreturn { sdn, OpenFlowChannel, OvsdbClient }`)
  const wiring = await run.call(plugin, requireInBlock, log.createLogger)
  wiring.log = log.lines
  running.push(wiring)
  return wiring
}

/** A plugin (new process state) on the README wiring, on `world` (XAPI state survives). */
async function startPlugin(world) {
  const wiring = await wire()
  const plugin = new XoPlugin(world, wiring)
  return { ...wiring, plugin }
}

// ---- reading the switches ----

const flowLines = (text) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes('actions='))
    .sort()
const ours = (h) => flowLines(h.ofctl('dump-flows', '--no-stats', OURS))
/** A flow without cookie and priority (what a rule means, not who put it there). */
const meaning = (line) =>
  line
    .replace(/cookie=0x[0-9a-f]+, ?/, '')
    .replace(/priority=\d+,?/, '')
    .replace(/send_flow_rem /, '')
    .trim()
const cookiesOf = (lines) => [...new Set(lines.map((l) => /cookie=(0x[0-9a-f]+)/.exec(l)?.[1]))]
const numberOf = (cookie) => BigInt(cookie) & ((1n << 40n) - 1n)

const verdict = (h, flow) => h.trace(flow).verdict
/** A TCP packet through a VIF of host h: sent by it (`out`) or delivered to it (`in`). */
function tcp(h, v, { out, vifPort, remote, remotePort }) {
  const peerMac = '02:00:00:00:ff:01'
  return out
    ? `in_port=${v.ofport},tcp,dl_src=${v.mac},dl_dst=${peerMac},nw_src=10.0.0.${v.ofport},nw_dst=${remote},tp_src=${vifPort},tp_dst=${remotePort}`
    : `in_port=${h.bridges[0].vifs.find((x) => x !== v).ofport},tcp,dl_src=${peerMac},dl_dst=${v.mac},nw_src=${remote},nw_dst=10.0.0.${v.ofport},tp_src=${remotePort},tp_dst=${vifPort}`
}
function icmp(h, v, { out, remote }) {
  const peerMac = '02:00:00:00:ff:01'
  const other = h.bridges[0].vifs.find((x) => x !== v).ofport
  return out
    ? `in_port=${v.ofport},icmp,dl_src=${v.mac},dl_dst=${peerMac},nw_src=10.0.0.${v.ofport},nw_dst=${remote},icmp_type=8,icmp_code=0`
    : `in_port=${other},icmp,dl_src=${peerMac},dl_dst=${v.mac},nw_src=${remote},nw_dst=10.0.0.${v.ofport},icmp_type=8,icmp_code=0`
}

// The seed: deny SIP (TCP 5060) from a VM's VIF to one address, stored as XO stores it.
const SIP = { allow: false, protocol: 'TCP', port: 5060, ipRange: '192.168.5.55', direction: 'from' }
const PING = { allow: false, protocol: 'ICMP', ipRange: '', direction: 'to' }

// ---------------------------------------------------------------------------

test('the README wiring attaches a logger: no background failure can reach an unhandled error event', async () => {
  const world = xapiWorld(sb)
  const { plugin, sdn, log } = await startPlugin(world)
  expect(sdn.listenerCount('error')).toBe(0)
  const [a] = sb.hosts
  await plugin._addRule({ ...SIP, vifId: world.vifOf(a, 1).$id })
  expect(plugin.errors()).toEqual([])
  // The switch dies under the controller: reconnects fail in the background, logged, never thrown.
  await a.killSwitch()
  await waitFor(() => log.some((l) => l.level === 'warn' && l.data?.host === world.hosts[0].$ref))
  expect(sdn.listenerCount('error')).toBe(0)
})

test('VIF rule add and delete: XO 1.4 meaning (the VIF port 5060, both ways), stored like XO, gone on delete', async () => {
  const world = xapiWorld(sb)
  const { plugin, sdn } = await startPlugin(world)
  const [a, b] = sb.hosts
  const vif = world.vifOf(a, 1)
  const v = vif.sandbox
  await plugin._addRule({ ...SIP, vifId: vif.$id })
  expect(plugin.errors()).toEqual([])
  expect(JSON.parse(vif.other_config[OF_RULES])).toEqual([JSON.stringify(SIP)])
  expect(ours(a).map(meaning)).toEqual(
    [`tcp,in_port=${v.ofport},dl_src=${v.mac},nw_dst=192.168.5.55,tp_src=5060 actions=drop`, `tcp,dl_dst=${v.mac},nw_src=192.168.5.55,tp_dst=5060 actions=drop`].sort(),
  )
  expect(ours(b)).toEqual([])
  expect(verdict(a, tcp(a, v, { out: true, vifPort: 5060, remote: '192.168.5.55', remotePort: 40000 }))).toBe('drop')
  expect(verdict(a, tcp(a, v, { out: false, vifPort: 5060, remote: '192.168.5.55', remotePort: 40000 }))).toBe('drop')
  expect(verdict(a, tcp(a, v, { out: true, vifPort: 40000, remote: '192.168.5.55', remotePort: 5060 }))).toBe('forward')
  expect(verdict(a, tcp(a, v, { out: true, vifPort: 5060, remote: '192.168.5.56', remotePort: 40000 }))).toBe('forward')
  // Rules of the VIF are one per stored rule in the controller, restricted to the VM's host.
  expect(sdn.rules()).toEqual([expect.objectContaining({ host: world.hosts[0].$ref, portSide: 'local', direction: 'both' })])

  await plugin._deleteRule({ ...SIP, vifId: vif.$id })
  expect(plugin.errors()).toEqual([])
  expect(vif.other_config[OF_RULES]).toBeUndefined()
  expect(ours(a)).toEqual([])
  expect(verdict(a, tcp(a, v, { out: true, vifPort: 5060, remote: '192.168.5.55', remotePort: 40000 }))).toBe('forward')
})

test('network rule add and delete: every VIF of the network on every host (XO 1.4 installed nothing)', async () => {
  const world = xapiWorld(sb)
  const { plugin } = await startPlugin(world)
  const [a, b] = sb.hosts
  await plugin._addNetworkRule({ ...PING, networkId: world.network.$id })
  expect(plugin.errors()).toEqual([])
  expect(JSON.parse(world.network.other_config[OF_RULES]).map(JSON.parse)).toEqual([{ ...PING, cookie: expect.any(String) }])
  for (const h of [a, b]) {
    // ICMP is one of XO's "L4" protocols: `to` covers both directions, per VIF.
    expect(ours(h)).toHaveLength(2 * h.bridges[0].vifs.length)
    for (const v of h.bridges[0].vifs) {
      expect(verdict(h, icmp(h, v, { out: false, remote: '10.1.1.1' }))).toBe('drop')
      expect(verdict(h, icmp(h, v, { out: true, remote: '10.1.1.1' }))).toBe('drop')
    }
    expect(verdict(h, tcp(h, h.bridges[0].vifs[0], { out: true, vifPort: 1, remote: '10.1.1.1', remotePort: 2 }))).toBe('forward')
  }
  await plugin._deleteNetworkOfRule({ ...PING, networkId: world.network.$id })
  expect(plugin.errors()).toEqual([])
  expect(world.network.other_config[OF_RULES]).toBeUndefined()
  for (const h of [a, b]) expect(ours(h)).toEqual([])
})

test('unplug then plug: the plugin cleans and re-applies; the flows follow (network rules too, on the new port)', async () => {
  const world = xapiWorld(sb)
  const { plugin } = await startPlugin(world)
  const [a] = sb.hosts
  const vif = world.vifOf(a, 2)
  const v = vif.sandbox
  await plugin._addRule({ ...SIP, vifId: vif.$id })
  await plugin._addNetworkRule({ ...PING, networkId: world.network.$id })
  const before = ours(a).length
  // `unplug` task seen: the plugin cleans before it completes, then the port goes.
  await plugin.vifUnplugging(vif)
  a.vsctl('del-port', 'br0', v.name)
  vif.currently_attached = false
  await waitFor(() => !ours(a).some((l) => l.includes(v.mac)))
  expect(JSON.parse(vif.other_config[OF_RULES])).toEqual([JSON.stringify(SIP)]) // still stored
  // `plug` task completed: the port is back (another ofport), the plugin re-applies.
  a.vsctl('add-port', 'br0', v.name, '--', 'set', 'Interface', v.name, 'type=dummy', 'ofport_request=12', `external_ids:xs-vif-uuid=${v.uuid}`, `external_ids:attached-mac="${v.mac}"`, `external_ids:xs-vm-uuid=${v.vmUuid}`)
  vif.currently_attached = true
  try {
    await waitFor(() => a.vsctl('get', 'Interface', v.name, 'ofport').trim() === '12')
    await plugin.vifPlugged(vif)
    expect(plugin.errors()).toEqual([])
    await waitFor(() => ours(a).length === before)
    expect(ours(a).filter((l) => l.includes(v.mac)).map(meaning).sort()).toEqual(
      [
        `tcp,in_port=12,dl_src=${v.mac},nw_dst=192.168.5.55,tp_src=5060 actions=drop`,
        `tcp,dl_dst=${v.mac},nw_src=192.168.5.55,tp_dst=5060 actions=drop`,
        `icmp,in_port=12,dl_src=${v.mac} actions=drop`,
        `icmp,dl_dst=${v.mac} actions=drop`,
      ].sort(),
    )
    expect(verdict(a, tcp(a, { ...v, ofport: 12 }, { out: true, vifPort: 5060, remote: '192.168.5.55', remotePort: 1 }))).toBe('drop')
  } finally {
    a.vsctl('--if-exists', 'del-port', 'br0', v.name)
    a.vsctl('add-port', 'br0', v.name, '--', 'set', 'Interface', v.name, 'type=dummy', `ofport_request=${v.ofport}`, `external_ids:xs-vif-uuid=${v.uuid}`, `external_ids:attached-mac="${v.mac}"`, `external_ids:xs-vm-uuid=${v.vmUuid}`, `external_ids:xs-network-uuid=${v.networkUuid}`)
  }
})

/** What the switches hold, per stored rule: its cookies (generations) and flows. */
function snapshot() {
  return sb.hosts.map((h) => ours(h))
}

test('plugin restart (new controller, the plugin re-applies its stored rules): one flow set per rule, no gap; then delete leaves nothing', async () => {
  const world = xapiWorld(sb)
  const [a, b] = sb.hosts
  const first = await startPlugin(world)
  const sipVif = world.vifOf(a, 1)
  const otherVif = world.vifOf(a, 3)
  const WEB = { allow: false, protocol: 'TCP', port: 80, ipRange: '10.0.0.0/8', direction: 'to' }
  await first.plugin._addRule({ ...SIP, vifId: sipVif.$id })
  await first.plugin._addRule({ ...WEB, vifId: otherVif.$id })
  await first.plugin._addNetworkRule({ ...PING, networkId: world.network.$id })
  expect(first.plugin.errors()).toEqual([])
  const installed = snapshot()
  const perHost = installed.map((lines) => lines.length)
  expect(perHost).toEqual([2 + 2 + 8, 8])

  // Traffic the SIP rule denies, traced in a loop across the restart.
  const v = sipVif.sandbox
  const denied = tcp(a, v, { out: true, vifPort: 5060, remote: '192.168.5.55', remotePort: 40000 })
  const seen = []
  let tracing = true
  const loop = (async () => {
    while (tracing) {
      seen.push(verdict(a, denied))
      await new Promise((r) => setTimeout(r, 5))
    }
  })()
  await waitFor(() => seen.length >= 3)

  // xo-server restarts: the plugin unloads (controller closed), a new one configures.
  const restartedAt = Date.now()
  await first.sdn.close()
  const second = await startPlugin(world)
  await second.plugin._handleConnectedXapi()
  await second.sdn.sync() // reads every switch back (also the first contact of those the re-apply did not touch)
  tracing = false
  await loop
  expect(second.plugin.errors()).toEqual([])
  expect(seen.length).toBeGreaterThan(3)
  expect(seen.filter((x) => x !== 'drop')).toEqual([])
  // Exactly the same flows: same cookies (no new generation), nothing added or removed,
  // and none deleted and put back meanwhile (a flow re-added has a younger duration).
  expect(snapshot()).toEqual(installed)
  const since = (Date.now() - restartedAt) / 1000
  for (const h of sb.hosts) {
    const ages = h.ofctl('dump-flows', OURS).split('\n').filter((l) => l.includes('cookie=')).map((l) => Number(/duration=([\d.]+)s/.exec(l)[1]))
    expect(ages.filter((age) => age < since)).toEqual([])
  }

  // Then the user deletes the rules: nothing of ours is left.
  await second.plugin._deleteRule({ ...SIP, vifId: sipVif.$id })
  await second.plugin._deleteRule({ ...WEB, vifId: otherVif.$id })
  await second.plugin._deleteNetworkOfRule({ ...PING, networkId: world.network.$id })
  expect(second.plugin.errors()).toEqual([])
  expect(snapshot()).toEqual([[], []])
  expect(verdict(a, denied)).toBe('forward')
  expect(b.ofctl('dump-flows', '--no-stats', OURS)).not.toContain('cookie=')
})

test('restart followed at once by a delete (no re-apply first): the rule is gone everywhere', async () => {
  const world = xapiWorld(sb)
  const [a, b] = sb.hosts
  const first = await startPlugin(world)
  await first.plugin._addRule({ ...SIP, vifId: world.vifOf(a, 1).$id })
  await first.plugin._addNetworkRule({ ...PING, networkId: world.network.$id })
  await first.sdn.close()
  const second = await startPlugin(world)
  await second.plugin._deleteRule({ ...SIP, vifId: world.vifOf(a, 1).$id })
  await second.plugin._deleteNetworkOfRule({ ...PING, networkId: world.network.$id })
  expect(second.plugin.errors()).toEqual([])
  expect(snapshot()).toEqual([[], []])
  expect(ours(b)).toEqual([])
})

test('without a state file the same restart keeps one generation per rule: the switch\'s generation is adopted', async () => {
  const world = xapiWorld(sb)
  const [a] = sb.hosts
  const Channel = (sdn) => adapters.createLegacyOpenFlowChannel(sdn, { register: adapters.registerXapiHost })
  const tls = new TlsConfig({ clientCert: sb.pki.client.cert, clientKey: sb.pki.client.key, poolCa: sb.pki.ca.cert })
  const { SdnController } = require('..')
  const host = world.hosts[0]
  const vif = world.vifOf(a, 1)
  const one = new SdnController({ tls, syncIntervalMs: 0, logger: recordingLogger().createLogger() })
  running.push({ sdn: one })
  const ch1 = new (Channel(one))(host)
  await ch1.addRule({ vif, ...SIP, allow: true }) // generation 0
  await ch1.addRule({ vif, ...SIP }) // allow -> deny: generation 1
  const installed = ours(a)
  expect(cookiesOf(installed).map((c) => (BigInt(c) >> 40n) & 0xffn)).toEqual([1n])
  await one.close()
  const two = new SdnController({ tls, syncIntervalMs: 0, logger: recordingLogger().createLogger() })
  running.push({ sdn: two })
  const ch2 = new (Channel(two))(host)
  await ch2.addRule({ vif, ...SIP })
  expect(ours(a)).toEqual(installed) // kept, generation 1 adopted
  await ch2.deleteRule({ vif, ...SIP })
  expect(ours(a)).toEqual([])
})

test('stable identity: two controllers in sequence, other insertion orders, the same cookie number per rule and never one for two rules', async () => {
  const world = xapiWorld(sb)
  const [a] = sb.hosts
  const stored = [
    [1, SIP],
    [2, { allow: true, protocol: 'UDP', port: 53, ipRange: '10.0.0.0/8', direction: 'from/to' }],
    [3, { allow: false, protocol: 'IP', ipRange: '172.16.0.0/12', direction: 'to' }],
    [4, { allow: false, protocol: 'ARP', ipRange: '', direction: 'from' }],
  ]
  const numbersAfter = async (order) => {
    const { plugin, sdn } = await startPlugin(world)
    for (const i of order) {
      const [n, rule] = stored[i]
      await plugin._addRule({ ...rule, vifId: world.vifOf(a, n).$id })
    }
    expect(plugin.errors()).toEqual([])
    const byRule = Object.fromEntries(sdn.rules().map((r) => [r.id, numberOf(r.cookie)]))
    for (const [n, rule] of stored) await plugin._deleteRule({ ...rule, vifId: world.vifOf(a, n).$id })
    await sdn.close()
    fs.rmSync(path.join(dataDir, 'sdn-state.json'), { force: true }) // no state: identity alone
    return byRule
  }
  const first = await numbersAfter([0, 1, 2, 3])
  const second = await numbersAfter([3, 1, 0, 2])
  expect(second).toEqual(first)
  expect(new Set(Object.values(first)).size).toBe(stored.length)
  // The direct API: the id is the identity.
  const { sdn } = await startPlugin(world)
  sdn.addHost({ id: world.hosts[0].$ref, address: a.ip, serverCert: a.certs.server.cert })
  const vif = world.vifOf(a, 1)
  const r1 = (await sdn.addRule({ id: 'sip', vif: { uuid: vif.uuid, mac: vif.MAC }, allow: false, protocol: 'sip', direction: 'from' })).rule
  await sdn.deleteRule('sip')
  const r2 = (await sdn.addRule({ id: 'http', vif: { uuid: vif.uuid, mac: vif.MAC }, allow: false, protocol: 'http', direction: 'from' })).rule
  const r3 = (await sdn.addRule({ id: 'sip', vif: { uuid: vif.uuid, mac: vif.MAC }, allow: false, protocol: 'sip', direction: 'from' })).rule
  expect(numberOf(r3.cookie)).toBe(numberOf(r1.cookie))
  expect(numberOf(r2.cookie)).not.toBe(numberOf(r1.cookie))
})

test('one host down: VIF rules of the healthy host install; a network rule installs there, is stored, and reaches the host when it is back', async () => {
  const world = xapiWorld(sb)
  const [a, b] = sb.hosts
  const { plugin, log } = await startPlugin(world)
  await b.stopDb()
  await b.killSwitch()
  await plugin._addRule({ ...SIP, vifId: world.vifOf(a, 1).$id })
  expect(plugin.errors()).toEqual([])
  expect(ours(a)).toHaveLength(2)
  await plugin._addNetworkRule({ ...PING, networkId: world.network.$id })
  // XO logs the partial failure and stores the rule; the controller keeps and retries it.
  expect(plugin.errors()).toEqual(['addNetworkRule: rule not added: SDN_PARTIAL_FAILURE'])
  expect(JSON.parse(world.network.other_config[OF_RULES])).toHaveLength(1)
  expect(ours(a)).toHaveLength(2 + 8)
  expect(log.some((l) => l.level !== 'debug')).toBe(true) // the unreachable host was reported
  await b.restartDb()
  await b.restartSwitch()
  await waitFor(() => ours(b).length === 8, 30000)
  for (const v of b.bridges[0].vifs) expect(verdict(b, icmp(b, v, { out: false, remote: '10.1.1.1' }))).toBe('drop')
})

// ---------------------------------------------------------------------------
// XO 1.4's meaning, proven against XO's own codec
// ---------------------------------------------------------------------------

/**
 * The FLOW_MODs XO 1.4's direct channel sends for a stored rule (read from
 * protocol/openflow-channel.js: addRule's four cases, `_flowModMessage`), packed by
 * XO's codec.
 */
function xoChannelFlowMods({ allow, protocol, port, ipRange, direction }, { mac, ofport }) {
  const of = xoCodec.protocols[xoCodec.versions.openFlow11]
  const proto = { IP: { dl_type: of.dlType.ip }, ICMP: { dl_type: of.dlType.ip, nw_proto: of.nwProto.icmp }, TCP: { dl_type: of.dlType.ip, nw_proto: of.nwProto.tcp }, UDP: { dl_type: of.dlType.ip, nw_proto: of.nwProto.udp }, ARP: { dl_type: of.dlType.arp } }[protocol] ?? {}
  let ip
  if (ipRange !== '') {
    const [addr, prefix] = ipRange.split('/')
    const wild = prefix === undefined ? undefined : ((2 ** (32 - Number(prefix)) - 1) >>> 0)
    ip = { addr, mask: wild === undefined ? undefined : [24, 16, 8, 0].map((s) => (wild >>> s) & 255).join('.') }
  }
  const instructions = [{ type: of.instructionType.applyActions, actions: allow ? [{ type: of.actionType.output, port: of.port.normal }] : [] }]
  const flow = (match) =>
    xoCodec.pack({ header: { version: xoCodec.versions.openFlow11, type: of.type.flowMod, xid: 1 }, command: of.flowModCommand.add, flags: of.flowModFlags.sendFlowRem, match: { type: of.matchType.standard, ...strip(match) }, instructions })
  const strip = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
  const l4 = proto.nw_proto !== undefined
  const out = []
  if (direction.includes('from')) {
    out.push(flow({ ...proto, dl_src: mac, nw_dst: ip?.addr, nw_dst_mask: ip?.mask, tp_src: port, in_port: ofport }))
    if (l4) out.push(flow({ ...proto, dl_dst: mac, nw_src: ip?.addr, nw_src_mask: ip?.mask, tp_dst: port }))
  }
  if (direction.includes('to')) {
    if (l4) out.push(flow({ ...proto, dl_src: mac, nw_dst: ip?.addr, nw_dst_mask: ip?.mask, tp_dst: port, in_port: ofport }))
    out.push(flow({ ...proto, dl_dst: mac, nw_src: ip?.addr, nw_src_mask: ip?.mask, tp_src: port }))
  }
  return out
}

const STORED = [
  { allow: false, protocol: 'TCP', port: 5060, ipRange: '192.168.5.55', direction: 'from' },
  { allow: false, protocol: 'TCP', port: 22, ipRange: '10.0.0.0/24', direction: 'to' },
  { allow: true, protocol: 'UDP', port: 1212, ipRange: '12.0.0.0/12', direction: 'from/to' },
  { allow: false, protocol: 'TCP', ipRange: '10.0.0.0/8', direction: 'from' },
  { allow: false, protocol: 'ICMP', ipRange: '', direction: 'to' },
  { allow: false, protocol: 'ICMP', ipRange: '10.9.0.0/16', direction: 'from/to' },
  { allow: false, protocol: 'IP', ipRange: '10.1.2.3/16', direction: 'to' },
  { allow: true, protocol: 'IP', ipRange: '172.16.0.0/12', direction: 'from/to' },
  { allow: false, protocol: 'ARP', ipRange: '10.0.0.1', direction: 'from' },
  { allow: false, ipRange: '', direction: 'from' },
  { allow: false, protocol: 'TCP', port: 25, ipRange: '', direction: 'both' },
  { allow: false, protocol: 'tcp', port: 443, ipRange: '10.0.0.0/8', direction: 'from' },
  { allow: false, protocol: 'ICMP', port: 8, ipRange: '', direction: 'from' },
]

describe("XO 1.4's meaning, recorded from XO's codec on the switch", () => {
  /** Flows (without cookie and priority) a set of FLOW_MODs leaves on a clean bridge. */
  async function xoInstalled(h, mods) {
    const ch = new NativeChannel({ host: h.ip, port: h.ports.openflowSsl, tls: new TlsConfig({ clientCert: sb.pki.client.cert, clientKey: sb.pki.client.key, poolCa: sb.pki.ca.cert }), serverCert: h.certs.server.cert })
    await ch.connect()
    try {
      // A FLOW_MOD the switch refuses installs nothing: that too is what XO 1.4 left.
      if (mods.length > 0) await ch.sendEncoded(Buffer.concat(mods)).catch((err) => {
        if (err.code !== 'OF_SWITCH_ERROR') throw err
      })
      // XO's flows: cookie 0 at the default priority 32768 (ovs-ofctl prints neither).
      const lines = flowLines(h.ofctl('dump-flows', '--no-stats', 'cookie=0/-1')).filter((l) => !/priority=/.test(l))
      for (const l of lines) h.ofctlRaw('-O', 'OpenFlow11', '--strict', 'del-flows', h.bridges[0].mgmt, l.replace(/ actions=.*$/, '').split(' ').pop())
      return lines.map(meaning).sort()
    } finally {
      await ch.close()
    }
  }

  test('each stored rule: the legacy channel installs exactly what XO 1.4 did, unless legacyRuleChanges names the difference', async () => {
    const world = xapiWorld(sb)
    const [a] = sb.hosts
    const { sdn } = await wire()
    const channels = {
      xo: new (adapters.createLegacyOpenFlowChannel(sdn, { register: async () => ({ address: a.ip, serverCert: a.certs.server.cert }) }))(world.hosts[0]),
      packet: new (adapters.createLegacyOpenFlowChannel(sdn, { semantics: 'packet', register: async () => ({ address: a.ip, serverCert: a.certs.server.cert }) }))(world.hosts[0]),
    }
    const vif = world.vifOf(a, 1)
    const v = vif.sandbox
    const report = adapters.legacyRuleChanges(STORED.map((r) => JSON.stringify(r)))
    const mismatches = []
    for (const [i, rule] of STORED.entries()) {
      const xo = await xoInstalled(a, xoChannelFlowMods({ ...rule, ipRange: rule.ipRange ?? '' }, { mac: v.mac, ofport: v.ofport }))
      for (const semantics of ['xo', 'packet']) {
        await channels[semantics].addRule({ vif, ...rule })
        const mine = ours(a).map(meaning).sort()
        await channels[semantics].deleteRule({ vif, ...rule })
        expect(ours(a)).toEqual([])
        const reported = report[i][semantics].map((c) => c.code)
        const same = JSON.stringify(mine) === JSON.stringify(xo)
        if (same !== (reported.length === 0)) mismatches.push({ rule, semantics, xo, mine, reported })
      }
    }
    expect(mismatches).toEqual([])
    // The default changes only what XO 1.4 could not have meant.
    expect(report.map((r) => r.xo.map((c) => c.code))).toEqual([[], [], [], [], [], [], [], [], [], [], ['DIRECTION_BOTH'], ['PROTOCOL_NOT_RECOGNIZED'], ['ICMP_PORT']])
    expect(report.filter((r) => r.packet.some((c) => c.code === 'PORT_SIDE'))).toHaveLength(5) // every TCP/UDP rule with a port
    expect(adapters.legacyRuleChanges([PING], { network: true })[0].xo.map((c) => c.code)).toEqual(['NETWORK_RULE'])
    // Without ipRange, 'packet' semantics (the controller's) cover IPv6 too; 'xo' keeps XO's IPv4.
    const [ssh] = adapters.legacyRuleChanges([{ allow: false, protocol: 'TCP', port: 22, ipRange: '', direction: 'from/to' }])
    expect([ssh.xo.map((c) => c.code), ssh.packet.map((c) => c.code)]).toEqual([[], ['PORT_SIDE', 'IPV6']])
  })
})
