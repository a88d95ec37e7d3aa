# erasure: one image for every role (start | api | worker | sandbox).
#   docker build -t erasure .
#   docker run --rm -p 3000:3000 erasure              # all-in-one sandbox (embedded Redis + PGlite)
#   docker compose up                                 # Redis + Postgres + api + workers (docker-compose.yml)
# Node 22, the current LTS: Node 20 is past its end of life, and AWS SDK releases from January 2027
# need Node 22. package.json "engines" still admits 20.18+, which CI keeps testing.
FROM node:22-bookworm-slim

# redis-server only serves the default `start` command when REDIS_URL is unset (embedded Redis,
# README "Quick start"); the compose deployment points REDIS_URL at its own redis service instead.
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, so a source change does not reinstall them. tsx (the runtime) is a
# production dependency, so dev dependencies are left out. Install scripts are skipped, as npm 11
# does by default: esbuild ships its binary as an optional package and msgpackr falls back to JS.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

COPY bin ./bin
COPY src ./src
COPY jobs ./jobs
COPY queues ./queues
COPY tsconfig.json ./

# Runs as the unprivileged `node` user (uid 1000) of the base image; the data dir (embedded Redis
# AOF, PGlite, generated sandbox keys) is the only place it writes. To keep it across containers of
# the all-in-one image: docker run -v erasure-data:/var/lib/erasure … (the compose deployment keeps
# its state in Redis and Postgres and needs no volume here).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    ERASURE_DATA_DIR=/var/lib/erasure
RUN mkdir -p /var/lib/erasure && chown node:node /var/lib/erasure
USER node

EXPOSE 3000

# No curl in slim images: node's own fetch asks /healthz. Only `start` and `api` serve it; a
# `worker` container has no HTTP server, so docker-compose.yml disables this check for workers.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "bin/erasure.mjs"]
CMD ["start"]
