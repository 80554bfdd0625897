# Serves every twin on 0.0.0.0:8000, state in the /data volume: one process (the embedded store is one process's).
# With the Redis client installed too: docker-compose.yml runs it with --store redis://... --workers N.
# The install is the one tests/install/test_wheel.py proves: build the wheel, install it with the lock.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
COPY specs ./specs
COPY fixtures ./fixtures
RUN pip wheel --no-cache-dir --no-deps -w /dist .

FROM python:3.11-slim
COPY constraints.txt /tmp/constraints.txt
COPY --from=wheel /dist /dist
RUN pip install --no-cache-dir -c /tmp/constraints.txt "$(ls /dist/*.whl)[redis]" && rm -rf /dist
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
CMD ["apitwin", "serve", "--host", "0.0.0.0", "--port", "8000", "--data", "/data/db.json"]
