# Production image for workers, dashboard and trainer (CPU torch; see README for GPU).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY dashboard ./dashboard
COPY training ./training
ENV OPINION_ENCODER_DIR=/opt/opinion/encoders
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu . \
    && opinion fetch-encoder \
    && useradd --create-home --uid 10001 opinion && mkdir -p /data && chown opinion /data
USER opinion
ENV OPINION_STATE_DIR=/data
ENTRYPOINT ["opinion"]
