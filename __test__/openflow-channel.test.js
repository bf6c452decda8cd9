'use strict'
// OpenFlowChannel against a real Open vSwitch over TLS, laid out like XCP-ng hosts.

const { once } = require('node:events')
const { TlsConfig, OpenFlowChannel, formatFlow, encode, encodeBatch, parseFlow } = require('..')
const { startSandbox } = require('../testing/sandbox.js')
const native = require('../js/binding.js')

let sb
let tls

beforeAll(async () => {
  sb = await startSandbox({ hosts: 2 })
  tls = new TlsConfig({ clientCert: sb.pki.client.cert, clientKey: sb.pki.client.key, poolCa: sb.pki.ca.cert })
}, 120000)

afterAll(async () => {
  await sb?.stop()
})

const channels = []
function channel(host, extra = {}) {
  const ch = new OpenFlowChannel({ host: host.ip, port: host.ports.openflowSsl, tls, serverCert: host.certs.server.cert, ...extra })
  channels.push(ch)
  return ch
}

afterEach(async () => {
  await Promise.all(channels.splice(0).map((c) => c.close()))
  for (const h of sb.hosts) h.ofctl('del-flows')
})

/** dump-flows lines without the counters that change between two reads. */
const stable = (line) => line.trim().replace(/duration=[\d.]+s, /, '')

async function codeOf(promise) {
  try {
    await promise
  } catch (e) {
    return e.code
  }
  return 'NO ERROR'
}

test('connects over TLS, negotiates OF1.1 from OVS\'s OF1.3 hello when asked for 1.1 only, reports the datapath and ports', async () => {
  const h = sb.hosts[0]
  const ch = channel(h, { versions: ['1.1'] })
  const { datapathId, ports } = await ch.connect()
  expect(ch.version).toBe('1.1')
  expect(datapathId).toBe(BigInt('0x' + h.ofctl('show').match(/dpid:([0-9a-f]+)/)[1]))
  expect(ports.map((p) => p.name).sort()).toEqual(['br0', 'vif1.0', 'vif2.0', 'vif3.0', 'vif4.0'])
  expect(ports.find((p) => p.name === 'vif4.0').portNo).toBe(4)
})

test('installed flows read back through dumpFlows exactly as ovs-ofctl dump-flows shows them', async () => {
  const h = sb.hosts[0]
  const ch = channel(h)
  await ch.connect()
  const flows = [
    'priority=65527,tcp,in_port=4,dl_src=ae:f7:4b:84:6c:8b,nw_src=192.168.5.242,nw_dst=192.168.5.55,tp_dst=5060 actions=drop',
    'cookie=0x5d0,priority=40000,udp,nw_dst=12.0.0.0/12,tp_dst=1212 actions=NORMAL',
    'table=1,priority=7,arp actions=FLOOD',
    'priority=300,in_port=1,dl_src=02:00:00:00:00:01 actions=output:2',
  ]
  expect(await ch.addFlows(flows)).toEqual({ count: 4 })
  const ours = (await ch.dumpFlows()).map(formatFlow).map(stable).sort()
  const theirs = h.ofctl('dump-flows').split('\n').slice(1).filter(Boolean).map(stable).sort()
  expect(ours).toEqual(theirs)
  expect(ours.filter((l) => !/priority=0 /.test(l))).toHaveLength(4) // ours (+ the bridge's default flow, if not deleted yet)
  const filtered = await ch.dumpFlows({ cookie: 0x5d0n, cookieMask: 0xffffffffffffffffn })
  expect(filtered.map((f) => f.cookie)).toEqual([0x5d0n])
})

test('a port range as 8 masked flows on the OF1.1 channel: packets in 1000-2000 drop, 999 and 2001 pass', async () => {
  const h = sb.hosts[0]
  const ch = channel(h)
  await ch.connect()
  // PortRange::masked of 1000-2000 (src/rules/port_mask.rs); Open vSwitch gets them as OXM in OF1.1 FLOW_MODs.
  const blocks = ['0x3e8/0xfff8', '0x3f0/0xfff0', '0x400/0xfe00', '0x600/0xff00', '0x700/0xff80', '0x780/0xffc0', '0x7c0/0xfff0', '2000']
  const flows = blocks.map((b) => parseFlow(`priority=200,tcp,in_port=1,tp_dst=${b},actions=drop`, { extensions: true }))
  expect(flows.filter((f) => f.match.oxm !== undefined)).toHaveLength(7) // the exact 2000 keeps OF1.1's standard match
  await ch.send([...flows, parseFlow('priority=100,tcp,in_port=1,actions=normal')])
  expect(h.ofctl('dump-flows', 'tcp').split('\n').filter((l) => /tp_dst=/.test(l))).toHaveLength(8)
  const packet = (port) => `in_port=1,tcp,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=40000,tp_dst=${port}`
  for (const port of [1000, 1007, 1008, 1023, 1024, 1500, 1999, 2000]) expect([port, h.trace(packet(port)).verdict]).toEqual([port, 'drop'])
  for (const port of [999, 2001, 2047, 80]) expect([port, h.trace(packet(port)).verdict]).toEqual([port, 'forward'])
})

test('a flow table spanning two stages: one dump reads both tables, packets go through goto_table, one remove empties both', async () => {
  const h = sb.hosts[0]
  const ch = channel(h)
  await ch.connect()
  const table = new native.NativeFlowTable(0, 2)
  const cookie = native.ruleCookie(77, 0)
  const hex = `0x${cookie.toString(16).padStart(16, '0')}`
  // An egress verdict in table 0 sends tcp 22 of VIF 1 on to the receiver's verdict in table 1.
  const flows = [
    'table=0,priority=9000,tcp,in_port=1,tp_dst=22,actions=goto_table:1',
    'table=0,priority=8999,in_port=1,actions=drop',
    'table=1,priority=9000,tcp,dl_dst=02:00:00:00:00:02,actions=normal',
    // A stage needs its own miss flow: OVS sends an OF1.1 table miss to the controller.
    'table=1,priority=0,actions=drop',
  ].map((t) => parseFlow(t))
  const delta = table.putMany(JSON.stringify([{ cookie: hex, flows: encodeBatch(flows).toString('hex') }]))
  expect(delta.addCount).toBe(4)
  await ch.sendEncoded(delta.add)
  const tables = h.flowStats({ cookie }).map((f) => f.table).sort()
  expect(tables).toEqual([0, 0, 1, 1])

  // Open vSwitch answers the one OF1.1 request (table 0xff, our cookie namespace) with both stages.
  const r = table.reconcile(await ch.requestEncoded(table.dumpRequest()))
  expect(r.rules.map(({ expected, present, missing }) => ({ expected, present, missing }))).toEqual([{ expected: 4, present: 4, missing: 0 }])
  expect([r.addCount, r.deleteCount]).toEqual([0, 0])

  const packet = (dst, port) => `in_port=1,tcp,dl_src=02:00:00:00:00:01,dl_dst=${dst},nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=40000,tp_dst=${port}`
  const through = h.trace(packet('02:00:00:00:00:02', 22))
  expect([through.verdict, /^ 1\. tcp,dl_dst=02:00:00:00:00:02, priority 9000/m.test(through.raw)]).toEqual(['forward', true])
  const missed = h.trace(packet('02:00:00:00:00:03', 22))
  expect([missed.verdict, /^ 1\. priority 0, cookie/m.test(missed.raw)]).toEqual(['drop', true])
  expect(h.trace(packet('02:00:00:00:00:02', 23)).verdict).toBe('drop')

  // OVS refuses an OF1.1 delete in table 0xff: remove() gives one per stage, and both go.
  await ch.sendEncoded(table.remove(cookie))
  expect(h.flowStats({ cookie })).toEqual([])
  expect(table.remove(cookie)).toBeNull()
})

test('a refused FLOW_MOD rejects with the decoded error while the rest of the batch is applied', async () => {
  const h = sb.hosts[0]
  const ch = channel(h)
  await ch.connect()
  let err
  try {
    await ch.addFlows(['priority=11,ip,actions=normal', 'priority=12,ip,actions=group:5', 'priority=13,arp,actions=normal'])
  } catch (e) {
    err = e
  }
  expect(err.code).toBe('OF_SWITCH_ERROR')
  expect(err.index).toBe(1)
  expect(err.errorType).toBe('bad_action')
  expect(err.errorCode).toBe('bad_out_group')
  expect(err.offending.type).toBe('flow_mod')
  expect(err.errors).toHaveLength(1)
  expect(err.applied).toBe(2)
  const dumped = h.ofctl('dump-flows')
  expect(dumped).toMatch(/priority=11,ip actions=NORMAL/)
  expect(dumped).toMatch(/priority=13,arp actions=NORMAL/)
  expect(dumped).not.toMatch(/priority=12/)
})

test('request() matches the reply by xid, and deleteFlows removes exactly what it matches', async () => {
  const h = sb.hosts[0]
  const ch = channel(h)
  await ch.connect()
  const replies = await Promise.all([
    ch.request({ type: 'stats_request', body: { type: 'desc' } }),
    ch.request({ type: 'get_config_request' }),
    ch.request({ type: 'echo_request', data: Buffer.from('xo') }),
  ])
  expect(replies.map((r) => r.type)).toEqual(['stats_reply', 'get_config_reply', 'echo_reply'])
  expect(replies[0].body.mfrDesc).toBe('Nicira, Inc.')
  expect(replies[1].missSendLen).toBe(0xffff) // set by the channel so async messages flow
  expect(replies[2].data).toEqual(Buffer.from('xo'))
  await ch.addFlows(['cookie=0x1,priority=20,ip,actions=normal', 'cookie=0x2,priority=21,ip,actions=normal'])
  await ch.deleteFlows([{ cookie: 1n, cookieMask: 0xffffffffffffffffn, tableId: 0 }])
  const left = h.ofctl('dump-flows')
  expect(left).not.toMatch(/cookie=0x1,/)
  expect(left).toMatch(/cookie=0x2,/)
})

test('events: portStatus when a port is added, flowRemoved when a flow expires', async () => {
  const h = sb.hosts[0]
  const ch = channel(h)
  await ch.connect()
  const port = once(ch, 'portStatus')
  h.vsctl('add-port', 'br0', 'vif9.0', '--', 'set', 'interface', 'vif9.0', 'type=dummy', 'ofport_request=9')
  const [ps] = await port
  expect(ps).toMatchObject({ type: 'port_status', reason: 'add', port: { name: 'vif9.0', portNo: 9 } })
  h.vsctl('del-port', 'br0', 'vif9.0')
  const removed = once(ch, 'flowRemoved')
  await ch.addFlows([{ cookie: 0x77n, priority: 5, hardTimeout: 1, flags: ['send_flow_rem'], match: { dlType: 0x806 } }])
  const [fr] = await removed
  expect(fr).toMatchObject({ type: 'flow_removed', cookie: 0x77n, reason: 'hard_timeout', priority: 5 })
}, 20000)

test('an idle channel stays up past 15 s: OVS probes it and the channel answers', async () => {
  const h = sb.hosts[0]
  const ch = channel(h, { echoIntervalMs: 60000 }) // our own probe out of the way: OVS's must be answered
  await ch.connect()
  let lost = null
  ch.on('disconnected', (e) => (lost = e))
  await new Promise((r) => setTimeout(r, 16000))
  expect(lost).toBeNull()
  const reply = await ch.request({ type: 'barrier_request' })
  expect(reply.type).toBe('barrier_reply')
}, 30000)

describe('failures have their own codes', () => {
  test('a client certificate from another CA: refused before connecting, and by the host', async () => {
    const h = sb.hosts[0]
    expect(() => new TlsConfig({ clientCert: sb.pki.clientWrongCa.cert, clientKey: sb.pki.clientWrongCa.key, poolCa: sb.pki.ca.cert })).toThrow(
      expect.objectContaining({ code: 'TLS_CLIENT_CERT_NOT_FROM_POOL_CA' }),
    )
    const wrong = new TlsConfig({ clientCert: sb.pki.clientWrongCa.cert, clientKey: sb.pki.clientWrongCa.key })
    const ch = new OpenFlowChannel({ host: h.ip, port: h.ports.openflowSsl, tls: wrong, serverCert: h.certs.server.cert, reconnect: false })
    channels.push(ch)
    expect(await codeOf(ch.connect())).toBe('TLS_CLIENT_CERT_REJECTED')
  })

  test('the wrong host certificate or pin', async () => {
    const [h0, h1] = sb.hosts
    const byCert = new OpenFlowChannel({ host: h0.ip, port: h0.ports.openflowSsl, tls, serverCert: h1.certs.server.cert })
    const byPin = new OpenFlowChannel({ host: h0.ip, port: h0.ports.openflowSsl, tls, fingerprint: 'AB'.repeat(32) })
    channels.push(byCert, byPin)
    expect(await codeOf(byCert.connect())).toBe('TLS_HOST_CERT_MISMATCH')
    expect(await codeOf(byPin.connect())).toBe('TLS_HOST_CERT_MISMATCH')
  })

  test('verifying the self-signed host certificate against the pool CA fails as unknown issuer', async () => {
    const h = sb.hosts[0]
    const ch = channel(h, { serverCert: undefined, ca: sb.pki.ca.cert })
    expect(await codeOf(ch.connect())).toBe('TLS_UNKNOWN_ISSUER')
  })

  test('expired and not-yet-valid client certificates', () => {
    expect(() => new TlsConfig({ clientCert: sb.pki.clientExpired.cert, clientKey: sb.pki.clientExpired.key })).toThrow(
      expect.objectContaining({ code: 'TLS_CLIENT_CERT_EXPIRED' }),
    )
    expect(() => new TlsConfig({ clientCert: sb.pki.clientNotYetValid.cert, clientKey: sb.pki.clientNotYetValid.key })).toThrow(
      expect.objectContaining({ code: 'TLS_CLIENT_CERT_NOT_YET_VALID' }),
    )
  })

  test('bad PEM and a key that does not match', () => {
    expect(() => new TlsConfig({ clientCert: 'not pem', clientKey: sb.pki.client.key })).toThrow(expect.objectContaining({ code: 'TLS_BAD_PEM' }))
    expect(() => new TlsConfig({ clientCert: sb.pki.client.cert, clientKey: sb.pki.clientWrongCa.key })).toThrow(
      expect.objectContaining({ code: 'TLS_KEY_MISMATCH' }),
    )
  })

  test('TLS to a plain-TCP port, and plain TCP to a TLS port', async () => {
    const h = sb.hosts[0]
    const tlsToPlain = channel(h, { port: h.ports.openflowTcp, reconnect: false, connectTimeoutMs: 3000 })
    const plainToTls = new OpenFlowChannel({ host: h.ip, port: h.ports.openflowSsl, reconnect: false, connectTimeoutMs: 3000 })
    channels.push(plainToTls)
    expect(await codeOf(tlsToPlain.connect())).toBe('TLS_PEER_NOT_TLS')
    // OVS's TLS listener closes without a word on non-TLS bytes.
    expect(await codeOf(plainToTls.connect())).toBe('OF_CLOSED_BEFORE_HELLO')
  })

  test('connection refused', async () => {
    const ch = channel(sb.hosts[0], { port: 1, reconnect: false })
    expect(await codeOf(ch.connect())).toBe('CONNECTION_REFUSED')
  })

  test('host authentication is required; insecure must be explicit', async () => {
    const h = sb.hosts[0]
    expect(() => new OpenFlowChannel({ host: h.ip, port: h.ports.openflowSsl, tls })).toThrow(expect.objectContaining({ code: 'TLS_HOST_AUTH_REQUIRED' }))
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => {})
    try {
      const ch = channel(h, { serverCert: undefined, insecure: true })
      await ch.connect()
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/NOT authenticated/), expect.objectContaining({ code: 'XO_SDN_INSECURE_TLS' }))
    } finally {
      warn.mockRestore()
    }
  })

  test('bad options are TypeError/RangeError', () => {
    expect(() => new OpenFlowChannel({ host: '', tls })).toThrow(TypeError)
    expect(() => new OpenFlowChannel({ host: '127.0.0.1', port: 70000 })).toThrow(RangeError)
    expect(() => new OpenFlowChannel({ host: '127.0.0.1', tls: {} })).toThrow(TypeError)
    expect(() => new OpenFlowChannel({ host: '127.0.0.1', requestTimeoutMs: -1 })).toThrow(RangeError)
  })

  test('a request on a channel that never connected', async () => {
    const ch = channel(sb.hosts[0])
    expect(await codeOf(ch.request({ type: 'barrier_request' }))).toBe('CHANNEL_NOT_CONNECTED')
  })
})

test('kill -9 of ovs-vswitchd: disconnected, pending requests rejected; restart: reconnected and working', async () => {
  const h = sb.hosts[1]
  const ch = channel(h, { reconnectMinMs: 100, reconnectMaxMs: 500 })
  await ch.connect()
  await ch.addFlows(['priority=50,ip,actions=normal'])
  const disconnected = once(ch, 'disconnected')
  // A request the dying switch will never answer.
  const pending = ch.request({ type: 'stats_request', body: { type: 'flow' } }).then(
    () => 'answered',
    (e) => e.code,
  )
  await h.killSwitch('SIGKILL')
  const reconnected = once(ch, 'reconnected')
  try {
    const [why] = await disconnected
    expect(why.code).toBe('CHANNEL_CLOSED')
    // Made while connected: answered before the kill, or ended by it (never "not connected").
    expect(['answered', 'CHANNEL_CLOSED']).toContain(await pending)
    expect(await codeOf(ch.request({ type: 'barrier_request' }))).toBe('CHANNEL_NOT_CONNECTED')
  } finally {
    await h.restartSwitch() // the later tests need this host's switch, whatever happened above
  }
  const [info] = await reconnected
  expect(typeof info.datapathId).toBe('bigint')
  expect(await ch.addFlows(['priority=51,ip,actions=normal'])).toEqual({ count: 1 })
  expect(h.ofctl('dump-flows')).toMatch(/priority=51,ip/)
}, 60000)

test('two hosts at once, each its own datapath', async () => {
  const [h0, h1] = sb.hosts
  const [a, b] = [channel(h0), channel(h1)]
  const [ia, ib] = await Promise.all([a.connect(), b.connect()])
  expect(ia.datapathId).not.toBe(ib.datapathId)
  await Promise.all([a.addFlows(['priority=70,ip,actions=drop']), b.addFlows(['priority=71,ip,actions=drop'])])
  expect(h0.ofctl('dump-flows')).toMatch(/priority=70/)
  expect(h0.ofctl('dump-flows')).not.toMatch(/priority=71/)
  expect(h1.ofctl('dump-flows')).toMatch(/priority=71/)
})

test('expected datapath id is checked', async () => {
  const ch = channel(sb.hosts[0], { expectedDatapathId: 0x1234n, reconnect: false })
  expect(await codeOf(ch.connect())).toBe('OF_DATAPATH_MISMATCH')
})

test('many messages in one barrier-confirmed batch', async () => {
  const h = sb.hosts[0]
  const ch = channel(h)
  await ch.connect()
  const flows = Array.from({ length: 5000 }, (_, i) => ({
    priority: 1000,
    cookie: 0xabn,
    match: { dlType: 0x800, nwSrc: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
    instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 'normal' }] }],
  }))
  expect(await ch.addFlows(flows)).toEqual({ count: 5000 })
  const agg = await ch.request({ type: 'stats_request', body: { type: 'aggregate', cookie: 0xabn, cookieMask: 0xffffffffffffffffn } })
  expect(agg.body.flowCount).toBe(5000)
  expect(encode).toBeDefined()
})
