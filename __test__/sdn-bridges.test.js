'use strict'
// Two bridges on one host listening on the same OpenFlow port, as XAPI's shared
// `pssl:` does: OVS binds it for one bridge only. A rule for a VIF of the other
// bridge must not land on the bridge that answers: the channel checks the
// datapath id against OVSDB's Bridge.datapath_id and the host's outcome says so.

const { sdnSuite, ourFlows } = require('./sdn-suite.js')

const suite = sdnSuite({ hosts: 1, nports: 2, bridges: ['br0', 'br1'] })

test("a VIF on the bridge that does not own the shared listener: OF_DATAPATH_MISMATCH, nothing written anywhere", async () => {
  const h = suite.sb.hosts[0]
  const sdn = suite.controller(undefined, { repair: { minMs: 600000 } })
  const v = h.bridges[1].vifs[0]
  const r = await sdn.addRule({ vif: { uuid: v.uuid, mac: v.mac }, allow: false, protocol: 'tcp', port: 22, direction: 'from' })
  expect(r.hosts[h.name]).toEqual({ ok: false, error: expect.objectContaining({ code: 'OF_DATAPATH_MISMATCH' }) })
  expect(ourFlows(h, 'br0')).toEqual([])
  expect(ourFlows(h, 'br1')).toEqual([])
  // The bridge that owns the listener works as usual.
  const w = h.bridges[0].vifs[0]
  const ok = await sdn.addRule({ vif: { uuid: w.uuid, mac: w.mac }, allow: false, protocol: 'tcp', port: 22, ipRange: '0.0.0.0/0', direction: 'from' })
  expect(ok.hosts[h.name]).toEqual({ ok: true, flows: 1 })
  expect(ourFlows(h, 'br0')).toEqual([expect.stringContaining(`tcp,in_port=${w.ofport},dl_src=${w.mac},tp_dst=22`)])
})
