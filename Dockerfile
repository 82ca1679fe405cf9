# syntax=docker/dockerfile:1
# ctrkit serving image: CPU TensorFlow, the service, a non-root user.
#
#   docker build -t ctrkit .
#   docker run --rm -p 127.0.0.1:8000:8000 -v "$PWD/models:/models:ro" --stop-timeout 40 ctrkit
#
# The model repository (<model>/<version>/ bundles) is mounted at /models.
# Stopping: on SIGTERM `ctrkit serve` stops accepting connections, lets
# in-flight and queued requests finish (at most CTR_GRACEFUL_TIMEOUT_S, 30 s by
# default) and exits 0. Docker kills a container 10 s after SIGTERM unless told
# otherwise, so give it more than the service's grace period: `docker stop -t 40`,
# `docker run --stop-timeout 40`, or `stop_grace_period: 40s` in compose.
#
# A second target, `loadtest`, holds locust and the load test (see docker-compose.yml).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/ctrkit
WORKDIR /src
# dependencies first (TensorFlow is the big layer): cached until pyproject.toml changes
COPY pyproject.toml README.md LICENSE ./
RUN mkdir ctrkit service && touch ctrkit/__init__.py service/__init__.py \
    && /opt/ctrkit/bin/pip install ".[serve]" \
    && /opt/ctrkit/bin/pip uninstall -y ctrkit
COPY ctrkit ./ctrkit
COPY service ./service
RUN /opt/ctrkit/bin/pip install --no-deps . \
    && /opt/ctrkit/bin/ctrkit serve --help > /dev/null

FROM ${PYTHON_IMAGE} AS loadtest
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
RUN pip install "locust>=2.29,<3" \
    && useradd --system --uid 10001 --user-group --no-create-home locust
COPY loadtest/locustfile.py loadtest/requestgen.py /loadtest/
WORKDIR /loadtest
USER locust
ENTRYPOINT ["locust", "-f", "/loadtest/locustfile.py"]

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/ctrkit/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    CTR_MODEL_REPOSITORY=/models
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home ctr \
    && mkdir -p /models /app \
    && chown ctr:ctr /models
COPY --from=build /opt/ctrkit /opt/ctrkit
# training specs, for `ctrkit train /app/specs/<name>/spec.yaml --model-repository /models`
COPY models/criteo_deepfm/spec.yaml /app/specs/criteo_deepfm/spec.yaml
WORKDIR /app
USER ctr
VOLUME ["/models"]
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["ctrkit", "serve", "--model-repository", "/models", "--host", "0.0.0.0", "--port", "8000"]
