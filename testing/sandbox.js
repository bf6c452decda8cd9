'use strict'
/*
 * Test sandbox: real Open vSwitch daemons (userspace, dummy datapath) on loopback, laid out like
 * XCP-ng hosts managed by the Xen Orchestra SDN controller. CommonJS, node built-ins only.
 *
 *   const { startSandbox } = require('xo-sdn-native/testing')   // in a checkout: require('./testing/sandbox.js')
 *   const sb = await startSandbox({ hosts: 2 })
 *   const h = sb.hosts[0]          // h.ip, h.ports.openflowSsl, h.certs..., sb.pki.client...
 *   h.ofctl('dump-flows', '--no-stats')
 *   await sb.stop()
 *
 * CLI:  node testing/sandbox.js selftest [--hosts N] [--profile xcpng-8.3]
 *       node testing/sandbox.js up --dir D [options]   (start, leave running, write D/sandbox.json)
 *       node testing/sandbox.js env --dir D [--host I] (print `export ...` lines: OVS_RUNDIR etc., certs, targets)
 *       node testing/sandbox.js down --dir D [--keep]  (stop the daemons of `up` by pidfile, remove D)
 *       node testing/sandbox.js start [--hosts N] [--nports N] [--profile P] [--dir D] [--keep] [--no-tcp] [--install-ovs]
 *             (prints one JSON line describing the sandbox, then runs until stdin closes or SIGINT/SIGTERM)
 *       node testing/sandbox.js ensure   (installs openvswitch-switch with apt-get if missing and we are root)
 *       Only `ensure` and `--install-ovs` install anything; otherwise a missing OVS is an error saying how.
 *
 * Layout (per host i = 0, 1, ...):
 *   ip 127.0.0.(i+1), name xcp-host-(i+1), dir <dir>/host<i+1>/{run,db,log,etc,pki}
 *   ovsdb-server: punix:<run>/db.sock, pssl:<ovsdbSsl>:<ip>, ptcp:<ovsdbTcp>:<ip> (if plainTcp)
 *   ovs-vswitchd --enable-dummy: bridges (default ['br0']) with datapath_type=dummy,
 *     protocols=OpenFlow11,OpenFlow13, controller pssl:<openflowSsl>:<ip> + ptcp:<openflowTcp>:<ip>,
 *     mgmt socket <run>/<bridge>.mgmt. Ports are random free TCP ports, chosen per host.
 *   The one ovs-vsctl set-ssl: private key + certificate = host xapi-ssl.pem (key+cert in one PEM,
 *     like /etc/xensource/xapi-ssl.pem), CA = the pool CA (like sdn-controller-ca.pem).
 *
 * Deterministic identifiers (H = host index, B = bridge index, both 0-based, N = 1..nports):
 *   bridge external_ids:xs-network-uuids = 11111111-2222-3333-4444-<0x555555555555 + B> (same on all
 *     hosts: it is the pool-wide network uuid), bridge other_config:hwaddr = 02:ff:00:00:HH:BB
 *     (so datapath ids differ between hosts: 000002ff0000HHBB)
 *   VIF port name vif<N>.<B>, type=dummy, ofport_request=N,
 *     external_ids:xs-vif-uuid = 00000000-0000-0000-HHBB-<N as 12 hex digits>
 *     external_ids:attached-mac = 02:00:HH:BB:<N high byte>:<N low byte>
 *     external_ids:xs-network-uuid = the bridge's network uuid
 *     external_ids:xs-vm-uuid = 00000000-0000-0001-HH00-<N as 12 hex digits>: VIF N of every bridge
 *       belongs to VM N of the host (one VIF per bridge; VMs differ between hosts)
 *   e.g. host 0, br0, N=1: vif1.0, ofport 1, 00000000-0000-0000-0000-000000000001, 02:00:00:00:00:01,
 *     VM 00000000-0000-0001-0000-000000000001
 *   vif objects: { name, ofport, uuid, mac, vmUuid, networkUuid, bridge }; host.vms = [{ uuid, vifs }].
 *
 * Data-plane helpers (Host; `bridge` defaults to the first one, a vif is a vif object, port name or ofport):
 *   xapiLockVif(vif, { ips, bridge }) / xapiUnlockVif(vif): XAPI's locking_mode=locked flows, cookie 0x1
 *   trace(flow, { bridge }) -> { verdict: 'drop'|'forward', actions, outputs, rule, table, match, priority, cookie, raw }
 *   await inject(vif, packet, { bridge }): packet = OpenFlow flow string, ODP flow string, hex or Buffer
 *   portCounters({ bridge }) -> { [ofport|'LOCAL']: { rxPackets, txPackets, rxBytes, txBytes } }
 *   flowStats({ bridge, cookie, table }) -> [{ cookie: BigInt, table, priority, match, actions, packets, bytes }]
 *
 * PKI (<dir>/pki, shared by all hosts; per host <dir>/hostN/pki):
 *   pool CA (RSA-2048, CA:TRUE) signs: client (EKU clientAuth, 10 years), clientExpired
 *   (2020-01-01..2021-01-01), clientNotYetValid (2099-12-31..2100-12-31), hostPoolSigned per host.
 *   wrongCa: an unrelated CA; clientWrongCa: a client cert signed by it.
 *   per host: server = self-signed like xapi gencert (RSA-2048, CN=hostname, ONLY subjectAltName
 *   DNS:hostname,IP:hostip, no basicConstraints/SKID/AKID), key+cert also in xapi-ssl.pem;
 *   serverPoolSigned = alternative server cert signed by the pool CA (EKU serverAuth, same SAN).
 */

const cp = require('child_process')
const crypto = require('crypto')
const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')
const tls = require('tls')
const util = require('util')

const execFileP = util.promisify(cp.execFile)
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

const OVS_BINARIES = ['ovs-vswitchd', 'ovsdb-server', 'ovsdb-tool', 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'ovsdb-client']
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']
const SCHEMA_CANDIDATES = ['/usr/share/openvswitch/vswitch.ovsschema', '/usr/local/share/openvswitch/vswitch.ovsschema']

/** Named TLS profiles. `db` applies to ovsdb-server, `switch` to ovs-vswitchd. */
const PROFILES = {
  // XCP-ng 8.3's ovsdb-server: TLS 1.2 only, RSA key exchange only (no ECDHE/DHE suites).
  'xcpng-8.3': {
    db: {
      protocols: 'TLSv1.2',
      ciphers: 'AES256-GCM-SHA384:AES256-SHA256:AES256-SHA:AES128-GCM-SHA256:AES128-SHA256:AES128-SHA'
    },
    switch: {}
  },
  default: { db: {}, switch: {} }
}

// ---------------------------------------------------------------------------------------------
// tools

function which (cmd) {
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean).concat(EXTRA_DIRS)
  for (const d of dirs) {
    const p = path.join(d, cmd)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      if (fs.statSync(p).isFile()) return p
    } catch (_) {}
  }
  return null
}

function findTools () {
  const tools = {}
  for (const b of OVS_BINARIES.concat(['openssl'])) tools[b] = which(b)
  return tools
}

let toolsCache = null

/** true if every OVS binary and openssl is installed (never installs anything). */
function ovsAvailable () {
  return Object.values(findTools()).every(Boolean)
}

/**
 * Make sure Open vSwitch (userspace tools + daemons) and openssl are installed. Returns a map
 * binary name -> absolute path. Installs nothing unless asked: with `install: true` (the opt-in;
 * `npm test` and `npm run demo` of a checkout pass it) it runs apt-get when root. Otherwise, or
 * when it cannot, it throws an Error with code XO_SDN_OVS_MISSING whose one-line message names
 * what is missing and the command that installs it.
 */
function ensureOvs ({ quiet = true, install = false } = {}) {
  if (toolsCache) return toolsCache
  let tools = findTools()
  const missing = () => Object.keys(tools).filter(k => !tools[k])
  if (missing().length) {
    const pkgs = []
    if (missing().some(b => b !== 'openssl')) pkgs.push('openvswitch-switch')
    if (!tools.openssl) pkgs.push('openssl')
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
    const aptGet = which('apt-get')
    if (!install || !isRoot || !aptGet) {
      const cmd = `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`
      const err = new Error(
        `Open vSwitch test sandbox: missing ${missing().join(', ')}; install with \`${isRoot ? '' : 'sudo '}${cmd}\`` +
        (!install ? '' : !aptGet ? ' (apt-get not found: use your distribution\'s Open vSwitch package)' : ' (needs root: this process is not)')
      )
      err.code = 'XO_SDN_OVS_MISSING'
      err.missing = missing()
      throw err
    }
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    const stdio = quiet ? 'pipe' : ['ignore', 2, 2]
    try {
      cp.execFileSync(aptGet, ['update'], { env, stdio, timeout: 300e3 })
      cp.execFileSync(aptGet, ['install', '-y', '--no-install-recommends', ...pkgs], { env, stdio, timeout: 600e3 })
    } catch (e) {
      throw new Error(`apt-get install ${pkgs.join(' ')} failed: ${e.message}\n${e.stderr || ''}`)
    }
    tools = findTools()
    if (missing().length) {
      throw Object.assign(new Error(`Open vSwitch test sandbox: still missing after apt-get install ${pkgs.join(' ')}: ${missing().join(', ')}`), { code: 'XO_SDN_OVS_MISSING', missing: missing() })
    }
  }
  toolsCache = tools
  return tools
}

function schemaPath () {
  const p = process.env.OVS_PKGDATADIR && path.join(process.env.OVS_PKGDATADIR, 'vswitch.ovsschema')
  for (const c of [p, ...SCHEMA_CANDIDATES]) if (c && fs.existsSync(c)) return c
  throw new Error('vswitch.ovsschema not found (is openvswitch-common installed?)')
}

function describeExecError (file, args, e) {
  const err = new Error(
    `${path.basename(file)} ${args.join(' ')} failed (${e.code != null ? 'exit ' + e.code : e.signal || e.message})` +
    `${e.stderr ? ': ' + String(e.stderr).trim() : ''}`
  )
  err.stdout = e.stdout && String(e.stdout)
  err.stderr = e.stderr && String(e.stderr)
  err.status = e.status != null ? e.status : e.code
  return err
}

function runSync (file, args, { env, timeout = 30e3, input } = {}) {
  try {
    return cp.execFileSync(file, args, {
      env, timeout, input, encoding: 'utf8', stdio: [input != null ? 'pipe' : 'ignore', 'pipe', 'pipe']
    })
  } catch (e) {
    throw describeExecError(file, args, e)
  }
}

async function run (file, args, { env, timeout = 30e3 } = {}) {
  try {
    const { stdout } = await execFileP(file, args, { env, timeout, encoding: 'utf8', maxBuffer: 64 << 20 })
    return stdout
  } catch (e) {
    throw describeExecError(file, args, e)
  }
}

// ---------------------------------------------------------------------------------------------
// processes

function procState (pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  } catch (_) {
    return null // gone
  }
}

/** true if pid is a live (non-zombie) process whose command line mentions `marker`. */
function isOurProcess (pid, marker) {
  if (!pid) return false
  const st = procState(pid)
  if (!st || st === 'Z' || st === 'X') return false
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)
  } catch (_) {
    return false
  }
}

function readPid (pidfile) {
  try {
    const n = parseInt(fs.readFileSync(pidfile, 'utf8').trim(), 10)
    return Number.isInteger(n) && n > 0 ? n : null
  } catch (_) {
    return null
  }
}

function sleepSync (ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

function killSync (pid, marker, signal = 'SIGTERM', graceMs = 3000) {
  if (!isOurProcess(pid, marker)) return
  try { process.kill(pid, signal) } catch (_) { return }
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!isOurProcess(pid, marker)) return
    sleepSync(20)
  }
  try { process.kill(pid, 'SIGKILL') } catch (_) {}
  for (let i = 0; i < 100 && isOurProcess(pid, marker); i++) sleepSync(10)
}

async function killAsync (pid, marker, signal = 'SIGTERM', graceMs = 3000) {
  if (!isOurProcess(pid, marker)) return
  try { process.kill(pid, signal) } catch (_) { return }
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!isOurProcess(pid, marker)) return
    await sleep(20)
  }
  if (signal === 'SIGKILL') return
  try { process.kill(pid, 'SIGKILL') } catch (_) {}
  for (let i = 0; i < 100 && isOurProcess(pid, marker); i++) await sleep(10)
}

// ---------------------------------------------------------------------------------------------
// network helpers

/** Pick `count` distinct free TCP ports on `ip` (bind port 0, remember, release). */
async function freePorts (ip, count) {
  const servers = []
  try {
    for (let i = 0; i < count; i++) {
      const s = net.createServer()
      await new Promise((resolve, reject) => {
        s.once('error', reject)
        s.listen({ port: 0, host: ip, exclusive: true }, resolve)
      })
      servers.push(s)
    }
    return servers.map(s => s.address().port)
  } finally {
    await Promise.all(servers.map(s => new Promise(resolve => s.close(resolve))))
  }
}

function tcpProbe (ip, port, timeoutMs = 500) {
  return new Promise(resolve => {
    const sock = net.connect({ host: ip, port })
    const done = ok => { sock.destroy(); resolve(ok) }
    sock.setTimeout(timeoutMs, () => done(false))
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}

async function waitForListeners (ip, ports, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs
  const pending = new Set(ports.filter(Boolean))
  while (pending.size) {
    for (const p of [...pending]) if (await tcpProbe(ip, p)) pending.delete(p)
    if (!pending.size) break
    if (Date.now() > deadline) throw new Error(`timeout waiting for listeners on ${ip}:${[...pending].join(',')}`)
    await sleep(25)
  }
}

// ---------------------------------------------------------------------------------------------
// PKI

const hex = (n, w) => n.toString(16).padStart(w, '0')

function certBundle (certPath, keyPath, extra = {}) {
  return {
    certPath,
    keyPath,
    cert: fs.readFileSync(certPath, 'utf8'),
    key: fs.readFileSync(keyPath, 'utf8'),
    ...extra
  }
}

function openssl (args, cwd) {
  return run(ensureOvs().openssl, args, { env: { ...process.env, OPENSSL_CONF: '/dev/null' }, timeout: 60e3 })
    .catch(e => { e.message += ` (in ${cwd})`; throw e })
}

async function newKeyAndCsr (dir, base, subj) {
  const keyPath = path.join(dir, `${base}-key.pem`)
  const csrPath = path.join(dir, `${base}.csr`)
  await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-keyout', keyPath, '-out', csrPath, '-subj', subj], dir)
  return { keyPath, csrPath }
}

function writeExt (dir, name, lines) {
  const p = path.join(dir, name)
  fs.writeFileSync(p, lines.join('\n') + '\n')
  return p
}

/** Sign with `openssl ca` so notBefore/notAfter can be set explicitly (OpenSSL 3.0's x509 -req cannot). */
async function caSignWithDates (dir, caCert, caKey, csrPath, outPath, extLines, startdate, enddate) {
  const cadb = path.join(dir, `cadb-${path.basename(outPath, '.pem')}`)
  fs.mkdirSync(path.join(cadb, 'new'), { recursive: true })
  fs.writeFileSync(path.join(cadb, 'index.txt'), '')
  const cnf = writeExt(cadb, 'ca.cnf', [
    '[ ca ]', 'default_ca = sbx',
    '[ sbx ]', `database = ${cadb}/index.txt`, `new_certs_dir = ${cadb}/new`, `serial = ${cadb}/serial`,
    'default_md = sha256', 'policy = pol', 'unique_subject = no', 'copy_extensions = none',
    '[ pol ]', 'commonName = supplied', 'organizationName = optional',
    '[ ext ]', ...extLines
  ])
  await openssl(['ca', '-batch', '-config', cnf, '-cert', caCert, '-keyfile', caKey, '-rand_serial', '-notext',
    '-startdate', startdate, '-enddate', enddate, '-extensions', 'ext', '-in', csrPath, '-out', outPath], dir)
}

async function makePoolPki (dir) {
  fs.mkdirSync(dir, { recursive: true })
  const p = f => path.join(dir, f)
  const caExt = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']
  const clientExt = writeExt(dir, 'client.ext', ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth'])
  const mkCa = (base, subj) => openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '3650',
    '-keyout', p(`${base}-key.pem`), '-out', p(`${base}-cert.pem`), '-subj', subj, ...caExt], dir)
  const [, , client, expired, notYet, wrongClient] = await Promise.all([
    mkCa('ca', '/O=Test Pool/CN=test-sdn-ca'),
    mkCa('wrong-ca', '/O=Some Other Org/CN=wrong-ca'),
    newKeyAndCsr(dir, 'client', '/O=Test Pool/CN=sdn-controller'),
    newKeyAndCsr(dir, 'client-expired', '/O=Test Pool/CN=sdn-controller-expired'),
    newKeyAndCsr(dir, 'client-notyetvalid', '/O=Test Pool/CN=sdn-controller-notyetvalid'),
    newKeyAndCsr(dir, 'client-wrongca', '/O=Some Other Org/CN=sdn-controller-wrongca')
  ])
  const sign = (csr, out, ca) => openssl(['x509', '-req', '-in', csr, '-CA', p(`${ca}-cert.pem`), '-CAkey', p(`${ca}-key.pem`),
    '-set_serial', '0x' + crypto.randomBytes(8).toString('hex'), '-days', '3650', '-sha256', '-extfile', clientExt, '-out', out], dir)
  const clientExtLines = fs.readFileSync(clientExt, 'utf8').trim().split('\n')
  await Promise.all([
    sign(client.csrPath, p('client-cert.pem'), 'ca'),
    sign(wrongClient.csrPath, p('client-wrongca-cert.pem'), 'wrong-ca'),
    caSignWithDates(dir, p('ca-cert.pem'), p('ca-key.pem'), expired.csrPath, p('client-expired-cert.pem'), clientExtLines,
      '20200101000000Z', '20210101000000Z'),
    caSignWithDates(dir, p('ca-cert.pem'), p('ca-key.pem'), notYet.csrPath, p('client-notyetvalid-cert.pem'), clientExtLines,
      '20991231000000Z', '21001231000000Z')
  ])
  return {
    dir,
    ca: certBundle(p('ca-cert.pem'), p('ca-key.pem')),
    client: certBundle(p('client-cert.pem'), p('client-key.pem')),
    clientExpired: certBundle(p('client-expired-cert.pem'), p('client-expired-key.pem')),
    clientNotYetValid: certBundle(p('client-notyetvalid-cert.pem'), p('client-notyetvalid-key.pem')),
    wrongCa: certBundle(p('wrong-ca-cert.pem'), p('wrong-ca-key.pem')),
    clientWrongCa: certBundle(p('client-wrongca-cert.pem'), p('client-wrongca-key.pem'))
  }
}

async function makeHostPki (dir, hostName, hostIp, pool) {
  fs.mkdirSync(dir, { recursive: true })
  const p = f => path.join(dir, f)
  const san = `subjectAltName=DNS:${hostName},IP:${hostIp}`
  const [self, signed] = await Promise.all([
    newKeyAndCsr(dir, 'host', `/CN=${hostName}`),
    newKeyAndCsr(dir, 'hostca', `/CN=${hostName}`)
  ])
  // like xapi gencert: self-signed, CN=hostname, only subjectAltName (no SKID/AKID/basicConstraints)
  const selfExt = writeExt(dir, 'host.ext', [san, 'subjectKeyIdentifier=none', 'authorityKeyIdentifier=none'])
  const caExt = writeExt(dir, 'hostca.ext', ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth', san])
  await Promise.all([
    openssl(['x509', '-req', '-in', self.csrPath, '-signkey', self.keyPath, '-days', '3650', '-sha256',
      '-set_serial', '0x' + crypto.randomBytes(8).toString('hex'), '-extfile', selfExt, '-out', p('host-cert.pem')], dir),
    openssl(['x509', '-req', '-in', signed.csrPath, '-CA', pool.ca.certPath, '-CAkey', pool.ca.keyPath,
      '-set_serial', '0x' + crypto.randomBytes(8).toString('hex'), '-days', '3650', '-sha256', '-extfile', caExt,
      '-out', p('hostca-cert.pem')], dir)
  ])
  fs.writeFileSync(p('xapi-ssl.pem'), fs.readFileSync(self.keyPath, 'utf8') + fs.readFileSync(p('host-cert.pem'), 'utf8'))
  fs.writeFileSync(p('hostca.pem'), fs.readFileSync(signed.keyPath, 'utf8') + fs.readFileSync(p('hostca-cert.pem'), 'utf8'))
  return {
    server: certBundle(p('host-cert.pem'), self.keyPath, { pemPath: p('xapi-ssl.pem'), pem: fs.readFileSync(p('xapi-ssl.pem'), 'utf8') }),
    serverPoolSigned: certBundle(p('hostca-cert.pem'), signed.keyPath, { pemPath: p('hostca.pem'), pem: fs.readFileSync(p('hostca.pem'), 'utf8') })
  }
}

function certDer (pem) {
  return new crypto.X509Certificate(pem).raw
}

// ---------------------------------------------------------------------------------------------
// parsers for ovs-ofctl / ovs-appctl text output (formats of OVS 3.1; see the tests for samples)

const count = v => (v === '?' || v == null ? null : Number(v))

/** Split on commas that are not inside parentheses: '2,ct(zone=1,nat),3' -> ['2', 'ct(zone=1,nat)', '3']. */
function splitTopLevel (s) {
  const out = []
  let depth = 0
  let cur = ''
  for (const c of s) {
    if (c === '(') depth++
    else if (c === ')') depth--
    if (c === ',' && depth === 0) { out.push(cur); cur = '' } else cur += c
  }
  if (cur) out.push(cur)
  return out.map(t => t.trim()).filter(Boolean)
}

/**
 * `ovs-appctl dpif/show` -> Map(datapath port number -> ofport, or 'LOCAL') for one bridge. Lines:
 *   "  br0:" then "    vif1.0 1/1: (dummy)", "    br0 65534/100: (dummy-internal)" (name ofport/dp-port)
 */
function parseDpifShow (text, bridge) {
  const map = new Map()
  let inBridge = false
  for (const line of text.split('\n')) {
    const head = /^ {2}(\S+):\s*$/.exec(line)
    if (head) { inBridge = head[1] === bridge; continue }
    const m = inBridge && /^ {4}\S+ (\d+)\/(\d+):/.exec(line)
    if (m) map.set(Number(m[2]), Number(m[1]) === 65534 ? 'LOCAL' : Number(m[1]))
  }
  return map
}

/**
 * `ovs-appctl ofproto/trace` output. The rule is the first table line of the first bridge block,
 * " 0. in_port=1, priority 4000, cookie 0x1" (cookie only when non-zero; " 0. No match." when nothing
 * matched), or the pre-2.8 "Rule: table=0 cookie=0x1 priority=4000,in_port=1". The verdict comes from
 * the last "Datapath actions:" line (the final pass when the trace recirculates).
 */
function parseTrace (raw, dpPorts = new Map()) {
  const lines = raw.split('\n')
  const dpa = lines.filter(l => l.startsWith('Datapath actions:')).pop()
  if (dpa == null) throw new Error(`no "Datapath actions:" line in ofproto/trace output:\n${raw}`)
  const actions = dpa.slice('Datapath actions:'.length).trim()
  const verdict = actions === '' || actions === 'drop' ? 'drop' : 'forward'
  // plain numbers in the datapath actions are output:<datapath port>; name them by ofport
  const outputs = verdict === 'drop' ? [] : splitTopLevel(actions).filter(a => /^\d+$/.test(a)).map(a => dpPorts.get(Number(a)) ?? `dp:${a}`)
  const res = { verdict, actions, outputs, rule: null, table: null, match: null, priority: null, cookie: null }
  for (const line of lines) {
    let m = /^\s*(\d+)\.\s+(.*?)\s*$/.exec(line)
    if (m) {
      const text = m[2]
      res.rule = `${m[1]}. ${text}`
      res.table = Number(m[1])
      const pr = /(?:^|, )priority (\d+)/.exec(text)
      const ck = /, cookie (0x[0-9a-f]+)/i.exec(text)
      if (pr) res.priority = Number(pr[1])
      res.cookie = ck ? BigInt(ck[1]) : pr ? 0n : null
      if (pr) res.match = text.slice(0, pr.index)
      break
    }
    m = /^\s*Rule: table=(\d+) cookie=(0x[0-9a-f]+) (.*)$/i.exec(line)
    if (m) {
      const flow = parseMatch(m[3])
      Object.assign(res, { rule: line.trim(), table: Number(m[1]), cookie: BigInt(m[2]), priority: flow.priority, match: flow.match })
      break
    }
  }
  return res
}

/** 'priority=7000,ip,in_port=1' -> { priority: 7000, match: 'ip,in_port=1' } (OpenFlow default priority 32768). */
function parseMatch (text) {
  let priority = 32768
  const parts = text.split(',').filter(p => {
    const m = /^priority=(\d+)$/.exec(p)
    if (m) priority = Number(m[1])
    return p !== '' && !m
  })
  return { priority, match: parts.join(',') }
}

const FLOW_STAT_KEYS = new Set(['cookie', 'duration', 'table', 'n_packets', 'n_bytes', 'idle_timeout', 'hard_timeout',
  'idle_age', 'hard_age', 'importance'])
const FLOW_FLAGS = new Set(['send_flow_rem', 'check_overlap', 'reset_counts', 'no_packet_counts', 'no_byte_counts'])

/**
 * `ovs-ofctl dump-flows` lines, e.g.
 *   " cookie=0x1, duration=6.8s, table=0, n_packets=1, n_bytes=118, reset_counts priority=7000,ip,in_port=1 actions=NORMAL"
 * (stats "k=v, ", then flow-mod flags, then the match; priority= is omitted when it is the default).
 */
function parseDumpFlows (text) {
  const flows = []
  for (const line of text.split('\n')) {
    let rest = line.trim()
    if (!rest.startsWith('cookie=')) continue
    const stats = {}
    let m
    while ((m = /^([a-z_]+)=([^,\s]+),\s*/.exec(rest)) && FLOW_STAT_KEYS.has(m[1])) {
      stats[m[1]] = m[2]
      rest = rest.slice(m[0].length)
    }
    const flags = []
    while ((m = /^([a-z_]+)\s+/.exec(rest)) && FLOW_FLAGS.has(m[1])) {
      flags.push(m[1])
      rest = rest.slice(m[0].length)
    }
    const at = rest.startsWith('actions=') ? 0 : rest.indexOf(' actions=') + 1
    if (at < 0 || !rest.startsWith('actions=', at)) throw new Error(`cannot parse dump-flows line: ${line}`)
    const { priority, match } = parseMatch(rest.slice(0, at).trim())
    flows.push({
      cookie: BigInt(stats.cookie),
      table: Number(stats.table || 0),
      priority,
      match,
      actions: rest.slice(at + 'actions='.length),
      packets: count(stats.n_packets),
      bytes: count(stats.n_bytes),
      duration: stats.duration != null ? parseFloat(stats.duration) : null,
      flags
    })
  }
  return flows
}

/**
 * `ovs-ofctl dump-ports`:
 *   "  port  1: rx pkts=2, bytes=218, drop=?, errs=?, frame=?, over=?, crc=?"
 *   "           tx pkts=0, bytes=0, drop=?, errs=?, coll=?"     ('?' = not supported -> null)
 * Keys are ofport numbers, or 'LOCAL'.
 */
function parseDumpPorts (text) {
  const out = {}
  const re = /port\s+"?([^":\s]+)"?:\s*rx pkts=(\d+|\?), bytes=(\d+|\?)[^\n]*\n\s*tx pkts=(\d+|\?), bytes=(\d+|\?)/g
  for (const m of text.matchAll(re)) {
    out[/^\d+$/.test(m[1]) ? Number(m[1]) : m[1]] = {
      rxPackets: count(m[2]), rxBytes: count(m[3]), txPackets: count(m[4]), txBytes: count(m[5])
    }
  }
  return out
}

/** `ovs-ofctl compose-packet` hex dump ("00000000  02 00 00 00 00 02 02 00-00 00 ...") -> hex string. */
function parseHexDump (text) {
  return text.split('\n')
    .map(l => /^[0-9a-f]{8}\s+(.*)$/i.exec(l))
    .filter(Boolean)
    .map(m => m[1].replace(/-/g, ' ').trim().split(/\s+/).filter(t => /^[0-9a-f]{2}$/i.test(t)).join(''))
    .join('')
}

// ---------------------------------------------------------------------------------------------
// Host

class Host {
  constructor (sandbox, index, opts) {
    this.sandbox = sandbox
    this.index = index
    this.ip = `127.0.0.${index + 1}`
    this.name = `xcp-host-${index + 1}`
    this.dir = path.join(sandbox.dir, `host${index + 1}`)
    this.rundir = path.join(this.dir, 'run')
    this.dbdir = path.join(this.dir, 'db')
    this.logdir = path.join(this.dir, 'log')
    this.etcdir = path.join(this.dir, 'etc')
    this.pkidir = path.join(this.dir, 'pki')
    this.dbPath = path.join(this.dbdir, 'conf.db')
    this.dbSocket = path.join(this.rundir, 'db.sock')
    this.logs = { ovsdbServer: path.join(this.logdir, 'ovsdb-server.log'), vswitchd: path.join(this.logdir, 'ovs-vswitchd.log') }
    this.pidfiles = { ovsdbServer: path.join(this.rundir, 'ovsdb-server.pid'), vswitchd: path.join(this.rundir, 'ovs-vswitchd.pid') }
    this.env = {
      OVS_RUNDIR: this.rundir,
      OVS_DBDIR: this.dbdir,
      OVS_LOGDIR: this.logdir,
      OVS_SYSCONFDIR: this.etcdir,
      OVS_PKGDATADIR: path.dirname(schemaPath())
    }
    this.opts = opts
    this.nports = opts.nports
    this.bridges = opts.bridges.map((name, b) => ({
      name,
      mgmt: `unix:${path.join(this.rundir, name + '.mgmt')}`,
      networkUuid: `11111111-2222-3333-4444-${hex(0x555555555555 + b, 12)}`,
      hwaddr: `02:ff:00:00:${hex(index & 0xff, 2)}:${hex(b & 0xff, 2)}`,
      datapathId: `000002ff0000${hex(index & 0xff, 2)}${hex(b & 0xff, 2)}`,
      vifs: Array.from({ length: opts.nports }, (_, k) => {
        const n = k + 1
        return {
          name: `vif${n}.${b}`,
          ofport: n,
          uuid: `00000000-0000-0000-${hex(index & 0xff, 2)}${hex(b & 0xff, 2)}-${hex(n, 12)}`,
          mac: `02:00:${hex(index & 0xff, 2)}:${hex(b & 0xff, 2)}:${hex((n >> 8) & 0xff, 2)}:${hex(n & 0xff, 2)}`,
          vmUuid: `00000000-0000-0001-${hex(index & 0xff, 2)}00-${hex(n, 12)}`,
          networkUuid: `11111111-2222-3333-4444-${hex(0x555555555555 + b, 12)}`,
          bridge: name
        }
      })
    }))
    // VM N owns VIF N of every bridge, like a XCP-ng VM with one VIF per network
    this.vms = Array.from({ length: opts.nports }, (_, k) => ({
      uuid: this.bridges[0].vifs[k].vmUuid,
      vifs: this.bridges.map(br => br.vifs[k])
    }))
    this.bridge = this.bridges[0].name
    this.vifs = this.bridges[0].vifs
    this.networkUuid = this.bridges[0].networkUuid
    this.datapathId = this.bridges[0].datapathId
    this.ports = null
    this.certs = null
    this.pki = sandbox.pki
    this.serverCert = 'self-signed'
  }

  get execEnv () { return { ...process.env, ...this.env } }

  /** Active connection strings, e.g. ssl:127.0.0.1:43211 */
  get targets () {
    const p = this.ports
    return {
      ovsdbSsl: `ssl:${this.ip}:${p.ovsdbSsl}`,
      ovsdbTcp: p.ovsdbTcp ? `tcp:${this.ip}:${p.ovsdbTcp}` : null,
      ovsdbUnix: `unix:${this.dbSocket}`,
      openflowSsl: `ssl:${this.ip}:${p.openflowSsl}`,
      openflowTcp: p.openflowTcp ? `tcp:${this.ip}:${p.openflowTcp}` : null,
      openflowUnix: this.bridges[0].mgmt
    }
  }

  get switchPid () { return readPid(this.pidfiles.vswitchd) }
  get dbPid () { return readPid(this.pidfiles.ovsdbServer) }
  get switchRunning () { return isOurProcess(this.switchPid, this.rundir) }
  get dbRunning () { return isOurProcess(this.dbPid, this.rundir) }

  /** ovs-vsctl against this host's database (sync). Returns stdout. */
  vsctl (...args) {
    return runSync(ensureOvs()['ovs-vsctl'], [`--db=unix:${this.dbSocket}`, '--timeout=15', ...args], { env: this.execEnv })
  }

  async vsctlAsync (...args) {
    return run(ensureOvs()['ovs-vsctl'], [`--db=unix:${this.dbSocket}`, '--timeout=15', ...args], { env: this.execEnv })
  }

  /** `ovs-ofctl -O OpenFlow11 CMD <bridge mgmt socket> ARGS...` against the first bridge (sync). */
  ofctl (cmd, ...args) {
    return this.ofctlOn(this.bridge, cmd, ...args)
  }

  ofctlOn (bridge, cmd, ...args) {
    const br = this.bridges.find(b => b.name === bridge)
    if (!br) throw new Error(`unknown bridge ${bridge}`)
    return this.ofctlRaw('-O', 'OpenFlow11', cmd, br.mgmt, ...args)
  }

  /** ovs-ofctl with arbitrary arguments (no target added). */
  ofctlRaw (...args) {
    return runSync(ensureOvs()['ovs-ofctl'], args, { env: this.execEnv })
  }

  async ofctlAsync (cmd, ...args) {
    return run(ensureOvs()['ovs-ofctl'], ['-O', 'OpenFlow11', cmd, this.bridges[0].mgmt, ...args], { env: this.execEnv })
  }

  /** ovs-appctl against this host's ovs-vswitchd (sync), e.g. appctl('ofproto/trace', 'br0', 'in_port=1'). */
  appctl (...args) {
    return runSync(ensureOvs()['ovs-appctl'], ['-t', this._ctl('ovs-vswitchd', this.switchPid), ...args], { env: this.execEnv })
  }

  /** ovs-appctl against this host's ovsdb-server (sync). */
  dbAppctl (...args) {
    return runSync(ensureOvs()['ovs-appctl'], ['-t', this._ctl('ovsdb-server', this.dbPid), ...args], { env: this.execEnv })
  }

  _ctl (prog, pid) {
    if (!pid) throw new Error(`${prog} of ${this.name} is not running`)
    return path.join(this.rundir, `${prog}.${pid}.ctl`)
  }

  /**
   * Inject a packet into a port (no waiting): `flow` is a hex packet or an ODP flow, e.g.
   * 'eth(src=..,dst=..),eth_type(0x0800),ipv4(...)'; OVS 3.1 refuses OpenFlow syntax here (see inject()).
   */
  receive (port, flow) {
    return this.appctl('netdev-dummy/receive', port, flow)
  }

  // ------------------------------------------------------------------ data plane

  _bridgeOf (name) {
    const br = this.bridges.find(b => b.name === (name || this.bridge))
    if (!br) throw new Error(`unknown bridge ${name}`)
    return br
  }

  /** vif object | port name | ofport (on `bridge`) -> { name, ofport, mac, br }. */
  _vifOf (vif, bridge) {
    if (typeof vif === 'number') {
      const br = this._bridgeOf(bridge)
      const v = br.vifs.find(x => x.ofport === vif)
      if (!v) throw new Error(`no vif with ofport ${vif} on ${br.name}`)
      return { ...v, br }
    }
    const name = typeof vif === 'string' ? vif : vif && vif.name
    for (const br of bridge ? [this._bridgeOf(bridge)] : this.bridges) {
      const v = br.vifs.find(x => x.name === name)
      if (v) return { ...v, br }
    }
    // A port added after start (a VIF plugged or migrated by a test): ask the database.
    if (typeof name === 'string' && /^[\w.-]+$/.test(name)) {
      let found = null
      try {
        const brName = this.vsctl('port-to-br', name).trim()
        const ofport = Number(this.vsctl('get', 'Interface', name, 'ofport').trim())
        const mac = this.vsctl('get', 'Interface', name, 'external_ids:attached-mac').trim().replace(/"/g, '')
        found = { name, ofport, mac, br: this._bridgeOf(brName) }
      } catch {}
      if (found && (!bridge || found.br.name === bridge)) return found
    }
    throw new Error(`unknown vif ${name}${bridge ? ' on ' + bridge : ''}`)
  }

  /**
   * Lock a VIF like XAPI does for locking_mode=locked (xen-api's setup-vif-rules), on the VIF's
   * bridge, all flows with cookie 0x1: per ip, priority 8000 ARP from (mac, ip) and 7000 IPv4 from
   * (mac, ip) -> normal; priority 4000 anything else from the port -> drop. Returns the flows added.
   */
  xapiLockVif (vif, { ips = [], bridge } = {}) {
    const { ofport, mac, br } = this._vifOf(vif, bridge)
    const flows = []
    for (const ip of ips) {
      // arp_sha needs NXM/OXM: ovs-ofctl refuses it with -O OpenFlow11, so this one goes over OF1.3
      flows.push(['OpenFlow13', `cookie=0x1,priority=8000,in_port=${ofport},dl_src=${mac},arp,arp_sha=${mac},nw_src=${ip},actions=normal`])
      flows.push(['OpenFlow11', `cookie=0x1,priority=7000,in_port=${ofport},dl_src=${mac},ip,nw_src=${ip},actions=normal`])
    }
    // the drop rule last, so allowed traffic is never dropped while locking
    flows.push(['OpenFlow11', `cookie=0x1,priority=4000,in_port=${ofport},actions=drop`])
    for (const [proto, flow] of flows) this.ofctlRaw('-O', proto, 'add-flow', br.mgmt, flow)
    return flows.map(f => f[1])
  }

  /** Remove the VIF's XAPI locking flows (cookie 0x1 and in_port=<ofport>, table 0 where they live). */
  xapiUnlockVif (vif, { bridge } = {}) {
    const { ofport, br } = this._vifOf(vif, bridge)
    // explicit table=0: an OF1.1 del-flows without table= only reaches table 0 on OVS 3.1 anyway
    this.ofctlRaw('-O', 'OpenFlow11', 'del-flows', br.mgmt, `table=0,cookie=0x1/-1,in_port=${ofport}`)
  }

  /**
   * `ovs-appctl ofproto/trace <bridge> <flow>` (OpenFlow flow syntax, e.g. 'in_port=1,dl_src=..,ip,nw_src=..').
   * Returns { verdict: 'drop'|'forward', actions (the "Datapath actions" value), outputs (ofports or 'LOCAL'
   * the packet leaves by), rule (first table line, e.g. '0. in_port=1, priority 4000, cookie 0x1'),
   * table, match, priority, cookie (BigInt), raw }. NORMAL floods here: no MAC is learned by tracing.
   */
  trace (flow, { bridge } = {}) {
    const br = this._bridgeOf(bridge)
    const raw = this.appctl('ofproto/trace', br.name, flow)
    return { ...parseTrace(raw, parseDpifShow(this.appctl('dpif/show'), br.name)), raw }
  }

  /**
   * Inject one packet into the VIF's dummy port as if its VM sent it (netdev-dummy/receive), and wait
   * until the port counted it (rx). `packet`: Buffer or hex string (raw frame), ODP flow string
   * ('eth(src=..,dst=..),eth_type(0x0800),ipv4(...)'), or OpenFlow flow string
   * ('dl_dst=..,dl_type=0x0800,nw_src=..,nw_dst=..,nw_proto=6,tp_dst=80'; dl_src defaults to the VIF's
   * MAC, in_port is ignored) turned into a frame by `ovs-ofctl compose-packet`.
   * Returns { port, ofport, packet (what was handed to OVS) }.
   */
  async inject (vif, packet, { bridge, wait = true, timeoutMs = 5000 } = {}) {
    const v = this._vifOf(vif, bridge)
    let arg
    if (Buffer.isBuffer(packet)) arg = packet.toString('hex')
    else if (/^(0x)?([0-9a-f]{2})+$/i.test(packet.trim())) arg = packet.trim().replace(/^0x/i, '')
    else if (packet.includes('(')) arg = packet.trim()
    else {
      // OVS 3.1's netdev-dummy/receive takes ODP flows but not OpenFlow syntax; compose-packet
      // builds the frame, and exits 1 when in_port is given (the frame cannot carry it)
      const fields = packet.split(',').map(f => f.trim()).filter(f => f && !/^in_port=/.test(f))
      if (!fields.some(f => /^(dl_src|eth_src)=/.test(f))) fields.push(`dl_src=${v.mac}`)
      arg = parseHexDump(this.ofctlRaw('compose-packet', fields.join(',')))
      if (!arg) throw new Error(`compose-packet produced no packet for ${packet}`)
    }
    const rx = () => { const c = this.portCounters({ bridge: v.br.name })[v.ofport]; return c ? c.rxPackets : 0 }
    const before = wait ? rx() : 0
    this.appctl('netdev-dummy/receive', v.name, arg)
    // netdev-dummy queues the frame; the switch thread receives and forwards it a moment later
    for (const deadline = Date.now() + timeoutMs; wait && rx() <= before;) {
      if (Date.now() > deadline) throw new Error(`timeout: ${v.name} did not receive the injected packet`)
      await sleep(10)
    }
    return { port: v.name, ofport: v.ofport, packet: arg }
  }

  /**
   * Records what the VIF's port transmits (netdev-dummy's tx_pcap, in this host's run
   * directory). Returns { frames(): Buffer[] (whole Ethernet frames, in order), stop() }.
   */
  captureTx (vif, { bridge } = {}) {
    const v = this._vifOf(vif, bridge)
    const file = path.join(this.rundir, `${v.name}-tx-${Date.now()}.pcap`)
    this.vsctl('set', 'Interface', v.name, `options:tx_pcap=${file}`)
    return {
      frames () {
        // Classic pcap, little endian: a 24-byte file header, then a 16-byte header per frame.
        const b = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0)
        const out = []
        for (let at = 24; at + 16 <= b.length; at += 16 + b.readUInt32LE(at + 8)) out.push(b.subarray(at + 16, at + 16 + b.readUInt32LE(at + 8)))
        return out
      },
      stop: () => {
        this.vsctl('remove', 'Interface', v.name, 'options', 'tx_pcap')
        fs.rmSync(file, { force: true })
      }
    }
  }

  /** `ovs-ofctl dump-ports` -> { [ofport | 'LOCAL']: { rxPackets, txPackets, rxBytes, txBytes } } (null = unsupported). */
  portCounters ({ bridge } = {}) {
    return parseDumpPorts(this.ofctlRaw('-O', 'OpenFlow11', '--no-names', 'dump-ports', this._bridgeOf(bridge).mgmt))
  }

  /**
   * `ovs-ofctl dump-flows` -> [{ cookie: BigInt, table, priority, match, actions, packets, bytes, duration, flags }],
   * only cookie `cookie` (exact) / table `table` when given. Read over OF1.3 so NXM/OXM-only fields
   * (arp_sha...) show.
   */
  flowStats ({ bridge, cookie, table } = {}) {
    const filter = [
      ...(cookie != null ? [`cookie=0x${BigInt(cookie).toString(16)}/-1`] : []),
      ...(table != null ? [`table=${table}`] : [])
    ]
    const out = this.ofctlRaw('-O', 'OpenFlow13', '--no-names', 'dump-flows', this._bridgeOf(bridge).mgmt, ...(filter.length ? [filter.join(',')] : []))
    return parseDumpFlows(out)
  }

  async _allocatePorts () {
    const [ovsdbSsl, openflowSsl, ovsdbTcp, openflowTcp] = await freePorts(this.ip, this.opts.plainTcp ? 4 : 2)
    // ovsdbPort: XCP-ng's fixed OVSDB port (6640) on every host address, so a client
    // that knows only a host's address (XO's wiring) reaches it; the bridges' OpenFlow
    // listeners stay on free ports, read from their Controller rows.
    this.ports = { ovsdbSsl: this.opts.ovsdbPort || ovsdbSsl, ovsdbTcp: ovsdbTcp || null, openflowSsl, openflowTcp: openflowTcp || null }
  }

  _dbArgs () {
    const db = this.opts.tls.db
    return [this.dbPath,
      `--remote=punix:${this.dbSocket}`,
      '--remote=db:Open_vSwitch,Open_vSwitch,manager_options',
      '--private-key=db:Open_vSwitch,SSL,private_key',
      '--certificate=db:Open_vSwitch,SSL,certificate',
      '--ca-cert=db:Open_vSwitch,SSL,ca_cert',
      `--pidfile=${this.pidfiles.ovsdbServer}`,
      `--log-file=${this.logs.ovsdbServer}`,
      '-vconsole:off', '-vsyslog:off', '--detach', '--no-chdir',
      ...(db.protocols ? [`--ssl-protocols=${db.protocols}`] : []),
      ...(db.ciphers ? [`--ssl-ciphers=${db.ciphers}`] : [])]
  }

  _switchArgs () {
    const sw = this.opts.tls.switch
    return [`unix:${this.dbSocket}`, '--enable-dummy',
      `--pidfile=${this.pidfiles.vswitchd}`,
      `--log-file=${this.logs.vswitchd}`,
      '-vconsole:off', '-vsyslog:off', '--detach', '--no-chdir',
      ...(sw.protocols ? [`--ssl-protocols=${sw.protocols}`] : []),
      ...(sw.ciphers ? [`--ssl-ciphers=${sw.ciphers}`] : [])]
  }

  async _startDb () {
    await run(ensureOvs()['ovsdb-server'], this._dbArgs(), { env: this.execEnv })
    this.sandbox._track(this.dbPid, this.rundir)
  }

  async _startSwitch () {
    await run(ensureOvs()['ovs-vswitchd'], this._switchArgs(), { env: this.execEnv })
    this.sandbox._track(this.switchPid, this.rundir)
  }

  async _waitSwitchReady () {
    // ofports assigned, bridge mgmt sockets there, listeners accepting
    const waits = []
    for (const br of this.bridges) {
      for (const v of br.vifs) waits.push('--', 'wait-until', 'Interface', v.name, `ofport=${v.ofport}`)
    }
    if (waits.length) await this.vsctlAsync(...waits.slice(1))
    const deadline = Date.now() + 15000
    for (const br of this.bridges) {
      const sock = br.mgmt.slice('unix:'.length)
      while (!fs.existsSync(sock)) {
        if (Date.now() > deadline) throw new Error(`timeout waiting for ${sock}`)
        await sleep(20)
      }
    }
    await waitForListeners(this.ip, [this.ports.openflowSsl, this.ports.openflowTcp])
  }

  async _start () {
    for (const d of [this.rundir, this.dbdir, this.logdir, this.etcdir]) fs.mkdirSync(d, { recursive: true })
    const [, certs] = await Promise.all([this._allocatePorts(), makeHostPki(this.pkidir, this.name, this.ip, this.sandbox.pki)])
    this.certs = certs
    await run(ensureOvs()['ovsdb-tool'], ['create', this.dbPath, schemaPath()], { env: this.execEnv })
    await this._startDb()
    const ip = this.ip
    const p = this.ports
    const managers = [`pssl:${p.ovsdbSsl}:${ip}`, ...(p.ovsdbTcp ? [`ptcp:${p.ovsdbTcp}:${ip}`] : [])]
    const controllers = [`pssl:${p.openflowSsl}:${ip}`, ...(p.openflowTcp ? [`ptcp:${p.openflowTcp}:${ip}`] : [])]
    const cmds = ['--no-wait', 'init',
      '--', 'set-ssl', certs.server.pemPath, certs.server.pemPath, this.sandbox.pki.ca.certPath,
      '--', 'set-manager', ...managers]
    for (const br of this.bridges) {
      cmds.push('--', 'add-br', br.name,
        '--', 'set', 'Bridge', br.name, 'datapath_type=dummy', 'protocols=OpenFlow11,OpenFlow13',
        `other_config:hwaddr="${br.hwaddr}"`, `external_ids:xs-network-uuids=${br.networkUuid}`)
      for (const v of br.vifs) {
        cmds.push('--', 'add-port', br.name, v.name,
          '--', 'set', 'Interface', v.name, 'type=dummy', `ofport_request=${v.ofport}`,
          `external_ids:xs-vif-uuid=${v.uuid}`, `external_ids:attached-mac="${v.mac}"`,
          `external_ids:xs-vm-uuid=${v.vmUuid}`, `external_ids:xs-network-uuid=${br.networkUuid}`)
      }
      cmds.push('--', 'set-controller', br.name, ...controllers)
    }
    await this.vsctlAsync(...cmds)
    await waitForListeners(ip, [p.ovsdbSsl, p.ovsdbTcp])
    await this._startSwitch()
    await this._waitSwitchReady()
  }

  /** Kill ovs-vswitchd with `signal` (default SIGKILL, like a crash). The database and its config stay. */
  async killSwitch (signal = 'SIGKILL') {
    await killAsync(this.switchPid, this.rundir, signal, this.sandbox.graceMs)
  }

  /** Restart ovs-vswitchd (stopping it first if needed): flows are lost, config from the db is reapplied. */
  async restartSwitch () {
    if (this.switchRunning) await this.killSwitch('SIGTERM')
    await this._startSwitch()
    await this._waitSwitchReady()
  }

  /** Stop ovsdb-server (default SIGTERM). ovs-vswitchd keeps running and reconnects when it comes back. */
  async stopDb (signal = 'SIGTERM') {
    await killAsync(this.dbPid, this.rundir, signal, this.sandbox.graceMs)
  }

  async restartDb () {
    if (this.dbRunning) await this.stopDb()
    await this._startDb()
    await waitForListeners(this.ip, [this.ports.ovsdbSsl, this.ports.ovsdbTcp])
  }

  /**
   * Switch the server certificate OVS presents ('self-signed' = xapi-ssl.pem like XCP-ng, or
   * 'pool-signed' = signed by the pool CA) and wait until both TLS listeners serve it.
   */
  async useServerCert (kind = 'self-signed') {
    const c = kind === 'pool-signed' ? this.certs.serverPoolSigned : kind === 'self-signed' ? this.certs.server : null
    if (!c) throw new Error(`unknown server cert kind ${kind}`)
    await this.vsctlAsync('set-ssl', c.pemPath, c.pemPath, this.sandbox.pki.ca.certPath)
    const want = certDer(c.cert)
    const deadline = Date.now() + 15000
    for (const port of [this.ports.ovsdbSsl, this.ports.openflowSsl]) {
      for (;;) {
        const got = await peerCertDer(this.ip, port, this.sandbox.pki.client).catch(() => null)
        if (got && got.equals(want)) break
        if (Date.now() > deadline) throw new Error(`timeout waiting for ${this.ip}:${port} to serve the ${kind} cert`)
        await sleep(100)
      }
    }
    this.serverCert = kind
  }

  toJSON () {
    const certs = {}
    for (const [k, v] of Object.entries(this.certs || {})) certs[k] = { certPath: v.certPath, keyPath: v.keyPath, pemPath: v.pemPath }
    return {
      index: this.index,
      ip: this.ip,
      name: this.name,
      dir: this.dir,
      ports: this.ports,
      targets: this.targets,
      env: this.env,
      pids: { ovsdbServer: this.dbPid, vswitchd: this.switchPid },
      logs: this.logs,
      bridge: this.bridge,
      networkUuid: this.networkUuid,
      datapathId: this.datapathId,
      vifs: this.vifs,
      bridges: this.bridges,
      vms: this.vms,
      certs
    }
  }
}

function peerCertDer (host, port, client, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, key: client.key, cert: client.cert, rejectUnauthorized: false })
    const t = setTimeout(() => { s.destroy(); reject(new Error('timeout')) }, timeoutMs)
    s.once('secureConnect', () => {
      const c = s.getPeerCertificate()
      clearTimeout(t)
      s.destroy()
      resolve(c && c.raw)
    })
    s.once('error', e => { clearTimeout(t); reject(e) })
  })
}

// ---------------------------------------------------------------------------------------------
// Sandbox

const live = new Set()
let exitHookInstalled = false

function installExitHooks (handleSignals) {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => { for (const sb of [...live]) sb.stopSync() })
  if (!handleSignals) return
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    if (process.listenerCount(sig) > 0) continue // somebody else handles it (and will exit -> 'exit' hook)
    const handler = () => {
      for (const sb of [...live]) sb.stopSync()
      process.removeListener(sig, handler)
      process.kill(process.pid, sig) // keep the default "die from signal" behaviour
    }
    process.on(sig, handler)
  }
}

class Sandbox {
  constructor (opts) {
    this.opts = opts
    this.dir = opts.dir
    this.keep = opts.keep
    this.graceMs = opts.graceMs
    this.hosts = []
    this.pki = null
    this.stopped = false
    this._pids = new Map() // pid -> marker (rundir)
  }

  _track (pid, marker) {
    if (pid) this._pids.set(pid, marker)
  }

  /** All daemon pids: tracked ones plus whatever the pidfiles say now. */
  _allPids () {
    const all = new Map(this._pids)
    for (const h of this.hosts) {
      for (const pid of [h.switchPid, h.dbPid]) if (pid) all.set(pid, h.rundir)
    }
    return all
  }

  /** Stop every daemon (SIGTERM, then SIGKILL after graceMs), remove the temp dir unless keep. Idempotent. */
  async stop () {
    if (this.stopped) return
    this.stopped = true
    live.delete(this)
    const pids = [...this._allPids()]
    // vswitchd first, then ovsdb-server
    await Promise.all(pids.filter(([pid]) => isSwitch(pid)).map(([pid, m]) => killAsync(pid, m, 'SIGTERM', this.graceMs)))
    await Promise.all(pids.map(([pid, m]) => killAsync(pid, m, 'SIGTERM', this.graceMs)))
    this._cleanup()
  }

  stopSync () {
    if (this.stopped) return
    this.stopped = true
    live.delete(this)
    const pids = [...this._allPids()]
    for (const [pid, m] of pids.filter(([pid]) => isSwitch(pid))) killSync(pid, m, 'SIGTERM', this.graceMs)
    for (const [pid, m] of pids) killSync(pid, m, 'SIGTERM', this.graceMs)
    this._cleanup()
  }

  /** Leave the daemons running after this process exits (no exit hook); `node testing/sandbox.js down --dir` stops them. */
  detach () {
    live.delete(this)
    this.keep = true
    fs.writeFileSync(path.join(this.dir, 'sandbox.json'), JSON.stringify(this, null, 2) + '\n')
  }

  _cleanup () {
    if (!this.keep) {
      try { fs.rmSync(this.dir, { recursive: true, force: true }) } catch (_) {}
    }
  }

  toJSON () {
    const pki = {}
    for (const [k, v] of Object.entries(this.pki || {})) if (v && v.certPath) pki[k] = { certPath: v.certPath, keyPath: v.keyPath }
    return { dir: this.dir, profile: this.opts.profile, tls: this.opts.tls, pki, hosts: this.hosts.map(h => h.toJSON()) }
  }
}

function isSwitch (pid) {
  try {
    return path.basename(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]) === 'ovs-vswitchd'
  } catch (_) {
    return false
  }
}

/**
 * Start a sandbox.
 * opts: hosts (1), nports (4), bridges (['br0']), dir (fresh mkdtemp), keep (false if dir was
 * created here, true if `dir` was given), plainTcp (true), profile ('default' | 'xcpng-8.3'),
 * sslProtocols / sslCiphers (ovsdb-server; override the profile), switchSslProtocols /
 * switchSslCiphers (ovs-vswitchd), graceMs (3000), handleSignals (true: stop on SIGINT/SIGTERM/SIGHUP
 * when no other handler is installed, then die from the signal as usual), installOvs (false: when
 * true and root, a missing Open vSwitch is installed with apt-get; see ensureOvs).
 */
async function startSandbox (opts = {}) {
  ensureOvs({ install: !!opts.installOvs })
  const profileName = opts.profile || 'default'
  const profile = PROFILES[profileName]
  if (!profile) throw new Error(`unknown profile ${profileName} (known: ${Object.keys(PROFILES).join(', ')})`)
  const nhosts = opts.hosts == null ? 1 : opts.hosts
  if (!(nhosts >= 1 && nhosts <= 254)) throw new Error('hosts must be 1..254')
  const created = !opts.dir
  const dir = opts.dir ? path.resolve(opts.dir) : fs.mkdtempSync(path.join(os.tmpdir(), 'xo-sdn-ovs-'))
  fs.mkdirSync(dir, { recursive: true })
  const o = {
    profile: profileName,
    nports: opts.nports == null ? 4 : opts.nports,
    bridges: opts.bridges || ['br0'],
    plainTcp: opts.plainTcp !== false,
    ovsdbPort: opts.ovsdbPort || null,
    tls: {
      db: {
        protocols: opts.sslProtocols || profile.db.protocols,
        ciphers: opts.sslCiphers || profile.db.ciphers
      },
      switch: {
        protocols: opts.switchSslProtocols || profile.switch.protocols,
        ciphers: opts.switchSslCiphers || profile.switch.ciphers
      }
    },
    dir,
    keep: opts.keep != null ? !!opts.keep : !created,
    graceMs: opts.graceMs || 3000
  }
  const sb = new Sandbox(o)
  live.add(sb)
  installExitHooks(opts.handleSignals !== false)
  try {
    sb.pki = await makePoolPki(path.join(dir, 'pki'))
    sb.hosts = Array.from({ length: nhosts }, (_, i) => new Host(sb, i, o))
    await Promise.all(sb.hosts.map(h => h._start()))
  } catch (e) {
    await sb.stop()
    throw e
  }
  return sb
}

// ---------------------------------------------------------------------------------------------
// CLI

function parseArgs (argv) {
  const o = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => argv[++i]
    if (a === '--hosts') o.hosts = parseInt(next(), 10)
    else if (a === '--nports') o.nports = parseInt(next(), 10)
    else if (a === '--profile') o.profile = next()
    else if (a === '--dir') o.dir = next()
    else if (a === '--keep') o.keep = true
    else if (a === '--no-tcp') o.plainTcp = false
    else if (a === '--bridges') o.bridges = next().split(',')
    else if (a === '--host') o.host = parseInt(next(), 10)
    else if (a === '--install-ovs') o.installOvs = true
    else throw new Error(`unknown option ${a}`)
  }
  return o
}

/** Stop the daemons of a detached sandbox (`up`) by their pidfiles; remove its dir if `remove`. */
function stopDetached (dir, remove) {
  if (!fs.existsSync(path.join(dir, 'sandbox.json'))) throw new Error(`${dir} is not a sandbox directory (no sandbox.json)`)
  const hosts = fs.readdirSync(dir).filter(d => /^host\d+$/.test(d)).map(d => path.join(dir, d, 'run'))
  for (const prog of ['ovs-vswitchd', 'ovsdb-server']) {
    for (const rundir of hosts) killSync(readPid(path.join(rundir, `${prog}.pid`)), rundir, 'SIGTERM', 3000)
  }
  if (remove) fs.rmSync(dir, { recursive: true, force: true })
}

function tlsProbe (host, port, options) {
  return new Promise(resolve => {
    const s = tls.connect({ host, port, rejectUnauthorized: false, ...options })
    let out = ''
    const done = (ok, why) => { s.destroy(); resolve({ ok, why, out }) }
    const t = setTimeout(() => done(false, 'timeout'), 3000)
    s.once('secureConnect', () => {
      s.write('{"method":"list_dbs","params":[],"id":1}')
    })
    s.on('data', d => {
      out += d
      if (out.includes('"id":1')) { clearTimeout(t); done(true, `${s.getProtocol()} ${s.getCipher().name}`) }
    })
    s.once('error', e => { clearTimeout(t); done(false, e.code || e.message) })
    s.once('close', () => { clearTimeout(t); done(false, 'closed') })
  })
}

async function selftest (opts) {
  const t0 = Date.now()
  const sb = await startSandbox({ hosts: 2, ...opts })
  let failures = 0
  const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures++ }
  try {
    console.log(`sandbox up in ${Date.now() - t0} ms: ${sb.dir} (profile ${sb.opts.profile})`)
    const tools = ensureOvs()
    for (const h of sb.hosts) {
      console.log(`host ${h.name} ${h.ip} ports ${JSON.stringify(h.ports)} pids ovsdb=${h.dbPid} vswitchd=${h.switchPid}`)
      console.log(`  bridge ${h.bridge} dpid ${h.datapathId} network ${h.networkUuid}`)
      for (const v of h.vifs) console.log(`  ${v.name} ofport=${v.ofport} uuid=${v.uuid} mac=${v.mac}`)
      const tlsArgs = ['-p', sb.pki.client.keyPath, '-c', sb.pki.client.certPath, '-C', h.certs.server.certPath]
      const flows = runSync(tools['ovs-ofctl'], ['-O', 'OpenFlow11', ...tlsArgs, 'dump-flows', h.targets.openflowSsl], { env: h.execEnv })
      console.log(flows.trimEnd().split('\n').map(l => '  | ' + l).join('\n'))
      check(/priority=0 actions=NORMAL/.test(flows), `${h.name}: ovs-ofctl -O OpenFlow11 dump-flows ${h.targets.openflowSsl} over TLS`)
      const dbs = runSync(tools['ovsdb-client'], [...tlsArgs, 'list-dbs', h.targets.ovsdbSsl], { env: h.execEnv })
      check(/Open_vSwitch/.test(dbs), `${h.name}: ovsdb-client list-dbs ${h.targets.ovsdbSsl} over TLS`)
      const ports = h.vsctl('--bare', '--columns=name,ofport', 'find', 'Interface', 'type=dummy')
      check(h.vifs.every(v => ports.includes(v.name)), `${h.name}: ${h.vifs.length} dummy VIF ports present`)
      const good = await tlsProbe(h.ip, h.ports.ovsdbSsl, { key: sb.pki.client.key, cert: sb.pki.client.cert })
      check(good.ok, `${h.name}: node tls + client cert -> ovsdb ${good.why}`)
      for (const bad of ['clientWrongCa', 'clientExpired', 'clientNotYetValid']) {
        const r = await tlsProbe(h.ip, h.ports.ovsdbSsl, { key: sb.pki[bad].key, cert: sb.pki[bad].cert })
        check(!r.ok, `${h.name}: ${bad} rejected (${r.why})`)
      }
      if (sb.opts.tls.db.protocols === 'TLSv1.2') {
        const ecdhe = await tlsProbe(h.ip, h.ports.ovsdbSsl, { key: sb.pki.client.key, cert: sb.pki.client.cert, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' })
        check(!ecdhe.ok, `${h.name}: ECDHE suite refused by ovsdb-server (${ecdhe.why})`)
        const t13 = await tlsProbe(h.ip, h.ports.ovsdbSsl, { key: sb.pki.client.key, cert: sb.pki.client.cert, minVersion: 'TLSv1.3' })
        check(!t13.ok, `${h.name}: TLS 1.3 refused by ovsdb-server (${t13.why})`)
      }
    }
    const h = sb.hosts[0]
    const [v1] = h.vifs
    const ipFrom = src => `in_port=1,dl_src=${v1.mac},dl_dst=ff:ff:ff:ff:ff:ff,ip,nw_src=${src},nw_dst=10.0.0.254`
    h.xapiLockVif(v1, { ips: ['10.0.0.1'] })
    check(h.trace(ipFrom('10.0.0.1')).verdict === 'forward' && h.trace(ipFrom('10.0.0.9')).verdict === 'drop',
      'xapiLockVif + trace: own IP forwarded, other IP dropped')
    h.xapiUnlockVif(v1)
    await h.inject(v1, 'dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x0800,nw_src=10.0.0.1,nw_dst=10.0.0.254')
    check(h.portCounters()[1].rxPackets === 1, 'inject + portCounters')
    h.ofctl('add-flow', 'priority=100,in_port=1,actions=drop')
    await h.restartSwitch()
    check(!/in_port=1/.test(h.ofctl('dump-flows')), 'restartSwitch(): flows lost, switch back')
    await h.useServerCert('pool-signed')
    await h.useServerCert('self-signed')
    check(true, 'useServerCert(pool-signed / self-signed)')
  } finally {
    const t1 = Date.now()
    await sb.stop()
    console.log(`stopped in ${Date.now() - t1} ms; dir removed: ${!fs.existsSync(sb.dir)}`)
  }
  if (failures) throw new Error(`${failures} selftest check(s) failed`)
  console.log('selftest passed')
}

async function main (argv) {
  const [cmd, ...rest] = argv
  if (cmd === 'ensure') {
    console.log(JSON.stringify(ensureOvs({ quiet: false, install: true }), null, 2))
  } else if (cmd === 'selftest') {
    await selftest(parseArgs(rest))
  } else if (cmd === 'up') {
    const o = parseArgs(rest)
    if (!o.dir) throw new Error('up needs --dir DIR')
    const sb = await startSandbox({ ...o, handleSignals: false })
    sb.detach()
    process.stdout.write(JSON.stringify(sb) + '\n')
  } else if (cmd === 'down') {
    const o = parseArgs(rest)
    if (!o.dir) throw new Error('down needs --dir DIR')
    stopDetached(path.resolve(o.dir), !o.keep)
  } else if (cmd === 'env') {
    const o = parseArgs(rest)
    if (!o.dir) throw new Error('env needs --dir DIR')
    const info = JSON.parse(fs.readFileSync(path.join(path.resolve(o.dir), 'sandbox.json'), 'utf8'))
    const h = info.hosts[o.host || 0]
    const vars = { ...h.env, OVS_HOST_IP: h.ip, CLIENT_KEY: info.pki.client.keyPath, CLIENT_CERT: info.pki.client.certPath,
      HOST_CERT: h.certs.server.certPath, CA_CERT: info.pki.ca.certPath, OVSDB_SSL: h.targets.ovsdbSsl,
      OVSDB_TCP: h.targets.ovsdbTcp || '', OPENFLOW_SSL: h.targets.openflowSsl, OPENFLOW_TCP: h.targets.openflowTcp || '' }
    for (const [k, v] of Object.entries(vars)) console.log(`export ${k}='${String(v).replace(/'/g, "'\\''")}'`)
  } else if (cmd === 'start') {
    const sb = await startSandbox({ ...parseArgs(rest), handleSignals: false })
    process.stdout.write(JSON.stringify(sb) + '\n')
    await new Promise(resolve => {
      process.stdin.on('end', resolve).on('close', resolve).on('error', resolve).resume()
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, resolve)
    })
    await sb.stop()
    process.exit(0)
  } else {
    console.error('usage: node testing/sandbox.js selftest|start|up|down|env|ensure [--hosts N] [--nports N] [--profile default|xcpng-8.3] [--dir D] [--keep] [--no-tcp] [--bridges br0,br1] [--install-ovs]')
    process.exitCode = 2
  }
}

module.exports = {
  ensureOvs, ovsAvailable, startSandbox, stopDetached, Sandbox, Host, PROFILES, freePorts,
  parse: { trace: parseTrace, dumpFlows: parseDumpFlows, dumpPorts: parseDumpPorts, dpifShow: parseDpifShow, hexDump: parseHexDump }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch(e => {
    console.error(e && e.stack ? e.stack : e)
    process.exit(1)
  })
}
