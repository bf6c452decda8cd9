'use strict'
/**
 * Drop-in replacement for `@xen-orchestra/openflow` 0.1.4 (and its `parse-socket`),
 * backed by the Rust codec of xo-sdn-native.
 *
 * ## Switching XO's SDN plugin
 *
 * In `packages/xo-server-sdn-controller/src/protocol/openflow-channel.js`:
 *
 *     -import openflow from '@xen-orchestra/openflow'
 *     -import parse from '@xen-orchestra/openflow/parse-socket'
 *     +import openflow, { parse } from 'xo-sdn-native/xo-openflow'
 *
 * (or keep two lines, the second being `import { parse } from 'xo-sdn-native/xo-openflow'`).
 * Nothing else changes: `openflow.versions`, `openflow.protocols[version]` (the same constant
 * tables, key for key), `openflow.pack(object) -> Buffer`, `openflow.unpack(buffer, offset?)`
 * and `parse(socket)` (an async generator of unpacked messages) keep XO's object shapes:
 * `{ header: { version, type, length, xid }, ...snake_case fields }` with numeric enums and
 * flags, `datapath_id` as a hex string on unpack, cookies and metadata as 8-byte Buffers,
 * match masks in wire form (1 bits are wildcarded, e.g. `nw_src_mask: '0.0.0.255'`).
 * CommonJS `require(...)`, `require(...).default` and ESM default/named imports all work.
 *
 * ## More than XO's codec
 *
 * XO's codec packs/unpacks only HELLO, ERROR, ECHO, FEATURES, GET_CONFIG/SET_CONFIG and
 * FLOW_MOD (OUTPUT action only). This one handles every OpenFlow 1.1 message, in the same
 * style (snake_case names, numeric enums):
 *
 * - PACKET_IN  `{ header, buffer_id, in_port, in_phy_port, total_len, reason, table_id, data }`
 * - FLOW_REMOVED `{ header, cookie: Buffer, priority, reason, table_id, duration_sec,
 *   duration_nsec, idle_timeout, hard_timeout, packet_count: BigInt, byte_count: BigInt, match }`
 * - PORT_STATUS `{ header, reason, desc: port }` (port as in FEATURES_REPLY `ports`)
 * - BARRIER_REQUEST/REPLY `{ header }`
 * - HELLO of another version (OVS opens with an OF1.3 HELLO): `{ header: { version: 4, ... },
 *   elements: [{ type: 1, bitmaps: [0x12] }] }`; `pack` accepts it too.
 * - every action (`{ type: actionType.setVlanId, len, vlan_id }`, field names from XO's
 *   `offsets` table), the goto_table/write_metadata instructions, other message types
 *   (fields in snake_case; their enum values stay our lower-snake-case names).
 * - a message of another version than 1.1 (other than HELLO) or of an unknown type unpacks to
 *   `{ header, body: Buffer }` instead of throwing, and `pack` takes that shape back.
 * - an OF1.1 HELLO unpacks to `{ header }` as with XO, even when it carries elements.
 *
 * ## What differs from XO's codec (all deliberate: XO's behaviour there is a bug)
 *
 * - `unpack` of FLOW_MOD returns the real `actions`; XO's returns `actions: []` for every
 *   instruction (it compares an absolute offset with a relative length).
 * - `unpack` returns `dl_vlan_pcp` and `mpls_tc` as the 8-bit fields they are; XO reads them as
 *   16/32-bit (`dl_vlan_pcp: 3` comes out as 768 from XO).
 * - `pack` of ERROR writes the real length; XO writes the caller's `header.length` (0 if unset).
 * - `pack` of FLOW_MOD with `cookie` but no `cookie_mask` gives mask 0; XO throws (NaN offset).
 *   `match.metadata` is packed; XO zeroes it (and the caller's Buffer).
 * - `unpack` of a port whose name fills all 16 bytes keeps the name; XO returns ''.
 * - `pack` is lenient where XO asserts: a missing `match.type` means standard, numeric strings
 *   are numbers. It still throws on an unknown message type or a non-1.1 version (HELLO aside).
 * - `parse(socket)` yields `{ error, data }` (no `header`: XO's documented "unparseable" case)
 *   for a framed message that does not decode, and goes on; XO's generator throws and stops.
 *   It throws (like XO) on a length under 8, after which the stream cannot be resynchronized.
 * - Like XO, `pack` sets `header.length` on the object it is given; unlike XO it does not set
 *   `match.length`, `instruction.len` or `action.len` on the input.
 */

const { encode, decode } = require('./index.js')
const { argError, describe } = require('./options.js')

/** A value in an error message, whatever it is (a symbol, a null-prototype object...). */
function safe(v) {
  try {
    return String(v)
  } catch {
    return describe(v)
  }
}

// ---- constant tables (OpenFlow 1.1.0 spec values, with XO's key names) ----

/** `'a b c'` -> `{ a: start, b: start + 1, c: start + 2 }`. */
function seq(names, start = 0) {
  const o = {}
  names.split(' ').forEach((n, i) => {
    o[n] = start + i
  })
  return o
}

/** `'a _ b'` -> `{ a: 1 << 0, b: 1 << 2 }` (`_` skips a bit). */
function bits(names) {
  const o = {}
  names.split(' ').forEach((n, i) => {
    if (n !== '_') o[n] = 2 ** i
  })
  return o
}

/** `'name:size ...'` -> `{ name: offset }`; the last field may have no size. */
function layout(fields) {
  const o = {}
  let at = 0
  for (const f of fields.split(' ')) {
    const [name, size = '0'] = f.split(':')
    o[name] = at
    at += Number(size)
  }
  return o
}

function numbers(spec) {
  const o = {}
  for (const f of spec.split(' ')) {
    const [name, n] = f.split(':')
    o[name] = Number(n)
  }
  return o
}

const MATCH_FIELDS = 'inPort dlVlan dlVlanPcp dlType nwTos nwProto tpSrc tpDst mplsLabel mplsTc'
const FLOW_STATS_REQUEST = 'tableId:1 pad:3 outPort:4 outGroup:4 pad2:4 cookie:8 cookieMask:8 match'
const ACTION_8BIT = name => `type:2 len:2 ${name}:1 pad:3`

const OF11 = {
  version: 0x02,
  maxTableNameLen: 32,
  maxPortNameLen: 16,
  tcpPort: 6653,
  sslPort: 6653,
  ethAddrLen: 6,
  port: { max: 0xffffff00, ...seq('inPort table normal flood all controller local any', 0xfffffff8) },
  type: seq(
    'hello error echoRequest echoReply experimenter featuresRequest featuresReply getConfigRequest ' +
      'getConfigReply setConfig packetIn flowRemoved portStatus packetOut flowMod groupMod portMod tableMod ' +
      'statsRequest statsReply barrierRequest barrierReply queueGetConfigRequest queueGetConfigReply'
  ),
  defaultMissSendLen: 128,
  configFlags: { fragNormal: 0, ...bits('fragDrop fragReasm invalidTtlToController'), fragMask: 3 },
  tableConfig: { controller: 0, ...bits('continue drop'), mask: 3 },
  capabilities: bits('flowStats tableStats portStats groupStats _ ipReasm queueStats arpMatchIp'),
  portConfig: bits('down _ noRecv _ _ noFwd noPacketIn'),
  portState: bits('linkDown blocked live'),
  portFeatures: bits(
    'f10MbHd f10MbFd f100MbHd f100MbFd f1GbHd f1GbFd f10GbFd f40GbFd f100GbFd f1TbFd other copper fiber autoneg pause pauseAsym'
  ),
  portReason: seq('add delete modify'),
  packetInReason: seq('noMatch action'),
  actionType: {
    ...seq(
      'output setVlanId setVlanPcp setDlSrc setDlDst setNwSrc setNwDst setNwTos setNwEcn setTpSrc setTpDst ' +
        'copyTtlOut copyTtlIn setMplsLabel setMplsTc setMplsTtl decMplsTtl pushVlan popVlan pushMpls popMpls ' +
        'setQueue group setNwTtl decNwTtl'
    ),
    experimenter: 0xffff,
  },
  flowModCommand: seq('add modify modifyStrict delete deleteStrict'),
  groupModCommand: seq('add modify delete'),
  flowWildcards: { ...bits(MATCH_FIELDS), all: 2 ** 10 - 1 },
  dlType: { ip: 0x0800, arp: 0x0806, eth2Cutoff: 0x0600, notEthType: 0x05ff },
  nwProto: { icmp: 1, tcp: 6, udp: 17 },
  vlanId: { any: 0xfffe, none: 0xffff },
  matchType: { standard: 0 },
  flowPermanent: 0,
  defaultPriority: 0x8000,
  instructionType: { ...seq('goToTable writeMetadata writeActions applyActions clearActions', 1), experimenter: 0xffff },
  flowModFlags: bits('sendFlowRem checkOverlap'),
  group: { max: 0xffffff00, all: 0xfffffffc, any: 0xffffffff },
  groupType: seq('all select indirect ff'),
  flowRemovedReason: seq('idleTimeout hardTimeout delete groupDelete'),
  errorType: seq(
    'helloFailed badRequest badAction badInstruction badMatch flowModFailed groupModFailed portModFailed ' +
      'tableModFailed queueOpFailed switchConfigFailed'
  ),
  helloFailedCode: seq('incompatible eperm'),
  badRequestCode: seq('badVersion badType badStat badExperimenter badSubtype eperm badLen bufferEmpty bufferUnknown badTableId'),
  badActionCode: seq(
    'badType badLen badExperimenter badExperimenterType badOutPort badArgument eperm tooMany badQueue badOutGroup ' +
      'matchInconsistent unsupportedOrder badTag'
  ),
  badInstructionCode: seq('unknownInst unsupInst badTableId unsupMetadata unsupMetadataMask unsupExpInst'),
  badMatchCode: seq('badType badLen badTag badDlAddrMask badNwAddrMask badWildcards badField badValue'),
  flowModFailedCode: seq('unknown tableFull badTableId overlap eperm badTimeout badCommand'),
  groupModFailedCode: seq(
    'groupExists invalidGroup weightUnsupported outOfGroups outOfBuckets chainingUnsupported watchUnsupported loop unknownGroup'
  ),
  portModFailedCode: seq('badPort badHwAddr badConfig badAdvertise'),
  tableModFailedCode: seq('badTable badConfig'),
  queueOpFailedCode: seq('badPort badQueue eperm'),
  switchConfigFailedCode: seq('badFlags badLen'),
  statsType: { ...seq('descr flow aggregate table port queue group groupDesc'), experimenter: 0xffff },
  statsReplyFlags: { replyMore: 1 },
  descStrLen: 256,
  serialNumLen: 32,
  flowMatchFields: bits(`${MATCH_FIELDS} type dlSrc dlDst nwSrc nwDst metadata`),
  queueAll: 0xffffffff,
  queueMinRateUncfg: 0xffff,
  queueProperties: seq('none minRate'),
  table: { max: 254, all: 255 },
  sizes: numbers(
    'header:8 hello:8 featuresRequest:8 switchConfig:12 tableMod:16 port:64 switchFeatures:32 portStatus:80 ' +
      'portMod:40 packetIn:24 actionOutput:16 actionVlanId:8 actionVlanPcp:8 actionDlAddr:16 actionNwAddr:8 ' +
      'actionTpPort:8 actionNwTos:8 actionNwEcn:8 actionMplsLabel:8 actionMplsTc:8 actionMplsTtl:8 actionPush:8 ' +
      'actionPopMpls:8 actionGroup:8 actionNwTtl:8 actionExperimenterHeader:8 actionHeader:8 packetOut:24 match:88 ' +
      'instruction:8 instructionGotoTable:8 instructionWriteMetadata:24 instructionActions:8 instructionExperimenter:8 ' +
      'flowMod:136 bucket:16 groupMod:16 flowRemoved:136 errorMsg:12 statsRequest:16 statsReply:16 descStats:1056 ' +
      'flowStatsRequest:120 flowStats:136 aggregateStatsRequest:120 aggregateStatsReply:24 tableStats:88 ' +
      'portStatsRequest:8 portStats:104 groupStatsRequest:8 bucketCounter:16 groupStats:32 groupDescStats:8 ' +
      'experimenterHeader:16 queuePropHeader:8 queuePropMinRate:16 packetQueue:8 queueGetConfigRequest:16 ' +
      'queueGetConfigReply:16 actionSetQueue:8 queueStatsRequest:8 queueStats:32'
  ),
  offsets: {
    header: layout('version:1 type:1 length:2 xid:4'),
    hello: layout('header'),
    echo: layout('header:8 data'),
    switchConfig: layout('header:8 flags:2 missSendLen:2'),
    tableMod: layout('header:8 tableId:1 pad:3 config:4'),
    port: layout(
      'portNo:4 pad:4 hwAddr:6 pad2:2 name:16 config:4 state:4 curr:4 advertised:4 supported:4 peer:4 currSpeed:4 maxSpeed:4'
    ),
    switchFeatures: layout('header:8 datapathId:8 nBuffers:4 nTables:1 pad:3 capabilities:4 reserved:4 ports'),
    portStatus: layout('header:8 reason:1 pad:7 desc'),
    portMod: layout('header:8 portNo:4 pad:4 hwAddr:6 pad2:2 config:4 mask:4 advertise:4 pad3:4'),
    packetIn: layout('header:8 bufferId:4 inPort:4 inPhyPort:4 totalLen:2 reason:1 tableId:1 data'),
    actionOutput: layout('type:2 len:2 port:4 maxLen:2 pad:6'),
    actionVlanId: layout('type:2 len:2 vlanId:2 pad:2'),
    actionVlanPcp: layout(ACTION_8BIT('vlanPcp')),
    actionDlAddr: layout('type:2 len:2 dlAddr:6 pad:6'),
    actionNwAddr: layout('type:2 len:2 nwAddr:4'),
    actionTpPort: layout('type:2 len:2 tpPort:2 pad:2'),
    actionNwTos: layout(ACTION_8BIT('nwTos')),
    actionNwEcn: layout(ACTION_8BIT('nwEcn')),
    actionMplsLabel: layout('type:2 len:2 mplsLabel:4'),
    actionMplsTc: layout(ACTION_8BIT('mplsTc')),
    actionMplsTtl: layout(ACTION_8BIT('mplsTtl')),
    actionPush: layout('type:2 len:2 ethertype:2 pad:2'),
    actionPopMpls: layout('type:2 len:2 ethertype:2 pad:2'),
    actionGroup: layout('type:2 len:2 groupId:4'),
    actionNwTtl: layout(ACTION_8BIT('nwTtl')),
    actionExperimenterHeader: layout('type:2 len:2 experimenter:4'),
    actionHeader: layout('type:2 len:2 pad:4'),
    packetOut: layout('header:8 bufferId:4 inPort:4 actionsLen:2 pad:6 actions'),
    match: layout(
      'type:2 length:2 inPort:4 wildcards:4 dlSrc:6 dlSrcMask:6 dlDst:6 dlDstMask:6 dlVlan:2 dlVlanPcp:1 pad1:1 ' +
        'dlType:2 nwTos:1 nwProto:1 nwSrc:4 nwSrcMask:4 nwDst:4 nwDstMask:4 tpSrc:2 tpDst:2 mplsLabel:4 mplsTc:1 ' +
        'pad2:3 metadata:8 metadataMask:8'
    ),
    instruction: layout('type:2 len:2 pad:4'),
    instructionGotoTable: layout(ACTION_8BIT('tableId')),
    instructionWriteMetadata: layout('type:2 len:2 pad:4 metadata:8 metadataMask:8'),
    instructionActions: layout('type:2 len:2 pad:4 actions'),
    instructionExperimenter: layout('type:2 len:2 experimenter:4'),
    flowMod: layout(
      'header:8 cookie:8 cookieMask:8 tableId:1 command:1 idleTimeout:2 hardTimeout:2 priority:2 bufferId:4 ' +
        'outPort:4 outGroup:4 flags:2 pad:2 match:88 instructions'
    ),
    bucket: layout('len:2 weight:2 watchPort:4 watchGroup:4 pad:4 actions'),
    groupMod: layout('header:8 command:2 type:1 pad:1 groupId:4 buckets'),
    flowRemoved: layout(
      'header:8 cookie:8 priority:2 reason:1 tableId:1 durationSec:4 durationNsec:4 idleTimeout:2 pad2:2 ' +
        'packetCount:8 byteCount:8 match'
    ),
    errorMsg: layout('header:8 type:2 code:2 data'),
    statsRequest: layout('header:8 type:2 flags:2 pad:4 body'),
    statsReply: layout('header:8 type:2 flags:2 pad:4 body'),
    descStats: layout('mfrDesc:256 hwDesc:256 swDesc:256 serialNum:32 dpDesc'),
    flowStatsRequest: layout(FLOW_STATS_REQUEST),
    flowStats: layout(
      'length:2 tableId:1 pad:1 durationSec:4 durationNsec:4 priority:2 idleTimeout:2 hardTimeout:2 pad2:6 ' +
        'cookie:8 packetCount:8 byteCount:8 match:88 instructions'
    ),
    aggregateStatsRequest: layout(FLOW_STATS_REQUEST),
    aggregateStatsReply: layout('packetCount:8 byteCount:8 flowCount:4 pad'),
    tableStats: layout(
      'tableId:1 pad:7 name:32 wildcards:4 match:4 instructions:4 writeActions:4 applyActions:4 config:4 ' +
        'maxEntries:4 activeCount:4 lookupCount:8 matchedCount'
    ),
    portStatsRequest: layout('portNo:4 pad'),
    portStats: layout(
      'portNo:4 pad:4 rxPackets:8 txPackets:8 rxBytes:8 txBytes:8 rxDropped:8 txDropped:8 rxErrors:8 txErrors:8 ' +
        'rxFrameErr:8 rxOverErr:8 rxCrcErr:8 collisions'
    ),
    groupStatsRequest: layout('groupId:4 pad'),
    bucketCounter: layout('packetCount:8 byteCount'),
    groupStats: layout('length:2 pad:2 groupId:4 refCount:4 pad2:4 packetCount:8 byteCount:8 bucketStats'),
    groupDescStats: layout('length:2 type:1 pad:1 groupId:4 buckets'),
    experimenterHeader: layout('header:8 experimenter:4 pad'),
    queuePropHeader: layout('property:2 len:2 pad'),
    queuePropMinRate: layout('propHeader:8 rate:2 pad'),
    packetQueue: layout('queueId:4 len:2 pad:2 properties'),
    queueGetConfigRequest: layout('header:8 port:4 pad'),
    queueGetConfigReply: layout('header:8 port:4 pad:4 queues'),
    actionSetQueue: layout('type:2 len:2 queueId'),
    queueStatsRequest: layout('portNo:4 queueId'),
    queueStats: layout('portNo:4 queueId:4 txBytes:8 txPackets:8 txErrors'),
  },
}

const OF11_VERSION = OF11.version
const versions = { openFlow11: OF11_VERSION }
const protocols = { [OF11_VERSION]: OF11 }

// ---- name <-> number tables between our codec's names and XO's numbers ----

const snake = s => s.replace(/[A-Z]/g, c => '_' + c.toLowerCase())
const camel = s => s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase())

function snakeKeys(table) {
  const o = Object.create(null)
  for (const k of Object.keys(table)) o[snake(k)] = table[k]
  return o
}

const TYPE_NAME = []
for (const [k, v] of Object.entries(OF11.type)) TYPE_NAME[v] = snake(k)

const PORT = snakeKeys(OF11.port)
const GROUP = snakeKeys(OF11.group)
const ERROR_TYPE = snakeKeys(OF11.errorType)
const ERROR_CODES = []
for (const [k, v] of Object.entries(OF11.errorType)) ERROR_CODES[v] = snakeKeys(OF11[k + 'Code'])
const FLOW_MOD_COMMAND = snakeKeys(OF11.flowModCommand)
const FLOW_REMOVED_REASON = snakeKeys(OF11.flowRemovedReason)
const PACKET_IN_REASON = snakeKeys(OF11.packetInReason)
const PORT_REASON = snakeKeys(OF11.portReason)

// Flag names as our codec spells them.
const CAPABILITIES = snakeKeys(OF11.capabilities)
const CONFIG_FLAGS = snakeKeys(bits('fragDrop fragReasm invalidTtlToController'))
const FLOW_MOD_FLAGS = snakeKeys(OF11.flowModFlags)
const PORT_CONFIG = bits('port_down _ no_recv _ _ no_fwd no_packet_in')
const PORT_STATE = snakeKeys(OF11.portState)
const PORT_FEATURES = bits(
  '10mb_hd 10mb_fd 100mb_hd 100mb_fd 1gb_hd 1gb_fd 10gb_fd 40gb_fd 100gb_fd 1tb_fd other copper fiber autoneg pause pause_asym'
)

function enumNumber(table, value, what) {
  if (typeof value === 'number') return value
  const n = table[value]
  if (n === undefined) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `unknown ${what} '${safe(value)}'`)
  return n
}

function flagsNumber(table, value, what) {
  if (typeof value === 'number') return value
  let n = 0
  for (const f of value) n = (n | (typeof f === 'number' ? f : enumNumber(table, f, what))) >>> 0
  return n
}

const portNumber = p => enumNumber(PORT, p, 'port')
const groupNumber = g => enumNumber(GROUP, g, 'group')

/** Node's buffer writers coerce with `+value`; XO relies on it for numeric strings. */
const num = v => (typeof v === 'string' && v !== '' && !isNaN(v) ? Number(v) : v)
const present = v => v !== undefined && v !== null

// ---- 64-bit values: XO uses 8-byte Buffers (cookie, metadata) ----

const U64_MAX = 0xffffffffffffffffn

function u64(v, name) {
  if (typeof v === 'bigint') return v
  if (typeof v === 'number') return BigInt(v)
  if (v instanceof Uint8Array && v.length === 8) return Buffer.from(v.buffer, v.byteOffset, 8).readBigUInt64BE(0)
  if (typeof v === 'string') return BigInt(/^0x/i.test(v) ? v : '0x' + v)
  throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${name} must be an 8-byte Buffer or a BigInt`)
}

function u64Buffer(v) {
  const b = Buffer.allocUnsafe(8)
  b.writeBigUInt64BE(BigInt(v), 0)
  return b
}

// ---- addresses: our masks have 1 bits that must match, XO's (the wire's) 1 bits ignored ----

function invertMac(s) {
  const parts = s.split(/[:-]/)
  if (parts.length !== 6) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `invalid MAC mask '${s}'`)
  return parts.map(p => (~parseInt(p, 16) & 0xff).toString(16).padStart(2, '0')).join(':')
}

function ipToInt(s) {
  const p = s.split('.')
  if (p.length !== 4) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `invalid IPv4 address '${s}'`)
  return ((+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3]) >>> 0
}

const intToIp = n => `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`
const invertIp = s => intToIp(~ipToInt(s) >>> 0)

/** Our `'10.0.0.0/8'` / `'10.0.0.0/255.0.255.0'` -> [value, wire wildcard mask or undefined]. */
function splitIp(s) {
  const slash = s.indexOf('/')
  if (slash < 0) return [s, undefined]
  const m = s.slice(slash + 1)
  const mask = m.includes('.') ? ipToInt(m) : m === '0' ? 0 : (0xffffffff << (32 - Number(m))) >>> 0
  return [s.slice(0, slash), intToIp(~mask >>> 0)]
}

function splitMac(s) {
  const slash = s.indexOf('/')
  return slash < 0 ? [s, undefined] : [s.slice(0, slash), invertMac(s.slice(slash + 1))]
}

// ---- match ----

const WILDCARD_FIELDS = [
  ['inPort', 1 << 0],
  ['dlVlan', 1 << 1],
  ['dlVlanPcp', 1 << 2],
  ['dlType', 1 << 3],
  ['nwTos', 1 << 4],
  ['nwProto', 1 << 5],
  ['tpSrc', 1 << 6],
  ['tpDst', 1 << 7],
  ['mplsLabel', 1 << 8],
  ['mplsTc', 1 << 9],
]

function ourMatch(x) {
  const o = {}
  if (!present(x)) return o
  if (present(x.type) && num(x.type) !== 0 && !present(x.oxm)) {
    throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `match type ${safe(x.type)} is not OFPMT_STANDARD (0)`)
  }
  if (present(x.in_port)) o.inPort = num(x.in_port)
  if (present(x.dl_src)) o.dlSrc = present(x.dl_src_mask) ? `${x.dl_src}/${invertMac(x.dl_src_mask)}` : x.dl_src
  if (present(x.dl_dst)) o.dlDst = present(x.dl_dst_mask) ? `${x.dl_dst}/${invertMac(x.dl_dst_mask)}` : x.dl_dst
  if (present(x.dl_vlan)) o.dlVlan = num(x.dl_vlan)
  if (present(x.dl_vlan_pcp)) o.dlVlanPcp = num(x.dl_vlan_pcp)
  if (present(x.dl_type)) o.dlType = num(x.dl_type)
  if (present(x.nw_tos)) o.nwTos = num(x.nw_tos)
  if (present(x.nw_proto)) o.nwProto = num(x.nw_proto)
  if (present(x.nw_src)) o.nwSrc = present(x.nw_src_mask) ? `${x.nw_src}/${invertIp(x.nw_src_mask)}` : x.nw_src
  if (present(x.nw_dst)) o.nwDst = present(x.nw_dst_mask) ? `${x.nw_dst}/${invertIp(x.nw_dst_mask)}` : x.nw_dst
  if (present(x.tp_src)) o.tpSrc = num(x.tp_src)
  if (present(x.tp_dst)) o.tpDst = num(x.tp_dst)
  if (present(x.mpls_label)) o.mplsLabel = num(x.mpls_label)
  if (present(x.mpls_tc)) o.mplsTc = num(x.mpls_tc)
  if (present(x.metadata)) {
    const wild = present(x.metadata_mask) ? u64(x.metadata_mask, 'metadata_mask') : 0n
    o.metadata = { value: u64(x.metadata, 'metadata'), mask: ~wild & U64_MAX }
  }
  if (present(x.oxm)) o.oxm = x.oxm
  return o
}

/** `wildcards` is read from the wire when known, else derived from the fields. */
function xoMatch(m, wildcards) {
  if (wildcards === undefined) {
    wildcards = 0
    for (const [k, bit] of WILDCARD_FIELDS) if (m[k] === undefined) wildcards |= bit
  }
  const o =
    m.oxm === undefined
      ? { type: 0, length: 88, wildcards }
      : { type: 1, length: 4 + m.oxm.length, wildcards }
  if (m.inPort !== undefined) o.in_port = portNumber(m.inPort)
  if (m.dlSrc !== undefined) {
    const [v, mask] = splitMac(m.dlSrc)
    if (mask !== undefined) o.dl_src_mask = mask
    o.dl_src = v
  }
  if (m.dlDst !== undefined) {
    const [v, mask] = splitMac(m.dlDst)
    if (mask !== undefined) o.dl_dst_mask = mask
    o.dl_dst = v
  }
  if (m.dlVlan !== undefined) o.dl_vlan = m.dlVlan
  if (m.dlVlanPcp !== undefined) o.dl_vlan_pcp = m.dlVlanPcp
  if (m.dlType !== undefined) o.dl_type = m.dlType
  if (m.nwTos !== undefined) o.nw_tos = m.nwTos
  if (m.nwProto !== undefined) o.nw_proto = m.nwProto
  if (m.nwSrc !== undefined) {
    const [v, mask] = splitIp(m.nwSrc)
    if (mask !== undefined) o.nw_src_mask = mask
    o.nw_src = v
  }
  if (m.nwDst !== undefined) {
    const [v, mask] = splitIp(m.nwDst)
    if (mask !== undefined) o.nw_dst_mask = mask
    o.nw_dst = v
  }
  if (m.tpSrc !== undefined) o.tp_src = m.tpSrc
  if (m.tpDst !== undefined) o.tp_dst = m.tpDst
  if (m.mplsLabel !== undefined) o.mpls_label = m.mplsLabel
  if (m.mplsTc !== undefined) o.mpls_tc = m.mplsTc
  if (m.metadata !== undefined) {
    const exact = typeof m.metadata === 'bigint'
    if (!exact) o.metadata_mask = u64Buffer(~m.metadata.mask & U64_MAX)
    o.metadata = u64Buffer(exact ? m.metadata : m.metadata.value)
  }
  if (m.oxm !== undefined) o.oxm = m.oxm
  return o
}

// ---- actions and instructions ----

// Index = OFPAT_* number: [our type name, our field (XO's field is its snake_case but for
// set_vlan_vid, which XO calls vlan_id), encoded length].
const ACTIONS = [
  ['output', null, 16],
  ['set_vlan_vid', 'vlanVid', 8],
  ['set_vlan_pcp', 'vlanPcp', 8],
  ['set_dl_src', 'dlAddr', 16],
  ['set_dl_dst', 'dlAddr', 16],
  ['set_nw_src', 'nwAddr', 8],
  ['set_nw_dst', 'nwAddr', 8],
  ['set_nw_tos', 'nwTos', 8],
  ['set_nw_ecn', 'nwEcn', 8],
  ['set_tp_src', 'tpPort', 8],
  ['set_tp_dst', 'tpPort', 8],
  ['copy_ttl_out', null, 8],
  ['copy_ttl_in', null, 8],
  ['set_mpls_label', 'mplsLabel', 8],
  ['set_mpls_tc', 'mplsTc', 8],
  ['set_mpls_ttl', 'mplsTtl', 8],
  ['dec_mpls_ttl', null, 8],
  ['push_vlan', 'ethertype', 8],
  ['pop_vlan', null, 8],
  ['push_mpls', 'ethertype', 8],
  ['pop_mpls', 'ethertype', 8],
  ['set_queue', 'queueId', 8],
  ['group', 'groupId', 8],
  ['set_nw_ttl', 'nwTtl', 8],
  ['dec_nw_ttl', null, 8],
].map(([name, field, len], type) => ({ name, field, xoField: field === 'vlanVid' ? 'vlan_id' : field && snake(field), len, type }))
const ACTION_BY_NAME = Object.fromEntries(ACTIONS.map(a => [a.name, a]))
const EXPERIMENTER = 0xffff

function ourAction(a) {
  const t = num(a.type)
  if (t === 0) return { type: 'output', port: num(a.port), maxLen: present(a.max_len) ? num(a.max_len) : 0 }
  if (t === EXPERIMENTER) return { type: 'experimenter', experimenter: num(a.experimenter), data: a.data }
  const d = ACTIONS[t]
  if (d === undefined) {
    if (typeof t === 'string') return a // already in our shape
    return { type: 'unknown', actionType: t, data: a.data }
  }
  const o = { type: d.name }
  if (d.field !== null) {
    const v = a[d.xoField]
    o[d.field] = typeof v === 'string' && d.field !== 'dlAddr' && d.field !== 'nwAddr' ? num(v) : v
  }
  return o
}

function xoAction(a) {
  if (a.type === 'output') return { type: 0, len: 16, port: portNumber(a.port), max_len: a.maxLen }
  if (a.type === 'experimenter') return { type: EXPERIMENTER, len: 8 + a.data.length, experimenter: a.experimenter, data: a.data }
  if (a.type === 'unknown') return { type: a.actionType, len: 4 + a.data.length, data: a.data }
  const d = ACTION_BY_NAME[a.type]
  if (d === undefined) return snakeDeep(a)
  const o = { type: d.type, len: d.len }
  if (d.field !== null) o[d.xoField] = a[d.field]
  return o
}

const INSTRUCTION_NAME = { 1: 'goto_table', 2: 'write_metadata', 3: 'write_actions', 4: 'apply_actions', 5: 'clear_actions' }

function ourInstruction(i) {
  const t = num(i.type)
  switch (t) {
    case 1:
      return { type: 'goto_table', tableId: num(i.table_id) }
    case 2:
      return {
        type: 'write_metadata',
        metadata: u64(i.metadata, 'metadata'),
        metadataMask: present(i.metadata_mask) ? u64(i.metadata_mask, 'metadata_mask') : undefined,
      }
    case 3:
    case 4:
      return { type: INSTRUCTION_NAME[t], actions: (i.actions || []).map(ourAction) }
    case 5:
      return { type: 'clear_actions' }
    case EXPERIMENTER:
      return { type: 'experimenter', experimenter: num(i.experimenter), data: i.data }
    default:
      if (typeof t === 'string') return i // already in our shape
      return { type: 'unknown', instructionType: t, data: i.data }
  }
}

function xoInstruction(i) {
  switch (i.type) {
    case 'apply_actions':
    case 'write_actions': {
      const actions = i.actions.map(xoAction)
      let len = 8
      for (const a of actions) len += a.len
      return { type: i.type === 'apply_actions' ? 4 : 3, len, actions }
    }
    case 'clear_actions':
      return { type: 5, len: 8 }
    case 'goto_table':
      return { type: 1, len: 8, table_id: i.tableId }
    case 'write_metadata':
      return { type: 2, len: 24, metadata: u64Buffer(i.metadata), metadata_mask: u64Buffer(i.metadataMask) }
    case 'experimenter':
      return { type: EXPERIMENTER, len: 8 + i.data.length, experimenter: i.experimenter, data: i.data }
    case 'unknown':
      return { type: i.instructionType, len: 4 + i.data.length, data: i.data }
    default:
      return snakeDeep(i)
  }
}

// ---- ports ----

function ourPort(p) {
  return {
    portNo: num(p.port_no),
    hwAddr: p.hw_addr,
    name: p.name,
    config: p.config,
    state: p.state,
    curr: p.curr,
    advertised: p.advertised,
    supported: p.supported,
    peer: p.peer,
    currSpeed: p.curr_speed,
    maxSpeed: p.max_speed,
  }
}

function xoPort(p) {
  return {
    port_no: portNumber(p.portNo),
    hw_addr: p.hwAddr,
    name: p.name,
    config: flagsNumber(PORT_CONFIG, p.config, 'port config'),
    state: flagsNumber(PORT_STATE, p.state, 'port state'),
    curr: flagsNumber(PORT_FEATURES, p.curr, 'port feature'),
    advertised: flagsNumber(PORT_FEATURES, p.advertised, 'port feature'),
    supported: flagsNumber(PORT_FEATURES, p.supported, 'port feature'),
    peer: flagsNumber(PORT_FEATURES, p.peer, 'port feature'),
    curr_speed: p.currSpeed,
    max_speed: p.maxSpeed,
  }
}

// ---- generic conversion for the message types without a dedicated mapping ----

function isPlain(v) {
  return v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)
}

function camelDeep(v) {
  if (Array.isArray(v)) return v.map(camelDeep)
  if (!isPlain(v)) return num(v)
  const o = {}
  for (const k of Object.keys(v)) {
    const x = v[k]
    if (!present(x)) continue
    if (k === 'match' && isPlain(x)) o.match = ourMatch(x)
    else if (k === 'actions' && Array.isArray(x)) o.actions = x.map(ourAction)
    else if (k === 'instructions' && Array.isArray(x)) o.instructions = x.map(ourInstruction)
    else o[camel(k)] = k === 'type' ? x : camelDeep(x)
  }
  return o
}

function snakeDeep(v) {
  if (Array.isArray(v)) return v.map(snakeDeep)
  if (!isPlain(v)) return v
  const o = {}
  for (const k of Object.keys(v)) {
    const x = v[k]
    if (k === 'match' && isPlain(x)) o.match = xoMatch(x)
    else if (k === 'actions' && Array.isArray(x)) o.actions = x.map(xoAction)
    else if (k === 'instructions' && Array.isArray(x)) o.instructions = x.map(xoInstruction)
    else o[snake(k)] = snakeDeep(x)
  }
  return o
}

// ---- pack: XO object -> our message -> bytes ----

function helloElementsOurs(elements) {
  if (!Array.isArray(elements)) return undefined
  return elements.map(e =>
    e.type === 1 || e.type === 'version_bitmap'
      ? { type: 'version_bitmap', bitmaps: e.bitmaps }
      : { type: 'unknown', elementType: num(e.type), data: e.data }
  )
}

function toOurs(name, o, xid, version) {
  switch (name) {
    case 'hello':
      return { type: 'hello', xid, version, elements: helloElementsOurs(o.elements) }
    case 'error':
      return { type: 'error', xid, errorType: num(o.type), code: num(o.code), data: o.data }
    case 'echo_request':
    case 'echo_reply':
      return { type: name, xid, data: o.data }
    case 'features_request':
    case 'get_config_request':
    case 'barrier_request':
    case 'barrier_reply':
      return { type: name, xid }
    case 'features_reply':
      return {
        type: name,
        xid,
        datapathId: u64(o.datapath_id, 'datapath_id'),
        nBuffers: o.n_buffers,
        nTables: o.n_tables,
        capabilities: o.capabilities,
        reserved: o.reserved,
        ports: (o.ports || []).map(ourPort),
      }
    case 'get_config_reply':
    case 'set_config':
      // XO writes a missing field as 0 (Node coerces undefined to NaN, written as 0).
      return { type: name, xid, flags: o.flags ?? 0, missSendLen: num(o.miss_send_len ?? 0) }
    case 'flow_mod': {
      const hasCookie = present(o.cookie)
      return {
        type: 'flow_mod',
        xid,
        cookie: hasCookie ? u64(o.cookie, 'cookie') : 0n,
        cookieMask: present(o.cookie_mask) ? u64(o.cookie_mask, 'cookie_mask') : hasCookie ? 0n : U64_MAX,
        tableId: num(o.table_id),
        command: num(o.command),
        idleTimeout: num(o.idle_timeout),
        hardTimeout: num(o.hard_timeout),
        priority: num(o.priority),
        bufferId: num(o.buffer_id),
        outPort: num(o.out_port),
        outGroup: num(o.out_group),
        flags: o.flags,
        match: ourMatch(o.match),
        instructions: (o.instructions || []).map(ourInstruction),
      }
    }
    case 'packet_in':
      return {
        type: name,
        xid,
        bufferId: o.buffer_id,
        inPort: num(o.in_port),
        inPhyPort: num(o.in_phy_port),
        totalLen: o.total_len,
        reason: num(o.reason),
        tableId: o.table_id,
        data: o.data,
      }
    case 'flow_removed':
      return {
        type: name,
        xid,
        cookie: present(o.cookie) ? u64(o.cookie, 'cookie') : 0n,
        priority: o.priority,
        reason: num(o.reason),
        tableId: o.table_id,
        durationSec: o.duration_sec,
        durationNsec: o.duration_nsec,
        idleTimeout: o.idle_timeout,
        hardTimeout: o.hard_timeout,
        packetCount: present(o.packet_count) ? u64(o.packet_count, 'packet_count') : 0n,
        byteCount: present(o.byte_count) ? u64(o.byte_count, 'byte_count') : 0n,
        match: ourMatch(o.match),
      }
    case 'port_status':
      return { type: name, xid, reason: num(o.reason), port: ourPort(o.desc) }
    default: {
      const rest = {}
      for (const k of Object.keys(o)) if (k !== 'header') rest[k] = o[k]
      return { ...camelDeep(rest), type: name, xid }
    }
  }
}

/**
 * Packs a message object (`{ header: { version, type, xid }, ...fields }`) into a Buffer.
 * Sets `header.length`, as XO's `pack` does.
 */
function pack(object) {
  if (object === null || typeof object !== 'object' || object.header === null || typeof object.header !== 'object') {
    throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `pack takes a message object { header: { version, type, xid }, ... }, got ${describe(object)}`)
  }
  const header = object.header
  if (typeof header.type !== 'number' && typeof header.type !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `Invalid OpenFlow message type: ${describe(header.type)}`)
  const version = header.version
  const name = TYPE_NAME[header.type]
  if (present(object.body) && (version !== OF11_VERSION || name === undefined)) {
    // What `unpack` gives for another version or an unknown type: re-encoded as is.
    const raw = { type: 'raw', xid: num(header.xid) ?? 0, version, msgType: header.type, body: object.body }
    const buf = encode(raw)
    header.length = buf.length
    return buf
  }
  if (version !== OF11_VERSION && !(name === 'hello' && Number.isInteger(version) && version > 0 && version < 256)) {
    throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `Unsupported OpenFlow version: ${safe(version)}`)
  }
  if (name === undefined) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `Invalid OpenFlow message type: ${safe(header.type)}`)
  const buf = encode(toOurs(name, object, num(header.xid) ?? 0, version))
  header.length = buf.length
  return buf
}

// ---- unpack: bytes -> our message -> XO object ----

function fromOurs(m, bytes) {
  const header = { version: bytes[0], type: bytes[1], length: bytes.readUInt16BE(2), xid: bytes.readUInt32BE(4) }
  switch (m.type) {
    case 'hello':
      if (header.version === OF11_VERSION) return { header }
      return {
        header,
        elements: m.elements.map(e =>
          e.type === 'version_bitmap' ? { type: 1, bitmaps: e.bitmaps } : { type: e.elementType, data: e.data }
        ),
      }
    case 'error': {
      const type = enumNumber(ERROR_TYPE, m.errorType, 'error type')
      const codes = ERROR_CODES[type]
      const code = typeof m.code === 'number' || codes === undefined ? m.code : enumNumber(codes, m.code, 'error code')
      const o = { header, type, code }
      if (m.data.length > 0) o.data = m.data
      return o
    }
    case 'echo_request':
    case 'echo_reply':
      return m.data.length > 0 ? { header, data: m.data } : { header }
    case 'features_request':
    case 'get_config_request':
    case 'barrier_request':
    case 'barrier_reply':
      return { header }
    case 'features_reply':
      return {
        header,
        datapath_id: m.datapathId.toString(16).padStart(16, '0'),
        n_buffers: m.nBuffers,
        n_tables: m.nTables,
        capabilities: flagsNumber(CAPABILITIES, m.capabilities, 'capability'),
        reserved: m.reserved,
        ports: m.ports.map(xoPort),
      }
    case 'get_config_reply':
    case 'set_config':
      return { header, flags: flagsNumber(CONFIG_FLAGS, m.flags, 'config flag'), miss_send_len: m.missSendLen }
    case 'flow_mod': {
      const o = { header, cookie: u64Buffer(m.cookie) }
      if (m.cookieMask !== 0n) o.cookie_mask = u64Buffer(m.cookieMask)
      o.table_id = m.tableId
      o.command = enumNumber(FLOW_MOD_COMMAND, m.command, 'flow_mod command')
      o.idle_timeout = m.idleTimeout
      o.hard_timeout = m.hardTimeout
      o.priority = m.priority
      o.buffer_id = m.bufferId
      o.out_port = portNumber(m.outPort)
      o.out_group = groupNumber(m.outGroup)
      o.flags = flagsNumber(FLOW_MOD_FLAGS, m.flags, 'flow_mod flag')
      o.match = xoMatch(m.match, wireWildcards(bytes, 48))
      o.instructions = m.instructions.map(xoInstruction)
      return o
    }
    case 'flow_removed':
      return {
        header,
        cookie: u64Buffer(m.cookie),
        priority: m.priority,
        reason: enumNumber(FLOW_REMOVED_REASON, m.reason, 'flow_removed reason'),
        table_id: m.tableId,
        duration_sec: m.durationSec,
        duration_nsec: m.durationNsec,
        idle_timeout: m.idleTimeout,
        hard_timeout: m.hardTimeout ?? 0,
        packet_count: m.packetCount,
        byte_count: m.byteCount,
        match: xoMatch(m.match, wireWildcards(bytes, 48)),
      }
    case 'packet_in':
      return {
        header,
        buffer_id: m.bufferId,
        in_port: portNumber(m.inPort),
        in_phy_port: portNumber(m.inPhyPort),
        total_len: m.totalLen,
        reason: enumNumber(PACKET_IN_REASON, m.reason, 'packet_in reason'),
        table_id: m.tableId,
        data: m.data,
      }
    case 'port_status':
      return { header, reason: enumNumber(PORT_REASON, m.reason, 'port_status reason'), desc: xoPort(m.port) }
    case 'raw':
      return { header, body: m.body }
    default: {
      const o = snakeDeep(m)
      delete o.type
      delete o.xid
      return { header, ...o }
    }
  }
}

/** The standard match's `wildcards` word, when the match at `at` is a standard one. */
function wireWildcards(bytes, at) {
  return bytes.length >= at + 12 && bytes.readUInt16BE(at) === 0 ? bytes.readUInt32BE(at + 8) : undefined
}

/** Unpacks the message starting at `offset` (its length is read from its header). */
function unpack(buffer, offset = 0) {
  if (!Buffer.isBuffer(buffer)) {
    if (!(buffer instanceof Uint8Array)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `buffer must be a Buffer, got ${describe(buffer)}`)
    buffer = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  }
  if (!Number.isInteger(offset) || offset < 0) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `offset must be a non-negative integer, got ${describe(offset)}`)
  if (offset + 8 > buffer.length) throw argError(RangeError, 'ERR_BUFFER_OUT_OF_BOUNDS', `no OpenFlow header at offset ${offset}`)
  const length = buffer.readUInt16BE(offset + 2)
  if (length < 8 || offset + length > buffer.length) {
    throw argError(RangeError, 'ERR_BUFFER_OUT_OF_BOUNDS', `OpenFlow message length ${length} does not fit the ${buffer.length - offset} bytes given`)
  }
  const bytes = offset === 0 && length === buffer.length ? buffer : buffer.subarray(offset, offset + length)
  return fromOurs(decode(bytes), bytes)
}

// ---- parse-socket ----

/** Resolves to the next chunk of a readable stream, or null at its end. */
function readSome(stream) {
  if (stream.errored) return Promise.reject(stream.errored)
  const chunk = stream.read()
  if (chunk !== null) return chunk
  if (stream.readableEnded || stream.destroyed) return null
  return new Promise((resolve, reject) => {
    function done() {
      stream.removeListener('readable', onReadable)
      stream.removeListener('end', onEnd)
      stream.removeListener('close', onEnd)
      stream.removeListener('error', onError)
    }
    function onReadable() {
      const c = stream.read()
      if (c !== null) {
        done()
        resolve(c)
      }
    }
    function onEnd() {
      done()
      resolve(null)
    }
    function onError(error) {
      done()
      reject(error)
    }
    stream.on('readable', onReadable)
    stream.on('end', onEnd)
    stream.on('close', onEnd)
    stream.on('error', onError)
  })
}

/**
 * The chunks of `source`, each wrapped as `{ chunk }`: an async generator awaits what
 * it yields (and `for await` what a plain iterable holds), so a chunk that is a
 * thenable would be waited on, for ever if it never calls back, instead of being
 * refused as not bytes.
 */
async function* chunksOf(source) {
  if (typeof source.read === 'function' && typeof source.on === 'function') {
    let chunk
    while ((chunk = await readSome(source)) !== null) yield { chunk }
  } else if (typeof source[Symbol.asyncIterator] === 'function') {
    for await (const chunk of source) yield { chunk }
  } else {
    for (const chunk of source) yield { chunk }
  }
}

/**
 * `parse(socket)`: async generator of the messages read from a socket (or any readable
 * stream or async iterable of Buffers), unpacked as by `unpack`. Ends with the stream.
 */
async function* parse(socket) {
  if (socket === null || (typeof socket !== 'object' && typeof socket !== 'function') || (!(typeof socket.read === 'function' && typeof socket.on === 'function') && typeof socket[Symbol.asyncIterator] !== 'function' && typeof socket[Symbol.iterator] !== 'function')) {
    throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `parse takes a readable stream or an (async) iterable of Buffers, got ${describe(socket)}`)
  }
  let pending = null
  for await (let { chunk } of chunksOf(socket)) {
    if (!Buffer.isBuffer(chunk)) {
      if (typeof chunk !== 'string' && !ArrayBuffer.isView(chunk) && !(chunk instanceof ArrayBuffer)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `the stream gave a chunk that is not bytes: ${describe(chunk)}`)
      chunk = ArrayBuffer.isView(chunk) ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.from(chunk)
    }
    pending = pending === null ? chunk : Buffer.concat([pending, chunk])
    while (pending !== null && pending.length >= 8) {
      const length = pending.readUInt16BE(2)
      if (length < 8) {
        const e = new Error(`OpenFlow message length ${length} is under 8: the stream cannot be framed`)
        e.code = 'OFP_BAD_FRAME'
        throw e
      }
      if (pending.length < length) break
      const frame = pending.subarray(0, length)
      pending = pending.length === length ? null : pending.subarray(length)
      let message
      try {
        message = fromOurs(decode(frame), frame)
      } catch (error) {
        message = { error, data: Buffer.from(frame) }
      }
      yield message
    }
  }
}

exports.versions = versions
exports.protocols = protocols
exports.pack = pack
exports.unpack = unpack
exports.parse = parse
exports.parseSocket = parse
exports.default = exports
Object.defineProperty(exports, '__esModule', { value: true })
