# Serves every twin on 0.0.0.0:8000, state in the /data volume. One process, one worker: state is in-process.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY specs ./specs
COPY fixtures ./fixtures
RUN pip install --no-cache-dir -c constraints.txt .
VOLUME ["/data"]
EXPOSE 8000
CMD ["apitwin", "serve", "--host", "0.0.0.0", "--port", "8000", "--data", "/data/db.json"]
