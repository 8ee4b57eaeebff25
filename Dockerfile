# syntax=docker/dockerfile:1
#
# quotatree container image.
#
#   docker build -t quotatree:0.1.0 .
#
# Stage 1 builds the package from pyproject.toml into a virtualenv at
# /opt/venv; stage 2 copies only that virtualenv (plus the Alembic scripts)
# onto a clean python:3.11-slim. The image never migrates on start: run
# `quotatree migrate upgrade` as a separate step (Kubernetes Job, compose
# service), see deploy/README.md.

FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
# A regular (non-editable) install: pip builds the wheel from pyproject.toml
# and installs it with its dependencies into /opt/venv.
RUN pip install --no-cache-dir /src


FROM python:3.11.13-slim-bookworm AS runtime

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
    QUOTATREE_PORT=8000

WORKDIR /app
USER 10001:10001
# The API, and the Prometheus metrics (QUOTATREE_METRICS_PORT, 9464 in production).
EXPOSE 8000 9464

# Liveness only (no database): /readyz is for the orchestrator's readiness.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["quotatree", "serve", "--host", "0.0.0.0", "--port", "8000"]
