'use strict'
// Whole frames for the sandbox's netdev-dummy/receive (Host#inject): TCP segments
// with real sequence numbers and checksums, so that Open vSwitch's connection
// tracker (which follows TCP windows and checks checksums) sees a real exchange,
// and `tcpConversation` to play both ends of one connection.

const macBytes = (mac) => Buffer.from(mac.split(':').map((h) => parseInt(h, 16)))
const ipBytes = (ip) => Buffer.from(ip.split('.').map(Number))

/** The Internet checksum (RFC 1071) of `buffers`, as one byte string. */
function checksum(...buffers) {
  const data = Buffer.concat(buffers)
  let sum = 0
  for (let i = 0; i < data.length; i += 2) sum += (data[i] << 8) | (data[i + 1] ?? 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

const FLAGS = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10 }

/**
 * An Ethernet/IPv4/TCP frame. `flags`: names joined by '+' ('syn', 'syn+ack', 'ack',
 * 'psh+ack', 'fin+ack', 'rst'); `payload`: Buffer or string.
 */
function tcpFrame({ srcMac, dstMac, src, dst, sport, dport, seq = 0, ack = 0, flags = 'syn', payload = Buffer.alloc(0), window = 64240, ttl = 64 }) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload)
  const tcp = Buffer.alloc(20)
  tcp.writeUInt16BE(sport, 0)
  tcp.writeUInt16BE(dport, 2)
  tcp.writeUInt32BE(seq >>> 0, 4)
  tcp.writeUInt32BE(ack >>> 0, 8)
  tcp[12] = 5 << 4
  tcp[13] = flags.split('+').reduce((bits, f) => bits | (FLAGS[f] ?? (() => { throw new Error(`unknown TCP flag ${f}`) })()), 0)
  tcp.writeUInt16BE(window, 14)
  const pseudo = Buffer.concat([ipBytes(src), ipBytes(dst), Buffer.from([0, 6]), Buffer.from([(20 + data.length) >> 8, (20 + data.length) & 0xff])])
  tcp.writeUInt16BE(checksum(pseudo, tcp, data), 16)
  const ip = Buffer.alloc(20)
  ip[0] = 0x45
  ip.writeUInt16BE(20 + 20 + data.length, 2)
  ip.writeUInt16BE(0x4000, 6) // don't fragment
  ip[8] = ttl
  ip[9] = 6
  ipBytes(src).copy(ip, 12)
  ipBytes(dst).copy(ip, 16)
  ip.writeUInt16BE(checksum(ip), 10)
  return Buffer.concat([macBytes(dstMac), macBytes(srcMac), Buffer.from([0x08, 0x00]), ip, tcp, data])
}

/**
 * Both ends of one TCP connection: `client` and `server` are `{ mac, ip, port }`.
 * Each method returns the next frame of the exchange with the right sequence and
 * acknowledgement numbers: syn(), synAck(), ack(), clientData(text), serverData(text).
 */
function tcpConversation(client, server, { clientIsn = 1000, serverIsn = 5000 } = {}) {
  let c = clientIsn // client's next sequence number
  let s = serverIsn
  const from = (a, b) => ({ srcMac: a.mac, dstMac: b.mac, src: a.ip, dst: b.ip, sport: a.port, dport: b.port })
  return {
    syn: () => tcpFrame({ ...from(client, server), seq: c++, flags: 'syn' }),
    synAck: () => tcpFrame({ ...from(server, client), seq: s++, ack: c, flags: 'syn+ack' }),
    ack: () => tcpFrame({ ...from(client, server), seq: c, ack: s, flags: 'ack' }),
    clientData: (text) => {
      const f = tcpFrame({ ...from(client, server), seq: c, ack: s, flags: 'psh+ack', payload: text })
      c += Buffer.byteLength(text)
      return f
    },
    serverData: (text) => {
      const f = tcpFrame({ ...from(server, client), seq: s, ack: c, flags: 'psh+ack', payload: text })
      s += Buffer.byteLength(text)
      return f
    },
  }
}

module.exports = { tcpFrame, tcpConversation, checksum }
