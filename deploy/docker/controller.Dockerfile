# syntax=docker/dockerfile:1
#
# The controller image: the opsconductor binary (with the web UI embedded) and the
# shipped libraries, run as an unprivileged user on a slim Debian base.
#
#   docker build -f deploy/docker/controller.Dockerfile -t opsconductor-controller:dev .
#
# Build context: the repository root (see .dockerignore). Needs BuildKit (the default builder
# since Docker 23): the web stage copies a wildcard that may match nothing, and the Rust
# build keeps its registry and target folders in cache mounts.
#
# Runs `opsconductor controller` by default (`docker run IMAGE migrate` applies migrations
# only). REST, the OpenAPI docs, /healthz, /readyz and /metrics on 8080; gRPC for agents and
# occtl on 50051. Configure it with OPSCONDUCTOR_* variables (README, Configuration).

ARG RUST_VERSION=1.95.0
ARG NODE_VERSION=20
ARG DEBIAN_RELEASE=bookworm

# ---- web UI -----------------------------------------------------------------------------
# Builds web/ (React + Vite, npm; Vite writes web/dist). A context without web/ (web*
# matches nothing) yields an empty dist/ and a binary that serves only the API.
# Node 20: the version the web toolchain is pinned for (shared web-toolchain notes).
FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS web
WORKDIR /src/web
COPY web* ./
RUN --mount=type=cache,target=/root/.npm \
    if [ -f package.json ]; then \
      npm ci --no-audit --no-fund && npm run build; \
    else \
      echo "no web/ folder: building the controller without the web UI"; mkdir -p dist; \
    fi

# ---- Rust build ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
ARG RUST_VERSION
# The image's toolchain, not rust-toolchain.toml's component list (rustfmt and clippy are
# not needed to build and would be downloaded).
ENV RUSTUP_TOOLCHAIN=${RUST_VERSION} \
    CARGO_TERM_COLOR=never
WORKDIR /src
COPY . .
# The controller serves the UI it was built with: web/dist must be in place before cargo runs.
COPY --from=web /src/web/dist web/dist
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p opsconductor \
    && install -D -m 0755 target/release/opsconductor /out/opsconductor

# ---- runtime ------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to PostgreSQL or RabbitMQ with certificates from a public CA.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 opsconductor \
    && useradd --system --uid 10001 --gid opsconductor --no-create-home \
         --home-dir /nonexistent --shell /usr/sbin/nologin opsconductor

COPY --from=builder /out/opsconductor /usr/local/bin/opsconductor
COPY --chmod=0755 deploy/docker/healthcheck.sh /usr/local/bin/opsconductor-healthcheck
COPY libraries/ /usr/share/opsconductor/libraries/

# Listen on every interface inside the container; publish or expose the ports you need.
# libraries_dir (the controller) and the library tools' folder point at the shipped libraries.
ENV OPSCONDUCTOR_HTTP_LISTEN=0.0.0.0:8080 \
    OPSCONDUCTOR_GRPC_LISTEN=0.0.0.0:50051 \
    OPSCONDUCTOR_LIBRARIES_DIR=/usr/share/opsconductor/libraries \
    OPSCONDUCTOR_LIBRARY_DIR=/usr/share/opsconductor/libraries \
    OPSCONDUCTOR_LOG_FORMAT=json

# The controller keeps no state on disk (PostgreSQL holds everything): the root file system
# can be mounted read-only.
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080 50051

# Liveness from inside the container (no curl here): see deploy/docker/healthcheck.sh.
# Orchestrators probe /healthz (alive) and /readyz (database answers) over HTTP themselves.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["opsconductor-healthcheck", "http", "/healthz"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["opsconductor"]
CMD ["controller"]
