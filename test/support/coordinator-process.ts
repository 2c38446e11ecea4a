import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { packageRoot } from '../../libs/common/src';

export interface CoordinatorProcessSpec {
  dbFile: string;
  kitDir: string;
  dataDir: string;
  /** A fixed port, so a restarted coordinator is found again at the URL written in the sites' kits. */
  port: number;
  /** Absent: none configured, so a first start generates one (into the data dir's admin-token file). */
  adminToken?: string;
  /** stdout + stderr of every start of this coordinator, appended. */
  logFile: string;
  logLevel?: string;
  /**
   * 'standby': another coordinator holds this PostgreSQL database's active lock, so start() resolves
   * once this one reports that it stands by; `active` resolves when it takes over. Default 'active'.
   */
  startsAs?: 'active' | 'standby';
}

/**
 * `phcc-fed coordinator` as a child process (it runs dist/), the way a consortium runs it: the
 * resilience tests must be able to SIGKILL it mid-run and start it again on the same --db and port,
 * which an in-process coordinator cannot model (its close() is always graceful).
 */
export class CoordinatorProcess {
  readonly exited: Promise<number | null>;
  readonly url: string;
  /** Resolves when the coordinator listens as the active one (at once for a plain start). */
  readonly active: Promise<void>;
  private becomeActive!: () => void;

  private constructor(
    private readonly child: ChildProcess,
    log: WriteStream,
    readonly spec: CoordinatorProcessSpec,
  ) {
    this.url = `http://127.0.0.1:${spec.port}`;
    this.active = new Promise((resolve) => (this.becomeActive = resolve));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        log.end();
        resolve(code);
      });
    });
  }

  /** Starts it and resolves once it prints that it listens; rejects if it exits or stays silent first. */
  static start(spec: CoordinatorProcessSpec, timeoutMs = 60_000): Promise<CoordinatorProcess> {
    const bin = join(packageRoot(), 'bin', 'phcc-fed.js');
    const args = [bin, '--log-level', spec.logLevel ?? 'info', 'coordinator'];
    args.push('--db', spec.dbFile, '--kit', spec.kitDir, '--data-dir', spec.dataDir);
    args.push('--host', '127.0.0.1', '--port', String(spec.port));
    // The token travels in the environment, not in argv (which `ps` shows to every user).
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...withoutAdminToken(process.env),
        ...(spec.adminToken ? { PHCC_ADMIN_TOKEN: spec.adminToken } : {}),
      },
    });
    const log = createWriteStream(spec.logFile, { flags: 'a' });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const coordinator = new CoordinatorProcess(child, log, spec);
    const startedLine = spec.startsAs === 'standby' ? /^standby on / : /^coordinator listening on /;
    return new Promise((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the coordinator did not listen within ${timeoutMs} ms; see ${spec.logFile}`));
      }, timeoutMs);
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        if (/^coordinator listening on /m.test(stdout)) coordinator.becomeActive();
        if (new RegExp(startedLine.source, 'm').test(stdout)) {
          clearTimeout(timer);
          resolve(coordinator);
        }
      });
      void coordinator.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`the coordinator exited (code ${code}) before listening; see ${spec.logFile}`));
      });
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** A crash (SIGKILL: no graceful close, the run stays `running` in the database); resolves on exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.child.kill(signal);
    await this.exited;
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it returns a value (not undefined), or fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function withoutAdminToken(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const rest = { ...env };
  delete rest.PHCC_ADMIN_TOKEN;
  return rest;
}
