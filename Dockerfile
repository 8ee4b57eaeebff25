# syntax=docker/dockerfile:1
#
# quotatree container image, reproducible: the base image pinned by digest,
# every dependency pinned by version and hash (deploy/requirements.lock).
#
#   docker build -t quotatree:0.1.0 \
#     --build-arg GIT_COMMIT="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(git log -1 --format=%cI)" .
#
# Stage 1 installs the locked dependencies and then quotatree itself (a
# regular, non-editable install, without dependencies) into /opt/venv;
# stage 2 copies only that virtualenv (plus the Alembic scripts) onto the same
# clean base. No embedded PostgreSQL (the `embedded` extra is left out). The
# image never migrates on start: `quotatree migrate upgrade` runs before the
# server (Kubernetes init container, compose service), see deploy/README.md.

FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1 AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
# Exactly the locked wheels, each checked against its hash; nothing resolved.
COPY deploy/requirements.lock ./requirements.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY service ./service
# quotatree alone, built with the locked setuptools (no build isolation, so
# nothing unpinned is downloaded), into the same virtualenv.
RUN pip install --no-cache-dir --no-deps --no-build-isolation /src \
    && pip check


FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1 AS runtime

ARG VERSION=0.1.0
ARG GIT_COMMIT=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="quotatree" \
      org.opencontainers.image.description="Async GraphQL service for versioned sales target trees" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.13-slim-bookworm" \
      org.opencontainers.image.base.digest="sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1"

# Fixed, non-root UID/GID so that Kubernetes' runAsNonRoot can verify it and
# runAsUser in deploy/kubernetes matches. No home directory: nothing in the
# container should write outside /tmp.
RUN groupadd --system --gid 10001 quotatree \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin quotatree

COPY --from=builder /opt/venv /opt/venv
COPY migrations /app/migrations

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    QUOTATREE_ENV=production \
    QUOTATREE_MIGRATIONS_DIR=/app/migrations \
    QUOTATREE_HOST=0.0.0.0 \
    QUOTATREE_PORT=8000 \
    QUOTATREE_BUILD_COMMIT=${GIT_COMMIT}

WORKDIR /app
USER 10001:10001
# The API, and the Prometheus metrics (QUOTATREE_METRICS_PORT, 9464 in production).
EXPOSE 8000 9464

# Liveness only (no database): /readyz is for the orchestrator's readiness. It
# asks the port the server listens on (QUOTATREE_PORT), whatever it is set to.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('QUOTATREE_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]

# Host and port come from QUOTATREE_HOST and QUOTATREE_PORT (above).
CMD ["quotatree", "serve"]
