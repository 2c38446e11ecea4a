import { Command, Option } from 'commander';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InputError, PhccError, PRIVATE_FILE_MODE } from '../../../../libs/common/src';
import type { RunState } from '../../../coordinator/src/persistence/records';
import { isTerminal } from '../../../coordinator/src/runs/run-state';
import type { AdminClient, IssuedTokenView, RunView } from '../demo/admin-client';
import type { PairedComparisonView } from '../../../coordinator/src/evaluation/paired-results';
import {
  EXPORT_DESCRIPTION,
  exportModel,
  finalModelOf,
  ModelExportRequest,
  withExportOptions,
} from './models';
import { pairedFollowUpPlan, requireCompleted } from './paired-follow-up';

interface ConnectionOptions {
  coordinator?: string;
  tokenFile?: string;
}

const out = (line: string): void => {
  process.stdout.write(line + '\n');
};

/**
 * `phcc-fed admin`: the consortium operator's commands over the coordinator's admin REST API
 * (the same AdminClient the demo drives). The token comes from PHCC_ADMIN_TOKEN or --token-file,
 * never from an argument, which `ps` would show to every user of the machine.
 */
export function registerAdmin(program: Command): void {
  const admin = program
    .command('admin')
    .summary('operate a running coordinator: sites, runs, models, audit (its admin REST API)')
    .description(
      'Talks to a running coordinator over its admin REST API. URL: --coordinator or PHCC_COORDINATOR_URL.\n' +
        'Admin token: PHCC_ADMIN_TOKEN, or --token-file FILE (first line; keep it 0600). Every listing takes --json.',
    )
    .addOption(
      new Option('--coordinator <url>', 'coordinator base URL, e.g. https://fl.example.org')
        .env('PHCC_COORDINATOR_URL')
        .default('http://127.0.0.1:8080'),
    )
    .option('--token-file <file>', 'file holding the admin token (else PHCC_ADMIN_TOKEN)');

  const sites = admin.command('sites').description('enrolled hospitals');
  sites
    .command('list')
    .description('enrolled sites with their fingerprints, revocations and live connection')
    .option('--json', 'one JSON document instead of the table')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const list = await (await client(cmd)).listSites();
      if (opts.json) return out(JSON.stringify(list));
      out(`${'site'.padEnd(20)} ${'fingerprint'.padEnd(39)} ${'state'.padEnd(10)} last status`);
      for (const s of list) {
        const state = s.revoked ? 'REVOKED' : s.connected ? 'connected' : 'offline';
        const status = s.lastStatus ? `${s.lastStatus.state} ${s.lastStatus.at}` : '';
        out(`${s.id.padEnd(20)} ${s.fingerprint.padEnd(39)} ${state.padEnd(10)} ${status}`);
      }
    });
  sites
    .command('enrol')
    .description(
      'enrol a hospital whose key was made there ("phcc-fed keys init"): the fingerprint read out over\n' +
        'the phone must match the public key, else nothing is enrolled',
    )
    .requiredOption('--id <site>', 'site id')
    .requiredOption('--public-key <base64>', 'the public key "keys init" printed at the hospital')
    .requiredOption('--fingerprint <fp>', 'the fingerprint, as read out by the hospital (abcd:ef01:…)')
    .option('--replace', 'replace the key of an enrolled site (key rotation; its old key stops working)')
    .option('--json', 'print the enrolled site as JSON')
    .action(
      async (
        opts: { id: string; publicKey: string; fingerprint: string; replace?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        const site = await (
          await client(cmd)
        ).enrolSite({
          id: opts.id,
          publicKey: opts.publicKey,
          fingerprint: opts.fingerprint,
          replace: opts.replace,
        });
        if (opts.json) return out(JSON.stringify(site));
        out(`site ${site.id} enrolled at ${site.enrolledAt} (${site.fingerprint})`);
      },
    );
  sites
    .command('revoke')
    .description('revoke a site at once: its connection is closed and its handshakes and messages refused')
    .argument('<site>', 'site id')
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print the revoked site as JSON')
    .action(async (id: string, opts: { reason: string; json?: boolean }, cmd: Command) => {
      const site = await (await client(cmd)).revokeSite(id, opts.reason);
      if (opts.json) return out(JSON.stringify(site));
      out(`site ${site.id} revoked at ${site.revokedAt} (${site.revokedReason})`);
    });

  const runs = admin.command('runs').description('federated training runs');
  runs
    .command('create')
    .description('create a run from a plan file (YAML or JSON, as configs/plans/*.yaml); it is not started')
    .requiredOption('--plan <file>', 'run plan')
    .option('--json', 'print the created run as JSON')
    .action(async (opts: { plan: string; json?: boolean }, cmd: Command) => {
      if (!existsSync(opts.plan)) throw new InputError(`--plan ${opts.plan}: file not found`);
      const run = await (await client(cmd)).createRun(readFileSync(opts.plan, 'utf8'));
      if (opts.json) return out(JSON.stringify(run));
      out(`run ${run.id} created (${run.state}); start it with: phcc-fed admin runs start ${run.id}`);
    });
  runs
    .command('list')
    .description('all runs, oldest first')
    .option('--json', 'one JSON document instead of the table')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const list = await (await client(cmd)).listRuns();
      if (opts.json) return out(JSON.stringify(list));
      out(`${'run'.padEnd(28)} ${'state'.padEnd(10)} ${'created'.padEnd(25)} name`);
      for (const r of list)
        out(`${r.id.padEnd(28)} ${r.state.padEnd(10)} ${(r.createdAt ?? '').padEnd(25)} ${r.name ?? ''}`);
    });
  runs
    .command('show')
    .description('one run: its state and every round')
    .argument('<run>', 'run id')
    .option('--json', 'the run as JSON (with its plan)')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const run = await (await client(cmd)).getRun(id);
      if (opts.json) return out(JSON.stringify(run));
      out(`run ${run.id} ${run.state}${run.reason ? ` (${run.reason})` : ''}`);
      for (const r of run.rounds) out(`  ${roundLine(r)}`);
    });
  runs
    .command('start')
    .argument('<run>', 'run id')
    .description('start a created run')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const run = await (await client(cmd)).startRun(id);
      out(`run ${run.id} ${run.state}`);
    });
  runs
    .command('stop')
    .argument('<run>', 'run id')
    .description('stop a run (it cannot be resumed)')
    .option('--reason <text>', 'why (kept with the run and in the audit log)', 'stopped by operator')
    .action(async (id: string, opts: { reason: string }, cmd: Command) => {
      const run = await (await client(cmd)).stopRun(id, opts.reason);
      out(`run ${run.id} ${run.state}`);
    });
  runs
    .command('watch')
    .argument('<run>', 'run id')
    .description(
      'follow a run until it ends, one line per change of the run or a round; exits 0 when it\n' +
        'completed, 1 when it failed or was stopped',
    )
    .option('--interval <seconds>', 'how often to ask the coordinator', '2')
    .option('--json', 'one JSON line per change')
    .action(async (id: string, opts: { interval: string; json?: boolean }, cmd: Command) => {
      const seconds = Number(opts.interval);
      if (!(seconds >= 0.1 && seconds <= 3600)) {
        throw new InputError(`--interval must be 0.1 to 3600 seconds (got "${opts.interval}")`);
      }
      const final = await watchRun(await client(cmd), id, seconds * 1000, (change) =>
        out(opts.json ? JSON.stringify(change) : `${change.at} ${change.text}`),
      );
      if (final.state !== 'completed') {
        throw new PhccError(
          `run ${id} ended ${final.state}${final.reason ? `: ${final.reason}` : ''}`,
          'RUN_ENDED',
          1,
        );
      }
    });
  runs
    .command('pair')
    .argument('<run>', 'the completed run whose final global model is compared')
    .description(
      'after a run has completed, compare its final global model with other stored models (e.g. a\n' +
        'centrally trained one uploaded with POST /models) on the same test patients, without\n' +
        "re-training: creates and starts an evaluation-only run (the run's sites, quorum, deadlines;\n" +
        'initialModel = its final model; evaluation.compareWith = --with) and prints its id. With\n' +
        '--wait, follows it to the end and prints the paired result (as `runs results` shows it).',
    )
    .requiredOption('--with <digest...>', 'SHA-512 digest(s) of the stored model(s) to compare with')
    .option('--wait', 'wait for the evaluation to end and print the paired comparison')
    .option('--interval <seconds>', 'with --wait: how often to ask the coordinator', '2')
    .option('--json', 'JSON: the created run, or with --wait its results document')
    .action(
      async (
        id: string,
        opts: { with: string[]; wait?: boolean; interval: string; json?: boolean },
        cmd: Command,
      ) => {
        const seconds = Number(opts.interval);
        if (!(seconds >= 0.1 && seconds <= 3600)) {
          throw new InputError(`--interval must be 0.1 to 3600 seconds (got "${opts.interval}")`);
        }
        const api = await client(cmd);
        const finished = await api.getRun(id);
        requireCompleted(finished);
        const finalModel = finalModelOf(
          finished,
          (await api.results(id)) as Parameters<typeof finalModelOf>[1],
        );
        const plan = pairedFollowUpPlan(
          finished as unknown as Parameters<typeof pairedFollowUpPlan>[0],
          finalModel,
          opts.with,
        );
        const created = await api.createRun(plan);
        const started = await api.startRun(created.id);
        if (!opts.wait) {
          if (opts.json) return out(JSON.stringify(started));
          return out(
            `run ${started.id} ${started.state}: run ${id}'s final model ${finalModel.slice(0, 16)}… against ${opts.with.length} model(s); follow it with: phcc-fed admin runs watch ${started.id}`,
          );
        }
        const ended = await watchRun(api, started.id, seconds * 1000, () => undefined);
        if (ended.state !== 'completed')
          throw new PhccError(
            `paired evaluation run ${started.id} ended ${ended.state}${ended.reason ? `: ${ended.reason}` : ''}`,
            'RUN_ENDED',
            1,
          );
        const results = await api.results(started.id);
        if (opts.json) return out(JSON.stringify(results));
        out(`run ${started.id} completed: run ${id}'s final model (A) against each --with model (B)`);
        for (const p of results.paired ?? []) out(pairedLine(p));
      },
    );
  runs
    .command('results')
    .argument('<run>', 'run id')
    .description("a run's metrics and evaluations (aggregates only)")
    .option('--json', 'the full results document')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const results = await (await client(cmd)).results(id);
      if (opts.json) return out(JSON.stringify(results));
      out(
        `run ${results.runId} ${results.state}: ${results.metrics.length} metric(s), ${results.evaluations.length} evaluation(s)`,
      );
      out(
        `${'model of'.padEnd(16)} ${'evaluated at'.padEnd(16)} ${'n'.padStart(5)} ${'pos'.padStart(5)}  AUC (95 % CI)`,
      );
      for (const e of results.evaluations) {
        const auc =
          e.auc === undefined
            ? 'n/a'
            : `${e.auc.toFixed(3)}${e.aucLow !== undefined && e.aucHigh !== undefined ? ` (${e.aucLow.toFixed(3)}–${e.aucHigh.toFixed(3)})` : ''}`;
        out(
          `${e.modelOf.padEnd(16)} ${e.siteId.padEnd(16)} ${String(e.n).padStart(5)} ${String(e.nPositive).padStart(5)}  ${auc}`,
        );
      }
    });

  const models = admin.command('models').description('global models the coordinator holds');
  models
    .command('list')
    .description("every run's initial model and the aggregate of each finished round")
    .option('--json', 'one JSON document instead of the table')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const list = await (await client(cmd)).listModels();
      if (opts.json) return out(JSON.stringify(list));
      out(`${'run'.padEnd(28)} ${'model'.padEnd(16)} ${'digest'.padEnd(20)} at`);
      for (const m of list) {
        const what = m.kind === 'initial' ? 'initial' : `${m.stage}/${m.round}`;
        out(
          `${m.runId.padEnd(28)} ${what.padEnd(16)} ${(m.digest.slice(0, 16) + '…').padEnd(20)} ${m.at ?? ''}`,
        );
      }
    });

  withExportOptions(
    models
      .command('export')
      .description(
        `${EXPORT_DESCRIPTION}\n(The same as "phcc-fed models export", with admin's --coordinator and token.)`,
      ),
  ).action(async (opts: Omit<ModelExportRequest, 'baseUrl' | 'token'>, cmd: Command) => {
    const { url, token } = connection(cmd);
    await exportModel({ ...opts, baseUrl: url, token }, cmd);
  });

  registerTokens(admin);

  const audit = admin.command('audit').description('the append-only audit log');
  audit
    .command('tail')
    .description('the newest audit entries, oldest of them first')
    .option('-n, --lines <n>', 'how many', '20')
    .option('--action <name>', 'only this action (e.g. sites.revoke)')
    .option('--actor <who>', 'only this actor (e.g. site:hospital-a)')
    .option('--outcome <outcome>', 'only ok, denied, rejected or error')
    .option('--json', 'one JSON document instead of lines')
    .action(
      async (
        opts: { lines: string; action?: string; actor?: string; outcome?: string; json?: boolean },
        cmd: Command,
      ) => {
        const limit = Number(opts.lines);
        if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
          throw new InputError(`--lines must be an integer from 1 to 500 (got "${opts.lines}")`);
        }
        const { entries } = await (
          await client(cmd)
        ).audit({ limit, action: opts.action, actor: opts.actor, outcome: opts.outcome });
        if (opts.json) return out(JSON.stringify(entries));
        for (const e of [...entries].reverse()) {
          out(`${e.id} ${e.at} ${e.actor} ${e.action}${e.target ? ` ${e.target}` : ''} ${e.outcome}`);
        }
      },
    );
}

/**
 * `admin tokens`: the coordinator's access tokens (admin and read-only observer). A new or rotated
 * token is written to a new 0600 file (--out), never printed, so it stays out of terminals, logs
 * and shell history; hand it over as a file.
 */
function registerTokens(admin: Command): void {
  const tokens = admin.command('tokens').description('access tokens: admin and read-only observer');
  tokens
    .command('list')
    .description('issued tokens: id, role, label, fingerprint, times (never a token or its hash)')
    .option('--json', 'one JSON document instead of the table')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const list = await (await client(cmd)).listTokens();
      if (opts.json) return out(JSON.stringify(list));
      out(
        `${'id'.padEnd(14)} ${'role'.padEnd(9)} ${'fingerprint'.padEnd(11)} ${'rotated/created'.padEnd(25)} label`,
      );
      for (const t of list) {
        out(
          `${t.id.padEnd(14)} ${t.role.padEnd(9)} ${t.fingerprint.padEnd(11)} ${(t.rotatedAt ?? t.createdAt).padEnd(25)} ${t.label}`,
        );
      }
    });
  tokens
    .command('issue')
    .description('a new token; written to --out (created 0600), never printed')
    .addOption(
      new Option('--role <role>', 'admin or observer (read-only)')
        .choices(['admin', 'observer'])
        .makeOptionMandatory(),
    )
    .requiredOption('--label <text>', 'who holds it, e.g. "tumour board, Hospital A"')
    .requiredOption('--out <file>', 'new file for the token (must not exist)')
    .option('--json', "print the token's record (without the token) as JSON")
    .action(async (opts: { role: string; label: string; out: string; json?: boolean }, cmd: Command) => {
      checkNewTokenFile(opts.out);
      const issued = await (await client(cmd)).issueToken(opts.role, opts.label);
      reportIssued(issued, opts.out, opts.json, 'issued');
    });
  tokens
    .command('rotate')
    .description(
      'a new secret for token ID (the old one is refused from now on); written to --out, never printed',
    )
    .argument('<id>', 'token id (admin tokens list)')
    .requiredOption('--out <file>', 'new file for the new token (must not exist)')
    .option('--json', "print the token's record (without the token) as JSON")
    .action(async (id: string, opts: { out: string; json?: boolean }, cmd: Command) => {
      checkNewTokenFile(opts.out);
      const rotated = await (await client(cmd)).rotateToken(id);
      reportIssued(rotated, opts.out, opts.json, 'rotated');
    });
  tokens
    .command('revoke')
    .description('token ID is refused from now on (the last admin token cannot be revoked)')
    .argument('<id>', 'token id (admin tokens list)')
    .option('--json', "print the token's record as JSON")
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const revoked = await (await client(cmd)).revokeToken(id);
      if (opts.json) return out(JSON.stringify(revoked));
      out(`token ${revoked.id} (${revoked.role}, ${revoked.label}) revoked`);
    });
}

/** Checked before asking the coordinator, so a bad path never costs a token that is then lost. */
function checkNewTokenFile(file: string): void {
  if (existsSync(file))
    throw new InputError(`--out ${file}: already exists (a token file is never overwritten)`);
  if (!existsSync(dirname(resolve(file)))) throw new InputError(`--out ${file}: no such folder`);
}

function reportIssued(issued: IssuedTokenView, file: string, json: boolean | undefined, verb: string): void {
  const { token, ...view } = issued;
  // 'wx': created here or not at all; 0600 before a byte is written.
  writeFileSync(file, token + '\n', { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  if (json) return out(JSON.stringify({ ...view, file: resolve(file) }));
  out(
    `token ${view.id} (${view.role}, ${view.label}) ${verb}; fingerprint ${view.fingerprint}; written to ${resolve(file)} (0600)`,
  );
}

/** The URL and token of `admin`'s options (inherited by every subcommand). */
function connection(cmd: Command): { url: string; token: string } {
  const o = cmd.optsWithGlobals() as ConnectionOptions;
  const url = o.coordinator ?? 'http://127.0.0.1:8080';
  try {
    const parsed = new URL(url);
    if (!['http:', 'https:'].includes(parsed.protocol)) throw new Error('not http(s)');
  } catch {
    throw new InputError(`--coordinator / PHCC_COORDINATOR_URL must be an http(s) URL (got "${url}")`);
  }
  return { url: url.replace(/\/+$/, ''), token: adminToken(o.tokenFile) };
}

/** The client for the URL and token of `admin`'s options. */
async function client(cmd: Command): Promise<AdminClient> {
  const { url, token } = connection(cmd);
  const { AdminClient } = await import('../demo/admin-client');
  return new AdminClient(url, token);
}

function adminToken(tokenFile: string | undefined): string {
  if (tokenFile) {
    if (!existsSync(tokenFile)) throw new InputError(`--token-file ${tokenFile}: file not found`);
    if (statSync(tokenFile).mode & 0o077) {
      process.stderr.write(`phcc-fed: warning: ${tokenFile} is readable by other users; chmod 600 it\n`);
    }
    const token = readFileSync(tokenFile, 'utf8').split('\n')[0].trim();
    if (!token) throw new InputError(`--token-file ${tokenFile}: the first line is empty`);
    return token;
  }
  const token = process.env.PHCC_ADMIN_TOKEN;
  if (!token) throw new InputError('no admin token: set PHCC_ADMIN_TOKEN or pass --token-file FILE');
  return token;
}

export interface RunChange {
  at: string;
  runId: string;
  /** 'run' for the run's own state, else 'stage/round'. */
  subject: string;
  state: string;
  text: string;
}

type RoundView = RunView['rounds'][number];

/** One compared model: AUC_A − AUC_B with its 95 % CI and p, both AUCs, heterogeneity. */
function pairedLine(p: PairedComparisonView): string {
  const d = p.difference;
  const ci = (c: [number, number]) => `${c[0].toFixed(3)} to ${c[1].toFixed(3)}`;
  return (
    `  B ${p.modelB.slice(0, 16)}…: AUC A ${p.aucA.estimate.toFixed(3)} (${ci(p.aucA.ci95)}), B ${p.aucB.estimate.toFixed(3)} (${ci(p.aucB.ci95)}); ` +
    `A − B ${d.estimate.toFixed(3)} (95 % CI ${ci(d.ci95)}, p ${d.p.toPrecision(3)}); I² ${(100 * p.heterogeneity.i2).toFixed(0)} %; ` +
    `${p.nPositive} positive, ${p.nNegative} negative over ${p.sites.length} site(s)`
  );
}

function roundLine(r: RoundView): string {
  return `${r.stage}/${r.round} ${r.state}${r.outputDigest ? ` → ${r.outputDigest.slice(0, 16)}…` : ''}${r.reason ? ` (${r.reason})` : ''}`;
}

/**
 * Polls GET /runs/{id} and reports each change of the run's state or of a round's state, until
 * the run is in a final state. Polling (not the dashboard's live events) works through any proxy
 * an operator's network has and survives a coordinator restart: a failed poll is retried.
 */
export async function watchRun(
  api: Pick<AdminClient, 'getRun'>,
  id: string,
  intervalMs: number,
  report: (change: RunChange) => void,
  sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<RunView> {
  const seen = new Map<string, string>();
  let failures = 0;
  for (;;) {
    let run: RunView;
    try {
      run = await api.getRun(id);
      failures = 0;
    } catch (err) {
      // A 404 or a refused token will not heal; an unreachable coordinator might (restart).
      if ((err as PhccError).code !== 'ADMIN_UNREACHABLE' || ++failures > 30) throw err;
      await sleep(intervalMs);
      continue;
    }
    const at = new Date().toISOString();
    for (const r of run.rounds) {
      const subject = `${r.stage}/${r.round}`;
      if (seen.get(subject) === r.state) continue;
      seen.set(subject, r.state);
      report({ at, runId: id, subject, state: r.state, text: `round ${roundLine(r)}` });
    }
    if (seen.get('run') !== run.state) {
      seen.set('run', run.state);
      report({
        at,
        runId: id,
        subject: 'run',
        state: run.state,
        text: `run ${id} ${run.state}${run.reason ? ` (${run.reason})` : ''}`,
      });
    }
    if (isTerminal(run.state as RunState)) return run;
    await sleep(intervalMs);
  }
}
