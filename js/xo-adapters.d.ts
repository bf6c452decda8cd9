// Types for js/xo-adapters.js: Xen Orchestra's SDN Controller plugin on one shared
// SdnController. XAPI objects are typed structurally, with only the fields read.

/// <reference types="node" />
import { EventEmitter } from 'node:events'
import type { OvsdbClient as NativeOvsdbClient } from '../index'

// ---------------------------------------------------------------------------
// XAPI objects (as XO's xen-api client gives them)
// ---------------------------------------------------------------------------

export interface XapiNetwork {
  uuid: string
  /** XAPI's bridge name (`xenbr0`, or a VLAN fake bridge like `xapi1`). */
  bridge?: string
  /** The traffic-rules backend's default hosts: `$PIFs[].$host`. */
  $PIFs?: Array<{ $host?: XapiHost } | undefined>
  [field: string]: unknown
}

export interface XapiHost {
  /** The default host id in the controller (see `HostIdOptions`). */
  $ref?: string
  uuid?: string
  /** Default `address` when `register` registers the host. */
  address?: string
  name_label?: string
  /** `setBridgeController()` covers the networks of these PIFs. */
  $PIFs?: Array<{ $network?: XapiNetwork } | undefined>
  [field: string]: unknown
}

export interface XapiVif {
  uuid: string
  /** XAPI's field name; `mac` is accepted too. */
  MAC?: string
  mac?: string
  [field: string]: unknown
}

// ---------------------------------------------------------------------------
// What the adapters need from the SdnController
// ---------------------------------------------------------------------------

/** `sdn.addHost(spec)` without `id` (the adapter sets it). */
export interface HostSpec {
  address?: string
  ovsdbPort?: number
  openflowPort?: number
  serverCert?: string | Buffer
  fingerprint?: string
  ca?: string | Buffer
  insecure?: boolean
  serverName?: string
}

export interface HostIdOptions {
  /**
   * The id of a XAPI host in the controller. Default: `host.$ref`, else `host.uuid`.
   * `$ref` because XO keys its per-host caches (`ovsdbClients`, `ofChannels`) and the
   * traffic-rules engine its outcome maps by it. Every adapter sharing a controller
   * must use the same function, and hosts must be registered under that id.
   */
  hostId?: (host: XapiHost) => string
  /**
   * Registers a host the controller does not know yet, on first use (once per host,
   * also across adapters): its spec (address defaults to `host.address`). Without
   * it, an unregistered host is `SDN_HOST_NOT_FOUND`.
   */
  register?: (host: XapiHost) => HostSpec | Promise<HostSpec>
}

/** Per-host outcome of a controller call. */
export type HostOutcome = { ok: true; flows: number } | { ok: false; error: Error }

/** A rule as `sdn.rules()` shows it. */
export interface RuleView {
  id: string
  vif?: { uuid: string; mac: string; ips?: string[] }
  vm?: { uuid: string }
  network?: { uuid: string }
  pool?: true
  allow: boolean
  protocol?: string
  port?: unknown
  ipRange?: string
  direction: string
  priority: number
  /** `'0x<16 hex>'`. */
  cookie: string
  host?: string
  [field: string]: unknown
}

/**
 * The SdnController surface the adapters use. `ovsdbOf`, `putForeignFlows` and
 * `deleteForeignFlows` are requested additions (see below); the rest exists.
 */
export interface SdnControllerLike {
  hosts(): Array<{ id: string; [k: string]: unknown }>
  addHost(spec: HostSpec & { id: string; address: string }): unknown
  addRule(rule: object, options?: { position?: number; host?: string }): Promise<{ rule: RuleView; hosts: Record<string, HostOutcome> }>
  deleteRule(ref: string | { id: string }): Promise<{ rule: RuleView; hosts: Record<string, HostOutcome> }>
  updateRule(ref: string | { id: string }, patch: object): Promise<{ rule: RuleView; hosts: Record<string, HostOutcome> }>
  rules(filter?: { vif?: string | { uuid: string }; vm?: unknown; network?: unknown }): RuleView[]

  /**
   * REQUESTED. The controller's OvsdbClient of host `id`, connected (connecting once,
   * coalesced, the same instance its rules use; callers never close it). Rejects
   * `SDN_HOST_NOT_FOUND`, or the connection error with `host: id`.
   */
  ovsdbOf(id: string): Promise<NativeOvsdbClient>

  /**
   * REQUESTED. Makes the flows carrying `cookie` on one bridge of one host exactly
   * `flows`, with `priority`, in the controller's table:
   * 1. every flow is sent as an ADD with that cookie (mask 0), priority and table
   *    (whatever the flow text says about them), then a barrier;
   * 2. then every other flow of that cookie on the bridge, read back by a flow stats
   *    request `cookie=C/-1` (so flows left by an earlier process go too), is deleted
   *    with DELETE_STRICT (its match and priority, cookie=C/-1), then a barrier.
   * `flows: []` removes them all. Both steps run in the switch's queue (after its
   * pending operations). The controller remembers the set as desired state of that
   * switch: the missing ones re-added by `sync()` and after a reconnect (read back by
   * cookie; counted in `sync()`'s `added`), never counted as `extra`, forgotten by
   * `deleteForeignFlows` of that cookie (mask all ones, no `flows`) or `flows: []`.
   * Resolves `{ flows, removed }` (numbers sent in step 1 and 2). Rejects, nothing
   * sent, with TypeError `ERR_INVALID_ARG_VALUE` for a cookie that is 0, 1 (XAPI's) or
   * carries the controller's tag (0x5d4e in the top 16 bits); RangeError
   * `ERR_OUT_OF_RANGE` for a priority outside 0..65535 or inside the controller's own
   * band (their order against our rules would be undefined); the `parseFlow` error of
   * a bad flow; `SDN_HOST_NOT_FOUND`; `SDN_BRIDGE_NOT_FOUND` (no such bridge in the
   * host's OVSDB). Then, like other calls, the connection error or `OF_SWITCH_ERROR`,
   * with `host` and `bridge`.
   */
  putForeignFlows(args: {
    host: string
    bridge: string
    /** bigint, or `'0x…'` (1 to 16 hex digits). */
    cookie: bigint | string
    priority: number
    /** ovs-ofctl text (`match actions=…`) or flow_mod objects. */
    flows: Array<string | object>
  }): Promise<{ flows: number; removed: number }>

  /**
   * REQUESTED. Deletes flows of one bridge of one host by cookie, then a barrier:
   * without `flows`, one non-strict DELETE in the controller's table, wildcard match,
   * out_port/out_group any, `cookie`/`cookieMask`; with `flows` (match text or
   * objects), one DELETE per match, non-strict unless `strict`, with the cookie and
   * mask, same table. (Not table 0xff: OVS 3.1 refuses an OF1.1 DELETE with
   * `table_id=0xff`, `flow_mod_failed/bad_table_id`; `ovs-ofctl -O OpenFlow11
   * del-flows`, which the plugin runs, reaches table 0 only, too.) Forgets the remembered set of `cookie` on that bridge (mask all
   * ones, no `flows`). Resolves when the barrier returns. Rejects, nothing sent,
   * (TypeError `ERR_INVALID_ARG_VALUE`) a cookie/mask that could select the
   * controller's flows (`(0x5d4e << 48 & mask) === (cookie & mask & 0xffff << 48)`) or
   * XAPI's cookie 1 (`(1 & mask) === (cookie & mask)`), and cookie 0 without `flows`
   * (it would take OVS's default NORMAL flow with it). Other errors as putForeignFlows.
   */
  deleteForeignFlows(args: {
    host: string
    bridge: string
    cookie: bigint | string
    /** Default all ones. */
    cookieMask?: bigint | string
    flows?: Array<string | object>
    strict?: boolean
  }): Promise<void>
}

// ---------------------------------------------------------------------------
// 1. XO's OpenFlowChannel
// ---------------------------------------------------------------------------

export interface LegacyRuleArgs {
  vif: XapiVif
  allow: boolean
  /** `IP|ICMP|TCP|UDP|ARP` as XO sends them, any case; any protocol or service the controller knows. Absent or `''`: all traffic. */
  protocol?: string
  /** Destination port. */
  port?: number | string
  /** `''` or absent: any address. A CIDR with host bits (`10.0.0.1/24`) means its network, as OVS applied it for XO. */
  ipRange?: string
  /** `'from'`, `'to'` or `'from/to'` (also `'both'`), in packet terms: see `LegacyOpenFlowChannel`. */
  direction: string
  /** Ignored: the controller finds the VIF's ports (vif and tap) from OVSDB and follows replugs. */
  ofport?: number
}

export interface LegacyChannelOptions extends HostIdOptions {
  /**
   * What `deleteRule` does when the controller holds no such rule for the VIF:
   * `'reject'` (default, `SDN_RULE_NOT_FOUND`) or `'resolve'` (`{ deleted: [] }`).
   * XO's `_deleteRule` rethrows every error but `HOST_OFFLINE` and then skips its
   * other_config update, so with `'reject'` a rule stored by XO but unknown to the
   * controller (e.g. a controller restarted without `importState`) cannot be deleted
   * through XO until XO also ignores `SDN_RULE_NOT_FOUND`; `'resolve'` is the
   * idempotent choice for that plugin.
   */
  ifMissing?: 'reject' | 'resolve'
}

/**
 * XO's `OpenFlowChannel` shape, one per XAPI host, every instance on the one
 * controller. A rule is the controller rule
 * `{ vif: { uuid: vif.uuid, mac: vif.MAC }, allow, protocol, port, ipRange, direction }`
 * restricted to this host (`addRule(rule, { host: id })`).
 *
 * **Directions are packet directions** (the controller's model):
 * - `from`: packets the VIF sends: `in_port=<its ports>, dl_src=mac, nw_dst=ipRange, tp_dst=port`;
 * - `to`: packets delivered to the VIF: `dl_dst=mac, nw_src=ipRange, tp_dst=port`;
 * - `from/to` (or `both`): both. `port` is always the destination port.
 *
 * XO's own channel (notes §1.4, flows A–D) meant something else for TCP/UDP/ICMP:
 * `from` installed A (sent: `in_port, dl_src, nw_dst, tp_src=port`) and B (received:
 * `dl_dst, nw_src, tp_dst=port`), i.e. both directions of conversations on the VIF's
 * own port; `to` installed C (sent: `tp_dst=port`) and D (received: `tp_src=port`),
 * both directions of conversations to a remote port. For IP, ARP and no protocol it
 * installed only A (`from`) or D (`to`), which is what this adapter does. So for L4
 * rules, XO's `from` port 22 ≈ our `to` port 22 plus the replies, and XO's `to`
 * port 22 ≈ our `from` port 22 plus the replies; a deny in one direction here does
 * not also cut the replies. XO's `both` installed nothing; here it is both directions.
 * Other differences: explicit priorities (a new rule goes below the existing ones, so
 * the first of two overlapping rules wins, where XO's order was undefined at 32768),
 * cookies of the controller (flows of others, cookie 0 and XAPI's 0x1, are never
 * touched), `in_port` on every port of the VIF (tap too), and protocols are
 * case-insensitive (XO silently turned `tcp` into "all traffic").
 *
 * **Errors are thrown** (XO logged and returned): invalid input (TypeError/RangeError
 * `ERR_…`, before any I/O), `SDN_HOST_NOT_FOUND`, `SDN_VIF_NOT_FOUND` (the VIF is not
 * on this host), connection and switch errors. Calls resolve only after the switch's
 * barrier. A failed `addRule` leaves nothing behind (XO then does not store the rule),
 * a failed `deleteRule` puts the rule back: the controller's list stays what XO stored.
 */
export interface LegacyOpenFlowChannel extends EventEmitter {
  readonly host: XapiHost
  /** The controller's id of this host. */
  readonly hostId: string
  /**
   * Adds the rule, or, when the VIF already has one with this match on this host,
   * updates it in place (new `allow`, same priority: XO's last ADD won in OVS too) and
   * re-installs it (XO re-adds every stored rule on connect and VM start to restore the
   * switch). Duplicates of the match are removed, and so are copies on other hosts:
   * XO's rules belong to the VIF, installed where the VM runs, so a copy elsewhere is
   * stale (e.g. a failed delete before a migration) and must not come back with the VM.
   */
  addRule(args: LegacyRuleArgs): Promise<{ rule: RuleView; flows: number }>
  /**
   * Deletes the VIF's rules whose match is this one (protocol case-insensitive, port,
   * ipRange, direction; `allow` ignored, as in XO): on this host, and stale copies on
   * others. Only host-restricted rules are the channel's: a rule of the VIF added
   * through the controller's own API (no `host`) is never touched.
   */
  deleteRule(args: Omit<LegacyRuleArgs, 'allow'> & { allow?: boolean }): Promise<{ deleted: RuleView[] }>
}

export interface LegacyOpenFlowChannelClass {
  /** `tlsHelper` is ignored: TLS is the controller's. */
  new (host: XapiHost, tlsHelper?: unknown): LegacyOpenFlowChannel
}

export declare function createLegacyOpenFlowChannel(sdn: SdnControllerLike, options?: LegacyChannelOptions): LegacyOpenFlowChannelClass

// ---------------------------------------------------------------------------
// 2. XO's OvsdbClient
// ---------------------------------------------------------------------------

export interface OvsdbAdapterOptions extends HostIdOptions {
  /**
   * The OpenFlow controller target set on bridges. Default `'pssl:'` (port 6653), XO's
   * target, so rows XO or XAPI created are recognised and not duplicated. A function
   * gives one per bridge (`pssl:<port>`): OVS listens once per port, so several
   * bridges of a host cannot all use `pssl:`.
   */
  target?: string | ((ctx: { bridge: string; network: XapiNetwork; host: XapiHost }) => string)
  /** Added to `Bridge.protocols` (kept otherwise). Default `['OpenFlow11']`. */
  protocols?: string[]
  /** How long `getOfPortForVif` waits for OVS to assign the port. Default 5000. */
  ofportTimeoutMs?: number
}

export interface SetControllerResult {
  network: string
  bridge: string
  target: string
  changed: boolean
}

/**
 * XO's `OvsdbClient` shape, one per XAPI host, all on the controller's persistent
 * OvsdbClient of that host (one connection, a live replica: lookups need no round
 * trip). Unlike XO, failures reject (XO logged and returned undefined).
 */
export interface OvsdbClientAdapter {
  readonly host: XapiHost
  readonly hostId: string
  /** `host.address`. */
  readonly address: string | undefined
  /** The controller's OvsdbClient of this host (registered on demand with `register`). */
  client(): Promise<NativeOvsdbClient>
  /**
   * The VIF's OpenFlow port (its `vif*` interface, not `tap*`, as XO). Waits up to
   * `ofportTimeoutMs` for OVS to assign it, then `OVSDB_VIF_NOT_FOUND` (XO: undefined).
   */
  getOfPortForVif(vif: XapiVif | string): Promise<number>
  /**
   * Sets the controller target on the bridge of every network of `host.$PIFs`
   * (skipping networks with no bridge on this host, as XO), adding `protocols`.
   * Idempotent: an existing Controller row with the same target is reused (XO inserted
   * a row per call). If some bridges failed, rejects after trying all, the first error
   * carrying `errors` and `results`.
   */
  setBridgeController(): Promise<SetControllerResult[]>
  /** The same for one network; undefined when it has no bridge on this host. */
  setBridgeControllerForNetwork(network: XapiNetwork): Promise<SetControllerResult | undefined>
  /**
   * Adds the GRE/VXLAN tunnel of private network `privateNetworkUuid` to
   * `remoteAddress` on the network's bridge, in one transaction; an identical tunnel is
   * kept, one with other settings (password, key) replaced. Calls for the same network
   * and remote run one at a time. Resolves the bridge name; rejects
   * `OVSDB_BRIDGE_NOT_FOUND` when the network has no bridge here (XO: undefined).
   */
  addInterfaceAndPort(
    network: XapiNetwork,
    remoteAddress: string,
    encapsulation: 'gre' | 'vxlan',
    key?: string | number,
    password?: string,
    privateNetworkUuid?: string
  ): Promise<string>
  /**
   * Removes the private network's tunnel ports (Port
   * `other_config['xo:sdn-controller:private-network-uuid']`) from the network's
   * bridge; resolves how many, 0 when the network has no bridge here. XO also removed
   * ports marked with its 2019 keys (`private_pool_wide`, `cross_pool`); not these.
   */
  resetForNetwork(network: XapiNetwork, privateNetworkUuid: string): Promise<number>
}

export interface OvsdbClientAdapterClass {
  /** `tlsHelper` is ignored. */
  new (host: XapiHost, tlsHelper?: unknown): OvsdbClientAdapter
}

export declare function createOvsdbClientAdapter(sdn: SdnControllerLike, options?: OvsdbAdapterOptions): OvsdbClientAdapterClass

// ---------------------------------------------------------------------------
// 3. The traffic-rules engine's backend
// ---------------------------------------------------------------------------

/**
 * A rule of XO's ordered traffic-rules engine, in `sdncontroller.py`'s terms:
 * `direction` is relative to `ipRange` (`to`: traffic towards it, `from`: traffic
 * from it) and `port` is the remote's port (`tp_dst` towards it, `tp_src` from it).
 */
export interface TrafficRule {
  /** A VIF rule: its MAC. Absent: a network rule. */
  mac?: string
  allow?: boolean
  /** `tcp|udp|icmp|ip|arp`, any case. */
  protocol: string
  /** 0..65535, with tcp, udp (or icmp: type/code, as OVS reads it). Absent: any port. */
  port?: number | string
  /** IPv4 address or CIDR; `''` (default): any address (the plugin refuses it). */
  ipRange?: string
  /** `'to'`, `'from'`, `'from/to'`, any case. */
  direction: string
}

export interface TrafficRuleEntry extends TrafficRule {
  allow: boolean
  /** Chosen by the engine (its bands 35001..65000): must be outside the controller's own band. */
  priority: number
  /** `'0x<16 hex>'`, chosen by the engine: outside the controller's cookie namespace. */
  cookie: string
}

/** Per host.$ref: an Error, or undefined for a success. */
export type HostOutcomes = Map<string, Error | undefined>

/**
 * The backend of XO's traffic-rules engine (`TrafficRulesPlugin`'s contract) on the
 * controller. It installs exactly the flows `sdncontroller.py` builds (so a rule means
 * the same on either backend), over OpenFlow with a barrier, on the bridge the
 * network's XAPI `bridge` names (the parent of a VLAN fake bridge), read from the
 * host's OVSDB replica:
 * - VIF rule (`mac`), per direction: `to`: `<proto>,dl_src=mac,nw_dst=ipRange,tp_dst=port`;
 *   `from`: `<proto>,dl_dst=mac,nw_src=ipRange,tp_src=port`; no `in_port`, on every host.
 * - network rule, per direction: the same without MAC, once per port of the network
 *   (`in_port`) and once per uplink (`in_port`, `dl_vlan` = VLAN tag or 0xffff:
 *   untagged; uplinks: NICs, bond members, gre/vxlan tunnels); nothing on a host where
 *   the network has no port.
 * Differences from the plugin: make-before-break within a cookie (the plugin deleted
 * the cookie, then added); `ipRange: ''` (any) and TCP/UDP without port are accepted;
 * a port with ip/arp is refused up front (the plugin failed in ovs-ofctl).
 *
 * Every method resolves a `Map<host.$ref, Error | undefined>` and never throws: bad
 * input fails every host with the same TypeError/RangeError, nothing sent.
 */
export interface TrafficRulesBackend {
  /** `network.$PIFs[].$host`, without duplicates. */
  hostsOf(network: XapiNetwork): XapiHost[]
  /**
   * Installs the entry with its priority and cookie on every host (default
   * `hostsOf(network)`), replacing whatever that cookie had on the bridge. A host
   * where a network rule builds no flow succeeds (the plugin's error '4'), its cookie
   * removed. `SDN_NETWORK_NOT_FOUND` when the network has no bridge on a host.
   */
  install(network: XapiNetwork, entry: TrafficRuleEntry, hosts?: XapiHost[]): Promise<HostOutcomes>
  /** Deletes every flow with `cookie` on the network's bridge (`rule` unused). No bridge: success. */
  deleteCookie(network: XapiNetwork, rule: TrafficRule, cookie: string, hosts?: XapiHost[]): Promise<HostOutcomes>
  /**
   * Deletes the plugin's pre-cookie flows of `rule`: its flows rebuilt as matches,
   * non-strict, any priority, cookie 0 only. A rule the plugin could not install (no
   * ipRange; TCP/UDP without port) has none: success without I/O.
   */
  deleteLegacy(network: XapiNetwork, rule: TrafficRule, hosts?: XapiHost[]): Promise<HostOutcomes>
  /** true once the host answers (cached until `forgetHosts`); undefined while unreachable. */
  supportsCookies(host: XapiHost): Promise<true | undefined>
  forgetHosts(hosts: XapiHost[]): void
}

export declare function createTrafficRulesBackend(sdn: SdnControllerLike, options?: HostIdOptions): TrafficRulesBackend

/** `host.$ref ?? host.uuid`. */
export declare function defaultHostId(host: XapiHost): string
