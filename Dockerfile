# clipbot: multi-stage build. Node 22 LTS (Node 20 is past end of life; the code runs on both).
# Not built in this repository's CI (no Docker engine there); kept correct by reading. See README.

# ---- build: native addons (better-sqlite3) need python3, make and g++
FROM node:22-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# Compile to dist/ (tsc, plus the migrations beside the code), then drop the build tools.
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY commands ./commands
COPY db ./db
RUN npm run build \
 && npm prune --omit=dev
# Extend on fal reads a clip's last frame with the ffmpeg binary inside @ffmpeg-installer's platform package (a
# dependency, so the prune keeps it; the runtime stage copies it with node_modules). No binary for this platform
# fails the build here rather than the first Extend. test/e2e/dockerfile.test.ts runs this line too.
RUN node -e "require('node:child_process').execFileSync(require('@ffmpeg-installer/ffmpeg').path, ['-version'], { stdio: 'ignore' })"

# ---- runtime: no compilers, non-root
FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    DATA_DIR=/data \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The compiled entry point, as `npm start` runs it (no TypeScript loader at run time); SIGTERM stops it gracefully.
# test/e2e/dockerfile.test.ts runs this very line (and the HEALTHCHECK) outside Docker.
CMD ["node", "dist/src/main.js"]
