'use strict'
// xo-sdn-native/testing: real Open vSwitch daemons on loopback laid out like XCP-ng hosts
// (TLS with a pool CA, XAPI-style self-signed host certificates, VIFs with XAPI's
// external_ids), to test code that drives xo-sdn-native. For tests and demos only: it
// starts processes and writes a temporary directory. It needs Open vSwitch and openssl
// installed; it installs them (apt-get, as root) only when asked: `installOvs: true` to
// startSandbox, or ensureOvs({ install: true }). Types: testing/index.d.ts.
//
//   const { startSandbox, controllerFor } = require('xo-sdn-native/testing')
//   const sb = await startSandbox({ hosts: 2 })
//   const sdn = controllerFor(sb)          // a SdnController that knows every host
//   const [v] = sb.hosts[0].vifs           // { name, ofport, uuid, mac, vmUuid, networkUuid, bridge }
//   await sdn.addRule({ vif: { uuid: v.uuid, mac: v.mac }, allow: false, protocol: 'ssh', direction: 'to' })
//   sb.hosts[0].trace('in_port=3,tcp,...') // the switch's own verdict
//   await sdn.close(); await sb.stop()

const { startSandbox, ensureOvs, ovsAvailable, stopDetached, freePorts, PROFILES, Sandbox, Host, parse } = require('./sandbox.js')
const { SdnController, TlsConfig } = require('../js/index.js')

/**
 * A SdnController for a started sandbox, ready to use: the pool CA and the client
 * certificate the sandbox made, and every host added with its address, its OVSDB and
 * OpenFlow TLS ports and its XAPI-style server certificate (host ids are the host
 * names, `xcp-host-1`...). `options` go to the SdnController; `syncIntervalMs`
 * defaults to 0 here (no periodic sync: a test syncs when it says so).
 */
function controllerFor(sandbox, options = {}) {
  if (!sandbox || !Array.isArray(sandbox.hosts) || !sandbox.pki) {
    const e = new TypeError('sandbox must be what startSandbox() resolved to')
    e.code = 'ERR_INVALID_ARG_TYPE'
    throw e
  }
  const { client, ca } = sandbox.pki
  const tls = options.tls || new TlsConfig({ clientCert: client.cert, clientKey: client.key, poolCa: ca.cert })
  const sdn = new SdnController({ syncIntervalMs: 0, ...options, tls })
  for (const h of sandbox.hosts) {
    sdn.addHost({ id: h.name, address: h.ip, ovsdbPort: h.ports.ovsdbSsl, openflowPort: h.ports.openflowSsl, serverCert: h.certs.server.cert })
  }
  return sdn
}

module.exports = {
  startSandbox,
  controllerFor,
  ensureOvs,
  ovsAvailable,
  stopDetached,
  freePorts,
  PROFILES,
  Sandbox,
  Host,
  parse,
}
