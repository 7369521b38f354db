# The clusterdns image the manifests in deploy/ run (clusterdns/clusterdns:0.1.0).
#   docker build -t clusterdns/clusterdns:0.1.0 .
# Stage 1 installs clusterdns into a venv at /opt/clusterdns; stage 2 copies that venv onto
# the same base with only what the commands need at run time: iproute2 and iptables for
# `clusterdns nodecache` (the dummy interface and the NOTRACK rules).
# The manifests run `serve` with kubeadm's Corefile and `nodecache`, which need the core
# install only: no extra (pyproject.toml) is installed.
# BASE is any Debian-like image with python3 and its venv module; tests/deploy/test_image.py
# builds on a Debian base made with mmdebstrap (--build-arg BASE=...).
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN python3 -m venv /opt/clusterdns \
    && /opt/clusterdns/bin/pip wheel --no-cache-dir --wheel-dir /wheels . \
    && /opt/clusterdns/bin/pip install --no-cache-dir --no-index --find-links=/wheels \
       clusterdns==0.1.0 \
    && /opt/clusterdns/bin/pip uninstall -y -q pip setuptools

FROM ${BASE}
LABEL org.opencontainers.image.title="clusterdns" \
      org.opencontainers.image.description="Kubernetes cluster DNS in Python: a CoreDNS-compatible server and a node-local DNS cache" \
      org.opencontainers.image.licenses="Apache-2.0"
# Debian's stable security updates replace package versions, so they are not pinned here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 iptables libcap2-bin \
    && setcap cap_net_bind_service=+ep "$(readlink -f "$(command -v python3)")" \
    && apt-get purge -y libcap2-bin \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=build /opt/clusterdns /opt/clusterdns
ENV PATH=/opt/clusterdns/bin:$PATH
# Port 53 as a non-root user: the interpreter carries CAP_NET_BIND_SERVICE (set above),
# and the Deployment adds NET_BIND_SERVICE to the container's bounding set.
USER 65532:65532
EXPOSE 53/udp 53/tcp 9153/tcp 8080/tcp 8181/tcp
ENTRYPOINT ["clusterdns"]
CMD ["serve", "-conf", "/etc/coredns/Corefile"]
