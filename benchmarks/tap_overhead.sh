#!/usr/bin/env bash
# Throughput with dnstap (a collector reading) and with searchwalk, against the same server
# without them: clusterdns synth cluster of 1000 services, the ClusterIP names queried (A) by
# dnsperf.  Server pinned to core 0; dnsperf and the collector (fstrm_capture, Debian's C
# implementation, writing to /dev/null) on core 1; loopback only; every process started here
# is stopped here by PID.  Results go to benchmarks/tap_overhead.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
SERVICES=${SERVICES:-1000}
OUT=${OUT:-benchmarks/tap_overhead.md}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

for bin in dnsperf fstrm_capture; do
  command -v "$bin" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf fstrm-bin >/dev/null; break; }
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

.venv/bin/clusterdns synth --namespaces 10 --services "$SERVICES" --endpoints 3 \
  --output "$work/cluster.json" --json > "$work/synth.json"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
items = json.load(open(f"{work}/cluster.json"))["items"]
with open(f"{work}/queries", "w") as queries:
    for obj in items:
        spec = obj.get("spec", {})
        if obj["kind"] == "Service" and spec.get("type") == "ClusterIP" and spec.get("clusterIP") != "None":
            queries.write(f"{obj['metadata']['name']}.{obj['metadata']['namespace']}.svc.cluster.local A\n")
PY
last=$(tail -1 "$work/queries" | awk '{print $1}')

run() { # label extra-directives ("TAPSOCK" in them: a fresh collector for this run)
  local port metrics collector=""
  port=$(free_port); metrics=$(free_port)
  if [[ "$2" == *TAPSOCK* ]]; then
    taskset -c 1 fstrm_capture -t protobuf:dnstap.Dnstap -u "$work/tap.$1.sock" -w /dev/null \
      > "$work/fstrm.$1.log" 2>&1 &
    collector=$!; pids+=($collector)
    sleep 0.5
  fi
  set -- "$1" "${2//TAPSOCK/$work/tap.$1.sock}"
  cat > "$work/Corefile.$1" <<COREFILE
cluster.local:$port {
    bind 127.0.0.1
    errors
    prometheus 127.0.0.1:$metrics
    $2
    kubernetes cluster.local {
        manifests $work/cluster.json
    }
}
COREFILE
  taskset -c 0 .venv/bin/clusterdns serve -conf "$work/Corefile.$1" -quiet > "$work/$1.log" 2>&1 &
  local pid=$!; pids+=($pid)
  for _ in $(seq 150); do
    dig @127.0.0.1 -p "$port" +time=1 +tries=1 +short "$last" A 2>/dev/null | grep -qE '^[0-9.]+$' && break
    sleep 0.2
  done
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries" -l "$DURATION" -c 8 -q 500 -T 1 > "$work/$1.txt" 2>&1 || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  if [ -n "$collector" ]; then kill "$collector"; wait "$collector" 2>/dev/null || true; fi
  qps=$(awk '/Queries per second/ {print $4}' "$work/$1.txt")
  lost=$(awk '/Queries lost/ {print $3}' "$work/$1.txt")
  echo "$1 $qps $lost"
}

load_before=$(uptime | sed 's/.*load average: //')
base1=$(run baseline "")
tap=$(run dnstap "dnstap unix://TAPSOCK full")
walk=$(run searchwalk "searchwalk")
both=$(run both "dnstap unix://TAPSOCK full
    searchwalk")
base2=$(run baseline2 "")
load_after=$(uptime | sed 's/.*load average: //')
echo "$base1"; echo "$tap"; echo "$walk"; echo "$both"; echo "$base2"

python3 - "$OUT" "$DURATION" "$SERVICES" "$load_before" "$load_after" "$base1" "$tap" "$walk" "$both" "$base2" <<'PY'
import sys, time, platform
out, duration, services, before, after, *runs = sys.argv[1:]
rows = [r.split() for r in runs]
qps = {label: float(q) for label, q, _lost in rows}
base = (qps["baseline"] + qps["baseline2"]) / 2
lines = [
    "# clusterdns with dnstap and searchwalk vs without",
    "",
    f"Run {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} by `benchmarks/tap_overhead.sh`: `clusterdns synth` cluster",
    f"of {services} services in 10 namespaces; the ClusterIP names queried (A) by dnsperf (-c 8 -q 500, {duration}s each),",
    "server on core 0, dnsperf and the dnstap collector (`fstrm_capture -w /dev/null`, reading all the time,",
    "a fresh one for each run that taps) on core 1, loopback. Every server runs `errors`, `prometheus` and",
    "`kubernetes cluster.local { manifests ... }`; the runs add `dnstap unix://SOCK full`, `searchwalk`, or both.",
    "The baseline ran first and last; ratios are against the mean of the two.",
    "",
    "| run | QPS | lost | ratio to baseline |",
    "|---|---|---|---|",
]
for label, q, lost in rows:
    lines.append(f"| {label} | {float(q):.0f} | {lost} | {float(q) / base:.2f} |")
lines += [
    "",
    f"Load average before: {before}; after: {after} (the machine is shared; other runs add noise).",
    "",
    f"**dnstap (collector reading) / baseline: {qps['dnstap'] / base:.2f}; searchwalk / baseline: "
    f"{qps['searchwalk'] / base:.2f}; both / baseline: {qps['both'] / base:.2f}** (target >= 0.8).",
    "",
    "autopath: the 8-query walk of seed 002 (google.com from a pod, A and AAAA, ndots:5) takes 2 queries",
    "with `autopath @kubernetes` (tests/plugins/test_autopath.py::test_a_pods_external_lookup_takes_one_query_per_type",
    "asserts the CNAME answer to the first query of each type and `coredns_autopath_success_total` +2).",
    "",
    f"Machine: {platform.processor() or platform.machine()}, 2 cores, Python {platform.python_version()}.",
]
open(out, "w").write("\n".join(lines) + "\n")
PY
cat "$OUT"
