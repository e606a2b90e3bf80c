/**
 * Where the memory of in-flight jobs goes: compares two V8 heap snapshots (e.g. the ones `BENCH_HEAP_AT=2000,10000`
 * makes `bench/in-flight.ts` write) by node type and constructor, and prints what grew, per job.
 * Run with `npx tsx bench/heap-compare.ts <smaller.heapsnapshot> <larger.heapsnapshot> <jobs between them>`.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

interface Group {
  count: number;
  bytes: number;
}

/** Self sizes summed per "type:name" (objects and closures by constructor / function name, the rest by type). */
function summarize(file: string): Map<string, Group> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, Group>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    const named = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' || type === 'code';
    const key = named ? `${type}:${snap.strings[snap.nodes[i + nameAt]!]!.slice(0, 60)}` : type;
    const group = groups.get(key) ?? { count: 0, bytes: 0 };
    group.count++;
    group.bytes += snap.nodes[i + sizeAt]!;
    groups.set(key, group);
  }
  return groups;
}

const [smaller, larger, jobsArg] = process.argv.slice(2);
if (!smaller || !larger || !jobsArg) throw new Error('usage: heap-compare.ts <smaller> <larger> <jobs between them>');
const jobs = Number(jobsArg);
const before = summarize(smaller);
const after = summarize(larger);
const rows = [...after].map(([key, a]) => {
  const b = before.get(key) ?? { count: 0, bytes: 0 };
  return { key, perJob: (a.count - b.count) / jobs, bytesPerJob: (a.bytes - b.bytes) / jobs };
});
rows.sort((x, y) => y.bytesPerJob - x.bytesPerJob);
const total = rows.reduce((sum, r) => sum + r.bytesPerJob, 0);
console.log(
  `heap growth per job: ${total.toFixed(0)} bytes (self sizes, ${fmtKey('type:constructor')} objects/job  bytes/job)`,
);
for (const row of rows.slice(0, 40))
  console.log(`${fmtKey(row.key)} ${row.perJob.toFixed(2).padStart(8)} ${row.bytesPerJob.toFixed(0).padStart(8)}`);

function fmtKey(key: string): string {
  return key.padEnd(64);
}
