'use strict'
// The JS half of the value tape (see src/tape/mod.rs for the grammar): turns the
// tape the addon writes into plain objects, and plain objects into a tape the
// addon reads. One reusable buffer each way keeps N-API crossings to one per call.

const native = require('../native.js')

const NULL = 0
const TRUE = 1
const FALSE = 2
const U32 = 3
const F64 = 4
const BIGINT = 5
const STR = 6
const BYTES = 7
const ARRAY = 8
const OBJECT = 9

const keys = []
function keyName(id) {
  let k = keys[id]
  if (k === undefined) {
    for (const name of native.__keyNames(keys.length)) keys.push(name)
    k = keys[id]
    if (k === undefined) throw new Error(`tape key ${id} is unknown`)
  }
  return k
}

// ---- reading (Rust -> JS) ----

let rbuf = Buffer.alloc(0)
let rdv = new DataView(rbuf.buffer)
let rpos = 0

function readValue() {
  const b = rbuf
  switch (b[rpos++]) {
    case NULL:
      return null
    case TRUE:
      return true
    case FALSE:
      return false
    case U32: {
      const v = b[rpos] | (b[rpos + 1] << 8) | (b[rpos + 2] << 16) | (b[rpos + 3] << 24)
      rpos += 4
      return v >>> 0
    }
    case F64: {
      const v = rdv.getFloat64(rpos + b.byteOffset, true)
      rpos += 8
      return v
    }
    case BIGINT: {
      const v = rdv.getBigUint64(rpos + b.byteOffset, true)
      rpos += 8
      return v
    }
    case STR: {
      const n = b[rpos] | (b[rpos + 1] << 8)
      const start = rpos + 2
      rpos = start + n
      return b.utf8Slice(start, rpos)
    }
    case BYTES: {
      const n = (b[rpos] | (b[rpos + 1] << 8) | (b[rpos + 2] << 16) | (b[rpos + 3] << 24)) >>> 0
      const start = rpos + 4
      rpos = start + n
      return Buffer.from(b.subarray(start, rpos))
    }
    case ARRAY: {
      const n = (b[rpos] | (b[rpos + 1] << 8) | (b[rpos + 2] << 16) | (b[rpos + 3] << 24)) >>> 0
      rpos += 4
      const a = new Array(n)
      for (let i = 0; i < n; i++) a[i] = readValue()
      return a
    }
    case OBJECT: {
      const n = b[rpos] | (b[rpos + 1] << 8)
      rpos += 2
      const o = {}
      for (let i = 0; i < n; i++) {
        const id = b[rpos] | (b[rpos + 1] << 8)
        rpos += 2
        o[keys[id] ?? keyName(id)] = readValue()
      }
      return o
    }
    default:
      throw new Error(`malformed value tape at ${rpos - 1}`)
  }
}

/** Reads one value from a tape buffer. */
function readTape(buf) {
  if (rbuf !== buf) {
    rbuf = buf
    rdv = new DataView(buf.buffer)
  }
  rpos = 0
  return readValue()
}

// ---- writing (JS -> Rust) ----

let wbuf = Buffer.allocUnsafe(1 << 16)
let wdv = new DataView(wbuf.buffer, wbuf.byteOffset, wbuf.length)
let wpos = 0
const keyBytes = new Map()
const MAX_DEPTH = 64

function grow(need) {
  if (wpos + need <= wbuf.length) return
  let size = wbuf.length * 2
  while (size < wpos + need) size *= 2
  const next = Buffer.allocUnsafe(size)
  wbuf.copy(next, 0, 0, wpos)
  wbuf = next
  wdv = new DataView(wbuf.buffer, wbuf.byteOffset, wbuf.length)
}

function writeKey(k) {
  let kb = keyBytes.get(k)
  if (kb === undefined) {
    kb = Buffer.from(k, 'utf8')
    if (kb.length > 255) throw new RangeError(`property name too long: ${k.slice(0, 40)}…`)
    keyBytes.set(k, kb)
  }
  grow(kb.length + 1)
  wbuf[wpos++] = kb.length
  wbuf.set(kb, wpos)
  wpos += kb.length
}

function writeString(s) {
  const n = s.length
  grow(3 + n * 3)
  const at = wpos
  wbuf[wpos] = STR
  wpos += 3
  let ascii = true
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c > 0x7f) {
      ascii = false
      break
    }
    wbuf[wpos + i] = c
  }
  const len = ascii ? n : wbuf.write(s, wpos, 'utf8')
  if (len > 0xffff) throw new RangeError('string longer than 65535 bytes')
  wbuf[at + 1] = len & 0xff
  wbuf[at + 2] = len >>> 8
  wpos += len
}

function writeValue(v, depth) {
  switch (typeof v) {
    case 'number':
      grow(9)
      if (v >>> 0 === v) {
        wbuf[wpos] = U32
        wdv.setUint32(wpos + 1, v, true)
        wpos += 5
      } else {
        wbuf[wpos] = F64
        wdv.setFloat64(wpos + 1, v, true)
        wpos += 9
      }
      return
    case 'bigint':
      if (v < 0n || v > 0xffffffffffffffffn) {
        const e = new RangeError(`BigInt ${v} does not fit an unsigned 64-bit field`)
        e.code = 'ERR_OUT_OF_RANGE'
        throw e
      }
      grow(9)
      wbuf[wpos] = BIGINT
      wdv.setBigUint64(wpos + 1, v, true)
      wpos += 9
      return
    case 'string':
      writeString(v)
      return
    case 'boolean':
      grow(1)
      wbuf[wpos++] = v ? TRUE : FALSE
      return
    case 'undefined':
      grow(1)
      wbuf[wpos++] = NULL
      return
    case 'object':
      if (v === null) {
        grow(1)
        wbuf[wpos++] = NULL
        return
      }
      if (depth > MAX_DEPTH) {
        const e = new RangeError('object nested too deeply (is it circular?)')
        e.code = 'ERR_OUT_OF_RANGE'
        throw e
      }
      if (ArrayBuffer.isView(v)) {
        const bytes = v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
        grow(5 + bytes.length)
        wbuf[wpos] = BYTES
        wdv.setUint32(wpos + 1, bytes.length, true)
        wbuf.set(bytes, wpos + 5)
        wpos += 5 + bytes.length
        return
      }
      if (Array.isArray(v)) {
        grow(5)
        wbuf[wpos] = ARRAY
        wdv.setUint32(wpos + 1, v.length, true)
        wpos += 5
        for (let i = 0; i < v.length; i++) writeValue(v[i], depth + 1)
        return
      }
      writeObject(v, depth)
      return
    default: {
      const e = new TypeError(`a ${typeof v} cannot be encoded`)
      e.code = 'ERR_INVALID_ARG_TYPE'
      throw e
    }
  }
}

function writeObject(o, depth) {
  grow(3)
  const at = wpos
  wbuf[wpos] = OBJECT
  wpos += 3
  let count = 0
  // `type` first: the Rust side picks the variant from it without buffering.
  const t = o.type
  if (t !== undefined) {
    writeKey('type')
    writeValue(t, depth + 1)
    count++
  }
  for (const k in o) {
    if (k === 'type') continue
    const v = o[k]
    if (v === undefined) continue
    writeKey(k)
    writeValue(v, depth + 1)
    count++
  }
  wbuf[at + 1] = count & 0xff
  wbuf[at + 2] = count >>> 8
}

/** Writes values into the shared write buffer; returns [buffer, length]. */
function writeTape(values) {
  wpos = 0
  for (const v of values) writeValue(v, 0)
  return wbuf
}

function writeOne(value) {
  wpos = 0
  writeValue(value, 0)
  return wbuf
}

module.exports = { readTape, writeTape, writeOne, tapeLength: () => wpos }
