/**
 * Relay benchmark: what our fetch → validate → store → upload path (design §2 steps 7 and 8) costs in time and
 * memory for a large result, next to a plain file copy of the same bytes. Run with
 * `npx tsx bench/relay.ts [--runs=3] [--mib=200]`.
 *
 * The upload is the Telegram adapter's real `deliver()` (grammY `sendVideo`, multipart, reading through the
 * store's `openRead`) to a fake Bot API that counts the bytes without keeping them. The public Bot API caps
 * uploads at 50 MB, so the adapter is given a local Bot API server's 2000 MB limit; with the default limit a
 * 200 MB result would be sent as a link.
 *
 * This process generates the video-like file, serves it and the fake Bot API over HTTP on 127.0.0.1 and runs
 * s3rver. Every measurement runs in a fresh child process, so its memory baseline is clean and the servers'
 * memory is not counted. Nothing leaves the loopback interface.
 */
import { fork } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Api } from 'grammy';
import type { MediaStore } from '../src/core/ports.js';
import { silentLogger } from '../src/logger.js';
import { createLocalMediaStore } from '../src/media/local-store.js';
import { createS3MediaStore } from '../src/media/s3-store.js';
import { createSafeFetcher } from '../src/media/safe-fetch.js';
import { createTelegramChat, RecentUsers } from '../src/platforms/telegram/telegram-chat.js';
import { SIM_ASSETS } from '../src/sim/assets.js';
import { S3RVER_ACCESS_KEY_ID, startS3Server } from '../test/helpers/s3-server.js';

const MIB = 1024 * 1024;
const SAMPLE_EVERY_MS = 20;
const BUCKET = 'bench';
const BOT_TOKEN = '123456:bench';
const CHAT_ID = 4242;

const SCENARIOS = {
  copy: 'plain file copy (fs pipeline)',
  local: 'fetch → local store → Telegram upload',
  s3: 'fetch → S3 store (s3rver) → Telegram upload',
} as const;
type Scenario = keyof typeof SCENARIOS;

/** What the parent tells a child to measure. */
interface MeasureJob {
  scenario: Scenario;
  sourcePath: string;
  sourceUrl: string;
  warmupPath: string;
  warmupUrl: string;
  workDir: string;
  s3Endpoint: string;
  botApiRoot: string;
}

interface Measurement {
  bytes: number;
  seconds: number;
  /** The relay's two legs: fetch + validate + store, then upload (0 for the copy). */
  storeSeconds: number;
  uploadSeconds: number;
  /** Peak RSS during the transfer minus RSS just before it, in bytes. */
  rssGrowth: number;
  /** CPU time of the measuring process (user + system) over wall time: 1 = one core busy throughout. */
  cpuShare: number;
}

if (process.argv.includes('--measure')) {
  process.once('message', (job: MeasureJob) => {
    measure(job).then(
      (result) => process.send?.(result, () => process.exit(0)),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
} else {
  await main();
}

async function main(): Promise<void> {
  const runs = numberArg('runs', 3);
  const sizeMib = numberArg('mib', 200);
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'clipbot-bench-relay-'));
  const sourcePath = path.join(workDir, 'source.mp4');
  const warmupPath = fileURLToPath(SIM_ASSETS.video480p);
  let http: Server | undefined;
  let s3: Awaited<ReturnType<typeof startS3Server>> | undefined;
  const uploads: number[] = [];
  try {
    await writeVideoLikeFile(sourcePath, sizeMib * MIB);
    http = await serveFiles({ '/source.mp4': sourcePath, '/warmup.mp4': warmupPath }, uploads);
    const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    s3 = await startS3Server({ buckets: [BUCKET] });

    const results = new Map<Scenario, Measurement[]>();
    for (const scenario of Object.keys(SCENARIOS) as Scenario[]) {
      for (let run = 0; run < runs; run++) {
        const runDir = path.join(workDir, `${scenario}-${run}`);
        await mkdir(runDir);
        const job: MeasureJob = {
          scenario,
          sourcePath,
          sourceUrl: `${origin}/source.mp4`,
          warmupPath,
          warmupUrl: `${origin}/warmup.mp4`,
          workDir: runDir,
          s3Endpoint: s3.endpoint,
          botApiRoot: origin,
        };
        uploads.length = 0;
        const result = await measureInChild(job);
        if (result.bytes !== sizeMib * MIB)
          throw new Error(`${scenario}: moved ${result.bytes} bytes, expected ${sizeMib * MIB}`);
        // The multipart body is the file plus a few hundred bytes of fields and boundaries.
        const uploaded = uploads.at(-1) ?? 0;
        if (
          scenario !== 'copy' &&
          (uploads.length !== 2 || uploaded < result.bytes || uploaded > result.bytes + 64 * 1024)
        ) {
          throw new Error(
            `${scenario}: the fake Bot API got uploads of ${uploads.join(', ') || 'nothing'} bytes, expected 2, the last of about ${result.bytes}`,
          );
        }
        results.set(scenario, [...(results.get(scenario) ?? []), result]);
        await rm(runDir, { recursive: true, force: true });
      }
    }
    printTable(results, sizeMib, runs);
  } finally {
    await s3?.close();
    await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Runs in the child: set up the path, warm it up once, then time one transfer while sampling RSS. */
async function measure(job: MeasureJob): Promise<Measurement> {
  const transfer = await setUp(job);
  // The first transfer loads modules and opens pools; only the steady-state cost is of interest.
  await transfer('warmup');
  globalThis.gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, SAMPLE_EVERY_MS);
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  try {
    const { bytes, storedAt } = await transfer('source');
    const finished = performance.now();
    const seconds = (finished - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    peak = Math.max(peak, process.memoryUsage.rss());
    return {
      bytes,
      seconds,
      storeSeconds: ((storedAt ?? finished) - started) / 1000,
      uploadSeconds: storedAt === undefined ? 0 : (finished - storedAt) / 1000,
      rssGrowth: peak - baseline,
      cpuShare: (cpu.user + cpu.system) / 1e6 / seconds,
    };
  } finally {
    clearInterval(sampler);
  }
}

/** Moves one file; `storedAt` (performance.now()) is when a relay's fetch + store leg ended and its upload began. */
type Transfer = (which: 'warmup' | 'source') => Promise<{ bytes: number; storedAt?: number }>;

async function setUp(job: MeasureJob): Promise<Transfer> {
  if (job.scenario === 'copy') {
    return async (which) => {
      const target = path.join(job.workDir, `${which}-copy.mp4`);
      await pipeline(createReadStream(which === 'source' ? job.sourcePath : job.warmupPath), createWriteStream(target));
      return { bytes: (await stat(target)).size };
    };
  }
  const fetcher = createSafeFetcher({ allowCidrs: ['127.0.0.1/32'], deadlineMs: 600_000 });
  const store: MediaStore =
    job.scenario === 'local'
      ? createLocalMediaStore({ dir: path.join(job.workDir, 'media'), publicBaseUrl: 'http://127.0.0.1' })
      : createS3MediaStore({
          endpoint: job.s3Endpoint,
          bucket: BUCKET,
          region: 'us-east-1',
          accessKeyId: S3RVER_ACCESS_KEY_ID,
          secretAccessKey: 'bench',
          publicUrl: `${job.s3Endpoint}/${BUCKET}`,
          tempDir: path.join(job.workDir, 'tmp'),
          forcePathStyle: true,
        });
  const telegram = createTelegramChat({
    api: new Api(BOT_TOKEN, { apiRoot: job.botApiRoot }),
    token: BOT_TOKEN,
    logger: silentLogger,
    users: new RecentUsers(),
    uploadLimitBytes: 2000 * 1000 * 1000,
  });
  // As the engine's fetch and deliver steps do it (engine.ts fetchStep, deliverStep).
  return async (which) => {
    const temp = store.tempPath(`${which}.part`);
    const got = await fetcher.fetchToFile(which === 'source' ? job.sourceUrl : job.warmupUrl, temp, {
      trust: 'operator',
      kind: 'video',
      maxBytes: 4096 * MIB,
    });
    const stored = await store.putFile(`results/${which}.${got.ext}`, temp, got.contentType);
    const storedAt = performance.now();
    const localPath = store.localPath(stored.key);
    await telegram.deliver(
      { platform: 'telegram', chatId: String(CHAT_ID), userId: String(CHAT_ID) },
      {
        jobId: which,
        text: 'Your video is ready',
        media: stored,
        ...(localPath ? { localPath } : {}),
        openRead: () => store.openRead(stored.key),
      },
    );
    return { bytes: stored.bytes, storedAt };
  };
}

function measureInChild(job: MeasureJob): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--measure'], {
      execArgv: [...process.execArgv, '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: Measurement | undefined;
    child.once('message', (message: Measurement) => (result = message));
    child.once('error', reject);
    child.once('exit', (code) =>
      result ? resolve(result) : reject(new Error(`${job.scenario}: measuring process exited with ${code}`)),
    );
    child.send(job);
  });
}

/** A valid MP4 start (`ftyp` brand isom, then an `mdat` box) filled with random bytes, written block by block. */
async function writeVideoLikeFile(file: string, size: number): Promise<void> {
  const header = Buffer.alloc(32);
  header.writeUInt32BE(24, 0);
  header.write('ftypisom', 4, 'latin1');
  header.writeUInt32BE(0x200, 12);
  header.write('isomiso2', 16, 'latin1');
  header.writeUInt32BE(size - 24, 24);
  header.write('mdat', 28, 'latin1');
  const block = randomBytes(MIB);
  const handle = await open(file, 'w');
  try {
    await handle.write(header);
    for (let written = header.length; written < size;) {
      const chunk = block.subarray(0, Math.min(block.length, size - written));
      await handle.write(chunk);
      written += chunk.length;
    }
  } finally {
    await handle.close();
  }
}

/**
 * The files by GET, and a fake Bot API by POST: every call is answered with a message, and each `sendVideo`
 * body's size is pushed onto `uploads` (counted as it streams in, never kept).
 */
function serveFiles(routes: Record<string, string>, uploads: number[]): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'POST') {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => {
        if (req.url === `/bot${BOT_TOKEN}/sendVideo`) uploads.push(bytes);
        const message = { message_id: uploads.length, date: 0, chat: { id: CHAT_ID, type: 'private' } };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, result: message }));
      });
      return;
    }
    const file = routes[req.url ?? ''];
    if (!file) return void res.writeHead(404).end();
    stat(file).then(
      ({ size }) => {
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': size });
        pipeline(createReadStream(file), res).catch(() => res.destroy());
      },
      () => res.writeHead(500).end(),
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function printTable(results: Map<Scenario, Measurement[]>, sizeMib: number, runs: number): void {
  const summary = [...results].map(([scenario, measurements]) => ({
    label: SCENARIOS[scenario],
    mibPerS: median(measurements.map((m) => m.bytes / MIB / m.seconds)),
    rssMib: median(measurements.map((m) => m.rssGrowth / MIB)),
    cpuShare: median(measurements.map((m) => m.cpuShare)),
    storeMibPerS: median(measurements.map((m) => m.bytes / MIB / m.storeSeconds)),
    uploadMibPerS: median(measurements.map((m) => (m.uploadSeconds ? m.bytes / MIB / m.uploadSeconds : NaN))),
  }));
  const copy = summary[0]!;
  const cpus = os.cpus();
  console.log(
    `relay of a ${sizeMib} MiB MP4 over HTTP on 127.0.0.1; median of ${runs} run(s), each in a fresh process\n` +
      `node ${process.version}, ${cpus.length} × ${cpus[0]?.model.trim() ?? 'CPU'}, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM\n`,
  );
  const rows = [
    ['path', 'MiB/s', 'vs copy', 'peak RSS growth', 'vs copy', 'CPU', 'fetch + store MiB/s', 'upload MiB/s'],
    ...summary.map((s) => [
      s.label,
      s.mibPerS.toFixed(0),
      `${(s.mibPerS / copy.mibPerS).toFixed(2)}×`,
      `${s.rssMib.toFixed(1)} MiB`,
      `${(s.rssMib / Math.max(copy.rssMib, 0.1)).toFixed(1)}×`,
      `${(s.cpuShare * 100).toFixed(0)}%`,
      Number.isNaN(s.uploadMibPerS) ? '' : s.storeMibPerS.toFixed(0),
      Number.isNaN(s.uploadMibPerS) ? '' : s.uploadMibPerS.toFixed(0),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows)
    console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('   '));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function numberArg(name: string, fallback: number): number {
  const raw = process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive whole number`);
  return value;
}
