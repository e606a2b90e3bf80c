import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Checkpoints a WAL database from a worker thread, so that the bot's own connection never does.
 *
 * SQLite's automatic checkpoint runs inside whichever COMMIT pushes the WAL past 1,000 pages: that commit copies the
 * pages into the database file and syncs it, on the event loop (an eighth of an intake's time under load, from a CPU
 * profile). Here a second connection, on its own thread, runs a PASSIVE checkpoint every `intervalMs` (which never
 * waits for, nor blocks, the writer), and the bot's connection keeps automatic checkpoints only as a backstop for a
 * WAL that grows anyway (a reader holding it, or a thread that died). With `synchronous = NORMAL` a checkpoint is
 * also when the WAL is synced to disk, so a timed one bounds what a power loss can take back by time as well as by
 * size.
 */

export interface Checkpointer {
  /**
   * Asks the thread to close its connection and end (it does not keep the process alive meanwhile); resolves once it
   * has. The last connection to close removes the WAL files: until then the database's directory is not ours to delete.
   */
  stop(): Promise<void>;
}

export interface CheckpointerOptions {
  intervalMs?: number;
  /** The thread could not run (or failed later): automatic checkpoints on the bot's connection are on again. */
  onFailure: (error: Error) => void;
}

/** Plain CommonJS, evaluated in the thread: no loader (tsx or not) needs to find a file of ours at run time. */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
// A SqliteError reaches the parent as a bare { code }: rethrown as an Error, it keeps its message.
const guarded = (fn) => {
  try {
    return fn();
  } catch (error) {
    throw new Error(error.message + (error.code ? ' (' + error.code + ')' : ''));
  }
};
const db = guarded(() => new Database(workerData.file, { fileMustExist: true }));
db.pragma('busy_timeout = 1000');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => guarded(() => checkpoint.run()), workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

const driver = createRequire(import.meta.url).resolve('better-sqlite3');

export function startCheckpointer(file: string, options: CheckpointerOptions): Checkpointer {
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    // The thread needs none of the parent's flags (a TypeScript loader under tsx would only slow its start).
    execArgv: [],
    workerData: { file, driver, intervalMs: options.intervalMs ?? 100 },
  });
  worker.unref();
  let stopped = false;
  let exited = false;
  const exit = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', (error) => {
    if (!stopped) options.onFailure(error);
    stopped = true;
  });
  worker.on('exit', (code) => {
    exited = true;
    if (!stopped) options.onFailure(new Error(`the checkpoint thread ended (exit code ${code})`));
  });
  return {
    stop() {
      stopped = true;
      if (!exited) worker.postMessage('stop');
      return exit;
    },
  };
}
