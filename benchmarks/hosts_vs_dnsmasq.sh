#!/usr/bin/env bash
# clusterdns (hosts plugin, prometheus and errors on) vs dnsmasq, the same 1 000 names, one run.
# Server pinned to core 0, dnsperf to core 1; loopback only; every process started here is
# stopped here by PID.  Results go to benchmarks/hosts_vs_dnsmasq.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
NAMES=${NAMES:-1000}
OUT=benchmarks/hosts_vs_dnsmasq.md
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
KEEP=${KEEP:-}

for bin in dnsperf dnsmasq; do
  command -v "$bin" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf dnsmasq-base >/dev/null; break; }
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

cport=$(free_port); mport=$(free_port); metrics=$(free_port)
cat > "$work/Corefile" <<COREFILE
cluster.local:$cport {
    bind 127.0.0.1
    errors
    prometheus 127.0.0.1:$metrics
    hosts $work/hosts {
        ttl 30
        reload 0
    }
}
COREFILE

run_dnsperf() { # port label
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$DURATION" -c 8 -q 500 -T 1 > "$work/$2.txt" 2>&1 || true
  grep -E "Queries per second|Average Latency|Queries lost" "$work/$2.txt" | sed "s/^/$2: /"
}
wait_port() { for _ in $(seq 50); do dig @127.0.0.1 -p "$1" +time=1 +tries=1 svc0.ns0.svc.cluster.local >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "server on $1 did not answer" >&2; exit 1; }

taskset -c 0 .venv/bin/clusterdns serve -conf "$work/Corefile" -quiet > "$work/clusterdns.log" 2>&1 & pids+=($!)
taskset -c 0 dnsmasq -k --no-resolv --no-hosts --addn-hosts="$work/hosts" --listen-address=127.0.0.1 --bind-interfaces --port="$mport" --cache-size=10000 --local-ttl=30 --pid-file= --user=root > "$work/dnsmasq.log" 2>&1 & pids+=($!)
wait_port "$cport"; wait_port "$mport"

run_dnsperf "$mport" dnsmasq
run_dnsperf "$cport" clusterdns
qps() { awk '/Queries per second/ {print $4}' "$work/$1.txt"; }
lat() { awk '/Average Latency/ {print $4}' "$work/$1.txt"; }
lost() { awk '/Queries lost/ {print $3}' "$work/$1.txt"; }
ratio=$(python3 -c "print(f'{float(\"$(qps clusterdns)\")/float(\"$(qps dnsmasq)\"):.2f}')")
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
{
  echo "# clusterdns hosts vs dnsmasq"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) by \`benchmarks/hosts_vs_dnsmasq.sh\`: $NAMES names, A queries cycled by"
  echo "dnsperf (-c 8 -q 500, ${DURATION}s each), server on core 0, dnsperf on core 1, loopback."
  echo "clusterdns runs \`errors\`, \`prometheus\` and \`hosts\`."
  echo
  echo "| server | QPS | avg latency (s) | lost |"
  echo "|---|---|---|---|"
  echo "| dnsmasq $(dnsmasq --version | head -1 | awk '{print $3}') | $(qps dnsmasq) | $(lat dnsmasq) | $(lost dnsmasq) |"
  echo "| clusterdns $(.venv/bin/python -c 'import clusterdns; print(clusterdns.__version__)') | $(qps clusterdns) | $(lat clusterdns) | $(lost clusterdns) |"
  echo
  echo "**Ratio clusterdns / dnsmasq: $ratio**"
  echo
  echo "Machine: $cpu, $(nproc) cores, $(uname -sr), $(.venv/bin/python -V), uvloop $(.venv/bin/python -c 'import uvloop; print(uvloop.__version__)')."
} > "$OUT"
cat "$OUT"
