#!/usr/bin/env bash
# template and file against hosts (the same 1000 names and addresses), and kubernetes with and
# without a rewrite in front, one clusterdns process serving each setup on its own port.
# Server pinned to core 0, dnsperf to core 1; loopback only; every process started here is
# stopped here by PID.  Results go to benchmarks/template_file_rewrite.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
NAMES=${NAMES:-1000}
OUT=${OUT:-benchmarks/template_file_rewrite.md}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
command -v dnsperf >/dev/null || { echo "missing dnsperf (apt-get install dnsperf)" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# hosts: hostN.hosts.test; template: ip-10-0-X-Y.tpl.test; file: hostN.file.test (same addresses)
{
  echo '$ORIGIN file.test.'
  echo '@ 3600 IN SOA ns hostmaster 1 7200 3600 1209600 3600'
  echo '@ 3600 IN NS ns'
  echo 'ns 3600 IN A 10.255.0.1'
} > "$work/db.file.test"
for ((i = 0; i < NAMES; i++)); do
  ip="10.0.$((i / 256 % 256)).$((i % 256))"
  echo "$ip host$i.hosts.test" >> "$work/hosts"
  echo "host$i 3600 IN A $ip" >> "$work/db.file.test"
  echo "host$i.hosts.test A" >> "$work/q.hosts"
  echo "host$i.file.test A" >> "$work/q.file"
  echo "ip-10-0-$((i / 256 % 256))-$((i % 256)).tpl.test A" >> "$work/q.template"
done
.venv/bin/clusterdns synth --namespaces 10 --services "$NAMES" --endpoints 3 --output "$work/cluster.json" --json > /dev/null
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
items = json.load(open(f"{work}/cluster.json"))["items"]
with open(f"{work}/q.kubernetes", "w") as plain, open(f"{work}/q.rewrite", "w") as alias:
    for obj in items:
        spec = obj.get("spec", {})
        if obj["kind"] != "Service" or spec.get("type") != "ClusterIP" or spec.get("clusterIP") == "None":
            continue
        name, ns = obj["metadata"]["name"], obj["metadata"]["namespace"]
        plain.write(f"{name}.{ns}.svc.cluster.local A\n")
        alias.write(f"{name}.{ns}.alias.test A\n")
PY

declare -A port
for setup in hosts template file kubernetes rewrite; do port[$setup]=$(free_port); done
cat > "$work/Corefile" <<COREFILE
hosts.test:${port[hosts]} {
    bind 127.0.0.1
    hosts $work/hosts hosts.test
}
tpl.test:${port[template]} {
    bind 127.0.0.1
    template IN A tpl.test {
        match ^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]tpl[.]test[.]$
        answer "{{ .Name }} 3600 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
    }
}
file.test:${port[file]} {
    bind 127.0.0.1
    file $work/db.file.test
}
cluster.local:${port[kubernetes]} {
    bind 127.0.0.1
    kubernetes cluster.local {
        manifests $work/cluster.json
    }
}
cluster.local:${port[rewrite]} alias.test:${port[rewrite]} {
    bind 127.0.0.1
    rewrite name suffix .alias.test. .svc.cluster.local. answer auto
    kubernetes cluster.local {
        manifests $work/cluster.json
    }
}
COREFILE
taskset -c 0 .venv/bin/clusterdns serve -conf "$work/Corefile" -quiet > "$work/clusterdns.log" 2>&1 & pids+=($!)
for setup in hosts template file kubernetes rewrite; do
  last=$(tail -1 "$work/q.$setup" | awk '{print $1}')
  for _ in $(seq 150); do
    dig @127.0.0.1 -p "${port[$setup]}" +time=1 +tries=1 +short "$last" A 2>/dev/null | grep -qE '^[0-9.]+$' && break
    sleep 0.2
  done
done
qps() { awk '/Queries per second/ {print $4}' "$work/$1.txt"; }
lat() { awk '/Average Latency/ {print $4}' "$work/$1.txt"; }
lost() { awk '/Queries lost/ {print $3}' "$work/$1.txt"; }
rcodes() { sed -n 's/^ *Response codes: *//p' "$work/$1.txt"; }
for setup in hosts template file kubernetes rewrite; do
  taskset -c 1 dnsperf -s 127.0.0.1 -p "${port[$setup]}" -d "$work/q.$setup" -l "$DURATION" -c 8 -q 500 -T 1 > "$work/$setup.txt" 2>&1 || true
  echo "$setup: $(qps "$setup") qps"
done
ratio() { python3 -c "print(f'{float(\"$(qps "$1")\")/float(\"$(qps "$2")\"):.2f}')"; }
{
  echo "# template, file and rewrite"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) by \`benchmarks/template_file_rewrite.sh\`: one clusterdns process serves"
  echo "each setup on its own port; dnsperf (-c 8 -q 500, ${DURATION}s each) cycles $NAMES A queries per setup."
  echo "hosts, template and file answer the same $NAMES addresses (a hosts file; a template building the"
  echo "address from the name; a zone file). kubernetes serves a \`clusterdns synth\` cluster of $NAMES"
  echo "services; \"rewrite\" is the same with \`rewrite name suffix .alias.test. .svc.cluster.local. answer auto\`"
  echo "in front, queried as \`<svc>.<ns>.alias.test\`. Server on core 0, dnsperf on core 1, loopback."
  echo
  echo "| setup | QPS | avg latency (s) | lost | response codes |"
  echo "|---|---|---|---|---|"
  for setup in hosts template file kubernetes rewrite; do
    echo "| $setup | $(qps "$setup") | $(lat "$setup") | $(lost "$setup") | $(rcodes "$setup") |"
  done
  echo
  echo "- template / hosts: **$(ratio template hosts)** (target >= 0.8)"
  echo "- file / hosts: **$(ratio file hosts)** (target >= 0.8)"
  echo "- rewrite+kubernetes / kubernetes: **$(ratio rewrite kubernetes)** (target >= 0.8)"
  echo
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(uname -sr), $(.venv/bin/python -V). Load average after: $(uptime | sed 's/.*load average: //')."
} > "$OUT"
cat "$OUT"
