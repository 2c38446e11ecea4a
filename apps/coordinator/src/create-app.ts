import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { existsSync, readFileSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { InputError, Log, packageVersion } from '../../../libs/common/src';
import { coordinatorDirOf } from '../../../libs/protocol/src';
import { AppModule } from './app.module';
import helmet from 'helmet';
import { AuditService } from './audit/audit.service';
import { AdminAuthService, AdminTokenSource } from './auth/admin-auth.service';
import { checkAdminToken } from './auth/admin-token';
import { CoordinatorConfig } from './config/coordinator-config';
import { authGate } from './http/auth-gate';
import { bodyParsers } from './http/body-parsers';
import { BoundedIoAdapter } from './http/io-adapter';
import { RefusalLimiter } from './http/refusal-limiter';
import { NestLogAdapter } from './logging/nest-log-adapter';
import { throttledLog } from './logging/throttled-log';
import { SiteRecord } from './persistence/records';
import { SitesService } from './sites/sites.service';
import { ActiveLock } from './failover/active-lock';
import { StandbyServer } from './failover/standby-server';
import { isPostgresUrl } from './persistence/db-url';

export interface CoordinatorOptions {
  dbFile: string;
  kitDir: string;
  dataDir: string;
  host?: string;
  port?: number;
  adminToken?: string;
  /** See CoordinatorConfig.disconnectGraceMs. */
  disconnectGraceMs?: number;
  /** See CoordinatorConfig.keepUpdateRounds. */
  keepUpdateRounds?: number;
  /** Serve HTTPS (and WSS) with this PEM certificate chain and key, instead of plain HTTP. */
  tls?: { certFile: string; keyFile: string };
  log: Log;
  /**
   * Shows a token generated on this start (the CLI prints it). Called once the coordinator
   * listens and before the token's hash is stored, so a start that fails earlier stores nothing.
   */
  showGeneratedToken?: (token: string) => void;
  /**
   * PostgreSQL only: called when another coordinator is active on the database and this one starts
   * to wait as its standby (serving /health/ready as 503 at `url` meanwhile).
   */
  onStandby?: (url: string) => void;
  /**
   * PostgreSQL only: called if this coordinator loses the active lock while running. It must stop
   * at once without writing anything more (the CLI exits): a standby is about to take over.
   * Default: log and close.
   */
  onActiveLost?: (err: Error) => void;
  /** Aborting while this coordinator waits as a standby gives up waiting (startCoordinator rejects). */
  signal?: AbortSignal;
}

export interface RunningCoordinator {
  app: INestApplication;
  /** http://host:port */
  url: string;
  docsUrl: string;
  openApiUrl: string;
  sites: SiteRecord[];
  /** Set only on the start that generated the admin token: show it once, then it is gone. */
  generatedAdminToken?: string;
  adminTokenSource: AdminTokenSource;
  close(): Promise<void>;
}

export { MAX_MODEL_UPLOAD_BYTES } from './http/request-limits';

/**
 * Boots the coordinator and listens. Used by `phcc-fed coordinator` and by the e2e tests, so
 * what the tests exercise is exactly what operators run.
 */
export async function startCoordinator(options: CoordinatorOptions): Promise<RunningCoordinator> {
  // Checked before Nest boots, so a wrong flag is one clear line instead of a failed module init.
  if (options.adminToken !== undefined) checkAdminToken(options.adminToken);
  if (!coordinatorDirOf(options.kitDir)) {
    throw new InputError(
      `--kit ${options.kitDir}: no coordinator kit here (expected coordinator/coordinator.json; create it with "phcc-fed provision --out ${options.kitDir} …")`,
    );
  }
  const config: CoordinatorConfig = {
    dbFile: options.dbFile,
    kitDir: options.kitDir,
    dataDir: options.dataDir,
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 8080,
    adminToken: options.adminToken,
    version: packageVersion(),
    disconnectGraceMs: options.disconnectGraceMs,
    keepUpdateRounds: options.keepUpdateRounds,
  };
  // Repeated lines (bad handshakes, site events) are counted instead of written one by one.
  const log = throttledLog(options.log);
  const httpsOptions = options.tls && readTls(options.tls);
  // Two coordinators on one PostgreSQL database: the holder of the lock is active, the other waits
  // here before it opens anything (docs: deploy/README.md, "Failover").
  const lock = isPostgresUrl(config.dbFile)
    ? await waitToBeActive(config, httpsOptions, log, options)
    : undefined;
  try {
    return await startActive(config, httpsOptions, log, options, lock);
  } catch (err) {
    await lock?.release();
    throw err;
  }
}

async function startActive(
  config: CoordinatorConfig,
  httpsOptions: { cert: string; key: string } | undefined,
  log: Log,
  options: CoordinatorOptions,
  lock: ActiveLock | undefined,
): Promise<RunningCoordinator> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, log), {
    logger: new NestLogAdapter(log),
    abortOnError: false,
    // Our own parsers, installed behind the auth gate with per-route limits (http/body-parsers.ts).
    bodyParser: false,
    ...(httpsOptions ? { httpsOptions } : {}),
  });
  try {
    app.disable('x-powered-by');
    app.use(helmet());
    app.use(authGate(app.get(AdminAuthService), app.get(AuditService), app.get(RefusalLimiter)));
    for (const parser of bodyParsers()) app.use(parser);
    app.useWebSocketAdapter(new BoundedIoAdapter(app));
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('phcc-fed coordinator')
        .setDescription(
          'Admin API of the pHCC-SSL federated-learning coordinator: enrolled sites, run plans, runs, results, audit. ' +
            'Every route except /health needs "Authorization: Bearer <admin token>".',
        )
        .setVersion(config.version)
        .addBearerAuth()
        .build(),
    );
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
    await app.listen(config.port, config.host);
  } catch (err) {
    await app.close();
    throw err;
  }
  const auth = app.get(AdminAuthService);
  const generatedAdminToken = auth.generatedToken;
  if (generatedAdminToken !== undefined) {
    options.showGeneratedToken?.(generatedAdminToken);
    await auth.persistGenerated();
  }
  const address = app.getHttpServer().address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${httpsOptions ? 'https' : 'http'}://${host}:${address.port}`;
  void lock?.lost.then((err) => {
    if (options.onActiveLost) return options.onActiveLost(err);
    log.error({ err: err.message }, 'lost the active lock: closing');
    void app.close();
  });
  return {
    app,
    url,
    docsUrl: `${url}/docs`,
    openApiUrl: `${url}/docs-json`,
    sites: await app.get(SitesService).list(),
    generatedAdminToken,
    adminTokenSource: auth.tokenSource,
    close: async () => {
      try {
        await app.close();
      } finally {
        await lock?.release();
      }
    },
  };
}

/**
 * Takes the database's active lock, holding the port as a standby (StandbyServer) for as long as
 * another coordinator has it.
 */
async function waitToBeActive(
  config: CoordinatorConfig,
  tls: { cert: string; key: string } | undefined,
  log: Log,
  options: CoordinatorOptions,
): Promise<ActiveLock> {
  const giveUp = new AbortController();
  options.signal?.addEventListener('abort', () => giveUp.abort(), { once: true });
  let standby: Promise<StandbyServer | undefined> = Promise.resolve(undefined);
  let standbyError: Error | undefined;
  const onWaiting = () => {
    standby = StandbyServer.listen(config.host, config.port, tls).then(
      (server) => {
        options.onStandby?.(server.url);
        return server;
      },
      (err: Error) => {
        standbyError = err;
        giveUp.abort();
        return undefined;
      },
    );
  };
  try {
    return await ActiveLock.acquire(config.dbFile, { log, onWaiting, signal: giveUp.signal });
  } catch (err) {
    if (standbyError) throw standbyError;
    throw err;
  } finally {
    await (await standby)?.close();
  }
}

/** The certificate and key, read once at start; a wrong path or a non-PEM file is one clear line. */
function readTls(tls: { certFile: string; keyFile: string }): { cert: string; key: string } {
  const read = (flag: string, file: string, marker: RegExp) => {
    if (!existsSync(file)) throw new InputError(`${flag} ${file}: file not found`);
    const pem = readFileSync(file, 'utf8');
    if (!marker.test(pem)) throw new InputError(`${flag} ${file}: not a PEM file of the expected kind`);
    return pem;
  };
  return {
    cert: read('--tls-cert', tls.certFile, /-----BEGIN CERTIFICATE-----/),
    key: read('--tls-key', tls.keyFile, /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/),
  };
}
