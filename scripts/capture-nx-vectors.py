#!/usr/bin/env python3
"""Record golden Nicira-extension vectors (NXM/OXM matches, ct/nat/resubmit/load actions) from a
real Open vSwitch, for issue 14's codec.

Same method as scripts/capture-vectors.py (whose Sandbox, Proxy and Controller it reuses): a private
sandbox (`node testing/sandbox.js start`), a logging TCP proxy in front of its plain-TCP OpenFlow
listener, and `ovs-ofctl` talking through the proxy. Every hex string written is bytes Open vSwitch
produced; nothing here comes from our encoder.

`ovs-ofctl -O OpenFlow11` refuses ct/IPv6/masked-port matches ("none of the usable flow formats"), so
for each flow this records:
  * the OFPT_FLOW_MOD that `ovs-ofctl -O OpenFlow13 add-flow` sends (OXM match, version 0x04);
  * the NXT_FLOW_MOD that `ovs-ofctl -O OpenFlow10 -F nxm add-flow` sends (Nicira vendor message);
  * the line `ovs-ofctl -O OpenFlow13 dump-flows br0 --no-stats` prints for it;
then, on an OpenFlow 1.1 channel, it sends the OF1.3 bytes with the version byte set to 0x02 (an OF1.1
FLOW_MOD whose ofp_match is OFPMT_OXM: the two layouts are identical), records whether the switch
accepted it, the OF1.1 flow stats reply `ovs-ofctl -O OpenFlow11 dump-flows` received (OXM match inside)
and the line it printed.

With --ours it also runs a live check of *our* encoder: the OF1.1 FLOW_MODs (OXM match) that
`cargo run --example nx_encode` builds from OURS_FLOWS (stateful security-group shapes, most not in
FLOWS) are sent to the switch as they are, and the switch's OF1.1 flow stats reply and
`ovs-ofctl -O OpenFlow11 dump-flows` line are recorded as the reference for what those bytes mean.

Writes (see tests/vectors/nicira/README.md):
  tests/vectors/nicira/flows.tsv      flow  of13_flow_mod  nxt_flow_mod  dumped
  tests/vectors/nicira/of11_oxm.tsv   flow  of11_flow_mod  result  of11_stats_reply  of11_dumped
  tests/vectors/nicira/ours_of11.tsv  flow  our_of11_flow_mod  result  of11_stats_reply  of11_dumped  (--ours)

Usage: python3 scripts/capture-nx-vectors.py [--out DIR] [--ours]
"""
import argparse
import importlib.util
import os
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location('capture_vectors', os.path.join(ROOT, 'scripts', 'capture-vectors.py'))
cv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cv)
log = cv.log

FLOWS = [
    # connection tracking: the ct action and the ct_* matches
    'priority=100,ct_state=-trk,ip actions=ct(table=1)',
    'table=1,priority=100,ct_state=+trk+est-rel,ip actions=normal',
    'table=1,priority=90,ct_state=+trk+new,tcp,tp_dst=22 actions=ct(commit,zone=5,table=2)',
    'table=1,ct_state=+trk+rel+rpl,ip actions=normal',
    'ct_state=+inv+trk,ip actions=drop',
    'ct_zone=5,ip actions=drop',
    'ct_mark=0x1/0x1,ip actions=drop',
    'ct_state=+trk,ct_zone=5,ct_mark=0x2,ip actions=ct(commit,zone=5,exec(load:0x2->NXM_NX_CT_MARK[]))',
    'ip,actions=ct(table=1,zone=NXM_NX_REG0[0..15])',
    'ipv6,actions=ct(commit,zone=NXM_NX_REG1[0..15])',
    'ip,actions=ct(commit,force,zone=5)',
    'tcp,tp_dst=21,actions=ct(commit,alg=ftp)',
    'ip,actions=ct(commit,nat(src=10.0.0.1))',
    'tcp,actions=ct(commit,nat(dst=10.0.0.2:80))',
    'ip,actions=ct(nat,table=3)',
    'ip,actions=ct(commit,exec(load:0x1->NXM_NX_CT_MARK[0..7]))',
    # IPv6, ICMPv6 and neighbour discovery
    'ipv6,ipv6_src=2001:db8::/32 actions=normal',
    'ipv6,ipv6_dst=fe80::1 actions=drop',
    'tcp6,ipv6_src=2001:db8::/32,tp_dst=22 actions=drop',
    'icmp6,icmp_type=135 actions=normal',
    'icmp6,icmp_type=128,icmp_code=0 actions=drop',
    'icmp6,icmp_type=135,nd_target=fe80::1 actions=normal',
    'icmp6,icmp_type=135,nd_sll=02:00:00:00:00:01 actions=normal',
    'icmp6,icmp_type=136,nd_tll=02:00:00:00:00:02 actions=normal',
    # TCP flags, masked transport ports
    'tcp,tcp_flags=+syn-ack actions=drop',
    'tcp,tp_dst=0x400/0xfc00 actions=drop',
    'udp,tp_src=0x3e8/0xfff8 actions=drop',
    # the OF1.0-era fields, in their NXM/OXM form
    'icmp,icmp_type=8,icmp_code=0 actions=normal',
    'arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/24 actions=normal',
    'arp,arp_sha=02:00:00:00:00:01,arp_tha=00:00:00:00:00:00 actions=normal',
    'in_port=1,dl_src=02:00:00:00:00:01,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=drop',
    'dl_vlan=10 actions=drop',
    'ip,nw_src=10.0.0.0/8,nw_dst=192.168.1.1 actions=drop',
    # registers
    'reg0=0x5 actions=drop',
    'reg3=0x10/0xf0,reg7=1 actions=drop',
    # resubmit and load
    'actions=resubmit(,2)',
    'actions=resubmit:3',
    'actions=resubmit(1,2)',
    'actions=load:0x5->NXM_NX_REG0[]',
    'actions=load:0x5->NXM_NX_REG0[0..15]',
    'table=2,priority=10,cookie=0x1234,ip actions=resubmit(,3),output:2',
    # many fields at once: the order of the TLVs and of the printed fields
    'reg0=0x1,ct_state=+trk,ct_zone=3,tcp6,ipv6_src=2001:db8::1,tp_dst=0x50/0xfff0,tcp_flags=+syn actions=ct(commit,zone=3)',
    'in_port=2,dl_vlan=5,dl_src=02:00:00:00:00:01,arp,arp_op=2,arp_spa=10.0.0.1,arp_sha=02:00:00:00:00:01,reg5=0x3 actions=normal',
    'icmp6,in_port=1,ipv6_dst=ff02::1:ff00:1,icmp_type=135,icmp_code=0,nd_target=2001:db8::1,nd_sll=02:00:00:00:00:01,ct_mark=0x3 actions=normal',
    'udp,nw_src=10.0.0.0/8,nw_dst=10.1.0.0/16,tp_src=68,tp_dst=67,reg1=0x1/0x1 actions=normal',
    'metadata=0x5/0xff,ct_state=+trk,reg2=0x2,ip actions=drop',
    'ct_mark=0x1,ct_zone=2,ct_state=+est+trk,reg7=0x9,reg3=0x1,dl_dst=02:00:00:00:00:09,ip actions=drop',
]


# Shapes a stateful, dual-stack security group needs (issue 14), encoded by our encoder for --ours.
OURS_FLOWS = [
    'priority=1000,in_port=1,ipv6,ipv6_src=fe80::/10 actions=normal',
    'priority=900,ct_state=-trk,ip actions=ct(table=1,zone=NXM_NX_REG6[0..15])',
    'priority=900,ct_state=-trk,ipv6 actions=ct(table=1,zone=NXM_NX_REG6[0..15])',
    'table=1,priority=200,ct_state=+trk+est,ct_zone=7,tcp6 actions=normal',
    'table=1,priority=200,ct_state=+trk+rel,icmp actions=normal',
    'table=1,priority=100,ct_state=+trk+inv actions=drop',
    'table=1,priority=210,ct_state=+trk+new,ct_zone=7,tcp,nw_src=10.10.1.0/24,tp_dst=22 actions=ct(commit,zone=7),normal',
    'table=1,priority=205,ct_state=+trk+new,tcp6,ipv6_src=2001:db8::/32,tp_dst=0x3e8/0xfff8 actions=ct(commit,zone=7),normal',
    'table=1,priority=205,ct_state=+trk+new,udp,tp_dst=0x400/0xfc00 actions=ct(commit,zone=7),normal',
    'table=1,priority=205,ct_state=+trk+new,udp6,tp_dst=0x7d0/0xfff0 actions=ct(commit,zone=7),normal',
    'icmp6,icmp_type=136,icmp_code=0,nd_target=2001:db8::1 actions=normal',
    'icmp6,icmp_type=135,nd_target=fe80::1,nd_sll=02:00:00:00:00:07 actions=normal',
    'icmp6,icmp_type=134 actions=drop',
    'udp6,tp_src=547,tp_dst=546 actions=normal',
    'reg6=0x7,ip actions=ct(table=1,zone=NXM_NX_REG6[0..15])',
    'tcp,tcp_flags=+syn-ack-rst,tp_dst=22 actions=drop',
    'ct_mark=0x1/0x1,ct_state=+trk+est actions=drop',
    'priority=50,ip actions=load:0x7->NXM_NX_REG6[0..15],resubmit(,1)',
    'arp,arp_tpa=10.0.0.5,arp_op=2 actions=normal',
    'tcp,actions=ct(commit,nat(src=10.0.0.1-10.0.0.10:1000-2000,random))',
    'ipv6,actions=ct(commit,nat(src=[2001:db8::1]))',
    'dl_dst=02:00:00:00:00:01,ipv6,ipv6_dst=2001:db8::5 actions=output:3',
    'tcp6,ipv6_dst=2001:db8::/32,tp_dst=22 actions=drop',
    'ip,actions=ct(commit,exec(load:0x1->NXM_NX_CT_MARK[]))',
    'icmp,icmp_type=3,icmp_code=4 actions=normal',
    'cookie=0xabc,table=3,priority=7,ct_state=-new+est+trk,ip actions=normal',
    'dl_vlan=100,ip,nw_dst=192.168.0.0/16 actions=ct(commit,force,zone=9,table=4)',
    'tcp,tp_dst=21 actions=ct(commit,alg=ftp,table=2)',
]


def run(argv, env=None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


def proxied(proxy, opts, cmd, *args):
    """`ovs-ofctl OPTS CMD tcp:127.0.0.1:PROXY ARGS` -> (result, [Conn])."""
    proxy.session = []
    proxy.threads = []
    argv = ['ovs-ofctl'] + list(opts) + [cmd, 'tcp:127.0.0.1:%d' % proxy.port] + list(args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    time.sleep(0.05)
    for th in list(proxy.threads):
        th.join(5)
    conns, proxy.session = proxy.session, None
    return r, conns


def sent(conns, pred):
    return [m for c in conns for d, m in c.msgs if d == 'c2s' and pred(m)]


def received(conns, pred):
    return [m for c in conns for d, m in c.msgs if d == 's2c' and pred(m)]


def is_nxt_flow_mod(m):
    # OFPT_VENDOR (4) in OF1.0, vendor 0x00002320, subtype NXT_FLOW_MOD (13)
    return m[0] == 1 and m[1] == 4 and len(m) >= 16 and m[8:12] == b'\x00\x00\x23\x20' and m[12:16] == b'\x00\x00\x00\x0d'


def dumped(sb, version):
    out = run(['ovs-ofctl', '-O', version, 'dump-flows', sb.mgmt, '--no-stats'], sb.env).stdout
    return [l.strip() for l in out.split('\n') if l.startswith(' ')]


def replay_of11(sb, proxy, flow, of11):
    """Send one OF1.1 FLOW_MOD on a raw controller connection to an empty switch; return
    (result, of11 flow stats reply hex, OF1.1 dump-flows line)."""
    sb.clear_flows()
    ctl = cv.Controller(sb.ip, sb.of_tcp)
    try:
        ctl.expect(lambda m: m[1] == 0, what='HELLO')
        ctl.send_raw(of11)
        ctl.send(20, b'')
        reply = ctl.expect(lambda m: m[1] in (1, 21), what='barrier reply or error')
    finally:
        ctl.close()
    if reply[1] == 1:
        return 'refused ' + reply.hex(), '', cv.ofp_print_first_line(reply.hex())
    r11, c11 = proxied(proxy, ['-O', 'OpenFlow11', '--no-stats'], 'dump-flows')
    rep = received(c11, lambda m: m[0] == 2 and m[1] == 19 and m[8:10] == b'\x00\x01')
    d11 = [l.strip() for l in r11.stdout.split('\n') if l.startswith(' ')]
    return 'accepted', rep[0].hex() if rep else '', ' | '.join(d11)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(ROOT, 'tests', 'vectors', 'nicira'))
    ap.add_argument('--ours', action='store_true', help='also replay our encoder\'s OF1.1 FLOW_MODs (needs cargo)')
    a = ap.parse_args()
    ours = []
    if a.ours:
        enc = subprocess.run(['cargo', 'run', '--quiet', '--no-default-features', '--example', 'nx_encode'],
                             input='\n'.join(OURS_FLOWS) + '\n', capture_output=True, text=True, cwd=ROOT, timeout=1200)
        if enc.returncode != 0:
            raise SystemExit('nx_encode failed: ' + enc.stderr)
        ours = [l.split('\t', 1) for l in enc.stdout.strip().split('\n')]
    os.makedirs(a.out, exist_ok=True)
    version = run(['ovs-vswitchd', '--version']).stdout.split('\n')[0]
    rows, of11_rows, notes = [], [], []
    sb = cv.Sandbox()
    try:
        sb.vsctl('set', 'bridge', 'br0', 'protocols=OpenFlow10,OpenFlow11,OpenFlow13')
        proxy = cv.Proxy(sb.ip, sb.of_tcp)
        for f in FLOWS:
            sb.clear_flows()
            r13, c13 = proxied(proxy, ['-O', 'OpenFlow13'], 'add-flow', f)
            fm13 = sent(c13, lambda m: m[0] == 4 and m[1] == 14)
            err13 = received(c13, lambda m: m[1] == 1)
            d13 = dumped(sb, 'OpenFlow13')
            sb.clear_flows()
            r10, c10 = proxied(proxy, ['-O', 'OpenFlow10', '-F', 'nxm'], 'add-flow', f)
            nxt = sent(c10, is_nxt_flow_mod)
            err10 = received(c10, lambda m: m[1] == 1)
            if r13.returncode or r10.returncode or not fm13 or not nxt or err13 or err10:
                why = (r13.stderr + r10.stderr).strip().replace('\n', ' ') or 'switch error %s' % [
                    e.hex() for e in err13 + err10]
                notes.append('# refused: %s -> %s' % (f, why))
                log('refused:', f, '->', why)
                continue
            d10 = dumped(sb, 'OpenFlow13')
            if [l.replace('reset_counts ', '') for l in d10] != d13:
                # (an NXT_FLOW_MOD always resets counters, so its flow dumps with `reset_counts`)
                notes.append('# dump differs between the OF1.3 and the NXT_FLOW_MOD flow: %s: %s | %s' % (f, d13, d10))
            rows.append((f, fm13[0].hex(), nxt[0].hex(), ' | '.join(d13)))

            # The same OF1.3 FLOW_MOD bytes as an OF1.1 FLOW_MOD (OFPMT_OXM match).
            of11 = bytes([2]) + fm13[0][1:]
            result, rep, d11 = replay_of11(sb, proxy, f, of11)
            if result != 'accepted':
                notes.append('# OF1.1 OXM FLOW_MOD refused: %s -> %s' % (f, d11))
            of11_rows.append((f, of11.hex(), result, rep, d11))
        ours_rows = []
        for f, h in ours:
            if h.startswith('ERROR'):
                notes.append('# ours: our parser refused %s -> %s' % (f, h))
                continue
            result, rep, d11 = replay_of11(sb, proxy, f, bytes.fromhex(h))
            ours_rows.append((f, h, result, rep, d11))
        sb.clear_flows()
    finally:
        sb.stop()

    origin = '# recorded from %s by scripts/capture-nx-vectors.py' % version
    cv.write_tsv(os.path.join(a.out, 'flows.tsv'), ['flow', 'of13_flow_mod', 'nxt_flow_mod', 'dumped'], rows, [origin] + notes)
    cv.write_tsv(os.path.join(a.out, 'of11_oxm.tsv'), ['flow', 'of11_flow_mod', 'result', 'of11_stats_reply', 'of11_dumped'],
                 of11_rows, [origin])
    if a.ours:
        cv.write_tsv(os.path.join(a.out, 'ours_of11.tsv'), ['flow', 'our_of11_flow_mod', 'result', 'of11_stats_reply', 'of11_dumped'],
                     ours_rows, ['# our encoder\'s bytes (cargo run --example nx_encode), replayed to %s by scripts/capture-nx-vectors.py --ours' % version])
    log('flows.tsv: %d rows, of11_oxm.tsv: %d rows, %d notes' % (len(rows), len(of11_rows), len(notes)))


if __name__ == '__main__':
    main()
