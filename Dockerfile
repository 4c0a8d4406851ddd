# The export_pipelines code location: one image for the gRPC code server, the runs it launches
# (DockerRunLauncher / K8sRunLauncher start this image per run), the webhook receiver, and, for a
# trial without vendor accounts, the sandbox. docker-compose.yaml also runs the webserver and the
# daemon from it, so every process speaks the same Dagster version.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    DAGSTER_DISABLE_TELEMETRY=1 \
    EXPORT_PIPELINES_DATA_DIR=/data

RUN groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --no-create-home dagster

WORKDIR /opt/dagster/app

# Installed editable, in place: dg.load_from_defs_folder finds the project (and its defs/ folder)
# through the pyproject.toml beside the package, which a site-packages install would not have.
# gcc for the engine's one C module (export_pipelines/normalize/_jsonlines.c), removed once built.
COPY pyproject.toml setup.py README.md workspace.yaml ./
COPY export_pipelines ./export_pipelines
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --editable ".[deploy]" \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*

COPY deploy/dagster.yaml /opt/dagster/home/dagster.yaml
COPY deploy/workspace.yaml /opt/dagster/app/deploy/workspace.yaml

# Raw downloads need a local, writable disk (resume and locking work on local files); the
# compose file mounts a volume here, the Helm values an emptyDir or a PVC.
RUN mkdir -p /data \
    && chown -R dagster:dagster /data /opt/dagster/home

USER dagster:dagster

EXPOSE 4000

CMD ["dagster", "code-server", "start", \
     "-m", "export_pipelines.definitions", \
     "--location-name", "export_pipelines", \
     "--host", "0.0.0.0", "--port", "4000"]
