'use strict'
// OvsdbClient against the real ovsdb-server of the sandbox, over TLS like XCP-ng.

const { once } = require('node:events')
const { TlsConfig, OvsdbClient, ovsdb } = require('..')
const { startSandbox } = require('../testing/sandbox.js')
const { rejection } = require('./helpers.js')
const { fakePeer, closePeers } = require('./fake-peers.js')

let sb
let tls
const clients = []

beforeAll(async () => {
  sb = await startSandbox({ hosts: 1, bridges: ['br0', 'br1'] })
  tls = new TlsConfig({ clientCert: sb.pki.client.cert, clientKey: sb.pki.client.key, poolCa: sb.pki.ca.cert })
}, 120000)

afterAll(async () => {
  await sb?.stop()
})

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
})

async function client(extra = {}) {
  const h = sb.hosts[0]
  const c = new OvsdbClient({ host: h.ip, port: h.ports.ovsdbSsl, tls, serverCert: h.certs.server.cert, ...extra })
  clients.push(c)
  await c.connect()
  return c
}

const vsctl = (...args) => sb.hosts[0].vsctl(...args).trim()

test('connects over TLS with the pool CA, lists databases, reads the schema', async () => {
  const c = await client()
  expect(c.transport).toBe('rustls')
  expect(await c.listDbs()).toEqual(expect.arrayContaining(['Open_vSwitch', '_Server']))
  expect(c.schema.name).toBe('Open_vSwitch')
  expect(Object.keys(c.schema.tables)).toEqual(expect.arrayContaining(['Bridge', 'Port', 'Interface', 'Controller']))
  expect(await c.echo('xo', 1)).toEqual(['xo', 1])
})

test('every RFC 7047 operation, checked with ovs-vsctl', async () => {
  const c = await client()
  const [ins, sel] = await c.transact([
    { op: 'insert', table: 'Bridge', row: { name: 'brx', external_ids: ovsdb.map({ k: 'v' }) }, 'uuid-name': 'nb' },
    { op: 'select', table: 'Bridge', where: [['_uuid', '==', ovsdb.namedUuid('nb')]], columns: ['name'] },
    { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ovsdb.set([ovsdb.namedUuid('nb')])]] },
    { op: 'comment', comment: 'xo-sdn-native test' },
  ])
  expect(ins.uuid[0]).toBe('uuid')
  expect(sel.rows).toEqual([{ name: 'brx' }])
  expect(vsctl('list-br').split('\n')).toContain('brx')
  await c.transact([{ op: 'update', table: 'Bridge', where: [['name', '==', 'brx']], row: { external_ids: ovsdb.map({ k: 'w' }) } }])
  expect(vsctl('br-get-external-id', 'brx', 'k')).toBe('w')
  const [mut] = await c.transact([{ op: 'mutate', table: 'Bridge', where: [['name', '==', 'brx']], mutations: [['external_ids', 'insert', ovsdb.map({ z: '1' })]] }])
  expect(mut.count).toBe(1)
  expect(vsctl('br-get-external-id', 'brx', 'z')).toBe('1')
  const [, wait] = await c.transact([
    { op: 'comment', comment: 'wait that succeeds' },
    { op: 'wait', table: 'Bridge', timeout: 0, where: [['name', '==', 'brx']], columns: ['name'], until: '==', rows: [{ name: 'brx' }] },
  ])
  expect(wait).toEqual({})
  await c.transact([
    { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'delete', ovsdb.set([ins.uuid])]] },
    { op: 'delete', table: 'Bridge', where: [['name', '==', 'brx']] },
    { op: 'commit', durable: false },
  ])
  expect(vsctl('list-br').split('\n')).not.toContain('brx')
  // abort rolls everything back: the insert before it never happens.
  const aborted = await rejection(c.transact([{ op: 'insert', table: 'Bridge', row: { name: 'bry' } }, { op: 'abort' }]))
  expect(aborted).toMatchObject({ code: 'OVSDB_ABORTED', index: 1 })
  expect(vsctl('list-br').split('\n')).not.toContain('bry')
  // assert needs a lock we hold
  expect(await c.lock('xo_sdn_test')).toEqual({ locked: true })
  await c.transact([{ op: 'assert', lock: 'xo_sdn_test' }])
  await c.unlock('xo_sdn_test')
  expect(await rejection(c.transact([{ op: 'assert', lock: 'xo_sdn_test' }]))).toMatchObject({ code: 'OVSDB_NOT_OWNER', index: 0 })
})

test('error paths: constraint violation, unknown column, a wait that times out', async () => {
  const c = await client()
  const dup = await rejection(
    c.transact([
      { op: 'insert', table: 'Bridge', row: { name: 'brz' }, 'uuid-name': 'a' },
      { op: 'insert', table: 'Bridge', row: { name: 'brz' }, 'uuid-name': 'b' },
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ovsdb.set([ovsdb.namedUuid('a'), ovsdb.namedUuid('b')])]] },
    ]),
  )
  expect(dup.code).toBe('OVSDB_CONSTRAINT_VIOLATION')
  expect(vsctl('list-br').split('\n')).not.toContain('brz')
  const col = await rejection(c.transact([{ op: 'select', table: 'Bridge', where: [['no_such_column', '==', 1]] }]))
  expect(col.code).toMatch(/^OVSDB_/)
  expect(col.message).toMatch(/no_such_column|unknown column/)
  const wait = await rejection(
    c.transact([{ op: 'wait', table: 'Bridge', timeout: 100, where: [['name', '==', 'br0']], columns: ['name'], until: '!=', rows: [{ name: 'br0' }] }]),
  )
  expect(wait).toMatchObject({ code: 'OVSDB_TIMED_OUT', index: 0, operation: 'wait' })
  expect(await rejection(c.transact('nope'))).toBeInstanceOf(TypeError)
})

test('XCP-ng operations answered from the replica', async () => {
  const h = sb.hosts[0]
  const c = await client()
  const [b0, b1] = h.bridges
  expect(c.getBridgeForNetwork(b0.networkUuid)).toBe('br0')
  expect(c.getBridgeForNetwork(b1.networkUuid)).toBe('br1')
  // xs-network-uuids may hold several ;-separated uuids
  vsctl('br-set-external-id', 'br1', 'xs-network-uuids', `aaaaaaaa-0000-0000-0000-000000000000;${b1.networkUuid}`)
  await once(c, 'row')
  expect(c.getBridgeForNetwork('aaaaaaaa-0000-0000-0000-000000000000')).toBe('br1')
  expect(c.getBridgeForNetwork(b1.networkUuid)).toBe('br1')
  expect(c.getDatapathId('br0')).toBe(BigInt('0x' + vsctl('get', 'bridge', 'br0', 'datapath_id').replace(/"/g, '')))
  for (const v of b0.vifs) expect(await c.getOfPortForVif(v.uuid)).toBe(v.ofport)
  // a tap* twin of the VIF is skipped
  vsctl('add-port', 'br0', 'tap9.0', '--', 'set', 'interface', 'tap9.0', 'type=dummy', 'ofport_request=90', `external_ids:xs-vif-uuid=${b0.vifs[0].uuid}`)
  await once(c, 'row')
  expect(await c.getOfPortForVif(b0.vifs[0].uuid)).toBe(b0.vifs[0].ofport)
  vsctl('del-port', 'br0', 'tap9.0')
  // a VIF that appears later: waits for its ofport
  const pending = c.getOfPortForVif('99999999-0000-0000-0000-000000000009', { timeoutMs: 5000 })
  const added = once(c, 'vifAdded')
  vsctl('add-port', 'br0', 'vif9.0', '--', 'set', 'interface', 'vif9.0', 'type=dummy', 'ofport_request=19', 'external_ids:xs-vif-uuid=99999999-0000-0000-0000-000000000009')
  expect(await pending).toBe(19)
  expect((await added)[0]).toMatchObject({ vifUuid: '99999999-0000-0000-0000-000000000009', name: 'vif9.0' })
  const removed = once(c, 'vifRemoved')
  vsctl('del-port', 'br0', 'vif9.0')
  expect((await removed)[0]).toMatchObject({ vifUuid: '99999999-0000-0000-0000-000000000009' })
  expect(await rejection(c.getOfPortForVif('no-such-vif', { timeoutMs: 200 }))).toMatchObject({ code: 'OVSDB_VIF_NOT_FOUND' })
})

test('setBridgeController: one passive target per bridge, protocols kept, idempotent', async () => {
  const c = await client()
  vsctl('set', 'bridge', 'br1', 'protocols=OpenFlow13')
  await once(c, 'row')
  expect(await c.setBridgeController({ bridge: 'br0', target: 'pssl:7001:127.0.0.1' })).toMatchObject({ bridge: 'br0', changed: true })
  expect(await c.setBridgeController({ networkUuid: sb.hosts[0].bridges[1].networkUuid, target: 'pssl:7002:127.0.0.1' })).toMatchObject({
    bridge: 'br1',
    changed: true,
  })
  await new Promise((r) => setTimeout(r, 100)) // let the replica catch up with our own commit
  expect(await c.setBridgeController({ bridge: 'br0', target: 'pssl:7001:127.0.0.1' })).toMatchObject({ changed: false })
  expect(vsctl('get-controller', 'br0').split('\n')).toContain('pssl:7001:127.0.0.1')
  expect(vsctl('get-controller', 'br1').split('\n')).toContain('pssl:7002:127.0.0.1')
  expect(vsctl('get', 'bridge', 'br1', 'protocols')).toBe('[OpenFlow11, OpenFlow13]')
  expect(await rejection(c.setBridgeController({ bridge: 'nope' }))).toMatchObject({ code: 'OVSDB_BRIDGE_NOT_FOUND' })
})

test('private network tunnels: one transaction each, re-created when the psk changes, reset', async () => {
  const c = await client()
  const net0 = sb.hosts[0].bridges[0].networkUuid
  const t1 = await c.addTunnel({ networkUuid: net0, remoteIp: '192.0.2.7', encapsulation: 'vxlan', key: 42, psk: 's3cret', privateNetworkUuid: 'pn-1' })
  expect(t1.changed).toBe(true)
  await new Promise((r) => setTimeout(r, 100))
  expect(vsctl('get', 'interface', t1.port, 'type')).toBe('vxlan')
  expect(vsctl('get', 'interface', t1.port, 'options')).toBe('{key="42", psk=s3cret, remote_ip="192.0.2.7"}')
  expect(vsctl('get', 'port', t1.port, 'other_config:"xo:sdn-controller:private-network-uuid"')).toBe('pn-1')
  expect((await c.addTunnel({ networkUuid: net0, remoteIp: '192.0.2.7', encapsulation: 'vxlan', key: 42, psk: 's3cret', privateNetworkUuid: 'pn-1' })).changed).toBe(false)
  const t2 = await c.addTunnel({ networkUuid: net0, remoteIp: '192.0.2.7', encapsulation: 'vxlan', key: 42, psk: 'other', privateNetworkUuid: 'pn-1' })
  expect(t2.changed).toBe(true)
  await new Promise((r) => setTimeout(r, 100))
  expect(vsctl('get', 'interface', t2.port, 'options')).toMatch(/psk=other/)
  expect(vsctl('list-ports', 'br0').split('\n').filter((p) => p.startsWith('vxlan'))).toHaveLength(1)
  expect(await c.resetForNetwork(net0, 'pn-1')).toBe(1)
  await new Promise((r) => setTimeout(r, 100))
  expect(vsctl('list-ports', 'br0').split('\n').filter((p) => p.startsWith('vxlan'))).toHaveLength(0)
})

test('ovsdb-server restarted: disconnected, reconnected, replica correct again', async () => {
  const h = sb.hosts[0]
  const c = await client({ reconnectMinMs: 100, reconnectMaxMs: 500 })
  const pending = c.transact([{ op: 'wait', table: 'Bridge', timeout: 10000, where: [['name', '==', 'br0']], columns: ['name'], until: '!=', rows: [{ name: 'br0' }] }])
  const disconnected = once(c, 'disconnected')
  await h.stopDb()
  await disconnected
  expect((await rejection(pending)).code).toMatch(/^CHANNEL_CLOSED$|^OVSDB_/)
  expect((await rejection(c.listDbs())).code).toBe('CHANNEL_NOT_CONNECTED')
  const reconnected = once(c, 'reconnected')
  await h.restartDb()
  await reconnected
  vsctl('add-port', 'br0', 'vif8.0', '--', 'set', 'interface', 'vif8.0', 'type=dummy', 'ofport_request=18', 'external_ids:xs-vif-uuid=88888888-0000-0000-0000-000000000008')
  expect(await c.getOfPortForVif('88888888-0000-0000-0000-000000000008')).toBe(18)
  const names = c.rows('Interface').map((r) => r.name).sort()
  const truth = JSON.parse(vsctl('--format=json', '--columns=name', 'list', 'interface')).data.map((r) => r[0]).sort()
  expect(names).toEqual(truth)
  vsctl('del-port', 'br0', 'vif8.0')
}, 60000)

test('values ovsdb-server would choke on are refused before sending, with a code naming the path; the connection and requests in flight live on', async () => {
  const c = await client()
  const cycle = {}
  cycle.self = cycle
  const select = (value) => [{ op: 'select', table: 'Bridge', where: [['name', '==', value]] }]
  const inFlight = c.transact(select('br0'))
  const refused = [
    [select('br\u0000'), TypeError, 'ERR_INVALID_ARG_VALUE', 'operations[0].where[0][2] contains U+0000'],
    [select('\uD800br0'), TypeError, 'ERR_INVALID_ARG_VALUE', 'operations[0].where[0][2] is not valid UTF-8'],
    [select(1n), TypeError, 'ERR_INVALID_ARG_TYPE', 'operations[0].where[0][2] must be JSON data, got a bigint'],
    [select(cycle), TypeError, 'ERR_INVALID_ARG_VALUE', 'operations[0].where[0][2].self refers back to itself'],
    [select(NaN), TypeError, 'ERR_INVALID_ARG_VALUE', 'must be a finite number'],
    [[{ op: 'select', table: 'Bridge', where: [], columns: ['name'], note: new Date() }], TypeError, 'ERR_INVALID_ARG_TYPE', 'operations[0].note must be plain JSON data'],
  ]
  for (const [ops, Cls, code, message] of refused) {
    const e = await rejection(c.transact(ops))
    expect(e).toBeInstanceOf(Cls)
    expect(e).toMatchObject({ code, message: expect.stringContaining(message) })
  }
  expect((await rejection(c.call('echo', [{ key: 'a\u0000' }]))).message).toContain('params[0].key contains U+0000')
  expect((await inFlight)[0].rows).toEqual([expect.objectContaining({ name: 'br0' })])
  expect(await c.echo('still', 'here')).toEqual(['still', 'here'])
})

test('connectTimeoutMs bounds the whole handshake: a server that accepts and stays silent fails CONNECT_TIMEOUT in time', async () => {
  // A fake: the real ovsdb-server always answers list_dbs once connected.
  const port = await fakePeer((socket) => socket.on('data', () => {}))
  try {
    const c = new OvsdbClient({ host: '127.0.0.1', port, connectTimeoutMs: 600 })
    clients.push(c)
    // The handshake's own code, not the echo timeout (10 s) or a request timeout (30 s) that came first before.
    const e = await rejection(c.connect())
    expect(e.code).toBe('CONNECT_TIMEOUT')
  } finally {
    closePeers()
  }
})

test('bad options', () => {
  expect(() => new OvsdbClient({ host: '' })).toThrow(TypeError)
  expect(() => new OvsdbClient({ host: '127.0.0.1', port: 0 })).toThrow(RangeError)
  expect(() => new OvsdbClient({ host: '127.0.0.1', tls })).toThrow(expect.objectContaining({ code: 'TLS_HOST_AUTH_REQUIRED' }))
  expect(() => new OvsdbClient({ host: '127.0.0.1', legacyTls: 'sometimes' })).toThrow(TypeError)
  // Host-verification options of the wrong type: a TypeError naming them, not a raw napi status.
  const { OpenFlowChannel } = require('..')
  expect(() => new OpenFlowChannel({ host: '127.0.0.1', port: 6653, tls, insecure: 'true' })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('options.insecure must be a boolean') }))
  expect(() => new OvsdbClient({ host: '127.0.0.1', tls, serverCert: 42 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('options.serverCert') }))
})

describe("XCP-ng 8.3's ovsdb-server TLS (TLS 1.2, RSA key exchange only)", () => {
  let sb83
  beforeAll(async () => {
    sb83 = await startSandbox({ hosts: 1, profile: 'xcpng-8.3' })
  }, 120000)
  afterAll(async () => {
    await sb83?.stop()
  })

  function legacyClient(legacyTls) {
    const h = sb83.hosts[0]
    const t = new TlsConfig({ clientCert: sb83.pki.client.cert, clientKey: sb83.pki.client.key, poolCa: sb83.pki.ca.cert })
    const c = new OvsdbClient({ host: h.ip, port: h.ports.ovsdbSsl, tls: t, serverCert: h.certs.server.cert, legacyTls })
    clients.push(c)
    return c
  }

  test("rustls alone refuses it: no shared cipher", async () => {
    expect((await rejection(legacyClient('never').connect())).code).toBe('TLS_NO_SHARED_CIPHER')
  })

  test('auto falls back to node:tls, still authenticating the host, and warns naming the suite', async () => {
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => {})
    try {
      const c = legacyClient('auto')
      await c.connect()
      expect(c.transport).toBe('node')
      expect(c.cipher.name).toMatch(/^AES(128|256)-/) // an RSA key exchange suite
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(new RegExp(c.cipher.name)), expect.objectContaining({ code: 'XO_SDN_LEGACY_TLS' }))
      expect(await c.listDbs()).toContain('Open_vSwitch')
      expect(c.getBridgeForNetwork(sb83.hosts[0].networkUuid)).toBe('br0')
    } finally {
      warn.mockRestore()
    }
  })

  test('the fallback verifies the host too', async () => {
    const h = sb83.hosts[0]
    const t = new TlsConfig({ clientCert: sb83.pki.client.cert, clientKey: sb83.pki.client.key })
    const c = new OvsdbClient({ host: h.ip, port: h.ports.ovsdbSsl, tls: t, fingerprint: 'ab'.repeat(32) })
    clients.push(c)
    expect((await rejection(c.connect())).code).toBe('TLS_HOST_CERT_MISMATCH')
  })
})

describe('natural values, cancel, resync since the last transaction', () => {
  test('natural values are converted by the schema and checked before sending', async () => {
    const c = await client()
    await c.transact(
      [
        { op: 'insert', table: 'Port', 'uuid-name': 'np', row: { name: 'natp', interfaces: ['ni'], external_ids: { who: 'xo' } } },
        { op: 'insert', table: 'Interface', 'uuid-name': 'ni', row: { name: 'natp', type: 'dummy' } },
        { op: 'mutate', table: 'Bridge', where: [['name', '==', 'br0']], mutations: [['ports', 'insert', ['np']]] },
      ],
      { natural: true },
    )
    expect(vsctl('list-ports', 'br0').split('\n')).toContain('natp')
    expect(vsctl('get', 'port', 'natp', 'external_ids:who')).toBe('xo')
    const bad = await rejection(c.transact([{ op: 'insert', table: 'Bridge', row: { protocols: ['OpenFlow99'] } }], { natural: true }))
    expect(bad).toBeInstanceOf(TypeError)
    expect(bad.message).toMatch(/Bridge\.protocols/)
    const unknown = await rejection(c.transact([{ op: 'select', table: 'Bridge', where: [['nope', '==', 1]] }], { natural: true }))
    expect(unknown.message).toMatch(/Bridge\.nope/)
    await c.transact([{ op: 'mutate', table: 'Bridge', where: [['name', '==', 'br0']], mutations: [['ports', 'delete', [c.rows('Port').find((p) => p.name === 'natp')._uuid]]] }], { natural: true })
    await new Promise((r) => setTimeout(r, 100))
    expect(vsctl('list-ports', 'br0').split('\n')).not.toContain('natp')
  })

  test('a blocked wait can be canceled', async () => {
    const c = await client()
    const ac = new AbortController()
    const p = c.transact([{ op: 'wait', table: 'Bridge', timeout: 60000, where: [['name', '==', 'br0']], columns: ['name'], until: '!=', rows: [{ name: 'br0' }] }], {
      signal: ac.signal,
    })
    setTimeout(() => ac.abort(), 50)
    expect((await rejection(p)).code).toBe('OVSDB_CANCELED')
    expect(await c.listDbs()).toContain('Open_vSwitch') // the connection is fine
  })
})
