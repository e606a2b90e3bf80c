import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.js';

/** The repository root, where the README's commands run. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Builds dist/ when a source is newer than the last build (what `npm start`'s prestart does), once per test file
 * before its children start, so no child spends its start-up time compiling. Safe to run from parallel workers.
 */
/** For the hook that calls `ensureBuilt`: a cold build on a busy 2-CPU machine took 55 s. */
export const BUILD_TIMEOUT_MS = 300_000;

export function ensureBuilt(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--if-stale'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** The environment of an owner's shell: whatever the test runner has, minus every clipbot setting and ENV_FILE. */
export function ownerShellEnv(settings: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of [...Object.keys(loadConfig({})), 'ENV_FILE']) delete env[key];
  return { ...env, ...settings };
}

export interface Child {
  process: ChildProcess;
  /** stdout and stderr so far, interleaved as they arrived. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output (already there or still to come). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** Sends `signal` to the child's whole process group (npm → sh → node). */
  signal(signal: NodeJS.Signals): void;
}

/** Starts `command` as the leader of its own process group, so that `signal` and `killAll` reach npm's children. */
export function startChild(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Child {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? ownerShellEnv(),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const watchers = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const watcher of [...watchers]) watcher();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? signal ?? -1));
  });
  running.add(child);
  void exited.finally(() => running.delete(child)).catch(() => {});
  return {
    process: child,
    output: () => text,
    exited,
    signal(signal) {
      if (child.pid && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, signal);
        } catch {
          // Already gone.
        }
      }
    },
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text);
          if (!match) return false;
          cleanup();
          resolve(match);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; output so far:\n${text}`));
        }, timeoutMs);
        const onExit = () => {
          if (!check()) {
            cleanup();
            reject(new Error(`exited before ${pattern}; output:\n${text}`));
          }
        };
        const cleanup = () => {
          clearTimeout(timer);
          watchers.delete(watch);
          child.off('close', onExit);
        };
        const watch = () => void check();
        if (check()) return;
        watchers.add(watch);
        child.on('close', onExit);
      });
    },
  };
}

const running = new Set<ChildProcess>();

/** SIGKILLs every child still running (their whole process groups): for afterEach. */
export function killAll(): void {
  for (const child of running) {
    if (child.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  running.clear();
}
