'use strict'
// OpenFlow 1.1 codec: encode/decode plain message objects. See index.d.ts for the
// message shapes.

const native = require('../native.js')
const { readTape, writeOne, writeTape, tapeLength } = require('./tape.js')
const { classify } = require('./errors.js')

let out = Buffer.allocUnsafe(1 << 16)
let tapeOut = Buffer.allocUnsafe(1 << 16)

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

function encodeTape(tape, count) {
  const len = tapeLength()
  let n = native.__encodeTape(tape, len, count, out)
  if (n < 0) {
    out = grownTo(out, -n)
    n = native.__encodeTape(tape, len, count, out)
  }
  return Buffer.from(out.subarray(0, n))
}

/** Encodes one message object into a Buffer. */
function encode(message) {
  if (message === null || typeof message !== 'object') {
    const e = new TypeError('message must be an object with a `type`')
    e.code = 'ERR_INVALID_ARG_TYPE'
    throw e
  }
  try {
    return encodeTape(writeOne(message), 1)
  } catch (err) {
    throw classify(err)
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
    return encodeTape(writeTape(messages), messages.length)
  } catch (err) {
    throw classify(err)
  }
}

/** Decodes exactly one message. */
function decode(buffer) {
  const bytes = toBytes(buffer, 'buffer')
  try {
    let n = native.__decodeTape(bytes, tapeOut)
    if (n < 0) {
      tapeOut = grownTo(tapeOut, -n)
      n = native.__decodeTape(bytes, tapeOut)
    }
    return readTape(tapeOut)
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

module.exports = { encode, decode, encodeBatch, FrameDecoder }
