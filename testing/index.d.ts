// Types of `xo-sdn-native/testing` (testing/index.js, testing/sandbox.js): real Open vSwitch
// daemons on loopback laid out like XCP-ng hosts, for tests and demos.

import { SdnController, SdnControllerOptions } from '../index'

/** Named TLS profiles: `xcpng-8.3` = ovsdb-server with TLS 1.2 and RSA key exchange only. */
export type SandboxProfile = 'default' | 'xcpng-8.3'

export interface SandboxOptions {
  /** Number of hosts, 1..254 (default 1): 127.0.0.1, 127.0.0.2... named xcp-host-1, xcp-host-2... */
  hosts?: number
  /** VIF ports per bridge (default 4): vif1.<b>... with ofports 1..nports. */
  nports?: number
  /** Bridges per host (default ['br0']). */
  bridges?: string[]
  /** Directory for the daemons' files (default: a fresh temporary one, removed by stop()). */
  dir?: string
  /** Keep `dir` after stop() (default: false for a temporary dir, true for a given one). */
  keep?: boolean
  /** Also listen on plain TCP (ptcp:) for OVSDB and OpenFlow (default true). */
  plainTcp?: boolean
  /** OVSDB TLS port on every host address (default: a free port per host). */
  ovsdbPort?: number
  profile?: SandboxProfile
  sslProtocols?: string
  sslCiphers?: string
  switchSslProtocols?: string
  switchSslCiphers?: string
  /** Milliseconds between SIGTERM and SIGKILL when stopping (default 3000). */
  graceMs?: number
  /** Stop the daemons on SIGINT/SIGTERM/SIGHUP when no other handler is installed (default true). */
  handleSignals?: boolean
  /**
   * The opt-in to install Open vSwitch and openssl with apt-get when they are missing and the
   * process is root (default false: a missing tool throws XO_SDN_OVS_MISSING saying how to install it).
   */
  installOvs?: boolean
}

/** One VIF port of the sandbox, with XAPI's identifiers (Interface.external_ids). */
export interface SandboxVif {
  name: string
  ofport: number
  uuid: string
  mac: string
  vmUuid: string
  networkUuid: string
  bridge: string
}

export interface SandboxBridge {
  name: string
  /** `unix:<rundir>/<bridge>.mgmt`, for ovs-ofctl. */
  mgmt: string
  networkUuid: string
  hwaddr: string
  datapathId: string
  vifs: SandboxVif[]
}

export interface CertBundle {
  certPath: string
  keyPath: string
  cert: string
  key: string
  /** Key and certificate in one PEM (like /etc/xensource/xapi-ssl.pem), for server certificates. */
  pemPath?: string
  pem?: string
}

export interface SandboxPki {
  dir: string
  /** The pool CA (like sdn-controller-ca.pem): signs the client certificates. */
  ca: CertBundle
  /** The controller's client certificate, signed by the pool CA. */
  client: CertBundle
  clientExpired: CertBundle
  clientNotYetValid: CertBundle
  wrongCa: CertBundle
  clientWrongCa: CertBundle
}

export interface SandboxPorts {
  ovsdbSsl: number
  openflowSsl: number
  ovsdbTcp: number | null
  openflowTcp: number | null
}

export interface TraceResult {
  verdict: 'drop' | 'forward'
  /** The "Datapath actions" value. */
  actions: string
  /** The ofports (or 'LOCAL') the packet leaves by. */
  outputs: Array<number | 'LOCAL' | string>
  /** The first table line, e.g. `0. in_port=1, priority 4000, cookie 0x1`. */
  rule: string | null
  table: number | null
  match: string | null
  priority: number | null
  cookie: bigint | null
  raw: string
}

export interface DumpedFlow {
  cookie: bigint
  table: number
  priority: number
  match: string
  actions: string
  packets: number | null
  bytes: number | null
  duration: number | null
  flags: string[]
}

export interface PortCounters {
  rxPackets: number | null
  txPackets: number | null
  rxBytes: number | null
  txBytes: number | null
}

/** A VIF given as its object, its port name or its ofport. */
export type VifRef = SandboxVif | string | number

export declare class Host {
  readonly sandbox: Sandbox
  readonly index: number
  /** 127.0.0.(index + 1) */
  readonly ip: string
  /** xcp-host-(index + 1) */
  readonly name: string
  readonly dir: string
  /** The first bridge's name, network uuid, datapath id and VIFs. */
  readonly bridge: string
  readonly networkUuid: string
  readonly datapathId: string
  readonly vifs: SandboxVif[]
  readonly bridges: SandboxBridge[]
  /** VM N owns VIF N of every bridge. */
  readonly vms: Array<{ uuid: string; vifs: SandboxVif[] }>
  /** Set once started. */
  readonly ports: SandboxPorts
  readonly certs: { server: CertBundle; serverPoolSigned: CertBundle }
  readonly pki: SandboxPki
  /** OVS_RUNDIR, OVS_DBDIR, OVS_LOGDIR, OVS_SYSCONFDIR, OVS_PKGDATADIR for this host's daemons. */
  readonly env: Record<string, string>
  /** `ssl:<ip>:<port>` and friends. */
  readonly targets: {
    ovsdbSsl: string
    ovsdbTcp: string | null
    ovsdbUnix: string
    openflowSsl: string
    openflowTcp: string | null
    openflowUnix: string
  }
  readonly switchPid: number | null
  readonly dbPid: number | null
  readonly switchRunning: boolean
  readonly dbRunning: boolean
  /** ovs-vsctl against this host's database; returns stdout. */
  vsctl(...args: string[]): string
  vsctlAsync(...args: string[]): Promise<string>
  /** `ovs-ofctl -O OpenFlow11 <cmd> <first bridge> ...args`; returns stdout. */
  ofctl(cmd: string, ...args: string[]): string
  ofctlOn(bridge: string, cmd: string, ...args: string[]): string
  ofctlRaw(...args: string[]): string
  ofctlAsync(cmd: string, ...args: string[]): Promise<string>
  /** ovs-appctl against ovs-vswitchd. */
  appctl(...args: string[]): string
  /** ovs-appctl against ovsdb-server. */
  dbAppctl(...args: string[]): string
  /** XAPI's locking_mode=locked flows for the VIF (cookie 0x1). */
  xapiLockVif(vif: VifRef, options?: { ips?: string[]; bridge?: string }): void
  xapiUnlockVif(vif: VifRef, options?: { bridge?: string }): void
  /** `ovs-appctl ofproto/trace` of an OpenFlow flow string: the switch's verdict. */
  trace(flow: string, options?: { bridge?: string }): TraceResult
  /** One packet received on the VIF's port as if its VM sent it; waits until the port counted it. */
  inject(vif: VifRef, packet: Buffer | string, options?: { bridge?: string; wait?: boolean; timeoutMs?: number }): Promise<{ port: string; ofport: number; packet: string }>
  portCounters(options?: { bridge?: string }): Record<number | 'LOCAL', PortCounters>
  /** Records what the VIF's port transmits (netdev-dummy tx_pcap): whole Ethernet frames, in order, until stop(). */
  captureTx(vif: VifRef, options?: { bridge?: string }): { frames(): Buffer[]; stop(): void }
  flowStats(options?: { bridge?: string; cookie?: bigint | number | string; table?: number }): DumpedFlow[]
  /** Kills ovs-vswitchd (default SIGKILL, like a crash). */
  killSwitch(signal?: NodeJS.Signals): Promise<void>
  /** Restarts ovs-vswitchd: its flows are lost, its configuration comes back from the database. */
  restartSwitch(): Promise<void>
  stopDb(signal?: NodeJS.Signals): Promise<void>
  restartDb(): Promise<void>
  /** Switches both daemons to the XAPI-style self-signed or the pool-signed server certificate. */
  useServerCert(kind?: 'self-signed' | 'pool-signed'): Promise<void>
}

export declare class Sandbox {
  readonly dir: string
  readonly hosts: Host[]
  readonly pki: SandboxPki
  readonly stopped: boolean
  /** Stops every daemon and removes the directory unless kept. Idempotent. */
  stop(): Promise<void>
  stopSync(): void
  /** Leaves the daemons running after this process exits (`node testing/sandbox.js down --dir` stops them). */
  detach(): void
}

/** Starts the daemons of every host; the sandbox stops them when the process exits. */
export declare function startSandbox(options?: SandboxOptions): Promise<Sandbox>

/**
 * A SdnController for a started sandbox, ready to use: the sandbox's pool CA and client
 * certificate, every host added (id = host name) with its TLS ports and server certificate.
 * `syncIntervalMs` defaults to 0 (no periodic sync).
 */
export declare function controllerFor(sandbox: Sandbox, options?: SdnControllerOptions): SdnController

/**
 * The absolute paths of the Open vSwitch tools and openssl, or an Error with code
 * XO_SDN_OVS_MISSING naming what is missing and how to install it. `install: true` is the
 * opt-in to run apt-get (as root) instead.
 */
export declare function ensureOvs(options?: { install?: boolean; quiet?: boolean }): Record<string, string>
/** true when every Open vSwitch tool and openssl is installed (installs nothing). */
export declare function ovsAvailable(): boolean
/** Stops the daemons of a detached sandbox by their pidfiles; removes `dir` when `remove`. */
export declare function stopDetached(dir: string, remove?: boolean): void
/** `count` distinct free TCP ports on `ip`. */
export declare function freePorts(ip: string, count: number): Promise<number[]>
export declare const PROFILES: Record<SandboxProfile, { db: { protocols?: string; ciphers?: string }; switch: { protocols?: string; ciphers?: string } }>
/** The parsers of ovs-ofctl / ovs-appctl output the sandbox uses. */
export declare const parse: {
  trace(raw: string, dpPorts?: Map<number, number | 'LOCAL'>): Omit<TraceResult, 'raw'>
  dumpFlows(text: string): DumpedFlow[]
  dumpPorts(text: string): Record<number | 'LOCAL', PortCounters>
  dpifShow(text: string, bridge: string): Map<number, number | 'LOCAL'>
  hexDump(text: string): string
}
