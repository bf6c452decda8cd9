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
  /** The host's XAPI connection (XO's objects have it): `registerXapiHost` reads the host certificate through it. */
  $xapi?: XapiConnection
  [field: string]: unknown
}

/** What the adapters use of XO's XAPI connection object. */
export interface XapiConnection {
  call(method: string, ...args: unknown[]): Promise<unknown>
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
  getRule(id: string): RuleView | undefined
  /** Where the OvsdbClient adapter reports a host it could not reach. */
  readonly logger?: { warn(message: string, data?: object): void }

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
  /** See `LegacyChannelOptions.semantics`. */
  port?: number | string
  /** `''` or absent: any address. A CIDR with host bits (`10.0.0.1/24`) means its network, as OVS applied it for XO. */
  ipRange?: string
  /** `'from'`, `'to'` or `'from/to'` (also `'both'`): see `LegacyChannelOptions.semantics`. */
  direction: string
  /** Ignored: the controller finds the VIF's ports (vif and tap) from OVSDB and follows replugs. */
  ofport?: number
}

/** XO's network rule arguments (`_addNetworkRule`/`_deleteNetworkOfRule`). */
export interface LegacyNetworkRuleArgs extends Omit<LegacyRuleArgs, 'vif' | 'ofport'> {
  network: XapiNetwork
  /** XO's cookie for the rule; not used (the controller has its own). */
  cookie?: string
}

export interface LegacyChannelOptions extends HostIdOptions {
  /**
   * What a stored XO rule means.
   * - `'xo'` (default): exactly the matches XO 1.4's direct channel installed. TCP, UDP
   *   and ICMP rules cover both packet directions; `port` is the VIF's own port for
   *   `from`, the remote port for `to`, either for `from/to` (rule `portSide`). IP, ARP
   *   and all traffic: `from` = what the VIF sends, `to` = what it receives.
   * - `'packet'`: `direction` is the packet's direction and `port` its destination
   *   port (what `SdnController` rules mean).
   * `legacyRuleChanges()` lists what each choice changes for stored rules.
   */
  semantics?: 'xo' | 'packet'
  /**
   * What a delete does when the controller holds no such rule: `'resolve'` (default,
   * `{ deleted: [] }`: XO's `_deleteRule` rethrows every error but `HOST_OFFLINE` and
   * would then keep the rule in other_config for ever) or `'reject'` (`SDN_RULE_NOT_FOUND`).
   */
  ifMissing?: 'reject' | 'resolve'
}

/**
 * XO's `OpenFlowChannel` shape, one per XAPI host, every instance on the one
 * controller. A VIF rule is the controller rule
 * `{ id, vif: { uuid: vif.uuid, mac: vif.MAC }, allow, … }` restricted to this host
 * (XO calls the channel of the VM's host); a network rule is
 * `{ id, network: { uuid }, allow, … }` on every host. The `id` derives from the VIF or
 * network and XO's stored match (protocol, port, ipRange, direction; case and host
 * bits ignored), so a rule keeps its identity, and its cookie, across restarts.
 *
 * Differences from XO 1.4's channel with the default `semantics: 'xo'` (see the
 * README's wiring section and `legacyRuleChanges`): `direction: 'both'` covers both
 * directions (XO installed nothing); protocols are case-insensitive (XO turned `tcp`
 * into "every packet of the MAC"); an ICMP `port` is the ICMP type both ways; network
 * rules exist; priorities are ordered (the first of two overlapping rules wins), the
 * cookies are the controller's, and `in_port` covers every port of the VIF (tap too).
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
   * Adds the VIF's rule with this match on this host. Already there unchanged: left
   * alone, `flows: 0` (XO re-adds every stored rule on connect; the controller repairs
   * switches itself). With another action or MAC: updated in place, make-before-break,
   * same priority (XO's last ADD won in OVS too). Installed on another host (the VM
   * moved): moved here.
   */
  addRule(args: LegacyRuleArgs): Promise<{ rule: RuleView; flows: number }>
  /**
   * Deletes the VIF's rule with this match (`allow` ignored, as in XO), wherever it is
   * installed. A rule of the VIF added through the controller's own API is never touched.
   */
  deleteRule(args: Omit<LegacyRuleArgs, 'allow'> & { allow?: boolean }): Promise<{ deleted: RuleView[] }>
  /**
   * A network rule (XO 1.4's channel had none): every VIF of the network on every host,
   * also VIFs plugged or migrated later. Resolves `{ rule, hosts }` (`hosts` empty when
   * nothing changed); when a host failed, rejects `SDN_PARTIAL_FAILURE` (with `hosts`)
   * and the controller keeps the rule and installs it when the host answers.
   */
  addNetworkRule(args: LegacyNetworkRuleArgs): Promise<{ rule: RuleView; hosts: Record<string, HostOutcome> }>
  /** Deletes the network rule with this match from every host; `SDN_PARTIAL_FAILURE` when a host could not be reached (removed at its next contact). */
  deleteNetworkRule(args: Omit<LegacyNetworkRuleArgs, 'allow'> & { allow?: boolean }): Promise<{ deleted: RuleView[]; hosts?: Record<string, HostOutcome> }>
}

/** A stored XO rule, as in `other_config['xo:sdn-controller:of-rules']` (object or its JSON). */
export interface StoredXoRule {
  allow: boolean
  protocol?: string
  port?: number | string
  ipRange?: string
  direction: string
  cookie?: string
}

/** One difference from what XO 1.4's direct channel installed. */
export interface LegacyRuleChange {
  code: 'DIRECTION_BOTH' | 'PROTOCOL_NOT_RECOGNIZED' | 'ICMP_PORT' | 'NETWORK_RULE' | 'PORT_SIDE' | 'ONE_WAY' | 'IPV6'
  message: string
}

/**
 * For each stored XO rule, what changes under each `semantics` compared with XO 1.4's
 * direct channel (an empty list: the same matches). `network: true` for a network's
 * rules. Proven against XO's codec on a real switch in `__test__/xo-plugin.test.js`.
 */
export declare function legacyRuleChanges(rules: Array<StoredXoRule | string>, options?: { network?: boolean }): Array<{ rule: StoredXoRule; xo: LegacyRuleChange[]; packet: LegacyRuleChange[] }>

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
   * carrying `errors` and `results`. A host that cannot be reached resolves `undefined`,
   * reported to `sdn.logger` (XO calls this for every host before each rule change: one
   * host down must not fail the rules of the others).
   */
  setBridgeController(): Promise<SetControllerResult[] | undefined>
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

/**
 * The `register` option for XO's host objects: `{ address: host.address, serverCert }`
 * with the certificate read by `host.$xapi.call('host.get_server_certificate', host.$ref)`.
 * Rejects TypeError `ERR_INVALID_ARG_TYPE` for a host without `$xapi`, `$ref` or
 * `address`, `SDN_HOST_CERT_UNAVAILABLE` when XAPI gives no PEM certificate.
 */
export declare function registerXapiHost(host: XapiHost): Promise<HostSpec & { address: string; serverCert: string }>
