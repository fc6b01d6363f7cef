# syntax=docker/dockerfile:1
# Portico controller image: a venv built in one stage, copied into a clean
# base with no compilers or build tools. The uid matches the Helm chart's
# runAsUser (charts/portico/values.yaml).
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
# Optional CA bundle for pip behind an intercepting proxy; mounted at build
# time (-v host.crt:/run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt)
# so it never lands in a layer.
ARG PIP_CERT=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/portico
# Dependencies first, from pyproject alone, so code edits reuse this layer
# (no RUN heredocs: podman 4.3 cannot parse them). The runtime ones and the
# `tracing` extra, so that the chart's `tracing.otlpEndpoint` works in this
# image. `portico loadtest` runs here (the chart's helm test uses it) and
# writes its report; its plots need the `loadtest` extra's matplotlib, which
# would about double the image, so they are drawn elsewhere
# (`portico loadtest --compare`).
COPY pyproject.toml /src/
RUN /opt/portico/bin/python -c 'import tomllib, sys; \
project = tomllib.load(sys.stdin.buffer)["project"]; \
print("\n".join(project["dependencies"] + project["optional-dependencies"]["tracing"]))' \
    < /src/pyproject.toml > /tmp/requirements.txt
RUN PIP_CERT=${PIP_CERT} /opt/portico/bin/pip install -r /tmp/requirements.txt
# A C compiler (and Python's headers, where the base lacks them) for setup.py to compile the
# data plane with mypyc; they stay in this stage.
RUN headers=$(python3 -c 'import os, sysconfig; \
print("" if os.path.exists(sysconfig.get_paths()["include"] + "/Python.h") else "python3-dev")') \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      gcc libc6-dev $headers >/dev/null
COPY . /src/
# `portico --version` must say the data plane is compiled: a failed compile fails the build.
RUN PIP_CERT=${PIP_CERT} /opt/portico/bin/pip install --no-deps /src \
 && /opt/portico/bin/python -m compileall -q /opt/portico \
 && /opt/portico/bin/portico --version | grep 'compiled (mypyc)'

FROM ${BASE_IMAGE}
ARG PORTICO_UID=10001
RUN groupadd --gid ${PORTICO_UID} portico \
 && useradd --uid ${PORTICO_UID} --gid ${PORTICO_UID} \
      --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin portico
COPY --from=build /opt/portico /opt/portico
# Bytecode is compiled at build time; the chart mounts the root filesystem read-only.
ENV PATH=/opt/portico/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER ${PORTICO_UID}:${PORTICO_UID}
EXPOSE 8080 8443 10254
ENTRYPOINT ["portico"]
CMD ["run"]
