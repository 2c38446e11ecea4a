import { execFileSync, spawnSync, SpawnSyncOptions } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './coordinator-process';

/**
 * A throwaway PostgreSQL server for tests: `initdb` + `pg_ctl` on a temp folder and a free port,
 * trust authentication on 127.0.0.1 only, fsync off. PostgreSQL refuses to run as root, so under
 * root the folder is given to `nobody` and the binaries run as that user. Fails loudly (never
 * skips) when the binaries are missing: `.ci/run` installs the `postgresql` package.
 */
export class PostgresServer {
  private constructor(
    private readonly dir: string,
    private readonly bin: string,
    private readonly as: { uid: number; gid: number } | undefined,
    readonly port: number,
  ) {}

  static async start(): Promise<PostgresServer> {
    const bin = postgresBinDir();
    const dir = mkdtempSync(join(tmpdir(), 'phcc-pg-'));
    const as = process.getuid?.() === 0 ? unprivilegedUser() : undefined;
    if (as) chownSync(dir, as.uid, as.gid);
    const server = new PostgresServer(dir, bin, as, await freePort());
    server.exec('initdb', ['-D', server.dataDir, '-U', 'phcc', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    const options = `-p ${server.port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
    server.exec('pg_ctl', [
      'start',
      '-w',
      '-t',
      '60',
      '-D',
      server.dataDir,
      '-l',
      join(dir, 'server.log'),
      '-o',
      options,
    ]);
    return server;
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** URL of database `name` (the default `postgres` database exists from the start). */
  url(name = 'postgres'): string {
    return `postgresql://phcc@127.0.0.1:${this.port}/${name}`;
  }

  /** Creates a new empty database and returns its URL. */
  async createDatabase(name: string): Promise<string> {
    const client = new Client({ connectionString: this.url() });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  async stop(): Promise<void> {
    try {
      this.exec('pg_ctl', ['stop', '-m', 'immediate', '-w', '-D', this.dataDir]);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private exec(tool: string, args: string[]): void {
    const options: SpawnSyncOptions = { encoding: 'utf8', cwd: this.dir, timeout: 120_000, ...this.as };
    const result = spawnSync(join(this.bin, tool), args, options);
    if (result.status !== 0) {
      const logFile = join(this.dir, 'server.log');
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
      throw new Error(
        `${tool} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}): ${String(result.stderr).slice(-2000)}\n${log}`,
      );
    }
  }
}

/** The newest /usr/lib/postgresql/<version>/bin (Debian's layout), else the one pg_config names. */
function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length) return join(root, versions[0], 'bin');
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // fall through to the error below
  }
  throw new Error(
    'PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin: install them with "apt-get install -y postgresql" (.ci/run does)',
  );
}

function unprivilegedUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}
