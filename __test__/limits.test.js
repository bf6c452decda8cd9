'use strict'
// Bounded memory against peers that misbehave in ways the real Open vSwitch does
// not (hence fakes on loopback): a switch that streams a multipart reply without
// end, peers that flood requests and never read, an OVSDB reply that never closes.
// Each is stopped by its cap, with the cap's own code; nothing waits for a request
// timeout (set to 10 minutes here, so only the cap can end these tests).

const fs = require('node:fs')
const net = require('node:net')
const { once } = require('node:events')
const { OpenFlowChannel, OvsdbClient } = require('..')
const { ensureOvs } = require('../js/sandbox.js')
const { switchMsg, rejection } = require('./helpers.js')

const LONG = { reconnect: false, requestTimeoutMs: 600000, echoIntervalMs: 600000, echoTimeoutMs: 600000 }
const servers = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    for (const socket of s.sockets) socket.destroy()
    s.server.close()
  }
})

/** A TCP server on 127.0.0.1; `onSocket(socket)` plays the peer. */
async function fakePeer(onSocket) {
  const sockets = []
  const server = net.createServer((socket) => {
    sockets.push(socket)
    socket.on('error', () => {})
    onSocket(socket)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push({ server, sockets })
  return server.address().port
}

/** Writes `next()` chunks until it returns null or the socket closes, honouring backpressure. */
async function stream(socket, next) {
  const closed = once(socket, 'close').catch(() => {})
  while (!socket.destroyed) {
    const chunk = next()
    if (chunk === null) return
    if (!socket.write(chunk)) await Promise.race([once(socket, 'drain'), closed]).catch(() => {})
  }
}

// ---- OpenFlow ----

const OFPT = { ECHO_REQUEST: 2, ECHO_REPLY: 3, FEATURES_REQUEST: 5, STATS_REQUEST: 18, BARRIER_REQUEST: 20, BARRIER_REPLY: 21 }

/** A copy of a recorded switch message with another xid. */
function withXid(bytes, xid) {
  const b = Buffer.from(bytes)
  b.writeUInt32BE(xid, 4)
  return b
}

/**
 * A switch that does the handshake as OVS does (its recorded HELLO and
 * FEATURES_REPLY), answers barriers, and hands every other message to `onMessage`.
 */
function fakeSwitch(onMessage = () => {}) {
  return fakePeer((socket) => {
    socket.write(switchMsg('rep.hello'))
    let buf = Buffer.alloc(0)
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 8 && buf.length >= buf.readUInt16BE(2)) {
        const msg = buf.subarray(0, buf.readUInt16BE(2))
        buf = buf.subarray(msg.length)
        const type = msg[1]
        const xid = msg.readUInt32BE(4)
        if (type === OFPT.FEATURES_REQUEST) socket.write(withXid(switchMsg('rep.features_reply'), xid))
        else if (type === OFPT.BARRIER_REQUEST) socket.write(Buffer.from([2, OFPT.BARRIER_REPLY, 0, 8, ...[24, 16, 8, 0].map((s) => (xid >>> s) & 255)]))
        else onMessage(socket, type, xid, msg)
      }
    })
  })
}

test('a flow-stats reply that never ends: the request fails OF_REPLY_TOO_LARGE at the cap, not at its timeout', async () => {
  const part = switchMsg('rep.stats.flow')
  const port = await fakeSwitch((socket, type, xid) => {
    if (type !== OFPT.STATS_REQUEST) return
    // The same recorded reply part, flagged MORE (OFPSF_REPLY_MORE, ofp_stats_reply.flags), forever.
    const more = withXid(part, xid)
    more.writeUInt16BE(1, 10)
    const burst = Buffer.concat(Array.from({ length: 512 }, () => more))
    stream(socket, () => burst)
  })
  const ch = new OpenFlowChannel({ host: '127.0.0.1', port, ...LONG })
  ch.on('error', () => {})
  const lost = once(ch, 'disconnected')
  await ch.connect()
  const e = await rejection(ch.dumpFlows())
  expect(e.code).toBe('OF_REPLY_TOO_LARGE')
  expect((await lost)[0].code).toBe('OF_REPLY_TOO_LARGE')
  await ch.close()
}, 30000)

test.each([['rustls driver', 'rustls'], ['node:tls transport', 'node']])('a switch that floods echo requests and never reads (%s): cut with PEER_NOT_READING, and close() releases', async (_, transport) => {
  const port = await fakeSwitch()
  const ch = new OpenFlowChannel({ host: '127.0.0.1', port, ...LONG, ...(transport === 'node' ? { transport } : {}) })
  ch.on('error', () => {})
  const lost = once(ch, 'disconnected')
  await ch.connect()
  const socket = servers.at(-1).sockets[0]
  socket.pause() // never reads again: every echo reply we owe stays queued
  const echo = Buffer.alloc(60000)
  echo.writeUInt8(2, 0)
  echo.writeUInt8(OFPT.ECHO_REQUEST, 1)
  echo.writeUInt16BE(echo.length, 2)
  const pending = ch.request({ type: 'barrier_request' })
  pending.catch(() => {})
  stream(socket, () => echo)
  expect((await lost)[0].code).toBe('PEER_NOT_READING')
  expect((await rejection(pending)).code).toBe('PEER_NOT_READING')
  await ch.close()
}, 30000)

// ---- OVSDB ----

/**
 * An ovsdb-server that answers the client's handshake (list_dbs, get_schema with the
 * real Open_vSwitch schema, an empty monitor reply) and hands other requests to
 * `onRequest(socket, request)`.
 */
function fakeOvsdb(onRequest = () => {}) {
  const schema = JSON.parse(fs.readFileSync(ensureOvsSchema(), 'utf8'))
  return fakePeer((socket) => {
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => {
      text += chunk
      // Requests are whole JSON objects back to back; none of ours nests a '}' in a string here.
      for (let end = topLevelEnd(text); end > 0; end = topLevelEnd(text)) {
        const request = JSON.parse(text.slice(0, end))
        text = text.slice(end)
        const reply = (result) => socket.write(JSON.stringify({ id: request.id, result, error: null }))
        if (request.method === 'list_dbs') reply(['Open_vSwitch'])
        else if (request.method === 'get_schema') reply(schema)
        else if (request.method === 'monitor_cond' || request.method === 'monitor') reply({})
        else onRequest(socket, request)
      }
    })
  })
}

function ensureOvsSchema() {
  ensureOvs()
  for (const p of ['/usr/share/openvswitch/vswitch.ovsschema', '/usr/local/share/openvswitch/vswitch.ovsschema']) if (fs.existsSync(p)) return p
  throw new Error('vswitch.ovsschema not found')
}

/** The end of the first complete top-level JSON object of `text` (0: none yet). */
function topLevelEnd(text) {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
    } else if (c === '"') inString = true
    else if (c === '{' || c === '[') depth++
    else if ((c === '}' || c === ']') && --depth === 0) return i + 1
  }
  return 0
}

test('an OVSDB reply that never closes: OVSDB_MESSAGE_TOO_LARGE at the 64 MiB cap, for the call and the connection', async () => {
  const port = await fakeOvsdb((socket, request) => {
    if (request.method !== 'echo') return
    socket.write(`{"id":${JSON.stringify(request.id)},"result":["`)
    const chunk = 'a'.repeat(1 << 20)
    let sent = 0
    stream(socket, () => (sent++ < 200 ? chunk : null)) // 200 MiB, more than the cap, never closed
  })
  const db = new OvsdbClient({ host: '127.0.0.1', port, ...LONG })
  db.on('error', () => {})
  const lost = once(db, 'disconnected')
  await db.connect()
  const e = await rejection(db.echo('x'))
  expect(e.code).toBe('OVSDB_MESSAGE_TOO_LARGE')
  expect((await lost)[0].code).toBe('OVSDB_MESSAGE_TOO_LARGE')
  await db.close()
}, 30000)

// (The OVSDB client uses node:tls only with TLS; that path's cap is not exercised here.)
test('an OVSDB server that floods echo requests and never reads: cut with PEER_NOT_READING, pending calls fail with it', async () => {
  let flood
  const port = await fakeOvsdb((socket, request) => {
    if (request.method === 'start-flood') flood(socket)
  })
  flood = (socket) => {
    socket.pause()
    const burst = Buffer.from(`{"id":"e","method":"echo","params":["${'x'.repeat(60000)}"]}`.repeat(16))
    stream(socket, () => burst)
  }
  const db = new OvsdbClient({ host: '127.0.0.1', port, ...LONG })
  db.on('error', () => {})
  const lost = once(db, 'disconnected')
  await db.connect()
  const pending = db.call('start-flood', [])
  pending.catch(() => {})
  expect((await lost)[0].code).toBe('PEER_NOT_READING')
  expect((await rejection(pending)).code).toBe('PEER_NOT_READING')
  await db.close()
}, 30000)
