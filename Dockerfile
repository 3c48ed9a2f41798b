# Runs any registered agentgym environment as a service:
#   docker build -t agentgym .
#   docker run -p 8000:8000 agentgym guess-number-v0          # or several ids, or --all
#   docker build --build-arg EXTRAS=web -t agentgym-web .      # environments that need an extra
FROM python:3.11-slim

ARG EXTRAS=""
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY agentgym ./agentgym
COPY environments ./environments
COPY sandboxes ./sandboxes
COPY trainers ./trainers
# The web extra drives Debian's Chromium (Playwright's own browser download is never used).
RUN case ",$EXTRAS," in *,web,*) apt-get update && apt-get install -y --no-install-recommends chromium \
        && rm -rf /var/lib/apt/lists/* ;; esac \
    && pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}" \
    && useradd --create-home --uid 10001 agentgym
USER agentgym

EXPOSE 8000
# /healthz answers 200 while serving and 503 while draining, so a shutting-down container
# stops receiving traffic from the load balancer.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# SIGTERM starts a graceful shutdown: stop accepting, finish in-flight steps, close environments.
STOPSIGNAL SIGTERM
ENTRYPOINT ["agentgym", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["guess-number-v0"]
