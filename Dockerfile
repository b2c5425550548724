# The Hutong node image: the `hutong` binary and nothing else of the build.
#
#   docker build -t hutong .
#   docker run --rm hutong --help
#
# A node's home (config.toml, genesis, key, data) is a volume at
# /var/lib/hutong; make it with `hutong init` (see README, "Running nodes
# on real hosts"). The image runs as an unprivileged user (uid 10001).

FROM rust:1.95-bookworm AS build
# The rocksdb crate's bindgen needs libclang.
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p hutong-cli --bin hutong \
 && install -m 0755 target/release/hutong /usr/local/bin/hutong

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 hutong \
 && useradd --system --uid 10001 --gid hutong --home-dir /var/lib/hutong \
      --shell /usr/sbin/nologin hutong \
 && install -d -o hutong -g hutong -m 0700 /var/lib/hutong
COPY --from=build /usr/local/bin/hutong /usr/local/bin/hutong
USER hutong
WORKDIR /var/lib/hutong
VOLUME ["/var/lib/hutong"]
# p2p, JSON-RPC, metrics (as `hutong init` and config.toml set them).
EXPOSE 26600 8545 9615
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/hutong"]
CMD ["node", "--home", "/var/lib/hutong"]
