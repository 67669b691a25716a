# syntax=docker/dockerfile:1
# Lode's container image: the release binary on a distroless base, as UID
# 10001 (the chart's runAsUser), data in the /data volume. Built for
# linux/amd64 and linux/arm64 by .github/workflows/release.yml.

FROM docker.io/library/rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p lode \
    && install -D -m 0755 target/release/lode /out/lode \
    && install -d -o 10001 -g 10001 /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/lode /usr/local/bin/lode
COPY --from=build --chown=10001:10001 /out/data /data
# The binary's defaults, moved to the volume and all interfaces; mimalloc
# returning freed memory at once (what lode would re-execute itself with).
ENV LODE_DATA_DIR=/data \
    MIMALLOC_PURGE_DELAY=0 \
    LODE_LISTEN=0.0.0.0:3100
VOLUME ["/data"]
EXPOSE 3100
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/lode"]
