'use strict'
// Shared set-up of the suites that drive SdnController against the sandbox: one
// set of real OVS hosts per suite (TLS like XCP-ng), controllers closed and the
// switches put back (running, none of our flows) after each test.

const { TlsConfig, SdnController } = require('..')
const { startSandbox } = require('../testing/sandbox.js')

/** ovs-ofctl's selector for every flow of ours (the cookie tag 0x5d4e), in every table (dump-flows). */
const OURS = 'cookie=0x5d4e000000000000/0xffff000000000000'
/** The tables our flows live in: the controller's, and the ingress stage of security groups after it. */
const OUR_TABLES = [0, 1]

/** Deletes every flow of ours on a host's bridge (an OF1.1 del-flows reaches one table). */
function deleteOurs(h, bridge = h.bridge) {
  for (const t of OUR_TABLES) h.ofctlOn(bridge, 'del-flows', `table=${t},${OURS}`)
}

/** Our flows on a host's bridge, as ovs-ofctl prints them (sorted, no counters). */
function ourFlows(h, bridge = 'br0') {
  return h
    .ofctlOn(bridge, 'dump-flows', '--no-stats', OURS)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('cookie='))
    .sort()
}

/**
 * Registers the jest hooks; returns `{ sb, tls, controller(hosts?, options?) }`
 * (`sb` and `tls` are set once beforeAll ran). `hostSpec(h)` names and addresses a
 * host in the controller; `cleanup(h)` removes what else a suite installs.
 */
function sdnSuite({ hosts = 1, nports = 4, bridges, hostSpec, cleanup } = {}) {
  const suite = { sb: null, tls: null }
  const controllers = []
  beforeAll(async () => {
    suite.sb = await startSandbox({ hosts, nports, ...(bridges ? { bridges } : {}) })
    suite.tls = new TlsConfig({ clientCert: suite.sb.pki.client.cert, clientKey: suite.sb.pki.client.key, poolCa: suite.sb.pki.ca.cert })
  }, 180000)
  afterAll(async () => {
    await suite.sb?.stop()
  })
  afterEach(async () => {
    await Promise.all(controllers.splice(0).map((c) => c.close()))
    for (const h of suite.sb?.hosts ?? []) {
      if (!h.dbRunning) await h.restartDb()
      if (!h.switchRunning) await h.restartSwitch()
      for (const b of h.bridges) deleteOurs(h, b.name)
      await cleanup?.(h)
    }
  })
  const specOf = hostSpec ?? ((h) => ({ id: h.name, address: h.ip, ovsdbPort: h.ports.ovsdbSsl, openflowPort: h.ports.openflowSsl, serverCert: h.certs.server.cert }))
  /**
   * A controller on `hosts` (default: all), fast reconnects; errors are asserted through
   * outcomes. OpenFlow 1.1, as on XCP-ng, whose bridges XO's plugin sets to OpenFlow11
   * (__test__/openflow13.test.js runs a controller over 1.3).
   */
  suite.controller = (on = suite.sb.hosts, options = {}) => {
    const fast = { reconnectMinMs: 50, reconnectMaxMs: 300 }
    const sdn = new SdnController({ tls: suite.tls, syncIntervalMs: 0, openflow: { ...fast, versions: ['1.1'] }, ovsdb: fast, ...options })
    sdn.on('error', () => {})
    for (const h of on) sdn.addHost(specOf(h))
    controllers.push(sdn)
    return sdn
  }
  return suite
}

module.exports = { sdnSuite, ourFlows, deleteOurs, OURS }
