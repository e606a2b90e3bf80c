import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Job } from '../../db/schema.js';
import type { StoredParams } from '../../src/core/ports.js';
import { ROOT } from '../helpers/child.js';

/**
 * Commands, platform adapters and the HTTP server reach the database only through named core functions
 * (issue 13 §1): a table queried from outside src/core is a rule the core cannot see being broken.
 */

const OUTSIDE_CORE = ['commands', 'src/platforms', 'src/server'];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(rel);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [rel] : [];
  });
}

/** Import statements (possibly spanning lines) of a file that bring in values, not only types. */
function valueImportsFrom(file: string, module: RegExp): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const imports = text.match(/^import\s[^;]*?from\s+'[^']+';/gms) ?? [];
  return imports.filter((statement) => {
    const from = /from\s+'([^']+)'/.exec(statement)![1]!;
    if (!module.test(from) || statement.startsWith('import type')) return false;
    const names = /\{([^}]*)\}/s.exec(statement)?.[1];
    // `import { type Job }`: only types, which are fine.
    return names === undefined || names.split(',').some((n) => n.trim() !== '' && !n.trim().startsWith('type '));
  });
}

describe('the core boundary', () => {
  const files = OUTSIDE_CORE.flatMap(sourceFiles);

  it('finds the files it guards', () => {
    expect(files).toEqual(expect.arrayContaining(['commands/cancel.ts', 'commands/queue.ts', 'src/server/metrics.ts']));
  });

  describe('when a command, adapter or server module needs data', () => {
    it('imports no tables from the schema (types only)', () => {
      const offenders = files.filter((f) => valueImportsFrom(f, /db\/schema\.js$/).length > 0);
      expect(offenders).toEqual([]);
    });

    it('builds no queries of its own (no drizzle-orm)', () => {
      const offenders = files.filter((f) => valueImportsFrom(f, /^drizzle-orm/).length > 0);
      expect(offenders).toEqual([]);
    });
  });

  describe('the engine façade', () => {
    it('queries no tables itself: the runner, intake and job-state do', () => {
      const file = 'src/core/engine/engine.ts';
      expect(valueImportsFrom(file, /db\/schema\.js$/)).toEqual([]);
      expect(valueImportsFrom(file, /^drizzle-orm/)).toEqual([]);
    });
  });

  it('keeps HttpRoute in the ports, where adapters find it without importing the server', () => {
    const declaring = [...files, 'src/core/ports.ts'].filter((f) =>
      /export (interface|type) HttpRoute\b/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')),
    );
    expect(declaring).toEqual(['src/core/ports.ts']);
  });
});

describe('jobs.params', () => {
  it('is typed in the schema as what intake stores, so readers need no cast (checked by tsc)', () => {
    expectTypeOf<Job['params']>().toEqualTypeOf<StoredParams>();
  });
});
