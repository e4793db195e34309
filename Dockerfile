# TorchServe 0.12 with this project's handlers, serving the .mar archives mounted at
# /home/model-server/model-store. Build and run (docs/deployment.md):
#   docker build -t torchserve-archives:0.1.0 .
#   docker run --rm -p 8080:8080 -p 8082:8082 -v "$PWD/model_store:/home/model-server/model-store:ro" torchserve-archives:0.1.0
FROM python:3.11-slim-bookworm

# Java 17 for TorchServe's frontend; tini as PID 1 (forwards signals, reaps the workers' zombies).
# DL3008 (pin apt versions) is ignored for openjdk-17-jre-headless only: Debian replaces its
# bookworm package with every Java security update and drops the old version, so a pinned
# version stops building within weeks. The base image tag, tini and every Python package are pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends openjdk-17-jre-headless "tini=0.19.0-1+b3" \
    && rm -rf /var/lib/apt/lists/*

# The user TorchServe runs as: fixed UID/GID 1000, so mounts and Kubernetes' runAsUser agree.
RUN groupadd --gid 1000 model-server \
    && useradd --uid 1000 --gid 1000 --home-dir /home/model-server --create-home --shell /usr/sbin/nologin model-server

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TS_CONFIG_FILE=/home/model-server/config/config.properties \
    MODEL_STORE=/home/model-server/model-store \
    LOG_LOCATION=/home/model-server/logs \
    METRICS_LOCATION=/home/model-server/logs

# torch first, the CPU build from PyTorch's index, without its dependencies: resolved later from
# PyPI (a torch requirement resolved there would pull a multi-GB CUDA build). Then the project
# (no extras), every package pinned to the versions the test suite ran with.
RUN pip install --no-cache-dir --no-deps --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0+cpu"
WORKDIR /tmp/build
COPY deploy/container/constraints.txt pyproject.toml README.md ./
COPY markit/ markit/
RUN pip install --no-cache-dir --constraint constraints.txt . \
    && python -c "import markit.core, markit.client.health, markit.ops.launch, ts" \
    && rm -rf /tmp/build

COPY deploy/container/entrypoint.sh /usr/local/bin/torchserve-entrypoint
COPY deploy/container/config.properties /home/model-server/config/config.properties
# Mount points: the model store (read-only is enough) and the logs. TorchServe writes key_file.json
# into its working directory, /home/model-server.
RUN chmod 0755 /usr/local/bin/torchserve-entrypoint \
    && mkdir -p /home/model-server/model-store /home/model-server/logs \
    && chown 1000:1000 /home/model-server /home/model-server/model-store /home/model-server/logs

USER 1000:1000
WORKDIR /home/model-server
# Inference and metrics. Management (8081) and gRPC (7070/7071) listen on 127.0.0.1 inside the
# container only (deploy/container/config.properties): reach management with `docker exec`.
EXPOSE 8080 8082
# The probe reads the addresses from $TS_CONFIG_FILE and the token from ./key_file.json.
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 \
    CMD ["python", "-m", "markit.client.health"]
# -e 143: a TorchServe stopped by SIGTERM (docker stop) exits 143; report that as a clean 0.
ENTRYPOINT ["/usr/bin/tini", "-e", "143", "--", "/usr/local/bin/torchserve-entrypoint"]
