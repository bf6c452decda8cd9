'use strict'
// OvsdbClient against the sandbox's real ovsdb-server over TLS:
//  - 10,000 getOfPortForVif lookups through our replica, against XO's pattern in the
//    same run (a new TLS connection and one `select` per lookup, done with our own
//    client), printed as a ratio per lookup;
//  - transactions per second on one connection (sequential and pipelined).
//
//   node bench/ovsdb.bench.js [--json] [--quick]

const { TlsConfig, OvsdbClient, ovsdb } = require('..')
const { startSandbox } = require('../testing/sandbox.js')

const quick = process.argv.includes('--quick')
const json = process.argv.includes('--json')
const log = json ? () => {} : console.log
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6

async function main() {
  const sb = await startSandbox({ hosts: 1, nports: 16 })
  const out = { date: new Date().toISOString(), node: process.version }
  try {
    const h = sb.hosts[0]
    const tls = new TlsConfig({ clientCert: sb.pki.client.cert, clientKey: sb.pki.client.key, poolCa: sb.pki.ca.cert })
    const opts = { host: h.ip, port: h.ports.ovsdbSsl, tls, serverCert: h.certs.server.cert }
    const vifs = h.vifs.map((v) => v.uuid)

    const client = new OvsdbClient(opts)
    await client.connect()
    const N = 10000
    let t0 = process.hrtime.bigint()
    for (let i = 0; i < N; i++) await client.getOfPortForVif(vifs[i % vifs.length])
    const replicaMs = ms(t0)

    // XO's pattern: a new TLS connection and one select per lookup.
    const M = quick ? 20 : 100
    t0 = process.hrtime.bigint()
    for (let i = 0; i < M; i++) {
      const c = new OvsdbClient({ ...opts, tables: {} })
      await c.connect()
      const [r] = await c.transact([{ op: 'select', table: 'Interface', where: [['external_ids', 'includes', ovsdb.map({ 'xs-vif-uuid': vifs[i % vifs.length] })]], columns: ['ofport', 'name'] }])
      if (r.rows.length === 0) throw new Error('VIF not found')
      await c.close()
    }
    const xoMs = ms(t0)
    const perReplica = (replicaMs * 1e6) / N
    const perXo = (xoMs * 1e6) / M
    out.lookup = { replicaNsPerLookup: perReplica, xoPatternNsPerLookup: perXo, ratio: perXo / perReplica, replicaLookups: N, xoLookups: M }
    log(`getOfPortForVif: replica ${perReplica.toFixed(0)} ns/lookup (${N} lookups)`)
    log(`XO pattern (new TLS connection + select): ${(perXo / 1e6).toFixed(2)} ms/lookup (${M} lookups)`)
    log(`ratio: ${(perXo / perReplica).toFixed(0)}x`)

    // Transactions per second on one connection.
    const T = quick ? 500 : 2000
    const op = (i) => [{ op: 'mutate', table: 'Bridge', where: [['name', '==', 'br0']], mutations: [['external_ids', 'insert', ovsdb.map({ [`bench${i % 50}`]: 'x' })]] }]
    t0 = process.hrtime.bigint()
    for (let i = 0; i < T; i++) await client.transact(op(i))
    const seqMs = ms(t0)
    t0 = process.hrtime.bigint()
    await Promise.all(Array.from({ length: T }, (_, i) => client.transact(op(i))))
    const pipeMs = ms(t0)
    out.transactions = { count: T, sequentialPerSec: T / (seqMs / 1000), pipelinedPerSec: T / (pipeMs / 1000) }
    log(`transactions, one connection: ${(T / (seqMs / 1000)).toFixed(0)}/s one at a time, ${(T / (pipeMs / 1000)).toFixed(0)}/s pipelined (${T} each)`)
    await client.close()
  } finally {
    await sb.stop()
  }
  if (json) console.log(JSON.stringify(out, null, 2))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
