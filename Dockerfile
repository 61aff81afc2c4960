#
# sfconnector: a small static image (no shell, no package manager), running as
# a non-root user. Build:   docker build -t sfconnector .
# Run on the collector's socket with the built-in pipeline (bundled policies,
# alerts printed to the container's output):
#   docker run --rm -v sysflow-sock:/sock sfconnector
# See docs/deployment.md for compose, Kubernetes and systemd.

ARG GO_VERSION=1.26

# Plain Dockerfile syntax (no cache mounts, no $BUILDPLATFORM): the classic
# builder that testcontainers-go and older engines use must build it too.
FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# buildx sets these for each --platform; empty means the build machine's.
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
# CGO off: one static binary that needs nothing from the base image but CA
# certificates (for verified TLS to Kafka, NATS, syslog, the registry).
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/usr/local/bin/sfconnector ./cmd/sfconnector
# Directories the non-root user must own: the socket the collector connects
# to, and where file exporters write. A named volume mounted on them starts
# with this ownership.
RUN mkdir -p /out/sock /out/var/log/sysflow /out/etc/sfconnector

# distroless/static: CA certificates, tzdata, /etc/passwd with "nonroot"
# (65532); nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usr/local/bin/sfconnector /usr/local/bin/sfconnector
COPY --from=build --chown=65532:65532 /out/sock /sock
COPY --from=build --chown=65532:65532 /out/var/log/sysflow /var/log/sysflow
COPY --from=build /out/etc/sfconnector /etc/sfconnector
USER 65532:65532
VOLUME ["/sock"]

# The command line reads these when its flags are not given (the SysFlow
# processor's image uses the same names):
#   CONFIG_PATH  pipeline configuration (pipeline.json or YAML); empty: the
#                built-in pipeline (bundled policies, alerts to the terminal)
#   DRIVER       source driver: file, socket, kafka, nats; empty: the
#                configuration's, else guessed from the input
#   INPUT_PATH   input when none is given on the command line; set it to ""
#                for a configuration whose source is Kafka or NATS
#   LOG_LEVEL    debug, info, warn, error
#   SFCONNECTOR_METRICS_ADDR  /metrics, /healthz and /readyz
# and every <PLUGIN>_<KEY> override of the configuration, e.g.
# POLICYENGINE_MODE=alert, EXPORTER_EXPORT=syslog, EXPORTER_SYSLOG_HOST=...
ENV INPUT_PATH=unix:///sock/sysflow.sock \
    LOG_LEVEL=info \
    SFCONNECTOR_METRICS_ADDR=:9090
EXPOSE 9090

# No shell or curl in the image: the binary asks its own /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/sfconnector", "healthcheck", "--url", "http://127.0.0.1:9090/healthz"]

# SIGTERM (docker stop, Kubernetes) drains in-flight records within
# shutdown.timeout before exiting.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sfconnector"]
CMD ["run"]
