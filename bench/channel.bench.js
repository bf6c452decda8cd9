'use strict'
// OpenFlowChannel against a real Open vSwitch over TLS (the sandbox), compared in
// the same run with `ovs-ofctl -O OpenFlow11 add-flows` of the same flows.
//
//   node --expose-gc bench/channel.bench.js [--json] [--quick]
//
// Measures: barrier-confirmed FLOW_MOD throughput for 10k and 100k flows (from JS
// objects, encoding included; and from pre-encoded bytes), ovs-ofctl add-flows of
// the same flows over TLS and over its unix socket, RSS per idle channel, and the
// time to connect 50 channels.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { TlsConfig, OpenFlowChannel, encodeBatch } = require('..')
const { startSandbox } = require('../testing/sandbox.js')
// OpenFlow 1.1, as XCP-ng's bridges run it (XO's plugin sets protocols=OpenFlow11): this
// measures what XCP-ng runs, though the sandbox's bridges would also allow 1.3.
const OPENFLOW = ['1.1']

const quick = process.argv.includes('--quick')
const json = process.argv.includes('--json')
const log = json ? () => {} : console.log

function flowObjects(n, cookie) {
  const flows = new Array(n)
  for (let i = 0; i < n; i++) {
    flows[i] = {
      type: 'flow_mod',
      cookie,
      priority: 1000,
      match: { dlType: 0x800, nwSrc: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
      instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 'normal' }] }],
    }
  }
  return flows
}

function flowText(n, cookie) {
  const lines = new Array(n)
  for (let i = 0; i < n; i++) {
    lines[i] = `cookie=${cookie},priority=1000,ip,nw_src=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255},actions=normal`
  }
  return lines.join('\n') + '\n'
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6

async function main() {
  const sb = await startSandbox({ hosts: 1 })
  const results = { date: new Date().toISOString(), node: process.version, cases: [] }
  try {
    const h = sb.hosts[0]
    const tls = new TlsConfig({ clientCert: sb.pki.client.cert, clientKey: sb.pki.client.key, poolCa: sb.pki.ca.cert })
    const ch = new OpenFlowChannel({ host: h.ip, port: h.ports.openflowSsl, tls, serverCert: h.certs.server.cert, requestTimeoutMs: 120000, versions: OPENFLOW })
    await ch.connect()
    const ofctlTls = ['-p', sb.pki.client.keyPath, '-c', sb.pki.client.certPath, '-C', h.certs.server.certPath]
    // Connect 50 channels at once, then the memory they hold while idle.
    const N = 50
    global.gc?.()
    const rss0 = process.memoryUsage().rss
    const chans = Array.from({ length: N }, () => new OpenFlowChannel({ host: h.ip, port: h.ports.openflowSsl, tls, serverCert: h.certs.server.cert, versions: OPENFLOW }))
    const t0 = process.hrtime.bigint()
    await Promise.all(chans.map((c) => c.connect()))
    const connect50 = ms(t0)
    await new Promise((r) => setTimeout(r, 500))
    global.gc?.()
    const perChannel = (process.memoryUsage().rss - rss0) / N
    await Promise.all(chans.map((c) => c.close()))
    results.connect50Ms = connect50
    results.rssPerIdleChannelKiB = perChannel / 1024
    log(`connect ${N} TLS channels concurrently: ${connect50.toFixed(0)} ms`)
    log(`RSS per idle channel: ${(perChannel / 1024).toFixed(0)} KiB (process RSS delta / ${N})`)
    const tmp = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'xo-sdn-bench-'))

    for (const n of quick ? [10000] : [10000, 100000]) {
      h.ofctl('del-flows')
      const objects = flowObjects(n, 0x10n)
      let t0 = process.hrtime.bigint()
      await ch.addFlows(objects)
      const oursObjects = ms(t0)
      const count = Number((await ch.request({ type: 'stats_request', body: { type: 'aggregate' } })).body.flowCount)
      if (count < n) throw new Error(`only ${count} flows installed`)

      // Wire only: the same flows, pre-encoded, into an emptied table.
      h.ofctl('del-flows')
      const bytes = encodeBatch(objects)
      t0 = process.hrtime.bigint()
      await ch.sendEncoded(bytes)
      const oursWire = ms(t0)

      h.ofctl('del-flows')
      const file = path.join(tmp, `flows-${n}.txt`)
      fs.writeFileSync(file, flowText(n, '0x10'))
      t0 = process.hrtime.bigint()
      execFileSync('ovs-ofctl', ['-O', 'OpenFlow11', ...ofctlTls, 'add-flows', `ssl:${h.ip}:${h.ports.openflowSsl}`, file])
      const ofctlOverTls = ms(t0)
      h.ofctl('del-flows')
      t0 = process.hrtime.bigint()
      h.ofctl('add-flows', file)
      const ofctlUnix = ms(t0)

      const rate = (t) => Math.round(n / (t / 1000))
      const row = {
        flows: n,
        oursFromObjectsMs: oursObjects,
        oursFromBytesMs: oursWire,
        ofctlTlsMs: ofctlOverTls,
        ofctlUnixMs: ofctlUnix,
        oursFlowsPerSec: rate(oursObjects),
        oursWireFlowsPerSec: rate(oursWire),
        ofctlTlsFlowsPerSec: rate(ofctlOverTls),
        ratioVsOfctlTls: ofctlOverTls / oursObjects,
      }
      results.cases.push(row)
      log(`${n} flows, barrier-confirmed over TLS:`)
      log(`  ours, from JS objects (encode + send):  ${oursObjects.toFixed(0)} ms  ${rate(oursObjects)} flows/s`)
      log(`  ours, pre-encoded bytes:               ${oursWire.toFixed(0)} ms  ${rate(oursWire)} flows/s`)
      log(`  ovs-ofctl add-flows over TLS:          ${ofctlOverTls.toFixed(0)} ms  ${rate(ofctlOverTls)} flows/s`)
      log(`  ovs-ofctl add-flows, unix socket:      ${ofctlUnix.toFixed(0)} ms  ${rate(ofctlUnix)} flows/s`)
      log(`  ratio ours/ovs-ofctl (TLS): ${row.ratioVsOfctlTls.toFixed(1)}x   target >= 100k flows/s: ${rate(oursObjects) >= 100000 ? 'met' : 'MISSED'}` +
        ` (wire only: ${rate(oursWire) >= 100000 ? 'met' : 'MISSED'})`)
    }
    await ch.close()
    h.ofctl('del-flows')
    fs.rmSync(tmp, { recursive: true, force: true })
  } finally {
    await sb.stop()
  }
  if (json) console.log(JSON.stringify(results, null, 2))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
