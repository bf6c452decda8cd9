'use strict'
// The JS half of the value tape (see src/tape/mod.rs for the grammar): turns the
// tape the addon writes into plain objects, and plain objects into a tape the
// addon reads. Tapes (and the message bytes of encode/decode) go through one
// buffer registered with the addon once, so a call is one N-API crossing with no
// Buffer argument.
//
// Both directions name object keys by atom id (src/tape/atoms.rs), and names
// (`flow_mod`, `normal`...) too. Objects from Rust come as a shape id then the
// values; each shape gets a factory, compiled once, that builds the object from a
// literal, so V8 gives every shape one hidden class instead of growing objects key
// by key through megamorphic stores. Going the other way, a memo per position in
// the value tree remembers the keys the last object there had, so the ids of an
// object shaped like the previous one cost a string compare each.

const native = require('./binding.js')

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
const ATOM = 10
const SHAPE = 11
const ASCII = 12
const BIG_ZERO = 13
const BIG_ONES = 14
const NAME = 15 // JS to Rust: a string Rust should give an atom id (see writeStr)
const INLINE_KEY = 0xffff
const BIG_MAX = 0xffffffffffffffffn

// ---- the shared tables ----

/** Atom id -> string (object keys and recurring names). */
const atoms = []
/** String -> atom id, for keys and names going to Rust. */
const keyIds = new Map()
/** The id of `type`, once there is one. */
let typeId = -1
/** Shape id -> key names. */
const shapes = []
/** Shape id -> object factory. */
const factories = []

function syncAtoms() {
  for (const name of native.__keyNames(atoms.length)) {
    if (!keyIds.has(name)) keyIds.set(name, atoms.length)
    atoms.push(name)
  }
}

function atom(id) {
  syncAtoms()
  const a = atoms[id]
  if (a === undefined) throw new Error(`tape atom ${id} is unknown`)
  return a
}

function syncShapes() {
  const flat = native.__shapes(shapes.length)
  for (let i = 0; i < flat.length; ) {
    const n = flat[i++]
    shapes.push(flat.slice(i, i + n))
    i += n
  }
}

function factory(id) {
  if (shapes[id] === undefined) syncShapes()
  const ids = shapes[id]
  if (ids === undefined) throw new Error(`tape shape ${id} is unknown`)
  const names = ids.map((k) => atoms[k] ?? atom(k))
  let f
  try {
    // A literal `__proto__: v` would set the prototype; a computed key defines a property.
    const props = names.map((n) => (n === '__proto__' ? '["__proto__"]' : JSON.stringify(n)) + ': r()')
    f = new Function('r', `return function shape${id}() { return { ${props.join(', ')} } }`)(readValue)
  } catch {
    // Code generation disallowed (--disallow-code-generation-from-strings).
    f = () => {
      const o = {}
      for (const n of names) Object.defineProperty(o, n, { value: readValue(), enumerable: true, writable: true, configurable: true })
      return o
    }
  }
  factories[id] = f
  return f
}

// ---- reading (Rust -> JS) ----

let rbuf = Buffer.alloc(0)
let rdv = new DataView(rbuf.buffer)
let rpos = 0

// Short ASCII strings (addresses): String.fromCharCode with every byte as an
// argument is several times cheaper than a Buffer slice method for these sizes.
const MAX_FAST_ASCII = 40
const asciiFast = (() => {
  const cases = []
  for (let n = 1; n <= MAX_FAST_ASCII; n++) {
    const args = []
    for (let i = 0; i < n; i++) args.push(`b[p + ${i}]`)
    cases.push(`case ${n}: return String.fromCharCode(${args.join(', ')})`)
  }
  try {
    return new Function('b', 'p', 'n', `switch (n) { case 0: return ''\n${cases.join('\n')}\n}\nreturn b.latin1Slice(p, p + n)`)
  } catch {
    return (b, p, n) => b.latin1Slice(p, p + n) // code generation disallowed
  }
})()

function readValue() {
  const b = rbuf
  switch (b[rpos++]) {
    case SHAPE: {
      const id = b[rpos] | (b[rpos + 1] << 8)
      rpos += 2
      return (factories[id] ?? factory(id))()
    }
    case ATOM: {
      const id = b[rpos] | (b[rpos + 1] << 8)
      rpos += 2
      return atoms[id] ?? atom(id)
    }
    case U32: {
      const v = b[rpos] | (b[rpos + 1] << 8) | (b[rpos + 2] << 16) | (b[rpos + 3] << 24)
      rpos += 4
      return v >>> 0
    }
    case ASCII: {
      const n = b[rpos]
      const start = rpos + 1
      rpos = start + n
      return asciiFast(b, start, n)
    }
    case ARRAY: {
      const n = (b[rpos] | (b[rpos + 1] << 8) | (b[rpos + 2] << 16) | (b[rpos + 3] << 24)) >>> 0
      rpos += 4
      const a = new Array(n)
      for (let i = 0; i < n; i++) a[i] = readValue()
      return a
    }
    case BIG_ZERO:
      return 0n
    case BIG_ONES:
      return BIG_MAX
    case NULL:
      return null
    case TRUE:
      return true
    case FALSE:
      return false
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
    case OBJECT: {
      // Keyed form: only when the shape table is full.
      const n = b[rpos] | (b[rpos + 1] << 8)
      rpos += 2
      const o = {}
      for (let i = 0; i < n; i++) {
        const id = b[rpos] | (b[rpos + 1] << 8)
        rpos += 2
        const k = atoms[id] ?? atom(id)
        const v = readValue()
        if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
        else o[k] = v
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

// The write buffer is also the I/O buffer registered with the addon
// (`__ioRegister`): tapes go both ways through it, and so do the message bytes
// of encode/decode. It never leaves this module and the codec facade.
const IO_INITIAL = 1 << 16
const IO_KEEP = 1 << 20
let wbuf = Buffer.allocUnsafeSlow(IO_INITIAL)
let wlen = wbuf.length
let wdv = new DataView(wbuf.buffer, wbuf.byteOffset, wbuf.length)
let wpos = 0
/** Registration token of `wbuf` (0: not registered). */
let ioToken = 0
/** Set when a key went inline: Rust may have given it an id, fetch it after the call. */
let sentInlineKeys = false
const MAX_DEPTH = 64

function grow(need) {
  if (wpos + need <= wlen) return
  let size = wlen * 2
  while (size < wpos + need) size *= 2
  const next = Buffer.allocUnsafeSlow(size)
  wbuf.copy(next, 0, 0, wpos)
  wbuf = next
  wlen = size
  wdv = new DataView(wbuf.buffer, wbuf.byteOffset, wbuf.length)
  ioToken = 0
}

/** The I/O buffer, at least `size` bytes, keeping its first `keep` bytes. */
function ioReserve(size, keep = 0) {
  if (size > wlen) {
    const saved = wpos
    wpos = keep
    grow(size - keep)
    wpos = saved
  }
  return wbuf
}

/** The token of the I/O buffer's registration (registers it if needed). */
function ioRegistered() {
  if (ioToken === 0) ioToken = native.__ioRegister(wbuf)
  return ioToken
}

/** After a large batch: drop a big I/O buffer rather than keep it for good. */
function ioShrink() {
  if (wlen > IO_KEEP) {
    wbuf = Buffer.allocUnsafeSlow(IO_INITIAL)
    wlen = wbuf.length
    wdv = new DataView(wbuf.buffer, wbuf.byteOffset, wbuf.length)
    wpos = 0
    ioToken = 0
  }
}

/** Registers the I/O buffer again (another copy of this module registered its own). */
function ioRegister() {
  ioToken = native.__ioRegister(wbuf)
  return ioToken
}

/** Keys sent inline in the current call, and those Rust did not give an id. */
const pendingKeys = []
const refusedKeys = new Set()

function writeInlineKey(k) {
  const kb = Buffer.from(k, 'utf8')
  if (kb.length > 255) {
    const e = new RangeError(`property name too long: ${k.slice(0, 40)}…`)
    e.code = 'ERR_OUT_OF_RANGE'
    throw e
  }
  grow(kb.length + 3)
  wbuf[wpos] = INLINE_KEY & 0xff
  wbuf[wpos + 1] = INLINE_KEY >>> 8
  wbuf[wpos + 2] = kb.length
  wbuf.set(kb, wpos + 3)
  wpos += kb.length + 3
  if (!refusedKeys.has(k)) {
    pendingKeys.push(k)
    sentInlineKeys = true
  }
}

function writeString(s) {
  const n = s.length
  if (wpos + 3 + n * 3 > wlen) grow(3 + n * 3)
  const b = wbuf
  let p = wpos + 3
  let i = 0
  for (; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c > 0x7f) break
    b[p + i] = c
  }
  const len = i === n ? n : b.write(s, p, 'utf8')
  if (len > 0xffff) {
    const e = new RangeError('string longer than 65535 bytes')
    e.code = 'ERR_OUT_OF_RANGE'
    throw e
  }
  b[wpos] = STR
  b[wpos + 1] = len & 0xff
  b[wpos + 2] = len >>> 8
  wpos = p + len
}

/**
 * What the writer remembers about one position in the value tree (the top
 * level, `match`, `instructions[]`, ...): the keys the last object there had, in
 * `for...in` order, and their ids. While an object's keys are the same strings
 * (a pointer compare for V8's internalized keys) no id is looked up. Objects with
 * a string `type` get a memo per type, so mixed arrays (actions) do not thrash.
 */
class Memo {
  constructor() {
    this.keys = []
    this.ids = []
    /** Memos of the values at each key position (arrays: of their elements). */
    this.kids = []
    /** Last string value at each key position, and its atom id (see `writeStr`). */
    this.strs = []
    this.strIds = []
    this.lastType = undefined
    this.lastTyped = undefined
    this.typed = undefined
    /** For a per-type memo: the atom id of its `type` value. */
    this.tagId = NOT_KNOWN
  }

  forType(t) {
    if (t === this.lastType) return this.lastTyped
    if (this.typed === undefined) this.typed = new Map()
    let m = this.typed.get(t)
    if (m === undefined) {
      m = new Memo()
      this.typed.set(t, m)
    }
    this.lastType = t
    this.lastTyped = m
    return m
  }

  kid(i) {
    const k = this.kids[i]
    if (k !== undefined) return k
    return (this.kids[i] = new Memo())
  }
}

/** `strIds` values besides atom ids. */
const NOT_KNOWN = -1 // a name, without an id yet
const NOT_A_NAME = -2

const topMemo = new Memo()

/** Names Rust did not take (its table is full): sent as plain strings from now on. */
const refusedNames = new Set()
/** Names sent as NAME in the current call. */
const pendingNames = []

/**
 * A lowercase identifier (`flow_mod`, `apply_actions`, `normal`): the vocabulary of
 * tags and enum names, worth an atom id. Addresses and free text are not.
 */
function isName(s) {
  const n = s.length
  if (n === 0 || n > 32) return false
  let c = s.charCodeAt(0)
  if (c < 97 || c > 122) return false
  for (let i = 1; i < n; i++) {
    c = s.charCodeAt(i)
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95)) return false
  }
  return !refusedNames.has(s)
}

function nameId(s) {
  return isName(s) ? (keyIds.get(s) ?? NOT_KNOWN) : NOT_A_NAME
}

function writeAtom(id) {
  if (wpos + 3 > wlen) grow(3)
  const b = wbuf
  b[wpos] = ATOM
  b[wpos + 1] = id
  b[wpos + 2] = id >>> 8
  wpos += 3
}

/** A name Rust has no id for yet: `NAME len bytes` asks it to make one. */
function writeNewName(s) {
  const n = s.length
  if (wpos + 2 + n > wlen) grow(2 + n)
  const b = wbuf
  b[wpos] = NAME
  b[wpos + 1] = n
  const p = wpos + 2
  for (let i = 0; i < n; i++) b[p + i] = s.charCodeAt(i)
  wpos = p + n
  pendingNames.push(s)
  sentInlineKeys = true
}

/**
 * Writes string `v` found at position `kid` of memo `m`. A name that repeats at a
 * position costs one compare and an atom id; anything else is written as is.
 */
function writeStr(v, m, kid) {
  let id
  if (v === m.strs[kid]) {
    id = m.strIds[kid]
  } else {
    id = nameId(v)
    m.strs[kid] = v
    m.strIds[kid] = id
  }
  if (id >= 0) return writeAtom(id)
  if (id === NOT_KNOWN) {
    const now = keyIds.get(v)
    if (now !== undefined) {
      m.strIds[kid] = now
      return writeAtom(now)
    }
    if (!refusedNames.has(v)) return writeNewName(v)
    m.strIds[kid] = NOT_A_NAME
  }
  writeString(v)
}

function writeValue(v, depth, memo) {
  switch (typeof v) {
    case 'number':
      if (wpos + 9 > wlen) grow(9)
      if (v >>> 0 === v) {
        const b = wbuf
        b[wpos] = U32
        b[wpos + 1] = v
        b[wpos + 2] = v >>> 8
        b[wpos + 3] = v >>> 16
        b[wpos + 4] = v >>> 24
        wpos += 5
      } else {
        wbuf[wpos] = F64
        wdv.setFloat64(wpos + 1, v, true)
        wpos += 9
      }
      return
    case 'string':
      writeString(v)
      return
    case 'object':
      if (v === null) {
        if (wpos + 1 > wlen) grow(1)
        wbuf[wpos++] = NULL
        return
      }
      if (depth > MAX_DEPTH) {
        const e = new RangeError('object nested too deeply (is it circular?)')
        e.code = 'ERR_OUT_OF_RANGE'
        throw e
      }
      if (Array.isArray(v)) {
        const n = v.length
        if (wpos + 5 > wlen) grow(5)
        const b = wbuf
        b[wpos] = ARRAY
        b[wpos + 1] = n
        b[wpos + 2] = n >>> 8
        b[wpos + 3] = n >>> 16
        b[wpos + 4] = n >>> 24
        wpos += 5
        const elem = memo.kid(0)
        for (let i = 0; i < n; i++) writeValue(v[i], depth + 1, elem)
        return
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
      writeObject(v, depth, memo)
      return
    case 'bigint':
      if (v < 0n || v > BIG_MAX) {
        const e = new RangeError(`BigInt ${v} does not fit an unsigned 64-bit field`)
        e.code = 'ERR_OUT_OF_RANGE'
        throw e
      }
      if (wpos + 9 > wlen) grow(9)
      if (v === 0n) {
        wbuf[wpos++] = BIG_ZERO
      } else if (v === BIG_MAX) {
        wbuf[wpos++] = BIG_ONES
      } else {
        wbuf[wpos] = BIGINT
        wdv.setBigUint64(wpos + 1, v, true)
        wpos += 9
      }
      return
    case 'boolean':
      if (wpos + 1 > wlen) grow(1)
      wbuf[wpos++] = v ? TRUE : FALSE
      return
    case 'undefined':
      if (wpos + 1 > wlen) grow(1)
      wbuf[wpos++] = NULL
      return
    default: {
      const e = new TypeError(`a ${typeof v} cannot be encoded`)
      e.code = 'ERR_INVALID_ARG_TYPE'
      throw e
    }
  }
}

function writeKeyId(id) {
  if (wpos + 2 > wlen) grow(2)
  wbuf[wpos] = id & 0xff
  wbuf[wpos + 1] = id >>> 8
  wpos += 2
}

function writeObject(o, depth, slot) {
  if (wpos + 3 > wlen) grow(3)
  const at = wpos
  wbuf[at] = OBJECT
  wpos += 3
  let count = 0
  let m = slot
  // `type` first: the Rust side picks the variant from it without buffering.
  const t = o.type
  if (t !== undefined) {
    if (typeId < 0) typeId = keyIds.get('type') ?? -1
    if (typeId < 0) writeInlineKey('type')
    else writeKeyId(typeId)
    if (typeof t === 'string') {
      m = slot.forType(t)
      let tag = m.tagId
      if (tag < 0) tag = m.tagId = nameId(t)
      if (tag >= 0) {
        writeAtom(tag)
      } else if (tag === NOT_KNOWN && !refusedNames.has(t)) {
        const now = keyIds.get(t)
        if (now !== undefined) writeAtom((m.tagId = now))
        else writeNewName(t)
      } else {
        writeString(t)
      }
    } else {
      writeValue(t, depth + 1, slot)
    }
    count++
  }
  const keys = m.keys
  const ids = m.ids
  const kids = m.kids
  let i = 0
  let same = true
  for (const k in o) {
    if (k === 'type') continue
    let id
    if (same && keys[i] === k) {
      id = ids[i]
    } else {
      if (same) {
        same = false
        keys.length = i
        ids.length = i
      }
      id = keyIds.get(k) ?? -1
      keys.push(k)
      ids.push(id)
    }
    const v = o[k]
    const kid = i++
    if (v === undefined) continue
    count++
    if (id < 0) {
      // No id when the memo was made: maybe there is one now.
      const now = keyIds.get(k)
      if (now === undefined) writeInlineKey(k)
      else writeKeyId((ids[kid] = now))
    } else if (typeof v === 'number' && v >>> 0 === v) {
      // The most common pair, key and u32, under one bounds check.
      if (wpos + 7 > wlen) grow(7)
      const b = wbuf
      const p = wpos
      b[p] = id
      b[p + 1] = id >>> 8
      b[p + 2] = U32
      b[p + 3] = v
      b[p + 4] = v >>> 8
      b[p + 5] = v >>> 16
      b[p + 6] = v >>> 24
      wpos = p + 7
      continue
    } else {
      writeKeyId(id)
    }
    if (typeof v === 'string') {
      writeStr(v, m, kid)
      continue
    }
    let km = kids[kid]
    if (km === undefined) km = kids[kid] = new Memo()
    writeValue(v, depth + 1, km)
  }
  if (same && i !== keys.length) {
    keys.length = i
    ids.length = i
  }
  wbuf[at + 1] = count & 0xff
  wbuf[at + 2] = count >>> 8
}

/** Writes values into the shared write buffer; returns it (length: `tapeLength()`). */
function writeTape(values) {
  wpos = 0
  const elem = topMemo.kid(0)
  for (let i = 0; i < values.length; i++) writeValue(values[i], 0, elem)
  return wbuf
}

function writeOne(value) {
  wpos = 0
  writeValue(value, 0, topMemo)
  return wbuf
}

/** After a call that read a tape with inline keys: learn the ids Rust gave them. */
function afterWrite() {
  if (sentInlineKeys) {
    sentInlineKeys = false
    syncAtoms()
    for (const n of pendingNames) if (!keyIds.has(n)) refusedNames.add(n)
    for (const k of pendingKeys) if (!keyIds.has(k)) refusedKeys.add(k)
    pendingNames.length = 0
    pendingKeys.length = 0
  }
}

syncAtoms()

module.exports = {
  readTape,
  writeTape,
  writeOne,
  afterWrite,
  tapeLength: () => wpos,
  io: () => wbuf,
  ioReserve,
  ioRegistered,
  ioRegister,
  ioShrink,
}
