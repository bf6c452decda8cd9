'use strict'
// The flows ElasticIps#items() hands the controller, without a switch: byte for
// byte what the JS implementation gave before they were computed in Rust
// (tests/vectors/elastic_ips.json, written by scripts/elastic-ips-vectors.js at
// 4e88dc6), through the whole path: facade, binding, src/policy/elastic_ips.rs.
// The Rust unit tests check the module alone against the same file.

const fs = require('node:fs')
const { FrameDecoder, formatFlow } = require('..')
const { vectors, OUT } = require('../scripts/elastic-ips-vectors.js')

/** The flows of an item's hex, as dump-flows prints them. */
const texts = (hex) => new FrameDecoder().push(Buffer.from(hex, 'hex')).map((m) => formatFlow(m))

/**
 * A flow with a masked port (`tp_dst=0x1388/0xfffe`) as the one-port flows it stands for,
 * in port order: what the JS implementation, which had no masks, made of a range.
 */
function perPort(text) {
  const m = /tp_(src|dst)=0x([0-9a-f]+)\/0x([0-9a-f]+)/.exec(text)
  if (!m) return [text]
  const [value, mask] = [parseInt(m[2], 16), parseInt(m[3], 16)]
  const ports = []
  for (let p = value; p <= (value | (~mask & 0xffff)); p++) ports.push(text.replace(m[0], `tp_${m[1]}=${p}`))
  return ports
}

test('items() gives the flows the JS implementation gave, for each scenario (a range now as masked blocks)', async () => {
  const want = JSON.parse(fs.readFileSync(OUT, 'utf8'))
  const got = await vectors()
  expect(got.map((v) => v.name)).toEqual(want.map((v) => v.name))
  let masked = 0
  for (let i = 0; i < want.length; i++) {
    // Inputs first (the same scenario), then the items.
    const { items, ...inputs } = got[i]
    const { items: wantItems, ...wantInputs } = want[i]
    // The JS implementation had stateless groups only; rulesOf() says so now.
    if (wantInputs.groups) wantInputs.groups = { ...wantInputs.groups, stateful: false }
    // The groups' rules now say 0.0.0.0/0 where the JS left the range out: a rule without
    // one covers IPv6 too, a group's permission is IPv4. The flows are the same.
    const ipv4Pinned = (v) => JSON.parse(JSON.stringify(v).replaceAll(',\\"ipRange\\":\\"0.0.0.0/0\\"', ''))
    expect(ipv4Pinned(inputs)).toEqual(wantInputs)
    expect(items.map(({ flows, ...rest }) => rest)).toEqual(wantItems.map(({ flows, ...rest }) => rest))
    for (let j = 0; j < items.length; j++) {
      const ours = texts(items[j].flows)
      masked += ours.filter((t) => /tp_(src|dst)=0x/.test(t)).length
      // Byte for byte, unless a masked block replaced the JS's one flow per port.
      if (!ours.some((t) => /tp_(src|dst)=0x/.test(t))) expect(items[j].flows).toBe(wantItems[j].flows)
      expect(ours.flatMap(perPort)).toEqual(texts(wantItems[j].flows))
    }
    expect(items.length).toBeGreaterThan(0)
  }
  // The scenario with udp 5000-5002: 5000-5001 is one block, in and its reply out, each with its translated twin.
  expect(masked).toBe(4)
})

describe('errors name the field', () => {
  const { SdnController, ElasticIps } = require('..')
  let sdn
  beforeEach(() => {
    sdn = new SdnController({ syncIntervalMs: 0 })
  })
  afterEach(() => sdn.close())

  test('pools and internal ranges', () => {
    expect(() => new ElasticIps(sdn, { pools: ['203.0.113.0/28', '10.0.0.1/24'] })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: "options.pools[1]: '10.0.0.1/24' has host bits set: the network is 10.0.0.0/24" }))
    expect(() => new ElasticIps(sdn, { pools: ['203.0.113.0/28'], internal: ['10.0.0.0/33'] })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: "options.internal[0]: '10.0.0.0/33': the prefix length must be 0 to 32" }))
    expect(() => new ElasticIps(sdn, { pools: ['203.0.113.0/28', 42] })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: 'options.pools[1] must be an IPv4 CIDR string, got number 42' }))
  })

  test('leases: lowest free address first, pools named as configured (a /32 with or without its suffix)', () => {
    const eip = new ElasticIps(sdn, { pools: ['203.0.113.0/30', '198.51.100.7'] })
    expect([eip.allocateAddress(), eip.allocateAddress(), eip.allocateAddress()]).toEqual([
      { publicIp: '203.0.113.1', pool: '203.0.113.0/30' },
      { publicIp: '203.0.113.2', pool: '203.0.113.0/30' },
      { publicIp: '198.51.100.7', pool: '198.51.100.7/32' },
    ])
    expect(() => eip.allocateAddress('198.51.100.7')).toThrow(expect.objectContaining({ code: 'SDN_EIP_POOL_EXHAUSTED', message: 'no free address in 198.51.100.7/32' }))
    expect(() => eip.allocateAddress('203.0.113.0/29')).toThrow(expect.objectContaining({ code: 'SDN_EIP_POOL_NOT_FOUND' }))
  })

  test('a saved state: an address outside the pools, and nothing imported', () => {
    const eip = new ElasticIps(sdn, { pools: ['203.0.113.0/28'] })
    const { publicIp } = eip.allocateAddress()
    const state = eip.exportState()
    const other = { ...state.addresses[0], ip: '203.0.113.16' }
    expect(() => eip.importState({ ...state, addresses: [state.addresses[0], other] })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: 'state.addresses[1].ip: 203.0.113.16 is in none of the pools' }))
    expect(eip.describeAddresses().map((a) => a.publicIp)).toEqual([publicIp])
    eip.importState(JSON.parse(JSON.stringify(state)))
    expect(eip.exportState()).toEqual(state)
  })

  test('items(): interfaces that are not { name, ofport, vifUuid? }, an associated VIF on a bad port', async () => {
    const eip = new ElasticIps(sdn, { pools: ['203.0.113.0/28'] })
    const vif = { uuid: '00000000-0000-4000-8000-000000000001', mac: '02:00:00:00:00:01', ip: '10.0.0.1' }
    await eip.associateAddress(vif, eip.allocateAddress().publicIp)
    expect(() => eip.items('h1', [])).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }))
    expect(() => eip.items('h1', new Map([['xenbr0', [{ name: 'vif1.0' }]]]))).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }))
    const bad = new Map([['xenbr0', [{ name: 'eth0', ofport: -1 }, { name: 'vif1.0', ofport: -1, vifUuid: vif.uuid }]]])
    expect(() => eip.items('h1', bad)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: 'interfaces[1].ofport must be 1 to 4294967039, got -1' }))
    // A bad port of an interface that is not the VIF's is not ours to refuse.
    const items = eip.items('h1', new Map([['xenbr0', [{ name: 'eth0', ofport: -1 }, { name: 'vif1.0', ofport: 4, vifUuid: vif.uuid }]]]))
    expect([...items.keys()]).toEqual(['xenbr0'])
    expect(items.get('xenbr0')).toEqual([{ cookie: expect.any(BigInt), flows: expect.any(Buffer) }])
  })
})
