import { Command, Option } from 'commander';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { InputError, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../../../libs/common/src';
import { isPostgresUrl } from '../../../coordinator/src/persistence/db-url';
import { commandLogger } from '../context';

interface CoordinatorCommandOptions {
  db: string;
  port: string;
  kit: string;
  host: string;
  dataDir?: string;
  adminToken?: string;
  adminTokenFile?: string;
  disconnectGrace: string;
  tlsCert?: string;
  keepUpdateRounds?: string;
  tlsKey?: string;
}

/**
 * `phcc-fed coordinator`: the consortium's server (admin REST API + OpenAPI page). NestJS is
 * loaded only when this command runs, so the rest of the CLI starts fast.
 */
export function registerCoordinator(program: Command): void {
  program
    .command('coordinator')
    .summary('run the consortium coordinator (REST admin API + socket.io gateway)')
    .description(
      'Starts the coordinator: enrolled sites from the provisioning kit (--kit, written by "phcc-fed provision"),\n' +
        'runs and audit log in a SQLite file or a PostgreSQL database (--db; a restart on the same database resumes\n' +
        'where it stopped; two coordinators on one PostgreSQL database: one is active, the other a standby that\n' +
        'takes over when the active one stops or dies),\n' +
        'models in a content-addressed store (--data-dir). The admin API needs "Authorization: Bearer <token>";\n' +
        'without --admin-token / PHCC_ADMIN_TOKEN a token is generated on the first start and printed once.\n' +
        'API reference: <url>/docs. Stop with Ctrl-C (SIGINT) or SIGTERM.',
    )
    .requiredOption(
      '--db <file|url>',
      'SQLite database file (created if absent, mode 0600) or postgresql://user@host:port/db URL\n' +
        '(password from PGPASSWORD or ~/.pgpass, never in the URL on a shared machine)',
    )
    .requiredOption(
      '--kit <dir>',
      'provisioning directory (the --out of "phcc-fed provision", or its coordinator/ folder)',
    )
    .option('--port <port>', 'TCP port (0 = any free port)', '8080')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--keep-update-rounds <n>',
      "delete each site's update blobs once N newer rounds of the stage are done (digests stay in the audit log; default: keep all)",
    )
    .option('--tls-cert <file>', 'serve HTTPS/WSS with this PEM certificate (chain); needs --tls-key')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (keep it 0600)')
    .option(
      '--data-dir <dir>',
      'where models are stored (default: coordinator-data/ beside a SQLite database; required with PostgreSQL)',
    )
    .option(
      '--disconnect-grace <seconds>',
      'a site that disconnects mid-round keeps its task this long (never past the deadline) to reconnect',
      '10',
    )
    .addOption(
      new Option(
        '--admin-token <token>',
        'admin bearer token, at least 16 characters (only its hash is stored)',
      ).env('PHCC_ADMIN_TOKEN'),
    )
    .option(
      '--admin-token-file <file>',
      'read the admin token from this file (first line); unlike --admin-token it does not show in ps',
    )
    .action(async (opts: CoordinatorCommandOptions, cmd: Command) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new InputError(`--port must be an integer from 0 to 65535 (got "${opts.port}")`);
      }
      const graceS = Number(opts.disconnectGrace);
      if (!(graceS >= 0 && graceS <= 3600)) {
        throw new InputError(`--disconnect-grace must be 0 to 3600 seconds (got "${opts.disconnectGrace}")`);
      }
      if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) {
        throw new InputError(
          '--tls-cert and --tls-key go together (or terminate TLS at a reverse proxy: deploy/README.md)',
        );
      }
      const keepUpdateRounds =
        opts.keepUpdateRounds === undefined ? undefined : Number(opts.keepUpdateRounds);
      if (keepUpdateRounds !== undefined && !(Number.isInteger(keepUpdateRounds) && keepUpdateRounds >= 0)) {
        throw new InputError(`--keep-update-rounds must be an integer ≥ 0 (got "${opts.keepUpdateRounds}")`);
      }
      const log = commandLogger(cmd);
      const adminToken = adminTokenOf(opts, cmd);
      if (cmd.getOptionValueSource('adminToken') === 'cli') {
        log.warn(
          '--admin-token on the command line is visible to every local user (ps, /proc); use PHCC_ADMIN_TOKEN or --admin-token-file',
        );
      }
      const { startCoordinator } = await import('../../../coordinator/src/create-app');
      const postgres = isPostgresUrl(opts.db);
      if (postgres && !opts.dataDir) {
        throw new InputError(
          '--data-dir is required with a PostgreSQL --db (the models live in a folder, not in the database)',
        );
      }
      const dbFile = postgres ? opts.db : resolve(opts.db);
      const dataDir = resolve(opts.dataDir ?? join(dirname(dbFile), 'coordinator-data'));
      const out = (line: string) => process.stdout.write(line + '\n');
      // Listened for from the start: a standby waiting for the active lock stops on Ctrl-C too.
      const signalled = waitForSignal();
      const stopWaiting = new AbortController();
      void signalled.then(() => stopWaiting.abort());
      let coordinator;
      try {
        coordinator = await startCoordinator({
          dbFile,
          kitDir: resolve(opts.kit),
          dataDir,
          host: opts.host,
          port,
          adminToken,
          disconnectGraceMs: Math.round(graceS * 1000),
          keepUpdateRounds,
          tls:
            opts.tlsCert && opts.tlsKey
              ? { certFile: resolve(opts.tlsCert), keyFile: resolve(opts.tlsKey) }
              : undefined,
          log,
          // Written before its hash is stored, so a start that fails earlier leaves no unknown
          // token; to an owner-only file, never to the terminal (terminals are logged and shared).
          showGeneratedToken: (token) => {
            const file = writeGeneratedToken(dataDir, token);
            out(
              `admin token generated and written to ${file} (owner-only; only its hash is stored): move it to your secret store, then delete the file`,
            );
          },
          onStandby: (url) =>
            out(
              `standby on ${url}: another coordinator is active on this database; taking over when it stops (/health/ready answers 503 until then)`,
            ),
          // Fencing: not one more write once another coordinator may be active (no graceful close).
          onActiveLost: (err) => {
            log.error({ err: err.message }, 'lost the active lock: exiting now so that a standby takes over');
            process.exit(1);
          },
          signal: stopWaiting.signal,
        });
      } catch (err) {
        if (stopWaiting.signal.aborted) {
          out('standby stopped');
          return;
        }
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
          throw new InputError(`cannot listen on ${opts.host}:${port}: ${(err as Error).message}`);
        }
        throw err;
      }
      out(`coordinator listening on ${coordinator.url}`);
      out(`OpenAPI: ${coordinator.docsUrl}  (JSON: ${coordinator.openApiUrl})`);
      out(`enrolled sites (${coordinator.sites.length}):`);
      for (const site of coordinator.sites) {
        out(
          `  ${site.id.padEnd(24)} ${site.fingerprint}${site.revokedAt ? `  REVOKED ${site.revokedAt}` : ''}`,
        );
      }
      if (coordinator.adminTokenSource === 'stored') {
        out(
          'admin token: the one set on an earlier start (its hash is in the database; --admin-token replaces it)',
        );
      }
      await signalled;
      log.info('shutting down');
      await coordinator.close();
      out('coordinator stopped');
    });
}

/** The token from --admin-token-file, else --admin-token / PHCC_ADMIN_TOKEN; both at once is an error. */
function adminTokenOf(opts: CoordinatorCommandOptions, cmd: Command): string | undefined {
  if (opts.adminTokenFile === undefined) return opts.adminToken;
  if (cmd.getOptionValueSource('adminToken') === 'cli') {
    throw new InputError('give either --admin-token or --admin-token-file, not both');
  }
  let text: string;
  try {
    text = readFileSync(opts.adminTokenFile, 'utf8');
  } catch (err) {
    throw new InputError(`--admin-token-file ${opts.adminTokenFile}: ${(err as Error).message}`);
  }
  const token = text.split(/\r?\n/)[0].trim();
  if (!token) throw new InputError(`--admin-token-file ${opts.adminTokenFile}: the first line is empty`);
  return token;
}

/** Resolves on the first SIGINT or SIGTERM; a second one while closing kills at once. */
function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolveSignal) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolveSignal(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** Where a first start puts the admin token it generated (replacing one a failed start left). */
export const GENERATED_TOKEN_FILE = 'admin-token';

function writeGeneratedToken(dataDir: string, token: string): string {
  const file = join(dataDir, GENERATED_TOKEN_FILE);
  mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  rmSync(file, { force: true }); // 'wx' below: never into a file someone else made readable
  writeFileSync(file, token + '\n', { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  return file;
}
