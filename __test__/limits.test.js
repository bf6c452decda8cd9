'use strict'
// Bounded memory against peers that misbehave in ways the real Open vSwitch does
// not (hence fakes on loopback): a switch that streams a multipart reply without
// end, peers that flood requests and never read, an OVSDB reply that never closes.
// Each is stopped by its cap, with the cap's own code; nothing waits for a request
// timeout (set to 10 minutes here, so only the cap can end these tests).

const { once } = require('node:events')
const { OpenFlowChannel, OvsdbClient } = require('..')
const { rejection } = require('./helpers.js')
const { fakeSwitch, closePeers, lastSockets, statsWithoutEnd, floodEchoes, ovsdbHugeReply, ovsdbEchoFlood } = require('./fake-peers.js')

const LONG = { reconnect: false, requestTimeoutMs: 600000, echoIntervalMs: 600000, echoTimeoutMs: 600000 }
afterEach(closePeers)

test('a flow-stats reply that never ends: the request fails OF_REPLY_TOO_LARGE at the cap, not at its timeout', async () => {
  const port = await statsWithoutEnd()
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
  const pending = ch.request({ type: 'barrier_request' })
  pending.catch(() => {})
  floodEchoes(lastSockets()[0]) // never reads again: every echo reply we owe stays queued
  expect((await lost)[0].code).toBe('PEER_NOT_READING')
  expect((await rejection(pending)).code).toBe('PEER_NOT_READING')
  await ch.close()
}, 30000)

test('an OVSDB reply that never closes: OVSDB_MESSAGE_TOO_LARGE at the 32 MiB cap, for the call and the connection', async () => {
  const port = await ovsdbHugeReply()
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
  const port = await ovsdbEchoFlood()
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
