'use strict'
// Security groups against a real Open vSwitch over TLS (the sandbox): one group
// of 20 permissions attached to 100 VIFs of one host, applied and
// barrier-confirmed, and the flows it costs (the formula is in the README).
//
//   node bench/security-groups.bench.js [--json]

const { TlsConfig, SdnController, SecurityGroups } = require('..')
const { startSandbox } = require('../testing/sandbox.js')
// OpenFlow 1.1, as XCP-ng's bridges run it (XO's plugin sets protocols=OpenFlow11): this
// measures what XCP-ng runs, though the sandbox's bridges would also allow 1.3.
const OPENFLOW = ['1.1']

const json = process.argv.includes('--json')
const log = json ? () => {} : console.log
const VIFS = 100
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6

/** 20 permissions: 16 single TCP ports from anywhere, 2 UDP ports from a /16, SSH from a /24, ICMP echo. */
function permissions() {
  const out = []
  for (let i = 0; i < 16; i++) out.push({ protocol: 'tcp', fromPort: 8000 + i, toPort: 8000 + i, cidr: '0.0.0.0/0' })
  out.push({ protocol: 'udp', fromPort: 53, toPort: 53, cidr: '10.1.0.0/16' }, { protocol: 'udp', fromPort: 123, toPort: 123, cidr: '10.1.0.0/16' })
  out.push({ protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '10.10.1.0/24' }, { protocol: 'icmp', fromPort: 8, toPort: -1, cidr: '0.0.0.0/0' })
  return out
}

async function main() {
  const sb = await startSandbox({ hosts: 1, nports: VIFS })
  const h = sb.hosts[0]
  const tls = new TlsConfig({ clientCert: sb.pki.client.cert, clientKey: sb.pki.client.key, poolCa: sb.pki.ca.cert })
  /**
   * A controller of its own and the 20-permission group 'web' in `mode`, not attached
   * yet; the connections (OVSDB replica, OpenFlow channel) are warmed on one VIF of
   * another group.
   */
  async function groupIn(mode) {
    const sdn = new SdnController({ tls, syncIntervalMs: 0, openflow: { requestTimeoutMs: 120000, versions: OPENFLOW } })
    sdn.addHost({ id: h.name, address: h.ip, ovsdbPort: h.ports.ovsdbSsl, openflowPort: h.ports.openflowSsl, serverCert: h.certs.server.cert })
    const sg = new SecurityGroups(sdn, { stateful: mode === 'stateful' })
    sg.createSecurityGroup('warm')
    await sg.attach({ uuid: h.vifs[0].uuid, mac: h.vifs[0].mac }, ['warm'])
    await sg.detach(h.vifs[0].uuid)
    sg.createSecurityGroup('web', '20 permissions')
    await sg.authorizeIngress('web', permissions())
    return { sdn, sg }
  }
  /** Every VIF, with an address of its own. */
  const everyVif = () => h.vifs.map((v, i) => ({ uuid: v.uuid, mac: v.mac, ips: [`10.0.${i >> 8}.${i & 255}`] }))
  const results = { date: new Date().toISOString(), vifs: VIFS, cases: {} }
  let sdn
  let stateful
  try {
    let sg
    ;({ sdn, sg } = await groupIn('stateless'))
    // Both stages: egress verdicts in table 0, ingress verdicts in table 1.
    const count = () => [0, 1].reduce((n, t) => n + Number(/flow_count=(\d+)/.exec(h.ofctl('dump-aggregate', `table=${t},cookie=0x5d4e000000000000/0xffff000000000000`))[1]), 0)

    log(`» one group of 20 permissions attached to ${VIFS} VIFs (one attach call)`)
    let t0 = process.hrtime.bigint()
    const outcome = await sg.attach(everyVif(), ['web'])
    const attachMs = ms(t0)
    if (!outcome.hosts[h.name].ok) throw outcome.hosts[h.name].error
    const flows = count()
    log(`   ${attachMs.toFixed(0)} ms, ${flows} flows (${flows / VIFS} per VIF)`)

    log('» the same group, one more permission, pushed to all 100 VIFs in one call (make-before-break)')
    t0 = process.hrtime.bigint()
    await sg.authorizeIngress('web', { protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '0.0.0.0/0' })
    const updateMs = ms(t0)
    log(`   ${updateMs.toFixed(0)} ms, ${count()} flows`)

    log('» egress restricted (default egress revoked): the replies of the 21 inbound permissions are added')
    t0 = process.hrtime.bigint()
    await sg.revokeEgress('web', { protocol: 'all', cidr: '0.0.0.0/0' })
    const restrictMs = ms(t0)
    const restrictedFlows = count()
    log(`   ${restrictMs.toFixed(0)} ms, ${restrictedFlows} flows (${restrictedFlows / VIFS} per VIF)`)

    // The same group stateful, in a controller of its own (the first one's flows removed).
    await sdn.close()
    for (const t of [0, 1]) h.ofctl('del-flows', `table=${t},cookie=0x5d4e000000000000/0xffff000000000000`)
    let ssg
    ;({ sdn: stateful, sg: ssg } = await groupIn('stateful'))
    log(`» the same group, stateful (connection tracking), attached to ${VIFS} VIFs`)
    t0 = process.hrtime.bigint()
    const tracked = await ssg.attach(everyVif(), ['web'])
    const statefulMs = ms(t0)
    if (!tracked.hosts[h.name].ok) throw tracked.hosts[h.name].error
    const statefulFlows = count()
    log(`   ${statefulMs.toFixed(0)} ms, ${statefulFlows} flows (${statefulFlows / VIFS} per VIF)`)

    results.cases = {
      attach100: { ms: attachMs, flows, target: 250, met: attachMs < 250, issue11Target: 50, issue11Met: attachMs < 50 },
      authorizeOnce: { ms: updateMs },
      restrictEgress: { ms: restrictMs, flows: restrictedFlows },
      attach100Stateful: { ms: statefulMs, flows: statefulFlows },
    }
    log('')
    log(`20-permission group on ${VIFS} VIFs: ${attachMs.toFixed(0)} ms, ${flows} flows (target < 250 ms: ${attachMs < 250 ? 'met' : 'MISSED'}; issue 11's < 50 ms: ${attachMs < 50 ? 'met' : 'MISSED'}); stateful ${statefulMs.toFixed(0)} ms, ${statefulFlows} flows`)
    if (json) console.log(JSON.stringify(results, null, 2))
  } finally {
    await sdn?.close()
    await stateful?.close()
    await sb.stop()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
