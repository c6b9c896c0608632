# The Rasa server with Settle's plug-ins (channels, NLU components, tracker and lock stores,
# responses), run by stock `rasa run`. Build from the project root:
#   docker build -f deploy/rasa.Dockerfile -t settle-rasa .
FROM rasa/rasa:3.6.21

USER root
WORKDIR /app
ENV RASA_TELEMETRY_ENABLED=false

# The project, installed in place (editable) so Settle finds its settle.yml, var/ and
# models/ in /app; its dependencies held to requirements.lock (Rasa's own are already here).
COPY requirements.lock pyproject.toml README.md ./
COPY settle ./settle
COPY settle_rasa ./settle_rasa
COPY actions ./actions
RUN pip install --no-cache-dir -c requirements.lock -e .

# The project's endpoints.yml serves a deployment as it is: the action server at
# ACTION_SERVER_URL, the lock store in Redis (REDIS_URL).
COPY domain.yml config.yml credentials.yml endpoints.yml settle.yml ./
COPY data ./data

# Trained at build time, not mounted from models/: the model is always the one for this
# image's data and code, every replica loads the same file, and nothing else has to ship
# it (no model server, no shared volume). It costs a few minutes of build on 2 cores.
RUN rasa train --out models --fixed-model-name settle \
    && mkdir -p var && chown -R 1001 var models

# Rasa's image user. The Settle image runs as the same uid, so both read the Rasa API key
# pair that the migration step writes (mode 0600) on the shared keys volume.
USER 1001
EXPOSE 5005
# ENTRYPOINT is the image's `rasa`. Compose and Kubernetes give the same command with
# --cors from SETTLE_ALLOWED_ORIGINS; the key paths are those `settle rasa-key` prints.
CMD ["run", "--interface", "0.0.0.0", "--port", "5005", "--model", "models", \
     "--credentials", "credentials.yml", "--endpoints", "endpoints.yml", \
     "--enable-api", "--jwt-method", "RS256", \
     "--jwt-secret", "/keys/rasa-jwt.pem.pub", "--jwt-private-key", "/keys/rasa-jwt.pem"]
