#!/usr/bin/env python3
"""Record golden OpenFlow 1.1 vectors from a real Open vSwitch.

Starts a private OVS sandbox (`node testing/sandbox.js start`), puts a logging TCP proxy in front of its
plain-TCP OpenFlow listener and records the bytes `ovs-ofctl -O OpenFlow11 ...` sends and the bytes
ovs-vswitchd answers. Asynchronous switch messages (PORT_STATUS, PACKET_IN, FLOW_REMOVED, ECHO_REQUEST)
and error replies are recorded on a raw controller connection opened from this script.

Writes (see tests/vectors/openflow/README.md for the formats):
  tests/vectors/openflow/flow_mods.tsv    command  flow-text  FLOW_MOD hex (as sent by ovs-ofctl)
  tests/vectors/openflow/dump_flows.tsv   flow-text  line printed by `dump-flows --no-stats`
  tests/vectors/openflow/switch_msgs.tsv  name  hex  first line of `ovs-ofctl ofp-print HEX`

Usage: python3 scripts/capture-vectors.py [--out DIR] [--keep-sandbox]
Needs: node, ovs-vswitchd/ovsdb-server/ovs-vsctl/ovs-ofctl/ovs-appctl (`testing/sandbox.js --install-ovs` installs them with
apt-get when run as root), Python 3.8+ standard library only.
"""
import argparse
import json
import os
import queue
import socket
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OF11 = 0x02
# The version recorded (--openflow 13 records OpenFlow 1.3's bytes of the same commands).
OPENFLOW = 'OpenFlow11'
OF_VERSION = OF11

OFPT = {0: 'hello', 1: 'error', 2: 'echo_request', 3: 'echo_reply', 4: 'experimenter',
        5: 'features_request', 6: 'features_reply', 7: 'get_config_request', 8: 'get_config_reply',
        9: 'set_config', 10: 'packet_in', 11: 'flow_removed', 12: 'port_status', 13: 'packet_out',
        14: 'flow_mod', 15: 'group_mod', 16: 'port_mod', 17: 'table_mod', 18: 'stats_request',
        19: 'stats_reply', 20: 'barrier_request', 21: 'barrier_reply', 22: 'queue_get_config_request',
        23: 'queue_get_config_reply'}
OFPST = {0: 'desc', 1: 'flow', 2: 'aggregate', 3: 'table', 4: 'port', 5: 'queue', 6: 'group',
         7: 'group_desc', 13: 'port_desc', 0xffff: 'experimenter'}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def msg_name(msg):
    """Short name of an OpenFlow message: type, plus stats type for stats messages."""
    t = OFPT.get(msg[1], 'type%d' % msg[1]) if msg[0] in (2, 4) else 'v%d.type%d' % (msg[0], msg[1])
    if msg[1] in (18, 19) and len(msg) >= 10:
        st = struct.unpack('!H', msg[8:10])[0]
        t = 'stats.' + OFPST.get(st, str(st))
    return t


def frames(buf):
    """Split complete OpenFlow messages off a bytearray; returns (msgs, rest)."""
    out = []
    while len(buf) >= 8:
        n = struct.unpack('!H', buf[2:4])[0]
        if n < 8 or len(buf) < n:
            break
        out.append(bytes(buf[:n]))
        buf = buf[n:]
    return out, buf


def ofp_print_first_line(hexstr):
    r = subprocess.run(['ovs-ofctl', 'ofp-print', hexstr], capture_output=True, text=True, timeout=30)
    lines = (r.stdout or r.stderr).strip().split('\n')
    first = lines[0].strip() if lines else ''
    bad = [l for l in lines if '***' in l]
    if bad:
        log('WARNING: ofp-print complains about %s...: %s' % (hexstr[:40], bad[0]))
    return first


# ----------------------------------------------------------------------------------------------
# sandbox

class Sandbox:
    def __init__(self, keep=False):
        args = ['node', os.path.join(ROOT, 'testing', 'sandbox.js'), 'start', '--hosts', '1', '--nports', '4', '--install-ovs']
        if keep:
            args.append('--keep')
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit('sandbox failed to start')
        self.info = json.loads(line)
        h = self.info['hosts'][0]
        self.host = h
        self.ip = h['ip']
        self.of_tcp = h['ports']['openflowTcp']
        self.mgmt = h['targets']['openflowUnix']
        self.db = h['targets']['ovsdbUnix']
        self.env = dict(os.environ, **h['env'])
        log('sandbox up: %s, OpenFlow ptcp %s:%d' % (self.info['dir'], self.ip, self.of_tcp))

    def run(self, args, check=True):
        r = subprocess.run(args, capture_output=True, text=True, env=self.env, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError('%s failed: %s' % (' '.join(args), r.stderr.strip()))
        return r

    def ofctl(self, cmd, *args, check=True):
        return self.run(['ovs-ofctl', '-O', OPENFLOW, cmd, self.mgmt] + list(args), check).stdout

    def clear_flows(self):
        # NB: `ovs-ofctl -O OpenFlow11 del-flows` without table= only empties table 0 (it sends
        # table_id 0); OpenFlow 1.3's DELETE uses OFPTT_ALL, so clear every table that way.
        return self.run(['ovs-ofctl', '-O', 'OpenFlow13', 'del-flows', self.mgmt]).stdout

    def vsctl(self, *args):
        return self.run(['ovs-vsctl', '--db=' + self.db, '--timeout=15'] + list(args)).stdout

    def appctl(self, *args):
        return self.run(['ovs-appctl', '-t', 'ovs-vswitchd'] + list(args)).stdout

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(30)
        except Exception:
            self.proc.kill()


# ----------------------------------------------------------------------------------------------
# logging proxy in front of ovs-vswitchd's ptcp listener

class Conn:
    def __init__(self):
        self.msgs = []          # (direction 'c2s' | 's2c', bytes) in arrival order
        self.lock = threading.Lock()


class Proxy:
    def __init__(self, up_host, up_port):
        self.up = (up_host, up_port)
        self.lsock = socket.socket()
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.session = None
        self.threads = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.create_connection(self.up)
            conn = Conn()
            if self.session is not None:
                self.session.append(conn)
            for args in ((c, u, conn, 'c2s'), (u, c, conn, 's2c')):
                th = threading.Thread(target=self._pump, args=args, daemon=True)
                th.start()
                self.threads.append(th)

    @staticmethod
    def _pump(src, dst, conn, direction):
        buf = bytearray()
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            buf += data
            msgs, buf = frames(buf)
            with conn.lock:
                conn.msgs.extend((direction, m) for m in msgs)
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def ofctl(self, cmd, *args, opts=()):
        """Run `ovs-ofctl -O OpenFlow11 [opts] CMD tcp:127.0.0.1:PROXY ARGS`; returns (result, [Conn])."""
        self.session = []
        self.threads = []
        argv = ['ovs-ofctl', '-O', OPENFLOW] + list(opts) + [cmd, 'tcp:127.0.0.1:%d' % self.port] + list(args)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        time.sleep(0.05)
        for th in list(self.threads):
            th.join(5)
        conns, self.session = self.session, None
        return r, conns


# ----------------------------------------------------------------------------------------------
# raw controller connection (acts like the SDN controller: HELLO v2, answers ECHO_REQUEST)

class Controller:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.q = queue.Queue()
        self.xid = 0x1000
        self.closed = False
        threading.Thread(target=self._read, daemon=True).start()
        self.send(0, b'')   # HELLO, OF1.1, no version bitmap (like a plain OF1.1 controller)

    def _read(self):
        buf = bytearray()
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            buf += data
            msgs, buf = frames(buf)
            for m in msgs:
                if m[1] == 2:   # ECHO_REQUEST -> ECHO_REPLY (same xid and payload)
                    self.sock.sendall(bytes([m[0], 3]) + m[2:])
                self.q.put(m)
        self.closed = True
        self.q.put(None)

    def send(self, mtype, body, xid=None, version=None):
        version = OF_VERSION if version is None else version
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.sock.sendall(struct.pack('!BBHI', version, mtype, 8 + len(body), xid) + body)
        return xid

    def send_raw(self, data):
        self.sock.sendall(data)

    def expect(self, pred, timeout=5.0, what='message'):
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError('timeout waiting for ' + what)
            try:
                m = self.q.get(timeout=left)
            except queue.Empty:
                raise TimeoutError('timeout waiting for ' + what)
            if m is None:
                raise EOFError('connection closed while waiting for ' + what)
            if pred(m):
                return m

    def drain(self, settle=0.3):
        out = []
        while True:
            try:
                m = self.q.get(timeout=settle)
            except queue.Empty:
                return out
            if m is None:
                return out
            out.append(m)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ----------------------------------------------------------------------------------------------
# flow vectors

GROUPS = [
    'group_id=1,type=all,bucket=output:1,bucket=output:2',
    'group_id=2,type=select,bucket=weight:10,output:1,bucket=weight:20,output:2',
    'group_id=3,type=indirect,bucket=output:3',
    'group_id=4,type=ff,bucket=watch_port:1,output:1,bucket=watch_port:2,output:2',
]

SEED = 'priority=65527,tcp,in_port=4,dl_src=ae:f7:4b:84:6c:8b,nw_src=192.168.5.242,nw_dst=192.168.5.55,tp_dst=5060 actions=drop'

ADD_FLOWS = [
    # the seed flow and basic allow/normal rules
    SEED,
    'actions=normal',
    'priority=100,in_port=1 actions=NORMAL',
    'priority=0,actions=drop',
    'priority=65535,actions=drop',
    'priority=200,in_port=LOCAL actions=normal',
    # shorthands
    'ip actions=normal',
    'tcp,tp_src=80 actions=normal',
    'udp,tp_dst=53 actions=normal',
    'udp,nw_src=1.2.3.4,tp_src=68,tp_dst=67 actions=controller',
    'icmp actions=normal',
    'icmp,icmp_type=8,icmp_code=0 actions=normal',
    'icmp,icmp_type=3 actions=normal',
    'arp actions=normal',
    'dl_type=0x0806 actions=normal',
    'arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2 actions=normal',
    'ipv6 actions=normal',
    'ip,nw_proto=89 actions=normal',
    'mpls actions=normal',
    'mpls,mpls_label=100,mpls_tc=3 actions=normal',
    # IPv4 address masks
    'ip,nw_src=10.0.0.0/8 actions=normal',
    'ip,nw_dst=192.168.0.0/255.255.0.0 actions=normal',
    'ip,nw_dst=10.0.0.1/32 actions=normal',
    'ip,nw_src=10.1.0.5/255.0.255.0 actions=normal',
    'ip,nw_src=192.168.1.0/24,nw_dst=0.0.0.0/0.0.0.1 actions=normal',
    # Ethernet addresses and masks
    'dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02 actions=output:2',
    'dl_src=01:00:00:00:00:00/01:00:00:00:00:00 actions=normal',
    'dl_dst=ff:ff:ff:ff:ff:ff actions=flood',
    'dl_dst=02:00:00:00:00:00/ff:ff:ff:00:00:00 actions=normal',
    # VLAN, TOS, metadata
    'dl_vlan=100 actions=normal',
    'dl_vlan=100,dl_vlan_pcp=5 actions=normal',
    'dl_vlan_pcp=3 actions=normal',
    'dl_vlan=0xffff actions=normal',
    'vlan_tci=0 actions=normal',
    'dl_vlan=4095 actions=normal',
    'ip,nw_tos=32 actions=normal',
    'metadata=0x1234 actions=normal',
    'metadata=0x12/0xff actions=normal',
    # flow_mod header fields
    'cookie=0x1234 actions=normal',
    'cookie=0xfedcba9876543210,priority=42,ip actions=normal',
    'table=1,priority=5,actions=normal',
    'table=253,priority=5,ip,actions=drop',
    'idle_timeout=30,hard_timeout=60,actions=normal',
    'send_flow_rem,actions=normal',
    'check_overlap,actions=normal',
    'send_flow_rem,check_overlap,idle_timeout=10,cookie=0x77,priority=7,ip actions=drop',
    # output actions and reserved ports
    'actions=output:1',
    'actions=1,2,3',
    'actions=in_port',
    'actions=flood',
    'actions=all',
    'actions=controller',
    'actions=controller:128',
    'actions=controller(max_len=64)',
    'actions=local',
    'actions=output:LOCAL',
    'actions=mod_dl_dst:ff:ff:ff:ff:ff:ff,output:in_port',
    'actions=group:1',
    'actions=output:1,group:2,local',
    # set-field style actions
    'actions=mod_vlan_vid:10,output:1',
    'dl_vlan=10 actions=mod_vlan_vid:20,output:2',
    'actions=mod_vlan_pcp:3,output:1',
    'dl_vlan=10 actions=mod_vlan_pcp:7',
    'dl_vlan=10,actions=strip_vlan,output:1',
    'dl_vlan=10,actions=pop_vlan',
    'actions=push_vlan:0x8100,output:1',
    'actions=push_vlan:0x88a8,output:1',
    'actions=mod_dl_src:02:00:00:00:00:99,output:1',
    'actions=mod_dl_dst:02:00:00:00:00:98,output:1',
    'ip,actions=mod_nw_src:10.0.0.1,output:1',
    'ip,actions=set_field:10.0.0.1->nw_src',
    'ip,actions=mod_nw_dst:10.0.0.2,output:1',
    'ip,actions=mod_nw_tos:16,output:1',
    'ip,actions=mod_nw_ecn:2,output:1',
    'tcp,actions=mod_tp_src:1000,output:1',
    'udp,actions=mod_tp_dst:2000,output:1',
    'actions=set_queue:3,output:1',
    'ip,actions=dec_ttl,output:1',
    'ip,actions=mod_nw_ttl:9,output:1',
    'ip,actions=set_nw_ttl:9,output:1',
    'mpls,actions=set_mpls_label:10,output:1',
    'mpls,actions=set_mpls_tc:2,output:1',
    'mpls,actions=set_mpls_ttl:20,output:1',
    'mpls,actions=dec_mpls_ttl,output:1',
    'ip,actions=push_mpls:0x8847,output:1',
    'mpls,actions=pop_mpls:0x0800,output:1',
    # instructions
    'actions=goto_table:1',
    'actions=write_metadata:0x12/0xff,goto_table:1',
    'actions=write_metadata:0x12',
    'actions=write_actions(output:1)',
    'actions=clear_actions',
    'actions=clear_actions,write_actions(output:2),goto_table:3',
    'actions=mod_vlan_vid:5,write_actions(set_queue:1,output:2),write_metadata:0x1/0x1,goto_table:2',
    'ip,actions=mod_nw_dst:10.0.0.9,write_actions(group:1),goto_table:4',
    # OVS (Nicira) extensions: encoded as OF1.1 EXPERIMENTER actions (vendor 0x00002320)
    'actions=resubmit(,1)',
    'actions=load:0x1->NXM_NX_REG0[]',
    'actions=note:01020304',
    'actions=enqueue:1:2',
    'ip,actions=dec_ttl(1,2),output:1',
    'actions=controller(reason=no_match)',
    'actions=controller(userdata=01.02)',
    # expected to be refused by ovs-ofctl for OpenFlow 1.1 (recorded as '#' notes)
    'ip,nw_ttl=5 actions=normal',
    'tcp,tp_dst=0x100/0xff00 actions=normal',
    'vlan_tci=0x1000/0x1000 actions=normal',
    'arp,arp_sha=02:00:00:00:00:01 actions=normal',
    'reg0=1 actions=normal',
    'actions=strip_vlan,output:1',
    'actions=pop_vlan,output:1',
    'ip,actions=copy_ttl_in,output:1',
    'ip,actions=copy_ttl_out,output:1',
    'actions=meter:1',
    'reset_counts actions=normal',
    'no_packet_counts actions=normal',
    'actions=mod_vlan_vid:4096',
    'actions=output:70000',
    'table=2,actions=goto_table:1',
    # refused by the switch (OpenFlow error reply)
    'actions=group:5',
    'table=254,actions=drop',
]

BASE_FLOWS = [
    'priority=100,ip,nw_src=10.0.0.1 actions=output:1',
    'cookie=0x1234,priority=200,tcp,tp_dst=80 actions=normal',
    'table=1,priority=10,in_port=2 actions=output:3',
    'priority=300,in_port=1,dl_src=02:00:00:00:00:01 actions=output:2',
    SEED,
]

MOD_FLOWS = [
    ('mod-flows', 'actions=normal'),
    ('mod-flows', 'ip actions=drop'),
    ('mod-flows', 'cookie=0x1234/-1,actions=output:3'),
    ('mod-flows', 'cookie=0x5/0xf,tcp actions=controller'),
    ('mod-flows', 'table=1,actions=normal'),
    ('mod-flows', 'in_port=1 actions=write_actions(output:2),goto_table:1'),
    ('mod-flows', 'cookie=0x99,ip,nw_dst=10.0.0.0/8 actions=mod_nw_tos:8,output:2'),
    ('mod-flows --strict', 'priority=100,ip,nw_src=10.0.0.1 actions=output:2'),
    ('mod-flows --strict', SEED.replace('actions=drop', 'actions=normal')),
    ('mod-flows --strict', 'table=1,priority=10,in_port=2 actions=group:1'),
    ('del-flows', ''),
    ('del-flows', 'ip'),
    ('del-flows', 'cookie=0x1234/-1'),
    ('del-flows', 'cookie=0x1200/0xff00'),
    ('del-flows', 'table=1'),
    ('del-flows', 'table=255'),
    ('del-flows', 'out_port=2'),
    ('del-flows', 'out_group=1'),
    ('del-flows', 'in_port=1,out_port=2'),
    ('del-flows', 'tcp,tp_dst=80'),
    ('del-flows', 'dl_src=02:00:00:00:00:01'),
    ('del-flows', 'metadata=0x1/0x1'),
    ('del-flows', 'table=1,cookie=0x1234/-1,out_port=3'),
    ('del-flows --strict', 'priority=100,ip,nw_src=10.0.0.1'),
    ('del-flows --strict', SEED.replace(' actions=drop', '')),
    ('del-flows --strict', 'priority=200,cookie=0x1234/-1,tcp,tp_dst=80'),
    ('del-flows --strict', 'table=1,priority=10,in_port=2'),
]


def errors_in(conns):
    return [m for c in conns for d, m in c.msgs if d == 's2c' and m[1] == 1]


def sent_of_type(conns, mtype):
    return [m for c in conns for d, m in c.msgs if d == 'c2s' and m[1] == mtype]


def capture_flows(sb, proxy):
    flow_rows, dump_rows, notes = [], [], []

    def reset(flows=()):
        sb.clear_flows()
        for f in flows:
            sb.ofctl('add-flow', f)

    for f in ADD_FLOWS:
        reset()
        r, conns = proxy.ofctl('add-flow', f)
        fm = sent_of_type(conns, 14)
        errs = errors_in(conns)
        if r.returncode != 0 or not fm or errs:
            why = r.stderr.strip().split('\n')[-1] if r.stderr.strip() else 'exit %d' % r.returncode
            if errs:
                why = 'switch replied %s (%s)' % (ofp_print_first_line(errs[0].hex()), errs[0].hex())
            elif fm:
                why += ' (FLOW_MOD %s)' % fm[0].hex()
            notes.append('# refused: add-flow %s -> %s' % (f, why))
            log('refused:', f, '->', why)
            continue
        flow_rows.append(('add-flow', f, fm[0].hex()))
        dumped = [l.strip() for l in sb.ofctl('dump-flows', '--no-stats').split('\n') if l.startswith(' ')]
        if len(dumped) != 1:
            notes.append('# dump-flows after add-flow %s printed %d lines: %s' % (f, len(dumped), ' | '.join(dumped)))
        dump_rows.append((f, ' | '.join(dumped)))

    for cmd, f in MOD_FLOWS:
        reset(BASE_FLOWS)
        parts = cmd.split()
        r, conns = proxy.ofctl(parts[0], *([f] if f else []), opts=parts[1:])
        fm = sent_of_type(conns, 14)
        errs = errors_in(conns)
        if r.returncode != 0 or not fm or errs:
            notes.append('# refused: %s %s -> %s' % (cmd, f, r.stderr.strip().split('\n')[-1]))
            continue
        flow_rows.append((cmd, f, fm[0].hex()))
    reset()
    return flow_rows, dump_rows, notes


# ----------------------------------------------------------------------------------------------
# switch message vectors

class Recorder:
    def __init__(self):
        self.rows = []          # (name, hex)
        self.names = set()
        self.notes = []

    def add(self, name, msg):
        if name in self.names:
            i = 2
            while '%s#%d' % (name, i) in self.names:
                i += 1
            name = '%s#%d' % (name, i)
        self.names.add(name)
        self.rows.append((name, msg.hex()))

    def from_conns(self, conns, rename=None, only_new=True, skip=()):
        """Record every message of the captured connections, named req.<type> (sent by ovs-ofctl)
        or rep.<type> (sent by OVS). `rename` maps such auto names to explicit ones; auto names
        already recorded are skipped when only_new."""
        rename = rename or {}
        for c in conns:
            for d, m in c.msgs:
                auto = ('req.' if d == 'c2s' else 'rep.') + msg_name(m)
                if auto in skip:
                    continue
                name = rename.get(auto, auto)
                if name == auto and only_new and auto in self.names:
                    continue
                if name in self.names and name != auto:
                    continue
                self.add(name, m)


def capture_switch_msgs(sb, proxy, flow_mod_hex, goto_hex):
    rec = Recorder()
    P = proxy.ofctl

    def step(label, cmd, *args, rename=None, opts=(), only_new=True, skip=()):
        r, conns = P(cmd, *args, opts=opts)
        if r.returncode != 0:
            rec.notes.append('# %s: ovs-ofctl %s %s -> exit %d: %s' % (label, cmd, ' '.join(args), r.returncode,
                                                                      r.stderr.strip().split('\n')[-1]))
        rec.from_conns(conns, rename, only_new, skip)
        return r, conns

    # --- fixed state: groups and a few flows
    sb.clear_flows()
    sb.ofctl('del-groups')
    for g in GROUPS:
        sb.ofctl('add-group', g)
    for f in BASE_FLOWS + ['table=1,priority=20,ip,actions=write_actions(group:1),goto_table:2',
                           'table=2,priority=1,actions=clear_actions']:
        sb.ofctl('add-flow', f)

    # --- handshake + basic requests (HELLO, FEATURES, DESC, GET_CONFIG)
    step('show', 'show', rename={'req.hello': 'req.hello', 'rep.hello': 'rep.hello'})
    step('dump-desc', 'dump-desc')
    step('get-frags', 'get-frags')
    # (set-frags only sends SET_CONFIG when the mode changes)
    step('set-frags drop', 'set-frags', 'drop', rename={'req.set_config': 'req.set_config.frags_drop'})
    step('set-frags normal', 'set-frags', 'normal', rename={'req.set_config': 'req.set_config.frags_normal'})
    step('probe', 'probe')
    step('dump-flows', 'dump-flows')
    step('dump-flows match', 'dump-flows', 'table=1,ip', rename={'req.stats.flow': 'req.stats.flow.match',
                                                                 'rep.stats.flow': 'rep.stats.flow.match'})
    step('dump-aggregate', 'dump-aggregate')
    step('dump-aggregate match', 'dump-aggregate', 'ip', rename={'req.stats.aggregate': 'req.stats.aggregate.match'})
    step('dump-tables', 'dump-tables')
    step('dump-ports', 'dump-ports')
    step('dump-ports 1', 'dump-ports', '1', rename={'req.stats.port': 'req.stats.port.1', 'rep.stats.port': 'rep.stats.port.1'})
    step('dump-ports-desc', 'dump-ports-desc')
    step('queue-stats', 'queue-stats')
    step('queue-stats 1 0', 'queue-stats', '1', '0', rename={'req.stats.queue': 'req.stats.queue.1.0', 'rep.stats.queue': 'rep.stats.queue.1.0'})
    step('dump-group-stats', 'dump-group-stats')
    step('dump-group-stats 1', 'dump-group-stats', 'group_id=1', rename={'req.stats.group': 'req.stats.group.1', 'rep.stats.group': 'rep.stats.group.1'})
    step('dump-groups', 'dump-groups')
    step('queue-get-config 1', 'queue-get-config', '1', rename={'req.queue_get_config_request': 'req.queue_get_config_request.1',
                                                                 'rep.queue_get_config_reply': 'rep.queue_get_config_reply.1'})
    step('queue-get-config', 'queue-get-config', rename={'req.queue_get_config_request': 'req.queue_get_config_request.any',
                                                          'rep.queue_get_config_reply': 'rep.queue_get_config_reply.any'})

    # --- flow_mod + barrier as ovs-ofctl does it
    sb.clear_flows()
    step('add-flow', 'add-flow', SEED, rename={'req.flow_mod': 'req.flow_mod.add'}, only_new=True)

    # --- group mods
    sb.ofctl('del-groups')
    for g in GROUPS:
        gtype = g.split('type=')[1].split(',')[0]
        step('add-group', 'add-group', g, rename={'req.group_mod': 'req.group_mod.add.' + gtype})
    step('mod-group', 'mod-group', 'group_id=2,type=select,bucket=weight:5,output:3,bucket=weight:5,output:4',
         rename={'req.group_mod': 'req.group_mod.modify'})
    step('del-groups 4', 'del-groups', 'group_id=4', rename={'req.group_mod': 'req.group_mod.delete.4'})
    step('del-groups', 'del-groups', rename={'req.group_mod': 'req.group_mod.delete.all'})
    for g in GROUPS:
        sb.ofctl('add-group', g)

    # --- port mods
    for act in ('down', 'up', 'no-receive', 'receive', 'no-forward', 'forward', 'no-packet-in', 'packet-in', 'no-flood', 'flood'):
        step('mod-port ' + act, 'mod-port', 'vif2.0', act, rename={'req.port_mod': 'req.port_mod.' + act})

    # --- table mods (OF1.1 table-miss config)
    for act in ('drop', 'controller', 'continue'):
        step('mod-table ' + act, 'mod-table', '0', act, rename={'req.table_mod': 'req.table_mod.' + act})
    # (the OF1.1 default; an OF1.1 "drop" would make later table misses silent)
    sb.ofctl('mod-table', '0', 'controller', check=False)

    # --- packet out
    arp = ('ffffffffffff020000000001080600010800060400010200000000010a000001'
           '0000000000000a000002')
    step('packet-out', 'packet-out', 'in_port=1 packet=%s actions=output:2' % arp, rename={'req.packet_out': 'req.packet_out'})
    step('packet-out controller', 'packet-out', 'in_port=controller packet=%s actions=output:2,output:3' % arp,
         rename={'req.packet_out': 'req.packet_out.from_controller'})
    step('packet-out legacy syntax', 'packet-out', '1', 'flood', arp, rename={'req.packet_out': 'req.packet_out.flood'})

    # --- error replies produced through ovs-ofctl
    sb.clear_flows()
    step('error bad out group', 'add-flow', 'actions=group:5',
         rename={'rep.error': 'rep.error.bad_out_group', 'req.flow_mod': 'req.flow_mod.group5'})
    step('error table 254', 'add-flow', 'table=254,actions=drop',
         rename={'rep.error': 'rep.error.table254_eperm', 'req.flow_mod': 'req.flow_mod.table254'})
    step('error group exists', 'add-group', GROUPS[0],
         rename={'rep.error': 'rep.error.group_exists', 'req.group_mod': 'req.group_mod.add.exists'})
    sb.clear_flows()

    # --- raw controller connection: async messages, more errors, echo
    capture_async(sb, rec, flow_mod_hex, goto_hex)
    return rec


def odp_udp(in_port, src_mac, dst_mac, src_ip, dst_ip, sport, dport):
    return ('in_port(%d),eth(src=%s,dst=%s),eth_type(0x0800),ipv4(src=%s,dst=%s,proto=17,tos=0,ttl=64,frag=no),'
            'udp(src=%d,dst=%d)' % (in_port, src_mac, dst_mac, src_ip, dst_ip, sport, dport))


def capture_async(sb, rec, flow_mod_hex, goto_hex):
    c = Controller(sb.ip, sb.of_tcp)
    hello = c.expect(lambda m: m[1] == 0, what='HELLO')
    rec.add('rep.hello.to_of11_controller', hello)

    # Without SET_CONFIG: does a passive ("service") connection get PORT_STATUS?
    sb.vsctl('--', 'add-port', 'br0', 'vif9.0', '--', 'set', 'Interface', 'vif9.0', 'type=dummy', 'ofport_request=9')
    got = [m for m in c.drain(1.0) if m[1] == 12]
    rec.notes.append('# service connection WITHOUT set_config miss_send_len: %d PORT_STATUS received on add-port'
                     % len(got))
    sb.vsctl('del-port', 'vif9.0')
    c.drain(0.5)

    # SET_CONFIG(flags=0, miss_send_len=0xffff) enables asynchronous messages on service connections
    c.send(9, struct.pack('!HH', 0, 0xffff))
    xid = c.send(7, b'')
    rec.add('rep.get_config_reply.after_set_config', c.expect(lambda m: m[1] == 8 and struct.unpack('!I', m[4:8])[0] == xid))

    # PORT_STATUS add / modify / delete
    sb.vsctl('--', 'add-port', 'br0', 'vif9.0', '--', 'set', 'Interface', 'vif9.0', 'type=dummy', 'ofport_request=9')
    rec.add('async.port_status.add', c.expect(lambda m: m[1] == 12 and m[8] == 0, what='PORT_STATUS add'))
    c.drain(0.5)
    sb.ofctl('mod-port', 'vif9.0', 'down')
    rec.add('async.port_status.modify.port_down', c.expect(lambda m: m[1] == 12 and m[8] == 2, what='PORT_STATUS modify'))
    c.drain(0.3)
    sb.vsctl('del-port', 'vif9.0')
    rec.add('async.port_status.delete', c.expect(lambda m: m[1] == 12 and m[8] == 1, what='PORT_STATUS delete'))
    c.drain(0.3)

    # PACKET_IN (action) with full packet and with max_len=64
    sb.clear_flows()
    sb.ofctl('add-flow', 'priority=100,in_port=1,udp,actions=controller')
    sb.ofctl('add-flow', 'priority=100,in_port=2,udp,actions=controller:64')
    sb.appctl('netdev-dummy/receive', 'vif1.0',
              odp_udp(1, '02:00:00:00:00:01', '02:00:00:00:00:02', '10.0.0.1', '10.0.0.2', 1234, 5678))
    rec.add('async.packet_in.action', c.expect(lambda m: m[1] == 10, what='PACKET_IN'))
    sb.appctl('netdev-dummy/receive', 'vif2.0',
              odp_udp(2, '02:00:00:00:00:02', '02:00:00:00:00:01', '10.0.0.2', '10.0.0.1', 5678, 1234), '--len', '200')
    rec.add('async.packet_in.action.max_len64', c.expect(lambda m: m[1] == 10, what='PACKET_IN max_len'))
    # table miss (no flows; OF1.1 table-miss default = send to controller)
    sb.clear_flows()
    sb.appctl('netdev-dummy/receive', 'vif3.0',
              odp_udp(3, '02:00:00:00:00:03', '02:00:00:00:00:01', '10.0.0.3', '10.0.0.1', 1000, 2000))
    try:
        rec.add('async.packet_in.no_match', c.expect(lambda m: m[1] == 10, timeout=3, what='PACKET_IN no_match'))
    except TimeoutError:
        rec.notes.append('# table miss with no flows: no PACKET_IN')
    c.drain(0.3)

    # FLOW_REMOVED: delete, hard timeout, idle timeout (flows added through ovs-ofctl, not this connection)
    sb.ofctl('add-flow', 'cookie=0x99,priority=300,in_port=3,send_flow_rem,actions=drop')
    sb.ofctl('del-flows', 'in_port=3')
    try:
        rec.add('async.flow_removed.delete', c.expect(lambda m: m[1] == 11, timeout=3, what='FLOW_REMOVED delete'))
    except TimeoutError:
        rec.notes.append('# FLOW_REMOVED for a flow added by another connection: not received')
    sb.ofctl('add-flow', 'cookie=0x9a,priority=301,in_port=3,hard_timeout=1,send_flow_rem,actions=drop')
    rec.add('async.flow_removed.hard_timeout', c.expect(lambda m: m[1] == 11, timeout=6, what='FLOW_REMOVED hard'))
    sb.ofctl('add-flow', 'cookie=0x9b,priority=302,in_port=3,idle_timeout=1,send_flow_rem,actions=drop')
    rec.add('async.flow_removed.idle_timeout', c.expect(lambda m: m[1] == 11, timeout=6, what='FLOW_REMOVED idle'))
    # FLOW_REMOVED of a flow this connection added itself (the recorded send_flow_rem FLOW_MOD)
    fm = bytes.fromhex(flow_mod_hex)
    c.send_raw(fm)
    xid = c.send(20, b'')
    c.expect(lambda m: m[1] == 21 and struct.unpack('!I', m[4:8])[0] == xid, what='BARRIER_REPLY')
    sb.clear_flows()
    try:
        rec.add('async.flow_removed.delete.own_flow', c.expect(lambda m: m[1] == 11, timeout=3, what='FLOW_REMOVED own'))
    except TimeoutError:
        rec.notes.append('# FLOW_REMOVED for own send_flow_rem flow: not received')
    c.drain(0.3)

    # ERROR replies to malformed / unsupported requests
    def err(name, data):
        c.send_raw(data)
        xid = struct.unpack('!I', data[4:8])[0]
        try:
            rec.add(name, c.expect(lambda m: m[1] == 1 and struct.unpack('!I', m[4:8])[0] == xid, timeout=3, what=name))
        except TimeoutError:
            rec.notes.append('# %s: no error reply' % name)

    err('rep.error.bad_type', struct.pack('!BBHI', OF_VERSION, 0x63, 8, 0x2001))
    err('rep.error.bad_version', struct.pack('!BBHI', 0x01, 5, 8, 0x2002))
    err('rep.error.bad_stat', struct.pack('!BBHIHH4x', OF_VERSION, 18, 16, 0x2003, 0x0042, 0))
    err('rep.error.bad_len', struct.pack('!BBHI', OF_VERSION, 5, 12, 0x2004) + b'\0' * 4)
    # goto_table to a lower table: ovs-ofctl refuses to send it, so patch its own encoding of
    # "table=2,actions=goto_table:3" (the goto_table instruction is the last 8 bytes; table_id at -4)
    fm = bytearray(bytes.fromhex(goto_hex))
    fm[4:8] = struct.pack('!I', 0x2005)
    fm[-4] = 1
    err('rep.error.goto_lower_table', bytes(fm))
    # FLOW_MOD with an unknown command
    fm = bytearray(bytes.fromhex(flow_mod_hex))
    fm[4:8] = struct.pack('!I', 0x2006)
    fm[25] = 9
    err('rep.error.bad_flow_mod_command', bytes(fm))
    # DELETE in all tables (table_id 0xff): OVS refuses it for OF1.1 (ovs-ofctl itself sends table 0)
    fm = bytearray(bytes.fromhex(flow_mod_hex))
    fm[4:8] = struct.pack('!I', 0x2009)
    fm[24] = 0xff
    fm[25] = 3
    err('rep.error.delete_table_0xff', bytes(fm))
    # Nicira experimenter message OVS does not know
    err('rep.error.bad_experimenter_subtype', struct.pack('!BBHIII', OF_VERSION, 4, 16, 0x2007, 0x00002320, 0x7fff))
    err('rep.error.bad_experimenter', struct.pack('!BBHIII', OF_VERSION, 4, 16, 0x2008, 0x00abcdef, 0))

    # EXPERIMENTER reply: NXT_ROLE_REQUEST (Nicira subtype 10) -> NXT_ROLE_REPLY
    xid = c.send(4, struct.pack('!III', 0x00002320, 10, 0))
    try:
        m = c.expect(lambda m: struct.unpack('!I', m[4:8])[0] == xid, timeout=3, what='role reply')
        rec.add('rep.experimenter.nx_role_reply' if m[1] == 4 else 'rep.error.nx_role_request', m)
    except TimeoutError:
        rec.notes.append('# NXT_ROLE_REQUEST: no reply')

    # ECHO_REQUEST that OVS sends on an idle connection (inactivity probe, 5 s by default)
    c.drain(0.2)
    t0 = time.time()
    try:
        m = c.expect(lambda m: m[1] == 2, timeout=12, what='ECHO_REQUEST')
        rec.add('async.echo_request', m)
        rec.notes.append('# inactivity probe: OVS sent ECHO_REQUEST after %.1f s idle' % (time.time() - t0))
    except TimeoutError:
        rec.notes.append('# no ECHO_REQUEST within 12 s idle')
    c.close()



def write_tsv(path, header, rows, trailer):
    """A vectors file: the header line, a tab-separated line per row, then the trailer
    lines (the `#` origin and notes the tests skip)."""
    with open(path, 'w') as f:
        f.write('\t'.join(header) + '\n')
        for row in rows:
            f.write('\t'.join(row) + '\n')
        for line in trailer:
            f.write(line + '\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(ROOT, 'tests', 'vectors', 'openflow'))
    ap.add_argument('--keep-sandbox', action='store_true')
    ap.add_argument('--openflow', choices=['11', '13'], default='11', help='the version recorded (default 11)')
    a = ap.parse_args()
    global OPENFLOW, OF_VERSION
    if a.openflow == '13':
        OPENFLOW, OF_VERSION = 'OpenFlow13', 0x04
    os.makedirs(a.out, exist_ok=True)
    version = subprocess.run(['ovs-vswitchd', '--version'], capture_output=True, text=True).stdout.split('\n')[0]

    sb = Sandbox(keep=a.keep_sandbox)
    try:
        proxy = Proxy(sb.ip, sb.of_tcp)
        sb.ofctl('del-groups')
        for g in GROUPS:
            sb.ofctl('add-group', g)
        flow_rows, dump_rows, flow_notes = capture_flows(sb, proxy)
        fm_rem = [h for c, f, h in flow_rows if c == 'add-flow' and f == 'send_flow_rem,actions=normal'][0]
        r, conns = proxy.ofctl('add-flow', 'table=2,actions=goto_table:3')
        goto_hex = sent_of_type(conns, 14)[0].hex()
        sb.clear_flows()
        rec = capture_switch_msgs(sb, proxy, fm_rem, goto_hex)
    finally:
        sb.stop()

    origin = '# recorded from %s by scripts/capture-vectors.py (ovs-ofctl -O %s)' % (version, OPENFLOW)
    write_tsv(os.path.join(a.out, 'flow_mods.tsv'), ['command', 'flow', 'hex'], flow_rows, [origin] + flow_notes)
    write_tsv(os.path.join(a.out, 'dump_flows.tsv'), ['flow', 'dumped'], dump_rows, [origin])
    write_tsv(os.path.join(a.out, 'switch_msgs.tsv'), ['name', 'hex', 'ofp_print'],
              [(name, h, ofp_print_first_line(h)) for name, h in rec.rows], [origin] + rec.notes)
    log('flow_mods.tsv: %d rows (%d notes), dump_flows.tsv: %d rows, switch_msgs.tsv: %d rows (%d notes)'
        % (len(flow_rows), len(flow_notes), len(dump_rows), len(rec.rows), len(rec.notes)))


if __name__ == '__main__':
    main()
