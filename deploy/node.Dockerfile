# syntax=docker/dockerfile:1.7
# The node agent's image: `nexuma-node` and a pinned Xray-core release, checked against the
# SHA-256 pinned below and against the release's published .dgst file. Build from the
# repository root:
#   docker build -f deploy/node.Dockerfile -t nexuma/node:latest .
#
# XRAY_SHA256 must be filled in before the first build (the build fails until it is): take the
# "SHA2-256=" line of Xray-linux-64.zip.dgst from
#   https://github.com/XTLS/Xray-core/releases/download/v${XRAY_VERSION}/Xray-linux-64.zip.dgst
# and check it against a second source (the release page, a colleague's download) before you
# trust it. When you move XRAY_VERSION, move XRAY_SHA256 with it.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Dependency-cache layer (see deploy/Dockerfile).
COPY Cargo.toml Cargo.lock ./
COPY host/Cargo.toml host/
COPY node-agent/Cargo.toml node-agent/
COPY bench/Cargo.toml bench/
COPY cert-pin/Cargo.toml cert-pin/
COPY testkit/Cargo.toml testkit/
COPY deploy/cargo-stubs.sh /usr/local/bin/cargo-stubs
RUN cargo-stubs && cargo fetch --locked \
    && find . -name src -type d -prune -exec rm -rf {} +
COPY . .
RUN --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p nexuma-node --bin nexuma-node \
    && install -D -m 0755 target/release/nexuma-node /out/nexuma-node

FROM ${RUNTIME_IMAGE} AS xray
# Pinned Xray-core release (https://github.com/XTLS/Xray-core/releases).
ARG XRAY_VERSION=25.10.15
ARG XRAY_SHA256=FILL-IN-THE-SHA2-256-OF-Xray-linux-64.zip-FROM-ITS-.dgst-FILE
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl unzip \
    && rm -rf /var/lib/apt/lists/*
RUN set -eu; \
    if ! printf '%s' "$XRAY_SHA256" | grep -Eqx '[0-9a-fA-F]{64}'; then \
        echo "node.Dockerfile: XRAY_SHA256 is not set to the SHA-256 of Xray-linux-64.zip v$XRAY_VERSION" >&2; \
        echo "  (see the comment at the top; or --build-arg XRAY_SHA256=<64 hex digits>)" >&2; \
        exit 1; \
    fi; \
    base="https://github.com/XTLS/Xray-core/releases/download/v$XRAY_VERSION"; \
    curl -fsSL --retry 3 -o /tmp/xray.zip "$base/Xray-linux-64.zip"; \
    curl -fsSL --retry 3 -o /tmp/xray.zip.dgst "$base/Xray-linux-64.zip.dgst"; \
    echo "$XRAY_SHA256  /tmp/xray.zip" | sha256sum -c -; \
    published=$(sed -n 's/^SHA2-256= *//p' /tmp/xray.zip.dgst | tr 'A-F' 'a-f'); \
    pinned=$(printf '%s' "$XRAY_SHA256" | tr 'A-F' 'a-f'); \
    if [ "$published" != "$pinned" ]; then \
        echo "Xray-linux-64.zip: pinned SHA-256 $pinned, the release's .dgst says '$published'" >&2; exit 1; \
    fi; \
    mkdir -p /opt/xray && unzip -q /tmp/xray.zip -d /opt/xray \
    && chmod 0755 /opt/xray/xray && /opt/xray/xray version

FROM ${RUNTIME_IMAGE}
# libcap2-bin: setcap, so the non-root core may bind ports below 1024 (443) also with
# `network_mode: host` (inside a container's own network namespace Docker already allows it).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libcap2-bin \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10002 nexuma-node \
    && useradd --system --uid 10002 --gid nexuma-node --home-dir /var/lib/nexuma-node --shell /usr/sbin/nologin nexuma-node \
    && install -d -o nexuma-node -g nexuma-node -m 0700 /var/lib/nexuma-node
# The core and its geoip.dat/geosite.dat stay together (Xray looks for its assets next to the
# executable).
COPY --from=xray /opt/xray /usr/local/lib/xray
COPY --from=build /out/nexuma-node /usr/local/bin/nexuma-node
RUN setcap cap_net_bind_service=+ep /usr/local/lib/xray/xray \
    && ln -s /usr/local/lib/xray/xray /usr/local/bin/xray
ENV NEXUMA_NODE_DATA_DIR=/var/lib/nexuma-node \
    NEXUMA_NODE_CORE_BIN=/usr/local/bin/xray \
    XRAY_LOCATION_ASSET=/usr/local/lib/xray
USER nexuma-node
WORKDIR /var/lib/nexuma-node
VOLUME ["/var/lib/nexuma-node"]
# Pull mode by default: set NEXUMA_NODE_CORE_URL and, for the first start, NEXUMA_NODE_CODE.
ENTRYPOINT ["/usr/local/bin/nexuma-node"]
CMD ["pull"]
