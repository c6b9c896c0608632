# The Settle service (`settle serve`: actions, webhooks, web chat, payment pages, reminder
# scheduler); also runs one-shot `settle` commands such as `settle migrate`. Build from the
# project root:  docker build -f deploy/settle.Dockerfile -t settle-service .

# The web chat widget the service serves at /webchat/webchat.js (package-lock.json).
FROM node:20-slim AS webchat
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.10-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 RASA_TELEMETRY_ENABLED=false

# Installed in place (editable): Settle finds settle.yml, var/ and node_modules/ in /app.
# Dependencies held to requirements.lock; no test tools (they are not in pyproject.toml).
COPY requirements.lock pyproject.toml README.md ./
COPY settle ./settle
COPY settle_rasa ./settle_rasa
COPY actions ./actions
RUN pip install --no-cache-dir -c requirements.lock -e .

COPY domain.yml settle.yml ./
COPY --from=webchat /build/node_modules/rasa-webchat/lib ./node_modules/rasa-webchat/lib

# uid 1001, as in Rasa's image: both read the Rasa API key pair on the shared keys volume.
RUN useradd --uid 1001 --no-create-home --home-dir /app settle \
    && mkdir -p var /keys && chown settle var /keys
USER settle
EXPOSE 5055
CMD ["settle", "serve", "--host", "0.0.0.0", "--port", "5055"]
