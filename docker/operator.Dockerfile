# syntax=docker/dockerfile:1
# verdict-operator image: ghcr.io/kube-verdict/verdict-operator:<version>
# Build from the repository root:
#   docker build -f docker/operator.Dockerfile -t ghcr.io/kube-verdict/verdict-operator:0.1.0 .
# Not built in this repository's CI (no container runtime there); kept correct by review.

# ---- build: a static musl binary (rustls + ring, no OpenSSL) ----
FROM docker.io/library/rust:1.95.0-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --release -p verdict-operator --bin verdict-operator \
      --target x86_64-unknown-linux-musl \
 && install -D -m 0755 target/x86_64-unknown-linux-musl/release/verdict-operator /out/verdict-operator

# ---- runtime: distroless static, non-root ----
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/verdict-operator /usr/local/bin/verdict-operator
# 65532 is distroless' "nonroot"; the Deployment asks for the same uid.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/verdict-operator"]
