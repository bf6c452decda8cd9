'use strict'
// The same OpenFlow session, run over a node:tls (OpenSSL) socket instead of
// rustls: the transport is an interface of its own. Against the real OVS sandbox.

const { once } = require('node:events')
const { TlsConfig, OpenFlowChannel, formatFlow } = require('..')
const { startSandbox } = require('../testing/sandbox.js')

let sb
let tls
const channels = []

beforeAll(async () => {
  sb = await startSandbox({ hosts: 1 })
  tls = new TlsConfig({ clientCert: sb.pki.client.cert, clientKey: sb.pki.client.key, poolCa: sb.pki.ca.cert })
}, 120000)

afterAll(async () => {
  await sb?.stop()
})

afterEach(async () => {
  await Promise.all(channels.splice(0).map((c) => c.close()))
  sb.hosts[0].ofctl('del-flows')
})

function channel(extra = {}) {
  const h = sb.hosts[0]
  const ch = new OpenFlowChannel({ host: h.ip, port: h.ports.openflowSsl, tls, serverCert: h.certs.server.cert, transport: 'node', ...extra })
  channels.push(ch)
  return ch
}

async function codeOf(promise) {
  try {
    await promise
  } catch (e) {
    return e.code
  }
  return 'NO ERROR'
}

test('connects through OpenSSL, installs and dumps flows, attributes a refusal', async () => {
  const h = sb.hosts[0]
  const ch = channel()
  expect(ch.transport).toBe('node')
  const { datapathId } = await ch.connect()
  expect(datapathId).toBe(BigInt('0x' + h.ofctl('show').match(/dpid:([0-9a-f]+)/)[1]))
  await ch.addFlows(['priority=65527,tcp,in_port=4,dl_src=ae:f7:4b:84:6c:8b,nw_src=192.168.5.242,nw_dst=192.168.5.55,tp_dst=5060 actions=drop'])
  const lines = (await ch.dumpFlows()).map(formatFlow)
  expect(lines.some((l) => l.includes('priority=65527,tcp,in_port=4'))).toBe(true)
  const err = await ch.addFlows(['priority=1,ip,actions=normal', 'priority=2,ip,actions=group:5']).catch((e) => e)
  expect(err).toMatchObject({ code: 'OF_SWITCH_ERROR', index: 1, errorCode: 'bad_out_group', applied: 1 })
})

test('the host is authenticated the same way', async () => {
  const h = sb.hosts[0]
  expect(await codeOf(channel({ serverCert: undefined, fingerprint: 'ab'.repeat(32) }).connect())).toBe('TLS_HOST_CERT_MISMATCH')
  expect(await codeOf(channel({ serverCert: undefined, ca: sb.pki.ca.cert }).connect())).toBe('TLS_UNKNOWN_ISSUER')
  const fp = require('node:crypto').createHash('sha256').update(new (require('node:crypto').X509Certificate)(h.certs.server.cert).raw).digest('hex')
  await channel({ serverCert: undefined, fingerprint: fp }).connect()
  const wrong = new TlsConfig({ clientCert: sb.pki.clientWrongCa.cert, clientKey: sb.pki.clientWrongCa.key })
  const refused = new OpenFlowChannel({ host: h.ip, port: h.ports.openflowSsl, tls: wrong, serverCert: h.certs.server.cert, transport: 'node', reconnect: false })
  channels.push(refused)
  expect(await codeOf(refused.connect())).toBe('TLS_CLIENT_CERT_REJECTED')
})

test('answers OVS probes, reconnects after kill -9', async () => {
  const h = sb.hosts[0]
  const ch = channel({ reconnectMinMs: 100, reconnectMaxMs: 500 })
  await ch.connect()
  const reply = await ch.request({ type: 'echo_request', data: Buffer.from('x') })
  expect(reply.type).toBe('echo_reply')
  const disconnected = once(ch, 'disconnected')
  await h.killSwitch('SIGKILL')
  await disconnected
  const reconnected = once(ch, 'reconnected')
  await h.restartSwitch()
  await reconnected
  expect(await ch.addFlows(['priority=9,arp,actions=normal'])).toEqual({ count: 1 })
}, 60000)
