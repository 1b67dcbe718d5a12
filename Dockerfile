# wspush in a container (docs/install.md).
#   docker build -t wspush .
#   docker run --rm -p 8080:8080 -p 127.0.0.1:9090:9090 --ulimit nofile=1048576:1048576 wspush
# Stage 1 builds the same Debian package CI tests (CPack, prefix /usr, tests
# off); stage 2 installs it on debian:12-slim with apt, so the package's
# Depends are what pulls the runtime libraries in, and runs it as a non-root
# user. Kernel settings belong to the host, not the image: on the host run
#   wspush tune --conns N --emit sysctl > /etc/sysctl.d/60-wspush.conf && sysctl --system
# (or docker run --rm wspush tune --conns N --emit sysctl > ...).

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libssl-dev zlib1g-dev libhiredis-dev liburing-dev \
      libcmocka-dev dpkg-dev file ca-certificates nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# uPlot for the admin dashboard (embedded at build time), from npm
COPY web/package.json web/package-lock.json web/
RUN cd web && npm ci --omit=dev --no-audit --no-fund --loglevel=error
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
      -DWSP_BUILD_TESTS=OFF \
 && cmake --build build -j"$(nproc)" \
 && cd build && cpack -G DEB && cp wspush_*.deb /wspush.deb

FROM debian:12-slim
COPY --from=build /wspush.deb /tmp/wspush.deb
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /tmp/wspush.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/wspush.deb \
 && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin wspush
USER wspush
# public port, admin port (bound to all interfaces inside the container:
# publish it to the host's loopback only, or set WSPUSH_PUBLISH_TOKEN)
EXPOSE 8080 9090
ENV WSPUSH_LISTEN=0.0.0.0:8080 WSPUSH_ADMIN=0.0.0.0:9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/wspush"]
CMD ["serve"]
