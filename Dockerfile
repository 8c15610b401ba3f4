# Multi-stage build: the binary carries SQLite, libpq and OpenSSL built from
# source, so the runtime image needs nothing but libc and CA certificates.
# The dependencies are compiled in a layer of their own (cargo-chef), keyed
# on Cargo.toml and Cargo.lock only: a change to motcua's own code rebuilds
# motcua, not its ~400 dependencies.
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# The recipe: the workspace's manifests and lock file, nothing else.
FROM chef AS plan
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
# The pinned toolchain first: the dependencies and motcua are then compiled
# by the same compiler (otherwise `COPY . .` brings rust-toolchain.toml in
# after the dependency layer, and a different toolchain rebuilds it all).
COPY rust-toolchain.toml .
COPY --from=plan /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin motcua
COPY . .
RUN cargo build --release --locked --bin motcua

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/motcua --create-home motcua
COPY --from=build /src/target/release/motcua /usr/local/bin/motcua
USER motcua
WORKDIR /var/lib/motcua
ENV MOTCUA_BIND=0.0.0.0:8080 \
    MOTCUA_DATA_DIR=/var/lib/motcua \
    MOTCUA_LOG_JSON=true
EXPOSE 8080
ENTRYPOINT ["motcua"]
CMD ["serve"]
