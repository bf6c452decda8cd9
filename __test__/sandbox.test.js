'use strict'
// The sandbox's own data-plane helpers (VM identity, XAPI VIF locking, ofproto/trace, packet
// injection, port and flow counters), proven against the real ovs-vswitchd of the sandbox.

const { startSandbox } = require('../testing/sandbox.js')

let sb
let h

beforeAll(async () => {
  sb = await startSandbox({ hosts: 2, bridges: ['br0', 'br1'] })
  h = sb.hosts[0]
}, 120000)

afterAll(async () => {
  await sb?.stop()
})

// every test starts from the switch's default table: one priority-0 NORMAL flow per bridge
afterEach(() => {
  for (const host of sb.hosts) {
    for (const br of host.bridges) {
      host.ofctlOn(br.name, 'del-flows')
      host.ofctlOn(br.name, 'add-flow', 'priority=0,actions=NORMAL')
    }
  }
})

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function until(fn, what, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`)
    await sleep(20)
  }
}

const ipFrom = (vif, nwSrc, extra = '') =>
  `in_port=${vif.ofport},dl_src=${vif.mac},dl_dst=ff:ff:ff:ff:ff:ff,ip,nw_src=${nwSrc},nw_dst=10.0.0.254${extra}`
const sortOutputs = (o) => [...o].sort((a, b) => String(a).localeCompare(String(b)))

describe('VM identity', () => {
  test('every VIF carries xs-vm-uuid and xs-network-uuid like on XCP-ng', () => {
    for (const host of sb.hosts) {
      const out = JSON.parse(host.vsctl('--format=json', '--columns=name,external_ids', 'find', 'Interface', 'type=dummy'))
      const ids = Object.fromEntries(out.data.map(([name, [, map]]) => [name, Object.fromEntries(map)]))
      let n = 0
      for (const br of host.bridges) {
        for (const v of br.vifs) {
          n++
          expect(ids[v.name]).toEqual({
            'attached-mac': v.mac,
            'xs-vif-uuid': v.uuid,
            'xs-vm-uuid': v.vmUuid,
            'xs-network-uuid': br.networkUuid,
          })
          expect(v.networkUuid).toBe(br.networkUuid)
          expect(v.bridge).toBe(br.name)
        }
      }
      expect(Object.keys(ids)).toHaveLength(n)
    }
    expect(h.vsctl('get', 'Interface', 'vif3.1', 'external_ids:xs-vm-uuid').trim()).toBe('"00000000-0000-0001-0000-000000000003"')
    expect(sb.hosts[1].vsctl('get', 'Interface', 'vif3.1', 'external_ids:xs-network-uuid').trim()).toBe(
      '"11111111-2222-3333-4444-555555555556"',
    )
  })

  test('host.vms: VM N owns VIF N of each bridge; VMs differ between hosts', () => {
    expect(h.vms).toHaveLength(4)
    expect(h.vms[0].uuid).toBe('00000000-0000-0001-0000-000000000001')
    expect(h.vms[3].uuid).toBe('00000000-0000-0001-0000-000000000004')
    expect(sb.hosts[1].vms[0].uuid).toBe('00000000-0000-0001-0100-000000000001')
    for (const vm of h.vms) {
      expect(vm.vifs.map((v) => v.bridge)).toEqual(['br0', 'br1'])
      for (const v of vm.vifs) expect(v.vmUuid).toBe(vm.uuid)
    }
    expect(h.vms[1].vifs[1]).toBe(h.bridges[1].vifs[1]) // the same objects, not copies
    const all = sb.hosts.flatMap((x) => x.vms.map((vm) => vm.uuid))
    expect(new Set(all).size).toBe(all.length)
    expect(JSON.parse(JSON.stringify(sb)).hosts[0].vms[0].vifs[1].name).toBe('vif1.1')
  })
})

describe('trace', () => {
  test('no extra flows: NORMAL floods to every other port', () => {
    const [v1] = h.vifs
    const t = h.trace(ipFrom(v1, '10.0.0.1'))
    expect(t.verdict).toBe('forward')
    expect(t.actions).not.toBe('drop')
    expect(sortOutputs(t.outputs)).toEqual([2, 3, 4, 'LOCAL'])
    expect(t.rule).toBe('0. priority 0')
    expect(t.priority).toBe(0)
    expect(t.cookie).toBe(0n)
    expect(t.raw).toMatch(/^Datapath actions: /m)
  })

  test('outputs are ofports even where datapath port numbers differ (br1)', () => {
    const v = h.bridges[1].vifs[3]
    const t = h.trace(ipFrom(v, '10.0.0.4'), { bridge: 'br1' })
    expect(t.verdict).toBe('forward')
    expect(sortOutputs(t.outputs)).toEqual([1, 2, 3, 'LOCAL'])
  })

  test('a priority-100 drop flow: verdict drop, the rule names it', () => {
    h.ofctl('add-flow', 'priority=100,in_port=1,actions=drop')
    const t = h.trace(ipFrom(h.vifs[0], '10.0.0.1'))
    expect(t.verdict).toBe('drop')
    expect(t.actions).toBe('drop')
    expect(t.outputs).toEqual([])
    expect(t.rule).toMatch(/priority 100\b/)
    expect(t.priority).toBe(100)
    expect(t.match).toBe('in_port=1')
    // the other ports are not concerned
    expect(h.trace(ipFrom(h.vifs[1], '10.0.0.2')).verdict).toBe('forward')
  })

  test('explicit outputs and a cookie', () => {
    h.ofctl('add-flow', 'cookie=0xfedcba9876543210,priority=5,in_port=2,actions=output:4')
    const t = h.trace(ipFrom(h.vifs[1], '10.0.0.2'))
    expect(t).toMatchObject({ verdict: 'forward', outputs: [4], priority: 5, cookie: 0xfedcba9876543210n })
    expect(t.rule).toBe('0. in_port=2, priority 5, cookie 0xfedcba9876543210')
  })

  test('no matching flow at all: drop', () => {
    h.ofctl('del-flows')
    const t = h.trace(ipFrom(h.vifs[0], '10.0.0.1'))
    expect(t.verdict).toBe('drop')
    expect(t.rule).toBe('0. No match.')
    expect(t.priority).toBe(null)
  })
})

describe('XAPI VIF locking', () => {
  test('locked to 10.0.0.1: own IPv4/ARP pass, anything else from the port is dropped', () => {
    const [v1, v2] = h.vifs
    const flows = h.xapiLockVif(v1, { ips: ['10.0.0.1'] })
    expect(flows).toHaveLength(3)

    const ok = h.trace(ipFrom(v1, '10.0.0.1'))
    expect(ok).toMatchObject({ verdict: 'forward', priority: 7000, cookie: 1n })
    expect(sortOutputs(ok.outputs)).toEqual([2, 3, 4, 'LOCAL'])

    expect(h.trace(ipFrom(v1, '10.0.0.9'))).toMatchObject({ verdict: 'drop', priority: 4000, cookie: 1n })
    const spoofedMac = `in_port=1,dl_src=02:00:00:00:00:99,dl_dst=ff:ff:ff:ff:ff:ff,ip,nw_src=10.0.0.1,nw_dst=10.0.0.254`
    expect(h.trace(spoofedMac)).toMatchObject({ verdict: 'drop', priority: 4000 })

    const arp = (sha, spa) =>
      `in_port=1,dl_src=${v1.mac},dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_op=1,arp_sha=${sha},arp_spa=${spa},arp_tpa=10.0.0.254`
    expect(h.trace(arp(v1.mac, '10.0.0.1'))).toMatchObject({ verdict: 'forward', priority: 8000, cookie: 1n })
    expect(h.trace(arp('02:00:00:00:00:99', '10.0.0.1'))).toMatchObject({ verdict: 'drop', priority: 4000 })
    expect(h.trace(arp(v1.mac, '10.0.0.9'))).toMatchObject({ verdict: 'drop', priority: 4000 })
    expect(h.trace(`in_port=1,dl_src=${v1.mac},ipv6,ipv6_src=fe80::1`)).toMatchObject({ verdict: 'drop', priority: 4000 })

    // other VIFs are untouched
    expect(h.trace(ipFrom(v2, '10.0.0.9')).verdict).toBe('forward')

    h.xapiUnlockVif(v1)
    expect(h.flowStats({ cookie: 1 })).toEqual([])
    expect(h.trace(ipFrom(v1, '10.0.0.9'))).toMatchObject({ verdict: 'forward', priority: 0 })
  })

  test('flowStats returns the cookie 0x1 flows, parsed', () => {
    const [v1] = h.vifs
    h.xapiLockVif(v1, { ips: ['10.0.0.1', '10.0.0.11'] })
    h.ofctl('add-flow', 'cookie=0x2,priority=10,in_port=3,actions=drop')
    const flows = h.flowStats({ cookie: 1 }).sort((a, b) => b.priority - a.priority || a.match.localeCompare(b.match))
    expect(flows.map((f) => [f.cookie, f.priority, f.match, f.actions])).toEqual([
      [1n, 8000, `arp,in_port=1,dl_src=${v1.mac},arp_spa=10.0.0.1,arp_sha=${v1.mac}`, 'NORMAL'],
      [1n, 8000, `arp,in_port=1,dl_src=${v1.mac},arp_spa=10.0.0.11,arp_sha=${v1.mac}`, 'NORMAL'],
      [1n, 7000, `ip,in_port=1,dl_src=${v1.mac},nw_src=10.0.0.1`, 'NORMAL'],
      [1n, 7000, `ip,in_port=1,dl_src=${v1.mac},nw_src=10.0.0.11`, 'NORMAL'],
      [1n, 4000, 'in_port=1', 'drop'],
    ])
    for (const f of flows) expect(f).toMatchObject({ table: 0, packets: 0, bytes: 0 })
    const all = h.flowStats()
    expect(all).toHaveLength(7) // + cookie 0x2 + the priority-0 NORMAL flow
    expect(all.find((f) => f.cookie === 2n)).toMatchObject({ priority: 10, match: 'in_port=3', actions: 'drop' })
    expect(h.flowStats({ cookie: 1, bridge: 'br1' })).toEqual([])
  })

  test('a default-priority flow in another table parses (no priority= in dump-flows)', () => {
    h.ofctl('add-flow', 'cookie=0x3,table=3,actions=drop')
    expect(h.flowStats({ cookie: 3 })).toEqual([expect.objectContaining({ cookie: 3n, table: 3, priority: 32768, match: '', actions: 'drop' })])
    expect(h.flowStats({ table: 3 })).toHaveLength(1)
  })

  test('a VIF of br1 is locked on br1 only', () => {
    const v = h.bridges[1].vifs[1]
    h.xapiLockVif(v, { ips: ['10.1.0.2'] })
    expect(h.flowStats({ cookie: 1, bridge: 'br1' })).toHaveLength(3)
    expect(h.flowStats({ cookie: 1 })).toEqual([])
    expect(h.trace(ipFrom(v, '10.1.0.3'), { bridge: 'br1' }).verdict).toBe('drop')
    expect(h.trace(ipFrom(v, '10.1.0.2'), { bridge: 'br1' }).verdict).toBe('forward')
    h.xapiUnlockVif(v)
    expect(h.flowStats({ cookie: 1, bridge: 'br1' })).toEqual([])
  })
})

describe('inject + portCounters', () => {
  const pkt = (nwSrc) => `dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x0800,nw_src=${nwSrc},nw_dst=10.0.0.254,nw_proto=6,tp_dst=80`

  test('portCounters lists every port of the bridge', () => {
    const c = h.portCounters()
    expect(Object.keys(c).sort()).toEqual(['1', '2', '3', '4', 'LOCAL'])
    for (const v of Object.values(c)) {
      for (const k of ['rxPackets', 'txPackets', 'rxBytes', 'txBytes']) expect(Number.isInteger(v[k])).toBe(true)
    }
  })

  test('a packet from vif1 is received on port 1 and flooded out of the others', async () => {
    const before = h.portCounters()
    const r = await h.inject(h.vifs[0], pkt('10.0.0.1'))
    expect(r).toMatchObject({ port: 'vif1.0', ofport: 1 })
    expect(r.packet).toMatch(/^ffffffffffff020000000001080045/) // dst, src = vif1's MAC, IPv4
    const after = await until(() => {
      const c = h.portCounters()
      return [2, 3, 4].every((p) => c[p].txPackets > before[p].txPackets) && c
    }, 'the flood')
    expect(after[1].rxPackets).toBe(before[1].rxPackets + 1)
    expect(after[1].rxBytes).toBe(before[1].rxBytes + r.packet.length / 2)
    for (const p of [2, 3, 4]) expect(after[p].txPackets).toBe(before[p].txPackets + 1)
    expect(after[1].txPackets).toBe(before[1].txPackets) // never back out of the ingress port
  })

  test('a locked VIF: the spoofed packet dies at the drop rule, the good one floods', async () => {
    const [v1] = h.vifs
    h.xapiLockVif(v1, { ips: ['10.0.0.1'] })
    const before = h.portCounters()
    await h.inject(v1, pkt('10.0.0.9'))
    await until(() => h.flowStats({ cookie: 1 }).find((f) => f.priority === 4000).packets === 1, 'the drop rule to count')
    await sleep(200)
    let c = h.portCounters()
    expect(c[1].rxPackets).toBe(before[1].rxPackets + 1)
    for (const p of [2, 3, 4]) expect(c[p].txPackets).toBe(before[p].txPackets)

    await h.inject(v1, pkt('10.0.0.1'))
    c = await until(() => {
      const x = h.portCounters()
      return [2, 3, 4].every((p) => x[p].txPackets === before[p].txPackets + 1) && x
    }, 'the flood')
    expect(c[1].rxPackets).toBe(before[1].rxPackets + 2)
    const byPrio = Object.fromEntries(h.flowStats({ cookie: 1 }).map((f) => [f.priority, f.packets]))
    expect(byPrio).toEqual({ 8000: 0, 7000: 1, 4000: 1 })
  })

  test('hex, Buffer and ODP packets; a port name or ofport for the VIF', async () => {
    const v2 = h.vifs[1]
    const hexPkt = 'ffffffffffff' + v2.mac.replace(/:/g, '') + '88b5' + '00'.repeat(46)
    const before = h.portCounters()[2].rxPackets
    await h.inject(v2, hexPkt)
    await h.inject('vif2.0', Buffer.from(hexPkt, 'hex'))
    await h.inject(2, `eth(src=${v2.mac},dst=ff:ff:ff:ff:ff:ff),eth_type(0x0800),ipv4(src=10.0.0.2,dst=10.0.0.3,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)`)
    expect(h.portCounters()[2].rxPackets).toBe(before + 3)
    const v = h.bridges[1].vifs[2]
    const b1 = h.portCounters({ bridge: 'br1' })[3].rxPackets
    await h.inject(v, pkt('10.1.0.3'))
    expect(h.portCounters({ bridge: 'br1' })[3].rxPackets).toBe(b1 + 1)
    expect(() => h.portCounters({ bridge: 'nope' })).toThrow(/unknown bridge/)
  })
})
