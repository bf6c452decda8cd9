'use strict'
// Whole frames for the sandbox's netdev-dummy/receive (Host#inject): TCP segments
// with real sequence numbers and checksums, so that Open vSwitch's connection
// tracker (which follows TCP windows and checks checksums) sees a real exchange,
// and `tcpConversation` to play both ends of one connection.

const macBytes = (mac) => Buffer.from(mac.split(':').map((h) => parseInt(h, 16)))
const ipBytes = (ip) => (ip.includes(':') ? ipv6Bytes(ip) : Buffer.from(ip.split('.').map(Number)))

/** 16 bytes of an IPv6 address in text ('2001:db8::1'). */
function ipv6Bytes(text) {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const groups = (part) => (part ? part.split(':') : [])
  const h = groups(head)
  const t = groups(tail)
  const all = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  if (all.length !== 8) throw new Error(`not an IPv6 address: ${text}`)
  const out = Buffer.alloc(16)
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}

/**
 * The link-local address a guest forms from `mac` (RFC 4291 §2.5.1, Appendix A): fe80::/64 and the
 * modified EUI-64 interface identifier (the U/L bit, 0x02 of the first byte, flipped; ff:fe in the middle).
 */
function eui64LinkLocal(mac) {
  const b = [...macBytes(mac)]
  b[0] ^= 0x02
  const groups = [[b[0], b[1]], [b[2], 0xff], [0xfe, b[3]], [b[4], b[5]]].map(([hi, lo]) => ((hi << 8) | lo).toString(16))
  return new URL(`http://[fe80:0:0:0:${groups.join(':')}]/`).hostname.slice(1, -1) // canonical text, as OVS prints it
}

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
 * An Ethernet/IPv4/TCP frame, or Ethernet/IPv6/TCP when the addresses are IPv6.
 * `flags`: names joined by '+' ('syn', 'syn+ack', 'ack', 'psh+ack', 'fin+ack', 'rst');
 * `payload`: Buffer or string.
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
  const v6 = src.includes(':')
  const length = 20 + data.length
  // The pseudo-headers of RFC 793 and RFC 8200 §8.1.
  const pseudo = v6
    ? Buffer.concat([ipBytes(src), ipBytes(dst), Buffer.from([0, 0, length >> 8, length & 0xff, 0, 0, 0, 6])])
    : Buffer.concat([ipBytes(src), ipBytes(dst), Buffer.from([0, 6, length >> 8, length & 0xff])])
  tcp.writeUInt16BE(checksum(pseudo, tcp, data), 16)
  if (v6) {
    const ip6 = Buffer.alloc(40)
    ip6.writeUInt32BE(0x60000000, 0)
    ip6.writeUInt16BE(length, 4)
    ip6[6] = 6 // next header: TCP
    ip6[7] = ttl
    ipBytes(src).copy(ip6, 8)
    ipBytes(dst).copy(ip6, 24)
    return Buffer.concat([macBytes(dstMac), macBytes(srcMac), Buffer.from([0x86, 0xdd]), ip6, tcp, data])
  }
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

module.exports = { tcpFrame, tcpConversation, checksum, eui64LinkLocal }
