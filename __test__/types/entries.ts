// Every entry point of the package's `exports`, typed, as a TypeScript user imports them
// (compiled by __test__/types.test.js with `tsc --strict`, module resolution node16).
import { encode, decode, parseFlow, formatFlow, SdnController, TlsConfig, services, ovsdb } from 'xo-sdn-native'
import type { Message, SdnControllerOptions } from 'xo-sdn-native'
import { createLegacyOpenFlowChannel, legacyRuleChanges } from 'xo-sdn-native/xo-adapters'
import openflow, { pack, unpack, parse } from 'xo-sdn-native/xo-openflow'
import { startSandbox, controllerFor, ensureOvs, ovsAvailable } from 'xo-sdn-native/testing'
import type { Sandbox, Host, TraceResult, SandboxVif } from 'xo-sdn-native/testing'

const m: Message = decode(encode({ type: 'barrier_request', xid: 1 }))
const text: string = formatFlow(parseFlow('priority=1 actions=drop'))
const bytes: Buffer = pack({ header: { version: openflow.versions.openFlow11, type: 0, xid: 1 } })
void [m, text, unpack(bytes), parse, services(), ovsdb, legacyRuleChanges, createLegacyOpenFlowChannel]

async function sandboxTest(): Promise<void> {
  const tools: Record<string, string> = ensureOvs({ install: false })
  const available: boolean = ovsAvailable()
  const sb: Sandbox = await startSandbox({ hosts: 1, nports: 3, installOvs: true })
  const h: Host = sb.hosts[0]
  const v: SandboxVif = h.vifs[0]
  const options: SdnControllerOptions = { hostTimeoutMs: 2000 }
  const sdn: SdnController = controllerFor(sb, options)
  await sdn.addRule({ vif: { uuid: v.uuid, mac: v.mac }, allow: false, protocol: 'ssh', direction: 'to' })
  const t: TraceResult = h.trace(`in_port=3,tcp,dl_dst=${v.mac},tp_dst=22`)
  const verdict: 'drop' | 'forward' = t.verdict
  void [tools, available, verdict, new TlsConfig({ clientCert: sb.pki.client.cert, clientKey: sb.pki.client.key, poolCa: sb.pki.ca.cert })]
  await sdn.close()
  await sb.stop()
}
void sandboxTest
