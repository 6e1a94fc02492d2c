FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    AGENTMAIL_HTTP_HOST=0.0.0.0 AGENTMAIL_SMTP_HOST=0.0.0.0 \
    AGENTMAIL_DATABASE_URL=sqlite+aiosqlite:////data/agentmail.db \
    AGENTMAIL_MIGRATIONS_DIR=/app/migrations

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --system --home /data agentmail && mkdir -p /data \
    && chown agentmail /data
USER agentmail
VOLUME ["/data"]
EXPOSE 8000 2525
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
CMD ["agentmail-server", "serve"]
