# syntax=docker/dockerfile:1
# verdict-agent image: ghcr.io/kube-verdict/verdict-agent:<version>
# Build from the repository root:
#   docker build -f docker/agent.Dockerfile -t ghcr.io/kube-verdict/verdict-agent:0.1.0 .
# Not built in this repository's CI (no container runtime there); kept correct by review.
# The agent links rustables (GPL-3.0-or-later), so this image is distributed under GPL-3.0-or-later;
# the source is this repository (see NOTICE).

# ---- build: rustables needs libclang for bindgen at build time only ----
FROM docker.io/library/rust:1.95.0-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev clang \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --release -p verdict-agent --bin verdict-agent \
 && install -D -m 0755 target/release/verdict-agent /out/verdict-agent

# ---- runtime: distroless with glibc (the agent talks netlink directly; no nft/iptables binaries) ----
FROM gcr.io/distroless/cc-debian12
COPY --from=build /out/verdict-agent /usr/local/bin/verdict-agent
# The agent runs as uid 0 with only CAP_NET_ADMIN (the DaemonSet drops everything else and is not
# privileged): nftables, NFQUEUE and conntrack netlink need that capability on the host netns.
EXPOSE 9090 9091
ENTRYPOINT ["/usr/local/bin/verdict-agent"]
