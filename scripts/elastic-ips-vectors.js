'use strict'
// Writes what ElasticIps#items() gives for a few scenarios (no switch, no I/O) to
// tests/vectors/elastic_ips.json, with the inputs the Rust module takes: the rules
// the security groups derive for the VIF, the interfaces, the cookie. The vectors
// were first written by the JS implementation of the flows (js/elastic-ips.js at
// 4e88dc6); src/policy/elastic_ips.rs and __test__/elastic-ips-flows.test.js check
// that the Rust one gives the same bytes. `node scripts/elastic-ips-vectors.js [--check]`
// (write, or compare with the file).

const fs = require('node:fs')
const path = require('node:path')
const { SdnController, SecurityGroups, ElasticIps } = require('..')

const OUT = path.join(__dirname, '..', 'tests', 'vectors', 'elastic_ips.json')
const VIF1 = { uuid: '00000000-0000-4000-8000-000000000001', mac: '02:00:00:00:00:01', ip: '10.0.0.1' }
const VIF2 = { uuid: '00000000-0000-4000-8000-000000000002', mac: '02:00:00:00:00:02', ip: '10.0.0.2' }
const INTERFACES = [
  ['xenbr0', [
    { name: 'vif1.0', ofport: 1, vifUuid: VIF1.uuid, mac: VIF1.mac, networks: [] },
    { name: 'tap1.0', ofport: 7, vifUuid: VIF1.uuid, mac: VIF1.mac, networks: [] },
    { name: 'vif2.0', ofport: 2, vifUuid: VIF2.uuid, mac: VIF2.mac, networks: [] },
    { name: 'eth0', ofport: 3, networks: [] },
  ]],
  ['xapi1', [{ name: 'vif1.1', ofport: 5, vifUuid: VIF1.uuid, mac: VIF1.mac, networks: [] }]],
]

const SCENARIOS = [
  { name: 'no groups', internal: ['10.0.0.0/8', '192.168.0.0/16'], groups: null },
  { name: 'no groups, no internal ranges', internal: [], groups: null },
  {
    name: 'groups, egress open',
    internal: ['10.0.0.0/8'],
    groups: {
      ingress: [
        { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0' },
        { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '198.51.100.0/24' },
        { protocol: 'icmp', fromPort: 8, toPort: 0, cidr: '0.0.0.0/0' },
      ],
      egress: 'all',
    },
  },
  {
    name: 'groups, egress restricted',
    internal: ['10.0.0.0/8', '172.16.5.0/24'],
    groups: {
      ingress: [
        { protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '0.0.0.0/0' },
        { protocol: 'udp', fromPort: 5000, toPort: 5002, cidr: '10.9.0.0/16' },
        { protocol: 'all', cidr: '192.0.2.0/24' },
      ],
      egress: [
        { protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '0.0.0.0/0' },
        { protocol: 'udp', fromPort: 53, toPort: 53, cidr: '10.1.0.0/16' },
        { protocol: 'tcp', fromPort: 5432, toPort: 5432, cidr: '10.0.0.0/8' },
        { protocol: 'tcp', fromPort: 25, toPort: 25, cidr: '172.16.0.0/12' },
        { protocol: 'icmp', cidr: '198.51.100.0/24' },
      ],
    },
  },
]

async function scenario(s) {
  const sdn = new SdnController({ syncIntervalMs: 0 })
  try {
    const sg = s.groups ? new SecurityGroups(sdn, { stateful: false }) : undefined
    const eip = new ElasticIps(sdn, { pools: ['203.0.113.0/28'], internal: s.internal, securityGroups: sg })
    if (s.groups) {
      sg.createSecurityGroup('g')
      for (const p of s.groups.ingress) await sg.authorizeIngress('g', p)
      if (s.groups.egress !== 'all') {
        await sg.revokeEgress('g', { protocol: 'all', cidr: '0.0.0.0/0' })
        for (const p of s.groups.egress) await sg.authorizeEgress('g', p)
      }
      await sg.attach({ uuid: VIF1.uuid, mac: VIF1.mac, ips: [VIF1.ip] }, ['g'])
    }
    const { publicIp } = eip.allocateAddress()
    await eip.associateAddress(VIF1, publicIp)
    const items = eip.items('h1', new Map(INTERFACES))
    const address = eip.exportState().addresses[0]
    return {
      name: s.name,
      pools: ['203.0.113.0/28'],
      internal: s.internal,
      publicIp,
      number: address.number,
      generation: address.generation,
      vif: VIF1,
      groups: sg ? sg.rulesOf(VIF1.uuid) : null,
      interfaces: INTERFACES.flatMap(([bridge, list]) => list.map(({ name, ofport, vifUuid }) => ({ bridge, name, ofport, vifUuid: vifUuid ?? null }))),
      items: [...items].flatMap(([bridge, list]) => list.map((i) => ({ bridge, cookie: `0x${i.cookie.toString(16)}`, flows: i.flows.toString('hex') }))),
    }
  } finally {
    await sdn.close()
  }
}

/** Every scenario's vector, as the package computes it now. */
async function vectors() {
  const out = []
  for (const s of SCENARIOS) out.push(await scenario(s))
  return out
}

const text = (v) => `${JSON.stringify(v, null, 1)}\n`

async function main() {
  const now = text(await vectors())
  if (process.argv.includes('--check')) {
    if (fs.readFileSync(OUT, 'utf8') !== now) throw new Error(`${OUT} differs from what ElasticIps gives now`)
    console.log('same vectors')
  } else fs.writeFileSync(OUT, now)
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}

module.exports = { vectors, OUT }
