import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { InputError, PhccError } from '../../../../libs/common/src';
import { decodeWeights } from '../../../../libs/weights/src';
import { AdminClient, RunResultsView, RunView } from '../demo/admin-client';
import { backendOptions, commandLogger } from '../context';
import { TINY_MODEL } from './model-inputs';

interface ExportCliOptions {
  coordinator: string;
  digest?: string;
  run?: string;
  out: string;
  tokenFile?: string;
  modelConfig?: string;
  prevalence?: string;
  force?: boolean;
  json?: boolean;
}

/** What `models export` records in the folder's phcc-model.json `extra`, beside the weights. */
export interface ExportedModelSource {
  source: 'federated-run';
  coordinator: string;
  digest: string;
  runId: string | null;
  /** The training round whose aggregate these weights are (null when only a digest was given). */
  stage: string | null;
  round: number | null;
  plan: Record<string, unknown> | null;
}

const DIGEST = /^[0-9a-f]{128}$/;

/** GET /runs/{id}/results with the fields that name each evaluation's model and round. */
type ResultsWithDigests = Omit<RunResultsView, 'evaluations'> & {
  evaluations: (RunResultsView['evaluations'][number] & {
    modelDigest?: string;
    stage?: string;
    round?: number;
  })[];
};

/** What one export needs: where the coordinator is, its token, and export's own options. */
export interface ModelExportRequest extends Omit<ExportCliOptions, 'coordinator' | 'tokenFile'> {
  baseUrl: string;
  token: string;
}

/** `phcc-fed models export`: a federated run's global model as the folder `evaluate`/`predict` read. */
export function registerModels(program: Command): void {
  const models = program.command('models').summary('models stored on a coordinator');
  withExportOptions(
    models
      .command('export')
      .description(EXPORT_DESCRIPTION)
      .requiredOption('--coordinator <url>', 'coordinator base URL, e.g. https://fl.example.org:8443')
      .option('--token-file <file>', 'file holding the admin token (default: PHCC_ADMIN_TOKEN)'),
  ).action(async (opts: ExportCliOptions, cmd: Command) => {
    const baseUrl = opts.coordinator.replace(/\/+$/, '');
    if (!/^https?:\/\//.test(baseUrl)) throw new InputError('--coordinator must be an http(s) URL');
    await exportModel({ ...opts, baseUrl, token: adminToken(opts.tokenFile) }, cmd);
  });
}

export const EXPORT_DESCRIPTION =
  "Writes a run's global model (or any stored model) as a model folder for `evaluate` and\n" +
  '`predict`, recording the run, round, plan and digest in its phcc-model.json. The admin\n' +
  'token comes from PHCC_ADMIN_TOKEN or --token-file, never from the command line.\n' +
  'With --run the model is the one the run evaluated last (its final model).';

/** Export's own options, shared by `models export` and `admin models export`. */
export function withExportOptions(command: Command): Command {
  return command
    .option('--digest <sha512>', 'the stored model to export')
    .option('--run <id>', 'the run whose final model to export (or, with --digest, the run it belongs to)')
    .requiredOption('--out <dir>', 'model folder to write')
    .option(
      '--model-config <tiny|default|file>',
      "network config, when the run's plan does not record one (`model`)",
    )
    .option(
      '--prevalence <p>',
      "training prevalence of the sites' labelled patients: evaluate then recalibrates outputs to it",
    )
    .option('--force', 'replace an existing non-empty folder')
    .option('--json', 'end the output with one JSON line');
}

/** Downloads, checks and writes one model folder (the body of both export commands). */
export async function exportModel(opts: ModelExportRequest, cmd: Command): Promise<void> {
  const log = commandLogger(cmd);
  if (!opts.digest && !opts.run) throw new InputError('models export: give --digest or --run');
  if (opts.digest && !DIGEST.test(opts.digest))
    throw new InputError('--digest must be a SHA-512 digest in lowercase hex (128 characters)');
  const prevalence = opts.prevalence === undefined ? undefined : parsePrevalence(opts.prevalence);
  const outDir = resolve(opts.out);
  if (existsSync(outDir) && readdirSync(outDir).length > 0 && !opts.force)
    throw new InputError(`--out ${opts.out} is not empty (use --force to replace its model)`);
  const { baseUrl, token } = opts;
  const admin = new AdminClient(baseUrl, token);

  const run = opts.run ? await admin.getRun(opts.run) : undefined;
  const digest =
    opts.digest ??
    finalModelOf(run as RunView, (await admin.results(opts.run as string)) as ResultsWithDigests);
  const trained = run?.rounds.find((r) => r.outputDigest === digest && r.stage !== 'evaluate');
  const plan = (run?.plan as Record<string, unknown> | undefined) ?? null;
  if (run && opts.digest && !trained && plan?.initialModel !== digest)
    throw new InputError(`--digest ${digest.slice(0, 16)}… is not a model of run ${run.id}`);
  const bytes = await downloadModel(baseUrl, token, digest);

  const { initBackend } = await import('../../../../libs/compute/src');
  const { PhccModel } = await import('../../../../libs/model/src/network/model');
  const { modelConfig, validateModelConfig } = await import('../../../../libs/model/src/network/config');
  const { saveModel, TRAINING_PREVALENCE } = await import('../../../../libs/model/src/io');
  const config = modelConfig(configOf(plan, opts.modelConfig));
  validateModelConfig(config);
  await initBackend(backendOptions(cmd, log));
  const model = new PhccModel(config);
  try {
    model.params.setWeights(decodeWeights(bytes));
    const source: ExportedModelSource = {
      source: 'federated-run',
      coordinator: baseUrl,
      digest,
      runId: run?.id ?? null,
      stage: trained?.stage ?? null,
      round: trained?.round ?? null,
      plan,
    };
    await saveModel(model, outDir, {
      stage: trained?.stage ?? 'federated',
      extra: { ...source, ...(prevalence === undefined ? {} : { [TRAINING_PREVALENCE]: prevalence }) },
    });
  } finally {
    model.dispose();
  }
  const where = trained
    ? `${trained.stage} round ${trained.round} of run ${run?.id}`
    : `model ${digest.slice(0, 16)}…`;
  process.stdout.write(`exported ${where} to ${outDir}\n`);
  if (opts.json) {
    process.stdout.write(
      JSON.stringify({
        out: outDir,
        digest,
        runId: run?.id ?? null,
        stage: trained?.stage ?? null,
        round: trained?.round ?? null,
      }) + '\n',
    );
  }
}

/** From the environment or a file, never the command line (it would sit in shell history and `ps`). */
function adminToken(tokenFile: string | undefined): string {
  const token = tokenFile ? readTokenFile(tokenFile) : process.env.PHCC_ADMIN_TOKEN?.trim();
  if (!token) throw new InputError('no admin token: set PHCC_ADMIN_TOKEN or give --token-file');
  return token;
}

function readTokenFile(file: string): string {
  if (!existsSync(file)) throw new InputError(`--token-file ${file}: not found`);
  return readFileSync(file, 'utf8').trim();
}

function parsePrevalence(text: string): number {
  const p = Number(text);
  if (text.trim() === '' || !(p > 0 && p < 1))
    throw new InputError(`--prevalence must lie strictly between 0 and 1 (got "${text}")`);
  return p;
}

/**
 * A run's final model: the global model its final evaluation scored (so that evaluating the
 * export reproduces the sites' reported AUCs), else the output of its last aggregated round.
 */
export function finalModelOf(run: RunView, results: ResultsWithDigests): string {
  const finalEvaluation = results.evaluations.find(
    (e) => e.modelOf === 'global' && e.stage === 'evaluate' && e.round === 0,
  );
  if (finalEvaluation?.modelDigest) return finalEvaluation.modelDigest;
  const trained = run.rounds.filter((r) => r.stage !== 'evaluate' && r.outputDigest);
  const last = trained.at(-1);
  if (!last?.outputDigest)
    throw new InputError(`run ${run.id} has no aggregated model yet (state ${run.state})`);
  return last.outputDigest;
}

/** GET /models/{digest}, checked against the digest it was asked for. */
async function downloadModel(baseUrl: string, token: string, digest: string): Promise<Buffer> {
  const response = await fetch(`${baseUrl}/models/${digest}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok) {
    throw new PhccError(
      `GET /models/${digest.slice(0, 16)}…: HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`,
      'ADMIN_API',
      1,
    );
  }
  const bytes = Buffer.from(await response.arrayBuffer());
  const actual = createHash('sha512').update(bytes).digest('hex');
  if (actual !== digest)
    throw new PhccError(
      `model ${digest.slice(0, 16)}…: downloaded bytes hash to ${actual.slice(0, 16)}…`,
      'ADMIN_API',
      1,
    );
  return bytes;
}

/** The plan's recorded `model`, else --model-config (tiny, default or a JSON file). */
function configOf(plan: Record<string, unknown> | null, option: string | undefined): Record<string, unknown> {
  if (option === 'tiny') return { ...TINY_MODEL };
  if (option === 'default') return {};
  if (option !== undefined) {
    if (!existsSync(option)) throw new InputError(`--model-config ${option}: not tiny, default or a file`);
    try {
      return JSON.parse(readFileSync(option, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new InputError(`--model-config ${option}: invalid JSON (${(err as Error).message})`);
    }
  }
  const recorded = plan?.model;
  if (recorded && typeof recorded === 'object') return recorded as Record<string, unknown>;
  throw new InputError(
    "the run's plan records no network config (`model`): give --model-config tiny, default or a JSON file",
  );
}
