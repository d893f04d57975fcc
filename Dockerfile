# The trading service as a container (docs/operating.md, "Docker").
#   docker build -t trading .
#   docker run --rm -p 127.0.0.1:8000:8000 -v trading-data:/data trading
# Build stage: wheels of the package and its pinned dependencies (no compiler in the image).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY trading ./trading
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRADING_HOST=0.0.0.0 \
    TRADING_PORT=8000 \
    TRADING_DATA_DIR=/data \
    TRADING_LOG_FORMAT=json
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin trading \
    && mkdir /data && chown trading:trading /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
USER trading
WORKDIR /data
# The paper account (SQLite) lives here: keep it on a volume. One container per volume.
VOLUME ["/data"]
EXPOSE 8000
# Liveness: the process answers HTTP. (Readiness for orchestrators: GET /api/v1/ready.)
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('TRADING_PORT', '8000'), timeout=2)"]
# exec form: the server is PID 1 and gets SIGTERM directly (graceful shutdown, WebSocket 1001)
CMD ["python", "-m", "trading", "serve"]
