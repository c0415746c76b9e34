# The JWT Generator worker as a container image.
#   docker build -t jwtgen .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=kafka:9092 -p 6066:6066 jwtgen
# The entrypoint is the `jwtgen` command line; the default command runs one
# worker with its web server (GET /healthz, GET /metrics) on port 6066.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package needs: the image does not change when tests or docs do.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY worker ./worker
RUN pip install . \
    && rm -rf /src

# A fixed non-root uid/gid (deploy/k8s/deployment.yaml runs as the same ids).
# Faust keeps a small data dir ("<prefix>.worker-data") in the working
# directory, so that directory is the only one the worker writes to; with a
# read-only root filesystem, mount a volume there (the k8s Deployment does).
RUN groupadd --system --gid 10001 jwtgen \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/jwtgen --create-home \
       --shell /usr/sbin/nologin jwtgen
WORKDIR /var/lib/jwtgen
USER 10001:10001

EXPOSE 6066

# /healthz answers 200 once the worker has read the configs topic to its end
# (503 before). The slim image has no curl: Python's urllib raises on any
# status other than 2xx, so a non-200 answer or no answer is "unhealthy".
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/healthz', timeout=4)"]

ENTRYPOINT ["jwtgen"]
CMD ["worker"]
