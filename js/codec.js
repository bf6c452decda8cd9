'use strict'
// OpenFlow 1.1 codec: encode/decode plain message objects. See index.d.ts for the
// message shapes.

const native = require('./binding.js')
const { readTape, writeOne, writeTape, tapeLength, afterWrite, io, ioReserve, ioRegistered, ioRegister, ioShrink } =
  require('./tape.js')
const { classify } = require('./errors.js')

// encode/decode go through the tape module's I/O buffer, registered with the addon
// once (see `__ioRegister`): no Buffer argument per call.
const IO_STALE = -(2 ** 48)

let tapeOut = Buffer.allocUnsafe(1 << 16)
const MAX_MESSAGE = 0xffff

function decodeLarge(bytes) {
  let n = native.__decodeTape(bytes, tapeOut)
  if (n < 0) {
    tapeOut = grownTo(tapeOut, -n)
    n = native.__decodeTape(bytes, tapeOut)
  }
  return tapeOut
}

function grownTo(buf, n) {
  let size = buf.length
  while (size < n) size *= 2
  return Buffer.allocUnsafe(size)
}

function toBytes(value, name) {
  if (Buffer.isBuffer(value)) return value
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  const e = new TypeError(`${name} must be a Buffer or Uint8Array`)
  e.code = 'ERR_INVALID_ARG_TYPE'
  throw e
}

/** Encodes the `count` messages on the tape in the I/O buffer. */
function encodeTape(count) {
  const len = tapeLength()
  let n = native.__encodeIo(ioRegistered(), len, count)
  if (n === IO_STALE) n = native.__encodeIo(ioRegister(), len, count)
  if (n < 0) {
    ioReserve(-n, len)
    n = native.__encodeIo(ioRegistered(), len, count)
  }
  const bytes = Buffer.allocUnsafe(n)
  bytes.set(io().subarray(0, n))
  return bytes
}

/** Encodes one message object into a Buffer. */
function encode(message) {
  if (message === null || typeof message !== 'object') {
    const e = new TypeError('message must be an object with a `type`')
    e.code = 'ERR_INVALID_ARG_TYPE'
    throw e
  }
  try {
    writeOne(message)
    return encodeTape(1)
  } catch (err) {
    throw classify(err)
  } finally {
    afterWrite()
  }
}

/** Encodes many messages into one Buffer, back to back: all or nothing. */
function encodeBatch(messages) {
  if (!Array.isArray(messages)) {
    const e = new TypeError('messages must be an array')
    e.code = 'ERR_INVALID_ARG_TYPE'
    throw e
  }
  try {
    writeTape(messages)
    return encodeTape(messages.length)
  } catch (err) {
    throw classify(err)
  } finally {
    afterWrite()
    ioShrink()
  }
}

/** Decodes exactly one message. */
function decode(buffer) {
  const bytes = toBytes(buffer, 'buffer')
  try {
    // No OpenFlow message is that long: let the decoder say what is wrong
    // without copying it into the I/O buffer.
    if (bytes.length > MAX_MESSAGE) return readTape(decodeLarge(bytes))
    const len = bytes.length
    ioReserve(len).set(bytes, 0)
    let n = native.__decodeIo(ioRegistered(), len)
    if (n === IO_STALE) n = native.__decodeIo(ioRegister(), len)
    if (n < 0) {
      ioReserve(-n).set(bytes, 0)
      n = native.__decodeIo(ioRegistered(), len)
    }
    return readTape(io())
  } catch (err) {
    throw classify(err)
  }
}

/**
 * Splits a byte stream into messages: `push(chunk)` returns every message completed
 * by the chunk. A message that is framed but malformed comes out as
 * `{ type: 'invalid', xid, code, message, data }` and the stream goes on; a length
 * that can never be valid throws `OFP_BAD_FRAME` (the connection must be dropped).
 */
class FrameDecoder {
  #native = new native.NativeFrameDecoder()

  push(chunk) {
    const bytes = toBytes(chunk, 'chunk')
    let n = this.#native.push(bytes, tapeOut)
    if (n < 0) {
      tapeOut = grownTo(tapeOut, -n)
      n = this.#native.drain(tapeOut)
    }
    return readTape(tapeOut)
  }

  /** Bytes held that do not yet make a whole message. */
  get buffered() {
    return this.#native.buffered
  }
}

/**
 * OpenFlow messages written back to back (what `encodeBatch` and the rule
 * compiler produce), one view (no copy) per message, cut by the headers' lengths.
 */
function frames(bytes) {
  const out = []
  for (let at = 0; at + 8 <= bytes.length; ) {
    const len = bytes.readUInt16BE(at + 2)
    if (len < 8) break // a corrupt length would loop: these buffers are our own encodings
    out.push(bytes.subarray(at, at + len))
    at += len
  }
  return out
}

module.exports = { encode, decode, encodeBatch, FrameDecoder, frames }

const FLOW_COMMANDS = ['add', 'modify', 'modify_strict', 'delete', 'delete_strict']

/**
 * Reads Open vSwitch's `ovs-ofctl` flow syntax (`priority=65527,tcp,in_port=4,...
 * actions=drop`) into a flow_mod, encoding exactly as `ovs-ofctl -O OpenFlow11`
 * would. Invalid text throws a TypeError whose `code` says why (`FLOW_UNKNOWN_FIELD`,
 * `FLOW_NOT_IN_OF11`...) and whose message names the offending token.
 * With `extensions: true`, an add that OF1.1's match cannot express (`ct_state`,
 * `ct_zone`, IPv6, ICMPv6/ND, `tcp_flags`, masked ports, registers; the `ct`, `nat`,
 * `resubmit` and `load` actions) is read with Open vSwitch's Nicira extensions: an
 * OXM match (`match.oxm`) in the OF1.1 flow_mod, which ovs-vswitchd accepts.
 */
function parseFlow(text, options = {}) {
  if (options === null || typeof options !== 'object') {
    const e = new TypeError('options must be an object ({ command, extensions })')
    e.code = 'ERR_INVALID_ARG_TYPE'
    throw e
  }
  const { command = 'add', extensions = false } = options
  if (typeof extensions !== 'boolean') {
    const e = new TypeError('options.extensions must be a boolean')
    e.code = 'ERR_INVALID_ARG_TYPE'
    throw e
  }
  if (typeof text !== 'string') {
    const e = new TypeError('flow text must be a string')
    e.code = 'ERR_INVALID_ARG_TYPE'
    throw e
  }
  if (!FLOW_COMMANDS.includes(command)) {
    const e = new TypeError(`command must be one of ${FLOW_COMMANDS.join(', ')}`)
    e.code = 'ERR_INVALID_ARG_VALUE'
    throw e
  }
  let n
  try {
    n = native.__parseFlowTape(text, command, tapeOut, extensions)
    if (n < 0) {
      tapeOut = grownTo(tapeOut, -n)
      n = native.__parseFlowTape(text, command, tapeOut, extensions)
    }
  } catch (err) {
    const e = classify(err)
    if (typeof e.code === 'string' && e.code.startsWith('FLOW_') && !(e instanceof TypeError)) {
      const t = new TypeError(e.message)
      t.code = e.code
      throw t
    }
    throw e
  }
  return readTape(tapeOut)
}

/** Prints a flow_mod or a flow stats entry as `ovs-ofctl -O OpenFlow11 dump-flows` does. */
function formatFlow(flow) {
  if (flow === null || typeof flow !== 'object') {
    const e = new TypeError('formatFlow takes a flow_mod or a flow stats entry')
    e.code = 'ERR_INVALID_ARG_TYPE'
    throw e
  }
  const isFlowMod = flow.type === 'flow_mod'
  try {
    const tape = writeOne(flow)
    return native.__formatFlowTape(tape, tapeLength(), isFlowMod)
  } catch (err) {
    throw classify(err)
  } finally {
    afterWrite()
  }
}

module.exports.parseFlow = parseFlow
module.exports.formatFlow = formatFlow
