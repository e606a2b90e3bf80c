// `npm run build`: compiles the bot to dist/ with tsc and copies what the compiled code reads beside it
// (db/migrations and db/pg-migrations, the simulators' media). `--if-stale` (npm start's prestart, the test suite's global set-up)
// builds only when a source file is newer than the last build, so an owner's `npm start` after `git pull`
// always runs the code they have, and costs a few milliseconds when nothing changed.
// The new build is made in a temporary folder and swapped in whole; a lock folder keeps two builds (two test
// workers, two terminals) from writing at once.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const stamp = path.join(dist, '.build-stamp');
const lock = path.join(root, '.build-lock');
const SOURCES = ['src', 'commands', 'db', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'scripts/build.mjs'];
/** A lock older than this was left by a killed build (a build takes well under a minute). */
const STALE_LOCK_MS = 5 * 60_000;

function newestSourceMs() {
  let newest = 0;
  for (const entry of SOURCES) {
    const full = path.join(root, entry);
    const stat = fs.statSync(full, { throwIfNoEntry: false });
    if (!stat) continue;
    newest = Math.max(newest, stat.mtimeMs);
    if (!stat.isDirectory()) continue;
    for (const name of fs.readdirSync(full, { recursive: true })) {
      newest = Math.max(newest, fs.statSync(path.join(full, String(name))).mtimeMs);
    }
  }
  return newest;
}

function isFresh() {
  const built = fs.statSync(stamp, { throwIfNoEntry: false });
  return built !== undefined && built.mtimeMs >= newestSourceMs();
}

function acquireLock() {
  for (;;) {
    try {
      fs.mkdirSync(lock);
      return;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      const held = fs.statSync(lock, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) fs.rmSync(lock, { recursive: true, force: true });
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
}

function build() {
  const started = Date.now();
  const tmp = path.join(root, `dist.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  let tsc;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    throw new Error(
      'dist/ is missing or older than the sources, and TypeScript is not installed to build it: run `npm ci` (with the dev dependencies), then `npm run build`',
    );
  }
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', tmp], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(`tsc failed (exit ${result.status ?? result.signal})`);
  }
  for (const migrations of ['migrations', 'pg-migrations']) {
    fs.cpSync(path.join(root, 'db', migrations), path.join(tmp, 'db', migrations), { recursive: true });
  }
  fs.cpSync(path.join(root, 'src', 'sim', 'assets'), path.join(tmp, 'src', 'sim', 'assets'), { recursive: true });
  fs.writeFileSync(path.join(tmp, '.build-stamp'), `${new Date(started).toISOString()}\n`);
  // The stamp's time is when the build began: a source saved during the build makes the next start rebuild.
  fs.utimesSync(path.join(tmp, '.build-stamp'), new Date(started), new Date(started));
  const old = path.join(root, `dist.old-${process.pid}`);
  if (fs.existsSync(dist)) fs.renameSync(dist, old);
  fs.renameSync(tmp, dist);
  fs.rmSync(old, { recursive: true, force: true });
  process.stderr.write(`clipbot: built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

const ifStale = process.argv.includes('--if-stale');
if (!(ifStale && isFresh())) {
  acquireLock();
  try {
    // Another process may have finished the same build while this one waited for the lock.
    if (!(ifStale && isFresh())) build();
  } catch (error) {
    process.stderr.write(`clipbot: build failed: ${error.message}\n`);
    process.exitCode = 1;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
