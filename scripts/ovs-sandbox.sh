#!/usr/bin/env bash
# ovs-sandbox.sh up|down|env|selftest -- shell side of testing/sandbox.js (private TLS Open vSwitch on loopback,
# laid out like XCP-ng hosts; see the header of testing/sandbox.js for ports, certificates and identifiers).
#
#   SANDBOX=/tmp/ovs scripts/ovs-sandbox.sh up [--hosts N] [--nports N] [--profile xcpng-8.3] [--no-tcp]
#   eval "$(SANDBOX=/tmp/ovs scripts/ovs-sandbox.sh env [--host I])"   # OVS_RUNDIR..., CLIENT_KEY/CERT,
#                                                                     # HOST_CERT, CA_CERT, OVSDB_SSL, OPENFLOW_SSL...
#   ovs-ofctl -O OpenFlow11 -p "$CLIENT_KEY" -c "$CLIENT_CERT" -C "$HOST_CERT" dump-flows "$OPENFLOW_SSL"
#   ovs-vsctl show; ovs-ofctl -O OpenFlow11 dump-flows br0; ovs-appctl -t ovs-vswitchd ofproto/trace br0 in_port=1
#   SANDBOX=/tmp/ovs scripts/ovs-sandbox.sh down [--keep]
#   scripts/ovs-sandbox.sh selftest [--profile xcpng-8.3]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
js="$here/../testing/sandbox.js"
SANDBOX=${SANDBOX:-/tmp/ovs-sandbox}
cmd=${1:-}; shift || true
case "$cmd" in
  up)       node "$js" up --dir "$SANDBOX" "$@" >/dev/null && echo "OVS sandbox up in $SANDBOX (details: $SANDBOX/sandbox.json)" >&2 ;;
  down)     node "$js" down --dir "$SANDBOX" "$@" ;;
  env)      node "$js" env --dir "$SANDBOX" "$@" ;;
  selftest) node "$js" selftest "$@" ;;
  *) echo "usage: SANDBOX=DIR $0 up|down|env|selftest [options]" >&2; exit 2 ;;
esac
