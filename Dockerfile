# One image for the worker and the API (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md worker.py ./
COPY ingest ./ingest
COPY api ./api
COPY schema ./schema
COPY costlog ./costlog
RUN pip install --no-cache-dir . \
    && useradd --create-home costlog \
    && mkdir /data && chown costlog /data
USER costlog
# /data is the named volume shared by the worker and the API (database and spool).
ENV COSTLOG_DB=/data/costlog.db COSTLOG_SPOOL=/data/spool
VOLUME /data
EXPOSE 8787
CMD ["costlog", "api", "--host", "0.0.0.0", "--port", "8787"]
