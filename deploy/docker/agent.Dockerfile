# syntax=docker/dockerfile:1
#
# The agent image: the opsconductor binary run as `opsconductor agent` by an unprivileged
# user, with exactly one capability available to it: CAP_NET_RAW, for ping.
#
#   docker build -f deploy/docker/agent.Dockerfile -t opsconductor-agent:dev .
#
# Build context: the repository root (see .dockerignore); needs BuildKit (cache mounts).
#
# ICMP: the agent pings over unprivileged ICMP datagram sockets first, which need no
# capability, only a net.ipv4.ping_group_range that covers the process's group (Docker sets
# "0 2147483647" in every container's network namespace; on Kubernetes set the same safe
# sysctl in the pod). Raw sockets are the fallback and need CAP_NET_RAW: the binary carries
# it as a file capability (cap_net_raw+ep), so the non-root user gets it at exec when the
# container keeps NET_RAW in its bounding set and allows that gain:
#   compose:     cap_drop: [ALL]  cap_add: [NET_RAW]  (no no-new-privileges)
#   Kubernetes:  capabilities: {drop: [ALL], add: [NET_RAW]}, allowPrivilegeEscalation: true
# A container whose bounding set lacks NET_RAW cannot exec this binary at all ("operation not
# permitted"); with no-new-privileges it runs without the capability (datagram sockets only).
#
# The identity written at enrollment lives in /var/lib/opsconductor: give it a volume.
# OC_ENROLLMENT_TOKEN_FILE names a file holding the one-time token for the first start
# (deploy/docker/agent-entrypoint.sh). Prometheus metrics: GET /metrics on 9464.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=bookworm

# ---- Rust build ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
ARG RUST_VERSION
ENV RUSTUP_TOOLCHAIN=${RUST_VERSION} \
    CARGO_TERM_COLOR=never
WORKDIR /src
COPY . .
# The same binary as the controller's; it may embed the web UI, which the agent never
# serves: an empty web/dist keeps the build independent of Node.
RUN mkdir -p web/dist
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p opsconductor \
    && install -D -m 0755 target/release/opsconductor /out/opsconductor

# ---- runtime ------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# ca-certificates: the HTTP action checks https:// targets against the system's CAs.
# libcap2-bin: setcap below, purged again right after it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libcap2-bin \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 opsconductor \
    && useradd --system --uid 10001 --gid opsconductor --no-create-home \
         --home-dir /var/lib/opsconductor --shell /usr/sbin/nologin opsconductor \
    && install -d -o opsconductor -g opsconductor -m 0700 /var/lib/opsconductor

COPY --chmod=0755 deploy/docker/healthcheck.sh /usr/local/bin/opsconductor-healthcheck
COPY --chmod=0755 deploy/docker/agent-entrypoint.sh /usr/local/bin/opsconductor-agent-entrypoint

# The binary is installed and given its capability in one step, from a bind mount of the
# build stage: no COPY can drop the extended attribute that holds the capability, and no
# layer holds the binary twice (a setcap after a COPY would copy it up).
RUN --mount=type=bind,from=builder,source=/out,target=/mnt/out \
    install -m 0755 /mnt/out/opsconductor /usr/local/bin/opsconductor \
    && setcap cap_net_raw+ep /usr/local/bin/opsconductor \
    && getcap /usr/local/bin/opsconductor | grep cap_net_raw \
    && apt-get purge -y --auto-remove libcap2-bin

ENV OPSCONDUCTOR_IDENTITY_FILE=/var/lib/opsconductor/agent.json \
    OPSCONDUCTOR_METRICS_LISTEN=0.0.0.0:9464 \
    OPSCONDUCTOR_LOG_FORMAT=json

WORKDIR /var/lib/opsconductor
USER 10001:10001
EXPOSE 9464

# The agent's only listener is the metrics one: a scrape that answers is a live agent.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["opsconductor-healthcheck", "metrics", "/metrics"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["opsconductor-agent-entrypoint"]
CMD ["agent"]
