# syntax=docker/dockerfile:1.7
# kubemedic: a self-healing agent for Kubernetes.
#
#   docker build -t kubemedic .
#   docker run --rm --read-only --tmpfs /tmp -v kubemedic-state:/var/lib/kubemedic \
#     -v ~/.kube/config:/kubeconfig:ro -e KUBEMEDIC_KUBECONFIG=/kubeconfig \
#     -v ./tokens.yaml:/var/run/secrets/kubemedic/tokens.yaml:ro -p 8080:8080 kubemedic
#
# The default command is the MCP server over HTTP (what the healthcheck probes); the same image
# runs the loop with `watch`, the demo with `demo`, and so on (see k8s/deployment.yaml).
#
# Two stages: `build` resolves and builds every wheel and installs them into a virtual
# environment; the runtime stage copies only that environment. No compiler, no pip cache and no
# source tree reach the final image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler for the rare dependency without a wheel for this platform; this stage is discarded.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so a code change does not rebuild them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > requirements.txt \
 && pip wheel --wheel-dir /wheels -r requirements.txt

COPY kubemedic ./kubemedic
COPY kubemedic_contract ./kubemedic_contract
COPY kubemedic_logctx ./kubemedic_logctx
COPY kubemedic_quantity ./kubemedic_quantity
COPY kubemedic_redact ./kubemedic_redact
COPY kubemedic_store ./kubemedic_store
COPY kubesim ./kubesim
COPY policies ./policies
COPY mcp_server ./mcp_server
COPY agent ./agent
COPY evals ./evals
# pip is not needed at run time: it is removed from the environment, one tool less in production.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links=/wheels kubemedic \
 && /opt/venv/bin/pip uninstall -y pip \
 && /opt/venv/bin/python -m compileall -q /opt/venv

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="kubemedic" \
      org.opencontainers.image.description="A self-healing agent for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid/gid: Kubernetes can verify runAsNonRoot only for a numeric USER.
RUN groupadd --system --gid 10001 kubemedic \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin kubemedic \
 && mkdir -p /var/lib/kubemedic \
 && chown 10001:10001 /var/lib/kubemedic

COPY --from=build /opt/venv /opt/venv

# Read-only root filesystem: no bytecode writes (compiled at build time), HOME and TMPDIR on
# the /tmp volume, all state under /var/lib/kubemedic (a volume: approvals, rate limits and
# checkpoints must survive a restart).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    KUBEMEDIC_STATE_DIR=/var/lib/kubemedic \
    KUBEMEDIC_LOG_FORMAT=json

VOLUME ["/var/lib/kubemedic"]
WORKDIR /var/lib/kubemedic
USER 10001:10001
EXPOSE 8080

# The slim image has no curl; Python's standard library is enough. A non-2xx answer raises.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["kubemedic"]
CMD ["mcp", "--http", "--host", "0.0.0.0", "--port", "8080", "--tokens", "/var/run/secrets/kubemedic/tokens.yaml"]
