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

/** One of XO's constant tables: names to numbers (`type.flowMod`, `sizes.match`...). */
export type ConstantTable = { readonly [name: string]: number }

/** `protocols[2]`: XO's OpenFlow 1.1 constants, the same names and values as @xen-orchestra/openflow 0.1.4. */
export interface Protocol {
  readonly version: number
  readonly maxTableNameLen: number
  readonly maxPortNameLen: number
  readonly tcpPort: number
  readonly sslPort: number
  readonly ethAddrLen: number
  readonly defaultMissSendLen: number
  readonly flowPermanent: number
  readonly defaultPriority: number
  readonly descStrLen: number
  readonly serialNumLen: number
  readonly queueAll: number
  readonly queueMinRateUncfg: number
  readonly port: ConstantTable
  readonly type: ConstantTable
  readonly configFlags: ConstantTable
  readonly tableConfig: ConstantTable
  readonly capabilities: ConstantTable
  readonly portConfig: ConstantTable
  readonly portState: ConstantTable
  readonly portFeatures: ConstantTable
  readonly portReason: ConstantTable
  readonly packetInReason: ConstantTable
  readonly actionType: ConstantTable
  readonly flowModCommand: ConstantTable
  readonly groupModCommand: ConstantTable
  readonly flowWildcards: ConstantTable
  readonly dlType: ConstantTable
  readonly nwProto: ConstantTable
  readonly vlanId: ConstantTable
  readonly matchType: ConstantTable
  readonly instructionType: ConstantTable
  readonly flowModFlags: ConstantTable
  readonly group: ConstantTable
  readonly groupType: ConstantTable
  readonly flowRemovedReason: ConstantTable
  readonly errorType: ConstantTable
  readonly helloFailedCode: ConstantTable
  readonly badRequestCode: ConstantTable
  readonly badActionCode: ConstantTable
  readonly badInstructionCode: ConstantTable
  readonly badMatchCode: ConstantTable
  readonly flowModFailedCode: ConstantTable
  readonly groupModFailedCode: ConstantTable
  readonly portModFailedCode: ConstantTable
  readonly tableModFailedCode: ConstantTable
  readonly queueOpFailedCode: ConstantTable
  readonly switchConfigFailedCode: ConstantTable
  readonly statsType: ConstantTable
  readonly statsReplyFlags: ConstantTable
  readonly flowMatchFields: ConstantTable
  readonly queueProperties: ConstantTable
  readonly table: ConstantTable
  readonly sizes: ConstantTable
  readonly offsets: ConstantTable
}

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
