#!/usr/bin/env bash
# clusterdns (kubernetes plugin from a synthetic manifest, prometheus and errors on) vs dnsmasq
# (a hosts file with the same service names and cluster IPs), one run.
# Server pinned to core 0, dnsperf to core 1; loopback only; every process started here is
# stopped here by PID.  Results go to benchmarks/kubernetes_vs_dnsmasq.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
SERVICES=${SERVICES:-1000}
NAMESPACES=${NAMESPACES:-10}
ENDPOINTS=${ENDPOINTS:-3}
OUT=${OUT:-benchmarks/kubernetes_vs_dnsmasq.md}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

for bin in dnsperf dnsmasq; do
  command -v "$bin" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf dnsmasq-base >/dev/null; break; }
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

.venv/bin/clusterdns synth --namespaces "$NAMESPACES" --services "$SERVICES" --endpoints "$ENDPOINTS" \
  --output "$work/cluster.json" --json > "$work/synth.json"

# The hosts file and the query file hold the ClusterIP services only (one A record each, the
# same in both servers); headless and ExternalName services have no dnsmasq equivalent here.
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
items = json.load(open(f"{work}/cluster.json"))["items"]
with open(f"{work}/hosts", "w") as hosts, open(f"{work}/queries", "w") as queries:
    for obj in items:
        spec = obj.get("spec", {})
        if obj["kind"] != "Service" or spec.get("type") != "ClusterIP" or spec.get("clusterIP") == "None":
            continue
        name = f"{obj['metadata']['name']}.{obj['metadata']['namespace']}.svc.cluster.local"
        hosts.write(f"{spec['clusterIP']} {name}\n")
        queries.write(f"{name} A\n")
PY
first=$(head -1 "$work/queries" | awk '{print $1}')
last=$(tail -1 "$work/queries" | awk '{print $1}')

cport=$(free_port); mport=$(free_port); metrics=$(free_port)
cat > "$work/Corefile" <<COREFILE
cluster.local:$cport {
    bind 127.0.0.1
    errors
    prometheus 127.0.0.1:$metrics
    kubernetes cluster.local {
        manifests $work/cluster.json
    }
}
COREFILE

run_dnsperf() { # port label
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$DURATION" -c 8 -q 500 -T 1 > "$work/$2.txt" 2>&1 || true
  grep -E "Queries per second|Average Latency|Queries lost" "$work/$2.txt" | sed "s/^/$2: /"
}
address() { dig @127.0.0.1 -p "$1" +time=1 +tries=1 +short "$2" A 2>/dev/null || true; } # port name
# the server answers the last name of the query file (so the whole manifest is loaded)
wait_answer() { # port name
  for _ in $(seq 150); do
    address "$1" "$2" | grep -qE '^[0-9.]+$' && return 0
    sleep 0.2
  done
  echo "server on $1 did not answer $2" >&2; exit 1
}

taskset -c 0 .venv/bin/clusterdns serve -conf "$work/Corefile" -quiet > "$work/clusterdns.log" 2>&1 & pids+=($!)
taskset -c 0 dnsmasq -k --no-resolv --no-hosts --addn-hosts="$work/hosts" --listen-address=127.0.0.1 --bind-interfaces --port="$mport" --cache-size=10000 --local-ttl=30 --pid-file= --user=root > "$work/dnsmasq.log" 2>&1 & pids+=($!)
wait_answer "$cport" "$last"; wait_answer "$mport" "$last"
# the two servers must give the same address for the same name before we compare speed
a=$(address "$cport" "$first"); b=$(address "$mport" "$first")
[ "$a" = "$b" ] || { echo "answers differ for $first: clusterdns '$a', dnsmasq '$b'" >&2; exit 1; }

load_before=$(uptime | sed 's/.*load average: //')
run_dnsperf "$mport" dnsmasq
load_mid=$(uptime | sed 's/.*load average: //')
run_dnsperf "$cport" clusterdns
load_after=$(uptime | sed 's/.*load average: //')
qps() { awk '/Queries per second/ {print $4}' "$work/$1.txt"; }
lat() { awk '/Average Latency/ {print $4}' "$work/$1.txt"; }
lost() { awk '/Queries lost/ {print $3}' "$work/$1.txt"; }
ratio=$(python3 -c "print(f'{float(\"$(qps clusterdns)\")/float(\"$(qps dnsmasq)\"):.2f}')")
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
names=$(wc -l < "$work/queries")
{
  echo "# clusterdns kubernetes vs dnsmasq"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) by \`benchmarks/kubernetes_vs_dnsmasq.sh\`: \`clusterdns synth\` cluster of"
  echo "$SERVICES services in $NAMESPACES namespaces ($ENDPOINTS endpoints each; every 10th headless, every 25th"
  echo "ExternalName); the $names ClusterIP service names are queried (A), cycled by dnsperf (-c 8 -q 500,"
  echo "${DURATION}s each), server on core 0, dnsperf on core 1, loopback. clusterdns runs \`errors\`,"
  echo "\`prometheus\` and \`kubernetes cluster.local { manifests cluster.json }\`; dnsmasq serves the same"
  echo "names and cluster IPs from a hosts file (\`--addn-hosts\`). Both answered the last name before the runs."
  echo
  echo "| server | QPS | avg latency (s) | lost | load average (1/5/15 min) before the run |"
  echo "|---|---|---|---|---|"
  echo "| dnsmasq $(dnsmasq --version | head -1 | awk '{print $3}') | $(qps dnsmasq) | $(lat dnsmasq) | $(lost dnsmasq) | $load_before |"
  echo "| clusterdns $(.venv/bin/python -c 'import clusterdns; print(clusterdns.__version__)') | $(qps clusterdns) | $(lat clusterdns) | $(lost clusterdns) | $load_mid |"
  echo
  echo "Load average after both runs: $load_after (the machine is shared; other test runs add noise)."
  echo
  echo "**Ratio clusterdns / dnsmasq: $ratio** (target >= 0.6)"
  echo
  echo "Machine: $cpu, $(nproc) cores, $(uname -sr), $(.venv/bin/python -V), uvloop $(.venv/bin/python -c 'import uvloop; print(uvloop.__version__)')."
} > "$OUT"
cat "$OUT"
