# The clusterdns image the manifests in deploy/ run (clusterdns/clusterdns:0.1.0).
#   docker build -t clusterdns/clusterdns:0.1.0 .
# Stage 1 builds wheels of clusterdns and its dependencies; stage 2 installs them on a
# slim Python with only what the commands need at run time: iproute2 and iptables for
# `clusterdns nodecache` (the dummy interface and the NOTRACK rules).

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="clusterdns" \
      org.opencontainers.image.description="Kubernetes cluster DNS in Python: a CoreDNS-compatible server and a node-local DNS cache" \
      org.opencontainers.image.licenses="Apache-2.0"
# Debian's stable security updates replace package versions, so they are not pinned here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 iptables libcap2-bin \
    && setcap cap_net_bind_service=+ep "$(readlink -f /usr/local/bin/python3)" \
    && apt-get purge -y libcap2-bin \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels clusterdns==0.1.0 \
    && rm -rf /wheels
# Port 53 as a non-root user: the interpreter carries CAP_NET_BIND_SERVICE (set above),
# and the Deployment adds NET_BIND_SERVICE to the container's bounding set.
USER 65532:65532
EXPOSE 53/udp 53/tcp 9153/tcp 8080/tcp 8181/tcp
ENTRYPOINT ["clusterdns"]
CMD ["serve", "-conf", "/etc/coredns/Corefile"]
