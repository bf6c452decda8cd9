'use strict'
// The main job, for now: the seed rule (drop SIP from a VIF to one address)
// encoded by our codec, read back by Open vSwitch's own decoder, and decoded again.

const { execFileSync } = require('node:child_process')
const sdn = require('..')

const seed = {
  type: 'flow_mod',
  xid: 6,
  command: 'add',
  priority: 65527,
  match: {
    inPort: 4,
    dlSrc: 'ae:f7:4b:84:6c:8b',
    dlType: 0x0800,
    nwProto: 6,
    nwSrc: '192.168.5.242',
    nwDst: '192.168.5.55',
    tpDst: 5060,
  },
  instructions: [], // no instruction: drop
}

console.log('Seed rule: drop SIP (TCP 5060) from VIF ae:f7:4b:84:6c:8b / 192.168.5.242 to 192.168.5.55\n')
const bytes = sdn.encode(seed)
console.log(`encode() -> ${bytes.length} bytes:\n${bytes.toString('hex').replace(/(.{64})/g, '$1\n')}\n`)

try {
  const printed = execFileSync('ovs-ofctl', ['ofp-print', bytes.toString('hex')], { encoding: 'utf8' })
  console.log(`Open vSwitch's own decoder (ovs-ofctl ofp-print) reads:\n  ${printed.trim()}\n`)
} catch (err) {
  console.log(`(ovs-ofctl not available: ${err.message})\n`)
}

const back = sdn.decode(bytes)
console.log('decode() ->', back)
const same = sdn.encode(back).equals(bytes)
console.log(`\nre-encoded identically: ${same}`)
if (!same) process.exit(1)
