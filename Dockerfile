# CMM Quote server image: serving dependencies only (no torch, no transformers), non-root, health-checked.
#
#   scripts/wheelhouse.sh                       # optional: wheels into docker/wheels/ for an air-gapped build
#   docker build -t cmm-quote .                 # the server (default target)
#   docker build --target engine -t cmm-engine .   # the replay client (trading-engine stand-in), see compose
#   docker run -p 8000:8000 cmm-quote           # settings: CMM_* environment variables (server/settings.py)
#
# BASE_IMAGE: any Debian-like image with python3 (3.11) and its venv module; `make container-test` uses a local
# debootstrap image (docker/base_image.sh) since no registry is reachable there. BUNDLE: the model bundle to serve.
# With podman, build with `--format docker` so that the HEALTHCHECK is kept.
ARG BASE_IMAGE=python:3.11-slim

# ---- build: a virtualenv with the project and its base (serving) dependencies
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
COPY docker/pip_install.sh /usr/local/bin/pip_install
COPY docker/requirements.py /usr/local/bin/requirements.py
COPY docker/wheels/ /wheels/
COPY pyproject.toml /src/
# Dependencies in a layer of their own: editing the code does not reinstall them.
RUN python3 /usr/local/bin/requirements.py /src/pyproject.toml >/tmp/requirements.txt \
    && pip_install -r /tmp/requirements.txt
COPY README.md /src/
COPY cmm/ /src/cmm/
COPY lob/ /src/lob/
COPY server/ /src/server/
COPY loadtest/ /src/loadtest/
COPY export/ /src/export/
RUN pip_install --no-deps /src

FROM build AS server-venv
RUN /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools

# The replay client also needs the load tester's histogram library (not matplotlib: it plots nothing).
FROM build AS engine-venv
RUN pip_install "$(python3 /usr/local/bin/requirements.py /src/pyproject.toml hdrhistogram)" \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools

# ---- runtime: the base image, a non-root user, the virtualenv on PATH
FROM ${BASE_IMAGE} AS runtime
RUN groupadd --gid 10001 cmm \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin cmm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app

# ---- engine: replays a prepared dataset into a quote server and logs quotes and latencies (docker-compose.yml)
FROM runtime AS engine
COPY --from=engine-venv /opt/venv /opt/venv
# /out for the quote log: a volume mounted there starts with this owner
RUN mkdir /out && chown 10001:10001 /out
USER 10001:10001
ENTRYPOINT ["cmm"]
CMD ["--help"]

# ---- server (default target)
FROM runtime AS server
ARG BUNDLE=models/default
COPY --from=server-venv /opt/venv /opt/venv
COPY docker/healthcheck.py /app/healthcheck.py
COPY ${BUNDLE}/ /app/models/default/
ENV CMM_BUNDLE=/app/models/default \
    CMM_HOST=0.0.0.0 \
    CMM_PORT=8000
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 CMD ["python3", "/app/healthcheck.py"]
CMD ["cmm", "serve"]
