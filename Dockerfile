# Multi-stage build: the binary carries SQLite, libpq and OpenSSL built from
# source, so the runtime image needs nothing but libc and CA certificates.
FROM rust:1.95-bookworm AS build
WORKDIR /src
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
