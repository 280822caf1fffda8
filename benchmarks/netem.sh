#!/bin/sh
# A simulated slow link between two network namespaces of our own, for benchmarks/retrieve.py.
#
#   benchmarks/netem.sh up   NAME [RATE] [DELAY_MS]   create NAME-srv and NAME-cli, joined by a veth
#   benchmarks/netem.sh down NAME                     delete both (and with them the veth pair)
#
# Needs root (ip netns). Addresses are only ever those of the pair, from TEST-NET-1 (RFC 5737,
# documentation range): 192.0.2.1/30 in NAME-srv, 192.0.2.2/30 in NAME-cli; no route leaves the
# two namespaces. The server side's egress is shaped: `netem rate RATE delay DELAY_MS` when the
# kernel has sch_netem; otherwise a token bucket (`tbf rate RATE`, kernel) and the delay left to
# a user-space delay line that the benchmark runs (printed as USERSPACE_DELAY_MS).
#
# `up` prints KEY=VALUE lines: SERVER_NS, CLIENT_NS, SERVER_IP, CLIENT_IP, SHAPER,
# USERSPACE_DELAY_MS. It undoes what it made when a step fails. `down` is idempotent.
set -eu

usage() {
    echo "usage: $0 up NAME [RATE] [DELAY_MS] | down NAME" >&2
    exit 2
}

[ $# -ge 2 ] || usage
action=$1
name=$2
case $name in
    *[!A-Za-z0-9-]* | "") echo "NAME may hold letters, digits and '-' only" >&2; exit 2 ;;
esac
srv="$name-srv"
cli="$name-cli"
# Interface names are at most 15 bytes: derive short ones from a hash of NAME.
tag=$(printf '%s' "$name" | cksum | cut -c1-8)
veth_srv="wss$tag"
veth_cli="wsc$tag"

down() {
    ip netns del "$srv" 2>/dev/null || true
    ip netns del "$cli" 2>/dev/null || true
    # A veth end left in the root namespace by a failed `up` (normally deleted with its netns).
    ip link del "$veth_srv" 2>/dev/null || true
}

case $action in
    down)
        down
        exit 0
        ;;
    up) ;;
    *) usage ;;
esac

rate=${3:-20mbit}
delay_ms=${4:-40}
if [ "$(id -u)" != 0 ]; then
    echo "network namespaces need root" >&2
    exit 3
fi

trap 'down' EXIT
ip netns add "$srv"
ip netns add "$cli"
ip link add "$veth_srv" type veth peer name "$veth_cli"
ip link set "$veth_srv" netns "$srv"
ip link set "$veth_cli" netns "$cli"
ip -n "$srv" addr add 192.0.2.1/30 dev "$veth_srv"
ip -n "$cli" addr add 192.0.2.2/30 dev "$veth_cli"
for ns in "$srv" "$cli"; do
    ip -n "$ns" link set lo up
done
ip -n "$srv" link set "$veth_srv" up
ip -n "$cli" link set "$veth_cli" up

if ip netns exec "$srv" tc qdisc add dev "$veth_srv" root netem rate "$rate" \
    delay "${delay_ms}ms" limit 10000 2>/dev/null; then
    shaper="netem rate $rate delay ${delay_ms}ms"
    userspace_delay=0
else
    # No sch_netem in this kernel: rate in the kernel, delay in user space. The bucket holds
    # 32 KB (a few packets at this rate) and queues up to 100 ms before dropping.
    ip netns exec "$srv" tc qdisc add dev "$veth_srv" root tbf rate "$rate" burst 32kb \
        latency 100ms
    shaper="tbf rate $rate (no sch_netem in this kernel); delay ${delay_ms}ms in user space"
    userspace_delay=$delay_ms
fi
trap - EXIT

echo "SERVER_NS=$srv"
echo "CLIENT_NS=$cli"
echo "SERVER_IP=192.0.2.1"
echo "CLIENT_IP=192.0.2.2"
echo "SHAPER=$shaper"
echo "USERSPACE_DELAY_MS=$userspace_delay"
