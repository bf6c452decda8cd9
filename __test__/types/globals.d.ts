// What the README's examples take from their surroundings (the XO plugin, XAPI objects),
// declared so __test__/types.test.js can compile each example as printed with
// `tsc --strict --checkJs`.
import type { SdnController, TlsConfig } from 'xo-sdn-native'

declare global {
  interface XoLogger {
    debug(message: string, data?: unknown): void
    info(message: string, data?: unknown): void
    warn(message: string, data?: unknown): void
    error(message: string, data?: unknown): void
  }
  /** `this` of the plugin's configure(), in the wiring example. */
  interface PluginThis {
    _clientCert: string
    _clientKey: string
    _caCert: string
    _getDataDir(): Promise<string>
  }
  interface XapiLike {
    call(method: string, ...args: unknown[]): Promise<string>
  }

  const clientCert: string
  const clientKey: string
  const poolCa: string
  const serverCert: string
  const logger: XoLogger
  function createLogger(namespace: string): XoLogger
  const xapi: XapiLike
  const host: { $ref: string; address: string; $xapi: XapiLike }
  const vif: { uuid: string; MAC: string }
  const network: { uuid: string }
  const uuid: string
  const mac: string
  const idA: string
  const idB: string
  const sdn: SdnController
  const tls: TlsConfig
  const networkUuid: string
  const privateNetworkUuid: string
  const vifUuid: string
  const remoteIp: string
  const psk: string
}

export {}
