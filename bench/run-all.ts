/**
 * `npm run bench`: runs every scenario of issues 6 and 11 one after another, each in its own process (so one's
 * memory and timers cannot colour another's figures), and prints one table. Each scenario script also runs
 * alone and prints its own details. Arguments are passed on and win over the defaults, e.g. `npm run bench -- --jobs=2000`;
 * `--only=intake,recovery` runs just those.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, parseResult, printTable, type BenchRow } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** `--only=intake,polling`: just those scenarios (by script name). */
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const passOn = process.argv.slice(2).filter((a) => !a.startsWith('--only='));

const SCENARIOS: { script: string; args: string[]; parse?: (stdout: string) => BenchRow[] }[] = [
  { script: 'intake.ts', args: ['--json'] },
  // The scale: 10,000 jobs, generation long enough (120–180 s) that all are in flight together.
  { script: 'in-flight.ts', args: ['--json', '--jobs=10000', '--run-s=120'] },
  { script: 'polling.ts', args: ['--json'] },
  // relay.ts predates the shared row format; its own table is read instead.
  { script: 'relay.ts', args: ['--runs=3'], parse: parseRelay },
  { script: 'recovery.ts', args: ['--json'] },
  // Issue 11: other chats' /balance while 10 members' input images trickle in (beside nobody trickling).
  { script: 'telegram-concurrency.ts', args: ['--json'] },
];

const rows: BenchRow[] = [];
const started = new Date();
const chosen = SCENARIOS.filter(({ script }) => !only || only.includes(script.replace(/\.ts$/, '')));
if (chosen.length === 0)
  throw new Error(
    `--only names no scenario; there are: ${SCENARIOS.map((s) => s.script.replace(/\.ts$/, '')).join(', ')}`,
  );
for (const { script, args, parse } of chosen) {
  process.stderr.write(`running ${script} …\n`);
  const { code, stdout } = await run(script, [
    ...passOn.filter((a) => script !== 'relay.ts' || !a.startsWith('--runs')),
    ...args,
  ]);
  const got = code === 0 ? (parse ?? parseResult)(stdout) : undefined;
  if (got?.length) rows.push(...got);
  else rows.push({ scenario: script, figure: `did not finish (exit ${code})`, comparison: '', ratio: '', goal: '' });
}

console.log(`\nclipbot benchmarks, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC\n${machine()}\n`);
printTable([
  ['scenario', 'figure', 'comparison (same run)', 'ratio', 'goal', 'met'],
  ...rows.map((r) => [
    r.scenario,
    r.figure,
    r.comparison,
    r.ratio,
    r.goal,
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]),
]);

function run(script: string, args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, path.join(here, script), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      process.stderr.write(
        chunk
          .split('\n')
          .filter((l) => !l.startsWith('BENCH_RESULT '))
          .join('\n'),
      );
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout }));
  });
}

/** Reads relay.ts's table: `path  MiB/s  vs copy  peak RSS growth  vs copy  CPU`, copy first. */
function parseRelay(stdout: string): BenchRow[] {
  const lines = stdout.split('\n').map((l) => l.split(/ {3,}/).map((c) => c.trim()));
  const copy = lines.find((c) => c[0]?.startsWith('plain file copy'));
  const relays = lines.filter((c) => c[0]?.startsWith('fetch →'));
  if (!copy || relays.length === 0) return [];
  return relays.map((c) => {
    const share = Number(c[1]) / Number(copy[1]);
    const rssMib = Number.parseFloat(c[3] ?? 'NaN');
    return {
      scenario: `4 relay 200 MiB: ${c[0]}`,
      figure: `${c[1]} MiB/s, RSS +${c[3]}`,
      comparison: `plain copy: ${copy[1]} MiB/s, RSS +${copy[3]}`,
      ratio: `${(share * 100).toFixed(0)}% of copy speed`,
      goal: 'RSS growth < 64 MB, ≥ 50% of copy',
      met: rssMib * 1024 * 1024 < 64e6 && share >= 0.5,
    };
  });
}
