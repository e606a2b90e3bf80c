/**
 * Relay benchmark: what our fetch-and-store path (design §2 step 7) costs in time and memory for a large
 * result, next to a plain file copy of the same bytes. Run with `npx tsx bench/relay.ts [--runs=3] [--mib=200]`.
 *
 * This process generates the video-like file, serves it over HTTP on 127.0.0.1 and runs s3rver. Every
 * measurement runs in a fresh child process, so its memory baseline is clean and the servers' memory is not
 * counted. Nothing leaves the loopback interface.
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
import type { MediaStore } from '../src/core/ports.js';
import { createLocalMediaStore } from '../src/media/local-store.js';
import { createS3MediaStore } from '../src/media/s3-store.js';
import { createSafeFetcher } from '../src/media/safe-fetch.js';
import { SIM_ASSETS } from '../src/sim/assets.js';
import { S3RVER_ACCESS_KEY_ID, startS3Server } from '../test/helpers/s3-server.js';

const MIB = 1024 * 1024;
const SAMPLE_EVERY_MS = 20;
const BUCKET = 'bench';

const SCENARIOS = {
  copy: 'plain file copy (fs pipeline)',
  local: 'fetch → local store',
  s3: 'fetch → S3 store (s3rver)',
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
}

interface Measurement {
  bytes: number;
  seconds: number;
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
  try {
    await writeVideoLikeFile(sourcePath, sizeMib * MIB);
    http = await serveFiles({ '/source.mp4': sourcePath, '/warmup.mp4': warmupPath });
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
        };
        const result = await measureInChild(job);
        if (result.bytes !== sizeMib * MIB) throw new Error(`${scenario}: moved ${result.bytes} bytes, expected ${sizeMib * MIB}`);
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
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  try {
    const bytes = await transfer('source');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    peak = Math.max(peak, process.memoryUsage.rss());
    return { bytes, seconds, rssGrowth: peak - baseline, cpuShare: (cpu.user + cpu.system) / 1e6 / seconds };
  } finally {
    clearInterval(sampler);
  }
}

type Transfer = (which: 'warmup' | 'source') => Promise<number>;

async function setUp(job: MeasureJob): Promise<Transfer> {
  if (job.scenario === 'copy') {
    return async (which) => {
      const target = path.join(job.workDir, `${which}-copy.mp4`);
      await pipeline(createReadStream(which === 'source' ? job.sourcePath : job.warmupPath), createWriteStream(target));
      return (await stat(target)).size;
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
  return async (which) => {
    const temp = store.tempPath(`${which}.part`);
    const got = await fetcher.fetchToFile(which === 'source' ? job.sourceUrl : job.warmupUrl, temp, { kind: 'video', maxBytes: 4096 * MIB });
    const stored = await store.putFile(`results/${which}.${got.ext}`, temp, got.contentType);
    return stored.bytes;
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
    child.once('exit', (code) => (result ? resolve(result) : reject(new Error(`${job.scenario}: measuring process exited with ${code}`))));
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
    for (let written = header.length; written < size; ) {
      const chunk = block.subarray(0, Math.min(block.length, size - written));
      await handle.write(chunk);
      written += chunk.length;
    }
  } finally {
    await handle.close();
  }
}

function serveFiles(routes: Record<string, string>): Promise<Server> {
  const server = createServer((req, res) => {
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
  }));
  const copy = summary[0]!;
  const cpus = os.cpus();
  console.log(
    `relay of a ${sizeMib} MiB MP4 over HTTP on 127.0.0.1; median of ${runs} run(s), each in a fresh process\n` +
      `node ${process.version}, ${cpus.length} × ${cpus[0]?.model.trim() ?? 'CPU'}, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM\n`,
  );
  const rows = [
    ['path', 'MiB/s', 'vs copy', 'peak RSS growth', 'vs copy', 'CPU'],
    ...summary.map((s) => [
      s.label,
      s.mibPerS.toFixed(0),
      `${(s.mibPerS / copy.mibPerS).toFixed(2)}×`,
      `${s.rssMib.toFixed(1)} MiB`,
      `${(s.rssMib / Math.max(copy.rssMib, 0.1)).toFixed(1)}×`,
      `${(s.cpuShare * 100).toFixed(0)}%`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('   '));
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
