# The clusterdns image the manifests in deploy/ run (clusterdns/clusterdns:0.1.0).
#   docker build -t clusterdns/clusterdns:0.1.0 .
#   podman build --isolation chroot -t clusterdns/clusterdns:0.1.0 .
# The manifests run `serve` with kubeadm's Corefile and `nodecache`, which need the core
# install only: no extra (pyproject.toml) is installed.
# BASE is any Debian-like image with python3 and its venv module; tests/deploy/test_image.py
# builds on a Debian base made with mmdebstrap (--build-arg BASE=...).
ARG BASE=python:3.11-slim-bookworm

# Stage 1: the venv at /opt/clusterdns, without pip and setuptools (not used at run time),
# its extension modules stripped of debug symbols (uvloop's loop.so: 13.6 MB -> 1.6 MB).
# The dependencies come first, in a layer of their own that a change in src/ leaves cached.
FROM ${BASE} AS build
# Debian's stable security updates replace package versions, so they are not pinned here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -m venv /opt/clusterdns \
    && python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); \
                   print(*p["project"]["dependencies"], *p["build-system"]["requires"], sep="\n")' \
       > /tmp/requirements.txt \
    && /opt/clusterdns/bin/pip install --no-cache-dir -r /tmp/requirements.txt \
    && find /opt/clusterdns -name '*.so' -exec strip --strip-unneeded {} +
COPY README.md LICENSE ./
COPY src ./src
RUN /opt/clusterdns/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/clusterdns/bin/pip install --no-cache-dir --no-index --find-links=/wheels \
       clusterdns==0.1.0 \
    && /opt/clusterdns/bin/pip uninstall -y -q pip setuptools

# Stage 2: the base with what the commands need at run time (iproute2 and iptables for
# `clusterdns nodecache`: the dummy interface and the NOTRACK rules; libcap2-bin stays,
# iproute2 depends on it), less what nothing
# runs: apt's lists and logs, documentation, glibc's iconv charset modules (gconv, 8 MB:
# Python has its own codecs), Python's test suite, IDLE, Tk, 2to3, pydoc's topics,
# distutils and the bundled pip/setuptools wheels. The stdlib's compiled .pyc stay (the
# root is read-only at run time, so Python could not write them).
FROM ${BASE} AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 iptables libcap2-bin \
    && setcap cap_net_bind_service=+ep "$(readlink -f "$(command -v python3)")" \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/lib/dpkg/*-old \
    && find /var/log -type f -delete \
    && find /usr/share/doc -type f ! -name copyright -delete \
    && find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + \
    && rm -rf /usr/share/man/* /usr/share/info/* /usr/share/python-wheels \
    && rm -rf /usr/lib/*-linux-gnu*/gconv \
    && stdlib="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')" \
    && for module in test idlelib tkinter turtledemo lib2to3 pydoc_data distutils ensurepip; do \
         rm -rf "${stdlib:?}/$module"; \
       done
COPY --from=build /opt/clusterdns /opt/clusterdns

# Stage 3: the runtime stage as one layer, so what stage 2 removed from the base's layers
# is gone from the image too. COPY keeps the interpreter's file capability (an xattr);
# tests/deploy/test_image.py checks it in the built image.
FROM scratch
# hadolint ignore=DL3067
COPY --from=runtime / /
ENV PATH=/opt/clusterdns/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8
LABEL org.opencontainers.image.title="clusterdns" \
      org.opencontainers.image.description="Kubernetes cluster DNS in Python: a CoreDNS-compatible server and a node-local DNS cache" \
      org.opencontainers.image.licenses="Apache-2.0"
# Port 53 as a non-root user: the interpreter carries CAP_NET_BIND_SERVICE (set above),
# and the Deployment adds NET_BIND_SERVICE to the container's bounding set.
USER 65532:65532
EXPOSE 53/udp 53/tcp 9153/tcp 8080/tcp 8181/tcp
ENTRYPOINT ["clusterdns"]
CMD ["serve", "-conf", "/etc/coredns/Corefile"]
