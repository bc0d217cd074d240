# formcast as a container image: gunicorn serving the model in model/, baked in.
# An image is immutable: a new model is a new image (retrain, commit model/, build).
#
#   docker build -t formcast .
#   docker run --rm -p 8000:8000 formcast          # http://127.0.0.1:8000
#
# tests/test_deploy.py lints this file with hadolint and runs its CMD as USER in a copy of
# the build context filtered by .dockerignore.

# The Python of .python-version (3.12), by exact tag and by digest, so that a rebuild starts
# from the same bytes. To move to a newer patch release, change both together (the digest is
# what `docker buildx imagetools inspect python:<tag>` prints).
FROM python:3.12.12-slim-bookworm@sha256:593bd06efe90efa80dc4eee3948be7c0fde4134606dd40d8dd8dbcade98e669c AS base

# Build stage: the pinned requirements in a virtual environment. Only requirements.txt is
# copied first, so a change to the code reuses this layer from the build cache.
FROM base AS builder
WORKDIR /build
COPY requirements.txt .
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.txt

# Run stage: the base, the venv and the app; no compilers, no pip cache, no build files.
FROM base
# OCI labels: what the image is, and which commit it was built from. CI passes these:
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" --build-arg SOURCE=<repository URL> .
ARG VERSION=dev REVISION=unknown SOURCE=""
LABEL org.opencontainers.image.title="formcast" \
      org.opencontainers.image.description="A scikit-learn model trained from a CSV, served as a web form and a JSON API by gunicorn" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.source="$SOURCE"
# A system user with a fixed numeric id: Kubernetes' runAsNonRoot can only verify a number.
RUN useradd --system --no-log-init --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin formcast
COPY --from=builder /opt/venv /opt/venv
# PORT: gunicorn.conf.py binds 0.0.0.0:$PORT (a platform may set another port at run time).
# No .pyc files written at run time: the code is owned by root and read-only to the app.
ENV PATH="/opt/venv/bin:$PATH" \
    PORT=8000 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
COPY . .
USER 10001:10001
EXPOSE 8000
# Standard library only: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ['PORT'], timeout=4)"]
# Exec form: gunicorn is PID 1 and gets SIGTERM itself, and finishes in-flight requests.
# It reads gunicorn.conf.py from /app for the bind address, workers and timeouts.
CMD ["gunicorn", "app:app"]
