# The two commands a fresh machine needs: `make serve` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEBS   := dnsutils dnsperf dnsmasq-base unbound iproute2 iptables conntrack etcd-server etcd-client fstrm-bin dnstap-ldns podman mmdebstrap buildah
DEBS   += bpftrace ipvsadm nftables  # doctor node --trace (BPF drop reasons); the lab reports IPVS where the kernel has it
DEBS   += prometheus  # promtool and a real Prometheus for deploy/monitoring's tests
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: serve test lint unit debs bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'  # test pulls every extra ([all])
	touch $(STAMP)

# Debian packages the tests and benchmarks drive (dig, dnsperf, dnsmasq, unbound, ip, iptables,
# etcd and etcdctl for the etcd plugin's tests; fstrm_capture and dnstap-ldns: another
# implementation of Frame Streams and dnstap; podman, mmdebstrap and buildah to build the image
# on a Debian base in tests/deploy/test_image.py).
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

serve: $(STAMP)
	$(VENV)/bin/clusterdns serve

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

unit: $(STAMP) debs
	$(VENV)/bin/pytest

test: lint unit

bench: $(STAMP) debs
	bash benchmarks/hosts_vs_dnsmasq.sh

clean:
	rm -rf $(VENV) build src/*.egg-info
