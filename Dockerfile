# dap's container image: built with `docker build -t dap .` at the repository root.
# Not built or run where dap is developed (no base image can be pulled there): check it
# on a machine that can, before relying on it.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin dap \
    && cp target/release/dap /usr/local/bin/dap

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/dap --create-home dap \
    && mkdir -p /var/lib/dap/staging /etc/dap \
    && chown -R dap:dap /var/lib/dap
COPY --from=build /usr/local/bin/dap /usr/local/bin/dap
COPY deploy/dap.toml /etc/dap/dap.toml
USER dap
WORKDIR /var/lib/dap
# 8080: the API (behind the load balancer); 9464: /metrics (Prometheus only).
EXPOSE 8080 9464
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/dap"]
CMD ["serve", "--config", "/etc/dap/dap.toml"]
