# mlmon exporter image. Build: docker build -t mlmon .   Run the demo: docker run -p 127.0.0.1:9877:9877 mlmon
FROM python:3.11.9-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE* ./
COPY exporter ./exporter
RUN pip install '.[fast]' \
    && rm -rf /src \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mlmon \
    && mkdir -p /data \
    && chown mlmon:mlmon /data

USER mlmon
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9877

# The slim image has no curl; Python's urllib fails the check on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9877/-/healthy', timeout=4)"]

ENTRYPOINT ["mlmon"]
CMD ["demo", "--web.listen-address", "0.0.0.0:9877", "--workdir", "/data"]
