'use strict'
// Security groups, what moved to Rust brought (issue 11): a group's flow budget is
// counted on the same rules that are compiled and sent, so the count checked
// before anything is sent is what lands on the switch; attach is checked too
// (more addresses, more members of a source group, more flows); the flows land in
// the controller's table. Against real OVS (sandbox, TLS).

const { SecurityGroups } = require('..')
const { sdnSuite, ourFlows } = require('./sdn-suite.js')

const suite = sdnSuite({ hosts: 1, nports: 4 })

const vifOf = (h, n, ips) => ({ uuid: h.vifs[n - 1].uuid, mac: h.vifs[n - 1].mac, ips })

/** The flows of one group on the switch (its cookie, from its id `sg-<number>`), in `tables` (both stages by default). */
function groupFlows(h, group, tables = [0, 1]) {
  const cookie = `0x5d4e${group.id.slice(3).padStart(12, '0')}`
  return [tables].flat().flatMap((t) => h.ofctl('dump-flows', '--no-stats', `table=${t},cookie=${cookie}/-1`).split('\n').filter((l) => l.includes('cookie=')))
}

test('the budget counts the flows that land: exactly the budget is sent, one port more is refused and nothing changes', async () => {
  const h = suite.sb.hosts[0]
  const sdn = suite.controller([h])
  // 1000-2000 is 8 masked blocks in, their 8 replies out (egress restricted) from each of 2 addresses: 8 + 2 × 8 = 24.
  const sg = new SecurityGroups(sdn, { flowBudget: 24, stateful: false })
  const g = sg.createSecurityGroup('range')
  await sg.revokeEgress('range', { protocol: 'all', cidr: '0.0.0.0/0' })
  await sg.authorizeIngress('range', { protocol: 'udp', fromPort: 1000, toPort: 2000, cidr: '0.0.0.0/0' })
  expect((await sg.attach(vifOf(h, 1, ['10.0.0.1', '10.0.0.11']), ['range'])).hosts[h.name]).toEqual({ ok: true })
  expect(groupFlows(h, g)).toHaveLength(24)
  const flows = ourFlows(h)
  const state = sg.exportState()
  const e = await sg.authorizeIngress('range', { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '10.1.0.0/16' }).catch((err) => err)
  expect([e.code, e.message]).toEqual(['SDN_FLOW_BUDGET', expect.stringMatching(/^security group range would cost 27 flows per VIF, over the budget of 24/)])
  expect(sg.exportState()).toEqual(state)
  expect(ourFlows(h)).toEqual(flows)
})

test('attach is refused over the budget: a VIF with more addresses, or one member too many in a source group', async () => {
  const h = suite.sb.hosts[0]
  const sdn = suite.controller([h])
  const sg = new SecurityGroups(sdn, { flowBudget: 4, stateful: false })
  sg.createSecurityGroup('web')
  const db = sg.createSecurityGroup('db')
  // Each address of a web member: allowed in, and its replies out (the worst case counts restricted egress).
  await sg.authorizeIngress('db', { protocol: 'all', sourceGroup: 'web' })
  await sg.attach(vifOf(h, 1, ['10.0.0.1']), ['db'])
  await sg.attach([vifOf(h, 2, ['10.0.0.2']), vifOf(h, 3, ['10.0.0.3'])], ['web'])
  expect(h.trace(`in_port=${h.vifs[1].ofport},ip,dl_src=${h.vifs[1].mac},dl_dst=${h.vifs[0].mac},nw_src=10.0.0.2,nw_dst=10.0.0.1`).verdict).toBe('forward')
  const flows = ourFlows(h)
  const members = sg.describe().map((g) => [g.name, g.members])
  const e = await sg.attach(vifOf(h, 4, ['10.0.0.4']), ['web']).catch((err) => err)
  expect([e.code, e.message]).toEqual(['SDN_FLOW_BUDGET', expect.stringMatching(/^security group db would cost 6 flows per VIF, over the budget of 4/)])
  // A VIF with two addresses in db: the replies it sends are allowed from each.
  const e2 = await sg.attach(vifOf(h, 4, ['10.0.0.4', '10.0.0.44']), ['db']).catch((err) => err)
  expect([e2.code, e2.message]).toEqual(['SDN_FLOW_BUDGET', expect.stringMatching(/would cost 6 flows per VIF.*2 on its member with the most/)])
  expect(sg.describe().map((g) => [g.name, g.members])).toEqual(members)
  expect(ourFlows(h)).toEqual(flows)
  expect(groupFlows(h, db)).toHaveLength(2) // open egress here: the two members' addresses in, no reply flows
})

test("the flows land in the controller's table, and delivery is judged in the next one", async () => {
  const h = suite.sb.hosts[0]
  const sdn = suite.controller([h], { tableId: 5 })
  const sg = new SecurityGroups(sdn, { stateful: false })
  const g = sg.createSecurityGroup('web')
  try {
    await sg.authorizeIngress('web', { protocol: 'tcp', fromPort: 80, toPort: 82, cidr: '0.0.0.0/0' })
    expect((await sg.attach(vifOf(h, 2, []), ['web'])).hosts[h.name]).toEqual({ ok: true })
    expect(groupFlows(h, g, 6)).toHaveLength(2) // 80-81 (masked) and 82, in the receiver's verdict
    expect(groupFlows(h, g, [0, 1, 5])).toHaveLength(0)
    expect(h.ofctl('dump-flows', '--no-stats', 'table=5,cookie=0x5d4e000000000000/0xffff000000000000')).toMatch(/priority=9050,dl_dst=.* actions=goto_table:6/)
    expect((await sdn.sync()).hosts[h.name]).toEqual({ ok: true, added: 0, removed: 0 })
  } finally {
    for (const t of [5, 6]) h.ofctl('del-flows', `table=${t},cookie=0x5d4e000000000000/0xffff000000000000`) // the suite cleans tables 0 and 1
  }
})
