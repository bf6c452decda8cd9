// Types for js/xo-openflow.js, the drop-in replacement for @xen-orchestra/openflow 0.1.4.
// Message objects keep XO's loose shape: a header plus snake_case fields.

/// <reference types="node" />

export interface Header {
  version: number
  type: number
  /** Set by `pack`, read from the bytes by `unpack`. */
  length?: number
  xid?: number
}

/** `{ header, ...fields }`, e.g. `{ header, command, match, instructions }` for a FLOW_MOD. */
export interface OpenFlowObject {
  header: Header
  [field: string]: unknown
}

/** What `parse` yields for a framed message that does not decode (no `header`). */
export interface Unparseable {
  header?: undefined
  error: Error
  data: Buffer
}

/** `protocols[2]`: XO's OpenFlow 1.1 constant tables (type, port, actionType, sizes, offsets...). */
export type Protocol = Record<string, any> & { version: number }

export declare const versions: { openFlow11: 2 }
export declare const protocols: { 2: Protocol; [version: number]: Protocol }
export declare function pack(object: OpenFlowObject): Buffer
export declare function unpack(buffer: Buffer | Uint8Array, offset?: number): OpenFlowObject
/** Async generator of the messages read from a socket (or any readable stream / async iterable of Buffers). */
export declare function parse(
  socket: NodeJS.ReadableStream | AsyncIterable<Buffer | Uint8Array>
): AsyncGenerator<OpenFlowObject | Unparseable, void, undefined>
export { parse as parseSocket }

declare const openflow: {
  versions: typeof versions
  protocols: typeof protocols
  pack: typeof pack
  unpack: typeof unpack
  parse: typeof parse
  parseSocket: typeof parse
}
export default openflow
