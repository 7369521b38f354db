#!/usr/bin/env bash
# clusterdns nodecache (the cluster.local block of the nodelocaldns Corefile) vs unbound as a
# cache, both in front of the same local authoritative upstream (dnsmasq with --addn-hosts),
# warm cache, one run.  Cache pinned to core 0, dnsperf to core 1; loopback only; every
# process started here is stopped here by PID.  Results go to benchmarks/nodecache_vs_unbound.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
NAMES=${NAMES:-1000}
OUT=benchmarks/nodecache_vs_unbound.md
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

for bin in dnsperf dnsmasq unbound; do
  command -v "$bin" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf dnsmasq-base unbound >/dev/null; break; }
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

python3 - "$work" "$NAMES" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
with open(f"{work}/hosts", "w") as hosts, open(f"{work}/queries", "w") as queries:
    for i in range(n):
        name = f"svc{i}.ns{i % 10}.svc.cluster.local"
        hosts.write(f"10.{96 + i // 65536}.{(i // 256) % 256}.{i % 256} {name}\n")
        queries.write(f"{name} A\n")
PY

uport=$(free_port); cport=$(free_port); bport=$(free_port); mport=$(free_port); hport=$(free_port)

# The node cache's cluster.local block as in the nodelocaldns ConfigMap (seed 003), ports made
# ephemeral; __PILLAR__ values are filled in by `clusterdns nodecache` itself.
cat > "$work/Corefile.base" <<COREFILE
cluster.local:$cport {
    errors
    cache {
            success 9984 30
            denial 9984 5
    }
    reload
    loop
    bind __PILLAR__LOCAL__DNS__
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
    prometheus 127.0.0.1:$mport
    health __PILLAR__LOCAL__DNS__:$hport
    }
COREFILE

# unbound as a plain cache: one thread, no validator, everything forwarded to the local upstream
# over TCP (as force_tcp), so it never looks for root hints or leaves loopback.
cat > "$work/unbound.conf" <<CONF
server:
    interface: 127.0.0.1@$bport
    port: $bport
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$work"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    do-ip6: no
    outgoing-interface: 127.0.0.1
    do-not-query-localhost: no
    module-config: "iterator"
    msg-cache-size: 16m
    rrset-cache-size: 32m
    local-zone: "local." nodefault
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$uport
    forward-tcp-upstream: yes
CONF

wait_port() { for _ in $(seq 100); do dig @127.0.0.1 -p "$1" +time=1 +tries=1 +short svc0.ns0.svc.cluster.local 2>/dev/null | grep -q . && return 0; sleep 0.2; done; echo "server on $1 did not answer" >&2; exit 1; }

taskset -c 1 dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --addn-hosts="$work/hosts" --listen-address=127.0.0.1 --bind-interfaces --port="$uport" --cache-size=0 --local-ttl=30 --pid-file= --user=root > "$work/dnsmasq.log" 2>&1 & pids+=($!)
wait_port "$uport"
taskset -c 0 .venv/bin/clusterdns nodecache -localip 127.0.0.1 -dns.port "$cport" \
  -basecorefile "$work/Corefile.base" -conf "$work/Corefile" \
  -clusterdns "127.0.0.1:$uport" -upstream-servers "127.0.0.1:$uport" \
  -setupinterface=false -setupiptables=false -metrics-listen-address 127.0.0.1:0 > "$work/nodecache.log" 2>&1 & pids+=($!)
taskset -c 0 unbound -d -c "$work/unbound.conf" > "$work/unbound.log" 2>&1 & pids+=($!)
wait_port "$cport"; wait_port "$bport"

ROUNDS=${ROUNDS:-3}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
warm() { taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -n 1 -c 8 -T 1 > /dev/null 2>&1 || true; }
measure() { # port label round
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$DURATION" -c 8 -q 500 -T 1 > "$work/$2.$3.txt" 2>&1 || true
  awk -v l="$2" -v r="$3" '/Queries per second/ {q=$4} /Average Latency/ {a=$4} /Queries lost/ {lo=$3} END {print l, r, q, a, lo}' "$work/$2.$3.txt" | tee -a "$work/results"
}
# Interleaved rounds: on a shared machine the load drifts, and alternating keeps it fair.
warm "$bport"; warm "$cport"
for round in $(seq "$ROUNDS"); do
  warm "$bport"; measure "$bport" unbound "$round"
  warm "$cport"; measure "$cport" nodecache "$round"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

hits=$(curl -s "http://127.0.0.1:$mport/metrics" | awk '/^coredns_cache_hits_total/ {s += $2} END {printf "%d", s}')
misses=$(curl -s "http://127.0.0.1:$mport/metrics" | awk '/^coredns_cache_misses_total/ {s += $2} END {printf "%d", s}')
median() { awk -v l="$1" -v c="$2" '$1 == l {print $c}' "$work/results" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
rounds() { awk -v l="$1" '$1 == l {printf "%s%.0f", sep, $3; sep=", "}' "$work/results"; }
ratio=$(python3 -c "print(f'{float(\"$(median nodecache 3)\")/float(\"$(median unbound 3)\"):.2f}')")
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
{
  echo "# clusterdns nodecache vs unbound (warm cache)"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) by \`benchmarks/nodecache_vs_unbound.sh\`: $NAMES names under"
  echo "svc.cluster.local, A queries cycled by dnsperf (-c 8 -q 500, ${DURATION}s per measurement, each after"
  echo "a warming pass over every name), $ROUNDS interleaved rounds, medians shown; cache on core 0,"
  echo "dnsperf on core 1, loopback only. Load average before/after: $load_before / $load_after"
  echo "(the machine is shared; the rounds show the spread)."
  echo
  echo "- clusterdns: \`clusterdns nodecache -localip 127.0.0.1 -setupinterface=false -setupiptables=false\`"
  echo "  serving the cluster.local block of the nodelocaldns Corefile (errors, \`cache { success 9984 30;"
  echo "  denial 9984 5 }\`, \`forward . CLUSTER_DNS { force_tcp }\`, prometheus, health)."
  echo "- unbound: one thread, iterator only (no validator), \`forward-zone \".\"\` to the same upstream"
  echo "  with \`forward-tcp-upstream: yes\`, no remote-control, no root hints used."
  echo "- upstream for both: dnsmasq on 127.0.0.1 with \`--no-resolv --no-hosts --addn-hosts\`, TTL 30."
  echo
  echo "| cache | median QPS | QPS per round | median avg latency (s) | median lost |"
  echo "|---|---|---|---|---|"
  echo "| unbound $(unbound -V | head -1 | awk '{print $2}') | $(median unbound 3) | $(rounds unbound) | $(median unbound 4) | $(median unbound 5) |"
  echo "| clusterdns nodecache $(.venv/bin/python -c 'import clusterdns; print(clusterdns.__version__)') | $(median nodecache 3) | $(rounds nodecache) | $(median nodecache 4) | $(median nodecache 5) |"
  echo
  echo "**Ratio of medians, clusterdns nodecache / unbound: $ratio** (target >= 0.5)."
  echo
  echo "clusterdns cache counters after the run: coredns_cache_hits_total $hits, coredns_cache_misses_total $misses"
  echo "(hits include the answers the server sent from its memo of cached replies, so nearly every"
  echo "measured query is a hit: the numbers above are the warm-cache path)."
  echo
  echo "Machine: $cpu, $(nproc) cores, $(uname -sr), $(.venv/bin/python -V), uvloop $(.venv/bin/python -c 'import uvloop; print(uvloop.__version__)'), dnsperf $(dnsperf -h 2>&1 | sed -n 's/.*Version \([0-9.]*\).*/\1/p' | head -1)."
} > "$OUT"
cat "$OUT"
