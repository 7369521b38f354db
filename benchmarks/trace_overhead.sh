#!/usr/bin/env bash
# Throughput with trace (every 100, every 1, and every 0: the hooks alone) against the same
# server without it: clusterdns synth cluster of 1000 services, the ClusterIP names queried (A)
# by dnsperf.  Server pinned to core 0; dnsperf and the OTLP/HTTP collector (tests/otlpcollect.py:
# aiohttp, decodes every request with opentelemetry-proto, keeps nothing) on core 1; loopback
# only; every process started here is stopped here by PID.  Results go to
# benchmarks/trace_overhead.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
SERVICES=${SERVICES:-1000}
ROUNDS=${ROUNDS:-2}
OUT=${OUT:-benchmarks/trace_overhead.md}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

command -v dnsperf >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf >/dev/null; }
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

otlp=$(free_port)
taskset -c 1 .venv/bin/python tests/otlpcollect.py "$otlp" > "$work/collector.txt" 2>&1 &
collector=$!; pids+=($collector)
for _ in $(seq 50); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$otlp),1)" 2>/dev/null && break
  sleep 0.2
done

run() { # label extra-directives
  local port metrics
  port=$(free_port); metrics=$(free_port)
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
  qps=$(awk '/Queries per second/ {print $4}' "$work/$1.txt")
  lost=$(awk '/Queries lost/ {print $3}' "$work/$1.txt")
  echo "$1 $qps $lost"
}

trace() { # every
  echo "trace otlp 127.0.0.1:$otlp {
        every $1
    }"
}

load_before=$(uptime | sed 's/.*load average: //')
results=()
for round in $(seq "$ROUNDS"); do  # interleaved, so a neighbour's load spreads over every label
  results+=("$(run baseline "")")
  results+=("$(run every0 "$(trace 0)")")
  results+=("$(run every100 "$(trace 100)")")
  results+=("$(run every1 "$(trace 1)")")
done
results+=("$(run baseline "")")
load_after=$(uptime | sed 's/.*load average: //')
kill "$collector"; wait "$collector" 2>/dev/null || true
received=$(tail -1 "$work/collector.txt")
printf '%s\n' "${results[@]}"; echo "collector: $received"

python3 - "$OUT" "$DURATION" "$SERVICES" "$ROUNDS" "$load_before" "$load_after" "$received" "${results[@]}" <<'PY'
import statistics, sys, time, platform
out, duration, services, rounds, before, after, received, *runs = sys.argv[1:]
rows = [r.split() for r in runs]
by_label: dict[str, list[float]] = {}
for label, q, _lost in rows:
    by_label.setdefault(label, []).append(float(q))
base = statistics.median(by_label["baseline"])
what = {
    "baseline": "no trace",
    "every0": "`trace { every 0 }`: the hooks, nothing traced",
    "every100": "`trace { every 100 }`",
    "every1": "`trace { every 1 }`: every query",
}
lines = [
    "# clusterdns with trace vs without",
    "",
    f"Run {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} by `benchmarks/trace_overhead.sh`: `clusterdns synth` cluster",
    f"of {services} services in 10 namespaces; the ClusterIP names queried (A) by dnsperf (-c 8 -q 500, {duration}s each),",
    "server on core 0, dnsperf and the OTLP/HTTP collector (`tests/otlpcollect.py`: aiohttp, decodes each",
    "request with opentelemetry-proto) on core 1, loopback. Every server runs `errors`, `prometheus` and",
    "`kubernetes cluster.local { manifests ... }`; the trace runs add `trace otlp 127.0.0.1:PORT { every N }`",
    "(batches of 100 spans, sent at least every second: the defaults). The runs are interleaved,",
    f"{rounds} rounds of baseline, every 0, every 100, every 1, and a last baseline; ratios are medians",
    "against the median baseline.",
    "",
    "| run | what | QPS of each run | median | ratio to baseline |",
    "|---|---|---|---|---|",
]
for label, values in by_label.items():
    median = statistics.median(values)
    each = ", ".join(f"{v:.0f}" for v in values)
    lines.append(f"| {label} | {what[label]} | {each} | {median:.0f} | {median / base:.2f} |")
ratio = {label: statistics.median(v) / base for label, v in by_label.items()}
lost = sum(int(l) for _label, _q, l in rows)
lines += [
    "",
    f"Queries lost over all runs: {lost}. The collector received {received} (over all trace runs).",
    "",
    f"Load average before: {before}; after: {after} (the machine is shared; other runs add noise).",
    "",
    f"**every 100 / baseline: {ratio['every100']:.2f}; every 1 / baseline: {ratio['every1']:.2f};"
    f" hooks alone (every 0) / baseline: {ratio['every0']:.2f}**.",
    "",
    f"Machine: {platform.processor() or platform.machine()}, 2 cores, Python {platform.python_version()}.",
]
open(out, "w").write("\n".join(lines) + "\n")
PY
cat "$OUT"
