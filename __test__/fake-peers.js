'use strict'
// Peers that misbehave in ways the real Open vSwitch does not, on loopback: the
// fault suite (__test__/limits.test.js) and bench/limits.bench.js drive them.

const fs = require('node:fs')
const net = require('node:net')
const { once } = require('node:events')
const { ensureOvs } = require('../testing/sandbox.js')
const { switchMsg } = require('./helpers.js')

const servers = []
/** Closes every fake peer started so far (and their connections). */
function closePeers() {
  for (const s of servers.splice(0)) {
    for (const socket of s.sockets) socket.destroy()
    s.server.close()
  }
}

/** A TCP server on 127.0.0.1; `onSocket(socket)` plays the peer. Resolves its port. */
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
 * A switch of OpenFlow 1.1 only (a bridge with protocols=OpenFlow11): a plain 1.1
 * HELLO, then OVS's recorded FEATURES_REPLY; it answers barriers, and hands every
 * other message to `onMessage`. Everything it sends is OpenFlow 1.1, so it must not
 * announce 1.3 as OVS's own HELLO does.
 */
function fakeSwitch(onMessage = () => {}) {
  return fakePeer((socket) => {
    socket.write(Buffer.from([2, 0, 0, 8, 0, 0, 0, 1]))
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

// ---- the hostile peers of the fault suite ----

/** A switch that answers a flow-stats request with MORE-flagged parts (its recorded reply), forever. */
function statsWithoutEnd() {
  const part = switchMsg('rep.stats.flow')
  return fakeSwitch((socket, type, xid) => {
    if (type !== OFPT.STATS_REQUEST) return
    const more = withXid(part, xid)
    more.writeUInt16BE(1, 10) // OFPSF_REPLY_MORE in ofp_stats_reply.flags
    const burst = Buffer.concat(Array.from({ length: 512 }, () => more))
    stream(socket, () => burst)
  })
}

/** From a switch's side: stop reading, then send 60 KB echo requests without end. */
function floodEchoes(socket) {
  socket.pause()
  const echo = Buffer.alloc(60000)
  echo.writeUInt8(2, 0)
  echo.writeUInt8(OFPT.ECHO_REQUEST, 1)
  echo.writeUInt16BE(echo.length, 2)
  stream(socket, () => echo)
}

/** An ovsdb-server whose reply to `echo` opens a JSON string and never closes it (200 MiB). */
function ovsdbHugeReply() {
  return fakeOvsdb((socket, request) => {
    if (request.method !== 'echo') return
    socket.write(`{"id":${JSON.stringify(request.id)},"result":["`)
    const chunk = 'a'.repeat(1 << 20)
    let sent = 0
    stream(socket, () => (sent++ < 200 ? chunk : null))
  })
}

/** An ovsdb-server that, on the client's call `start-flood`, stops reading and floods echo requests. */
function ovsdbEchoFlood() {
  return fakeOvsdb((socket, request) => {
    if (request.method !== 'start-flood') return
    socket.pause()
    const burst = Buffer.from(`{"id":"e","method":"echo","params":["${'x'.repeat(60000)}"]}`.repeat(16))
    stream(socket, () => burst)
  })
}

/** The sockets the last fake peer accepted. */
const lastSockets = () => servers.at(-1).sockets

module.exports = { fakePeer, fakeSwitch, fakeOvsdb, stream, withXid, closePeers, lastSockets, OFPT, statsWithoutEnd, floodEchoes, ovsdbHugeReply, ovsdbEchoFlood }

// `node __test__/fake-peers.js <scenario>`: one hostile peer in a process of its own
// (so a benchmark measures only the client's memory); prints its port.
if (require.main === module) {
  const scenarios = {
    'stats-without-end': statsWithoutEnd,
    'echo-flood-switch': () =>
      fakeSwitch().then((port) => {
        // Flood once the client's handshake is done (it takes a few milliseconds).
        const start = setInterval(() => {
          const socket = lastSockets()[0]
          if (!socket) return
          clearInterval(start)
          setTimeout(() => floodEchoes(socket), 300)
        }, 10)
        return port
      }),
    'ovsdb-huge-reply': ovsdbHugeReply,
    'ovsdb-echo-flood': ovsdbEchoFlood,
  }
  const run = scenarios[process.argv[2]]
  if (!run) {
    console.error(`scenarios: ${Object.keys(scenarios).join(', ')}`)
    process.exit(2)
  }
  run().then((port) => console.log(port))
}
