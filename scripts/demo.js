'use strict'
// The main job (`npm run demo`): an embedded Open vSwitch laid out like an
// XCP-ng host (TLS with a pool CA, a self-signed host certificate), driven
// through the real API: traffic rules added to VIFs and a network, the flows
// as ovs-ofctl shows them, packet traces by the switch proving each verdict,
// counters read back, drift repaired, everything removed; then a security group
// and an elastic IP on one VIF, with their traces and an ARP answered by the
// controller.

const { TlsConfig, SdnController, SecurityGroups, ElasticIps } = require('xo-sdn-native')
const { startSandbox } = require('xo-sdn-native/testing')

// `--first-rule`: the seed rule alone, its flow and its verdicts (the packaging test runs this
// from an installed tarball, so it requires the package by name, as a user would).
const FIRST_RULE_ONLY = process.argv.includes('--first-rule')

const OURS = 'table=0,cookie=0x5d4e000000000000/0xffff000000000000'
const tty = process.stdout.isTTY
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[0m` : s)
const green = (s) => (tty ? `\x1b[32m${s}\x1b[0m` : s)
const red = (s) => (tty ? `\x1b[31m${s}\x1b[0m` : s)

function step(text) {
  const t0 = Date.now()
  process.stdout.write(`${text} … `)
  return (extra = '') => console.log(`done in ${Date.now() - t0} ms${extra ? ` ${extra}` : ''}`)
}

function ourFlows(h) {
  return h
    .ofctl('dump-flows', '--no-stats', OURS)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('cookie='))
}

function describe(rule) {
  const target = rule.vif ? `VIF ${rule.vif.mac}` : rule.network ? `network ${rule.network.uuid.slice(-12)}` : rule.vm ? `VM ${rule.vm.uuid}` : 'pool'
  const what = [rule.protocol === 'any' ? 'all traffic' : rule.protocol.toUpperCase(), rule.port !== undefined ? `port ${rule.port}` : '', rule.ipRange ? `${rule.direction === 'to' ? 'from' : 'to'} ${rule.ipRange}` : ''].filter(Boolean).join(' ')
  const dir = { from: 'sent by', to: 'delivered to', both: 'sent by or delivered to' }[rule.direction]
  return `${rule.allow ? 'ALLOW' : 'DENY '} ${what}, ${dir} ${target}`
}

async function main() {
  console.log(bold('xo-sdn-native demo: traffic rules on a real Open vSwitch\n'))
  let done = step('Starting the embedded Open vSwitch (ovsdb-server + ovs-vswitchd, TLS like XCP-ng; `npm run demo` installs it with apt if missing)')
  const sb = await startSandbox({ hosts: 1, nports: 3 })
  const h = sb.hosts[0]
  done(`(${h.name} at ${h.ip}: OVSDB ssl:${h.ports.ovsdbSsl}, OpenFlow ssl:${h.ports.openflowSsl})`)
  let sdn
  let failures = 0
  try {
    // The VIF of the seed example: ofport 4, MAC ae:f7:4b:84:6c:8b.
    const sipVif = { uuid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', mac: 'ae:f7:4b:84:6c:8b' }
    const sip = (dst, port) => `in_port=4,tcp,dl_src=${sipVif.mac},dl_dst=ff:ff:ff:ff:ff:ff,nw_src=192.168.5.242,nw_dst=${dst},tp_src=40000,tp_dst=${port}`
    const sipCases = [
      ['SIP from the VIF to 192.168.5.55', sip('192.168.5.55', 5060), 'drop'],
      ['SIP from the VIF to 192.168.5.56', sip('192.168.5.56', 5060), 'forward'],
      ['TCP 5061 from the VIF to 192.168.5.55', sip('192.168.5.55', 5061), 'forward'],
    ]
    h.vsctl('add-port', 'br0', 'vif4.0', '--', 'set', 'Interface', 'vif4.0', 'type=dummy', 'ofport_request=4', `external_ids:xs-vif-uuid=${sipVif.uuid}`, `external_ids:attached-mac="${sipVif.mac}"`, `external_ids:xs-network-uuid=${h.networkUuid}`)
    const vm1 = h.vifs[0]
    const vm2 = h.vifs[1]

    done = step('Connecting: client certificate signed by the pool CA, host authenticated by its XAPI certificate')
    const tls = new TlsConfig({ clientCert: sb.pki.client.cert, clientKey: sb.pki.client.key, poolCa: sb.pki.ca.cert })
    sdn = new SdnController({ tls, syncIntervalMs: 0 })
    sdn.addHost({ id: h.name, address: h.ip, ovsdbPort: h.ports.ovsdbSsl, openflowPort: h.ports.openflowSsl, serverCert: h.certs.server.cert })
    const first = await sdn.addRule({ vif: sipVif, allow: false, protocol: 'SIP', ipRange: '192.168.5.55', direction: 'from' })
    done()
    if (FIRST_RULE_ONLY) {
      const flows = ourFlows(h)
      console.log(`  per-host outcome: ${JSON.stringify(first.hosts)}`)
      console.log(bold('\nIts flow, as `ovs-ofctl dump-flows` shows it:'))
      for (const l of flows) console.log(`  ${l}`)
      if (flows.length !== 1) failures++
      console.log(bold('\nPackets traced by the switch (ovs-appctl ofproto/trace):'))
      for (const [label, flow, expected] of sipCases) {
        const t = h.trace(flow)
        if (t.verdict !== expected) failures++
        console.log(`  ${t.verdict === expected ? green('✔') : red('✘')} ${label.padEnd(54)} ${t.verdict === 'drop' ? 'dropped  ' : 'forwarded'}`)
      }
    } else {
      done = step('Adding the other rules (each confirmed by an OpenFlow barrier)')
      await sdn.addRule({ vif: { uuid: vm1.uuid, mac: vm1.mac }, allow: true, protocol: 'udp', port: 1212, ipRange: '12.0.0.0/12', direction: 'from/to' })
      await sdn.addRule({ vif: { uuid: vm1.uuid, mac: vm1.mac }, allow: false, protocol: 'udp', direction: 'both' })
      await sdn.addRule({ vif: { uuid: vm2.uuid, mac: vm2.mac }, allow: false, protocol: 'ssh', ipRange: '10.0.0.0/8', direction: 'to' })
      await sdn.addRule({ network: { uuid: h.networkUuid }, allow: false, protocol: 'icmp', icmpType: 8, direction: 'to' })
      done()
      console.log(`  per-host outcome of the first rule: ${JSON.stringify(first.hosts)}\n`)

      console.log(bold('Rules, in order (first match wins):'))
      for (const r of sdn.rules()) console.log(`  priority ${r.priority}  cookie ${r.cookie}  ${describe(r)}`)

      console.log(bold('\nFlows, as `ovs-ofctl dump-flows` shows them:'))
      for (const l of ourFlows(h)) console.log(`  ${l}`)

      console.log(bold('\nPackets traced by the switch (ovs-appctl ofproto/trace):'))
      const udpOut = (dst, port) => `in_port=1,udp,dl_src=${vm1.mac},dl_dst=ff:ff:ff:ff:ff:ff,nw_src=10.0.0.1,nw_dst=${dst},udp_src=5000,udp_dst=${port}`
      const udpIn = (src, port) => `in_port=3,udp,dl_src=${h.vifs[2].mac},dl_dst=${vm1.mac},nw_src=${src},nw_dst=10.0.0.1,udp_src=5000,udp_dst=${port}`
      const sshIn = (src) => `in_port=3,tcp,dl_src=${h.vifs[2].mac},dl_dst=${vm2.mac},nw_src=${src},nw_dst=10.0.0.2,tp_src=50000,tp_dst=22`
      const ping = (dstMac, type) => `in_port=3,icmp,dl_src=${h.vifs[2].mac},dl_dst=${dstMac},nw_src=10.0.0.3,nw_dst=10.0.0.9,icmp_type=${type},icmp_code=0`
      const cases = [
        ...sipCases,
        ['UDP 1212 from vif1 to 12.12.12.12 (allow above deny)', udpOut('12.12.12.12', 1212), 'forward'],
        ['UDP 1212 to vif1 from 12.1.2.3', udpIn('12.1.2.3', 1212), 'forward'],
        ['UDP 1213 from vif1 to 12.12.12.12 (deny all UDP)', udpOut('12.12.12.12', 1213), 'drop'],
        ['UDP 1212 from vif1 to 13.0.0.1 (outside 12/12)', udpOut('13.0.0.1', 1212), 'drop'],
        ['SSH to vif2 from 10.1.2.3', sshIn('10.1.2.3'), 'drop'],
        ['SSH to vif2 from 192.168.1.1', sshIn('192.168.1.1'), 'forward'],
        ['ping request to vif2 (network rule)', ping(vm2.mac, 8), 'drop'],
        ['ping reply to vif2', ping(vm2.mac, 0), 'forward'],
      ]
      for (const [label, flow, expected] of cases) {
        const t = h.trace(flow)
        const ok = t.verdict === expected
        if (!ok) failures++
        const by = t.priority !== undefined && t.priority !== null ? `priority ${t.priority}${t.cookie ? `, cookie 0x${t.cookie.toString(16)}` : ''}` : t.rule
        console.log(`  ${ok ? green('✔') : red('✘')} ${label.padEnd(54)} ${t.verdict === 'drop' ? 'dropped  ' : 'forwarded'} (${by})`)
      }

      done = step('\nInjecting 3 SIP packets from the VIF (netdev-dummy/receive) and reading the counters back')
      for (let i = 0; i < 3; i++) await h.inject('vif4.0', `tcp,dl_dst=ff:ff:ff:ff:ff:ff,nw_src=192.168.5.242,nw_dst=192.168.5.55,tp_src=40000,tp_dst=5060`)
      let listed
      for (let i = 0; i < 40; i++) {
        listed = await sdn.listRules({ vif: sipVif })
        if (listed.rules[0].hosts[h.name]?.packets === 3n) break
        await new Promise((r) => setTimeout(r, 100))
      }
      done()
      const r0 = listed.rules[0]
      const c = r0.hosts[h.name]
      console.log(`  ${describe(r0)}: ${r0.state}, ${c.present}/${c.expected} flows, ${c.packets} packets, ${c.bytes} bytes dropped`)
      if (c.packets !== 3n) failures++

      done = step('\nDrift: deleting one of our flows by hand with ovs-ofctl, then sync()')
      h.ofctl('del-flows', `table=0,cookie=${first.rule.cookie}/-1`)
      const s = await sdn.sync()
      done(`(${JSON.stringify(s.hosts[h.name])})`)

      done = step('\nRemoving every rule')
      for (const r of sdn.rules()) await sdn.deleteRule(r.id)
      done(`(${ourFlows(h).length} of our flows left)`)
      if (ourFlows(h).length !== 0) failures++

      console.log(bold("\nA stateful security group (Open vSwitch's connection tracker) and an elastic IP (EC2-style) on vif2:"))
      const sg = new SecurityGroups(sdn)
      const eip = new ElasticIps(sdn, { pools: ['203.0.113.0/28'], internal: ['10.0.0.0/8'], securityGroups: sg })
      done = step('  group "web": tcp 80 from anywhere, tcp 22 from 10.10.1.0/24; attached; 203.0.113.1 associated')
      sg.createSecurityGroup('web', 'demo')
      await sg.authorizeIngress('web', [
        { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0' },
        { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '10.10.1.0/24' },
      ])
      await sg.attach({ uuid: vm2.uuid, mac: vm2.mac, ips: ['10.0.0.2'] }, ['web'])
      const { publicIp } = eip.allocateAddress()
      await eip.associateAddress({ uuid: vm2.uuid, mac: vm2.mac, ip: '10.0.0.2' }, publicIp)
      done(`(${ourFlows(h).length} flows)`)
      const outside = (dst, port, src = '198.51.100.7') => `in_port=3,tcp,dl_src=${h.vifs[2].mac},dl_dst=${vm2.mac},nw_src=${src},nw_dst=${dst},tp_src=50000,tp_dst=${port}`
      const groupCases = [
        ['HTTP to vif2 from anywhere', outside('10.0.0.2', 80), 'forward'],
        ['SSH to vif2 from 10.10.1.5', outside('10.0.0.2', 22, '10.10.1.5'), 'forward'],
        ['SSH to vif2 from 198.51.100.7', outside('10.0.0.2', 22), 'drop'],
        ['MySQL to vif2 (default deny)', outside('10.0.0.2', 3306), 'drop'],
        [`HTTP to ${publicIp} (rewritten to 10.0.0.2)`, outside(publicIp, 80), 'forward', 'dst=10.0.0.2'],
        [`SSH to ${publicIp} from 198.51.100.7`, outside(publicIp, 22), 'drop'],
        ['reply from vif2 port 80 (source rewritten)', `in_port=2,tcp,dl_src=${vm2.mac},dl_dst=${h.vifs[2].mac},nw_src=10.0.0.2,nw_dst=198.51.100.7,tp_src=80,tp_dst=50000`, 'forward', `src=${publicIp}`],
      ]
      for (const [label, flow, expected, rewrite] of groupCases) {
        const t = h.trace(flow)
        // A tracked packet is traced in two passes (before and after the tracker): the rewrite is in the first.
        const datapath = [...t.raw.matchAll(/^Datapath actions: (.*)$/gm)].map((m) => m[1]).join(' ')
        const ok = t.verdict === expected && (!rewrite || datapath.includes(rewrite))
        if (!ok) failures++
        console.log(`  ${ok ? green('✔') : red('✘')} ${label.padEnd(54)} ${t.verdict === 'drop' ? 'dropped' : `forwarded${rewrite ? ` (${rewrite})` : ''}`}`)
      }
      done = step(`  ARP "who has ${publicIp}?" injected on vif3`)
      const answered = new Promise((resolve) => sdn.once('arpReply', resolve))
      await h.inject('vif3.0', `arp,dl_src=${h.vifs[2].mac},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_sha=${h.vifs[2].mac},arp_spa=10.0.0.3,arp_tpa=${publicIp}`)
      const arp = await Promise.race([answered, new Promise((resolve) => setTimeout(resolve, 3000, null))])
      done(arp ? `(the controller answered ${arp.publicIp} is-at ${arp.mac} by PACKET_OUT to port ${arp.port})` : '(no answer)')
      if (!arp || arp.mac !== vm2.mac) failures++
      await eip.releaseAddress(publicIp)
      await sg.detach(vm2.uuid)
      await sg.deleteSecurityGroup('web')
    }
  } finally {
    await sdn?.close()
    const d = step('Stopping the switch')
    await sb.stop()
    d()
  }
  console.log(failures === 0 ? green('\nEvery verdict is what the rules say.') : red(`\n${failures} verdict(s) differ from the rules.`))
  process.exit(failures === 0 ? 0 : 1)
}

main().catch((err) => {
  // A missing Open vSwitch (XO_SDN_OVS_MISSING) or native binary says what to do in one line.
  console.error(err && typeof err.code === 'string' && err.code.startsWith('XO_SDN_') ? `\n${err.message}` : err)
  process.exit(1)
})
