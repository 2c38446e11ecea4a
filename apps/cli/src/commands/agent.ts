import { Command, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError, Log, packageVersion } from '../../../../libs/common/src';
import { ModelConfig, modelConfig } from '../../../../libs/model/src/network/config';
import type { AgentEvent } from '../../../site-agent/src';
import { backendOptions, commandLogger } from '../context';
import { ALLOW_OUTSIDE_PATHS, AllowOutsidePathsOption } from './cohort-paths';
import { checkCohortPath, TINY_MODEL } from './model-inputs';
import { loadSiteExecutors } from './site-executors';

interface AgentCommandOptions extends AllowOutsidePathsOption {
  kit: string;
  cohort: string;
  state?: string;
  once?: boolean;
  run?: string;
  fedbn?: boolean;
  keepLocal?: string;
  tiny?: boolean;
  modelConfig?: string;
  maxTaskMb: string;
  reportCohort?: boolean;
  ca?: string;
  transport: 'auto' | 'websocket';
  coordinator: string[];
  approve: string[];
  approvals?: string;
  requireSecureAggregation?: boolean;
  minBinCount?: string;
  maxEpsilon?: string;
  dpSgdClip?: string;
  dpSgdNoise?: string;
  dpSgdDelta: string;
}

/**
 * `phcc-fed agent`: a hospital's site agent. Loads the kit and the cohort, connects to the
 * coordinator, and answers its tasks until stopped (Ctrl-C) or, with --once, after one task.
 * tfjs and socket.io are loaded only when the command runs.
 */
export function registerAgent(program: Command): void {
  program
    .command('agent')
    .summary("run a hospital's site agent next to its cohort")
    .description(
      'Connects this site to the coordinator named in its kit (--kit, a sites/<id>/ folder written by\n' +
        '"phcc-fed provision"), with a signed handshake, and carries out the tasks it sends: local SSL or\n' +
        'fine-tuning of the received global weights on the cohort (--cohort), or evaluation on the test split.\n' +
        'Every task must be signed by the coordinator key in the kit. What leaves the site: signed updates\n' +
        '(weights only), evaluation aggregates (counts, AUC, score histograms), status and errors — never\n' +
        'images or per-patient values. Every message sent is logged to <state>/messages.jsonl.\n' +
        "The model shape must be the federation's: --tiny or --model-config FILE (JSON overrides).\n" +
        'Consent: the agent shows every new run plan (its SHA-512 digest, stages, epochs, what leaves the site,\n' +
        'privacy settings) and trains only plans this site approved: --approve HASH, a file named by the\n' +
        'hash in --approvals DIR, or a yes at the prompt when run in a terminal. Other plans are refused\n' +
        'with a reason code the coordinator shows. Site limits (--require-secure-aggregation,\n' +
        '--min-bin-count, --max-epsilon) are enforced even on approved plans.\n' +
        "Record-level DP-SGD (--dp-sgd-clip C --dp-sgd-noise σ) is the site's own choice: every fine-tune\n" +
        "step clips each patient's gradient to C and adds N(0, (σC)²); the run's record-level ε goes to the\n" +
        "log and the update's metrics (dp_sgd_epsilon). Costs about 1.5× per fine-tune step (docs/PRIVACY.md).",
    )
    .requiredOption('--kit <dir>', "this site's kit folder (kit.json, site.key, coordinator.pub)")
    .requiredOption('--cohort <dir>', "the site's cohort folder (manifest.csv + NIfTI files)")
    .option('--state <dir>', 'message log and kept-local parameters (default: <kit>/state)')
    .option(
      '--coordinator <url>',
      "coordinator URL instead of the kit's; several (comma-separated or the flag repeated) for an active\n" +
        'coordinator and its standby: the agent moves to the next one when a connection fails',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--once', 'stop after the first task has been answered')
    .option(
      '--report-cohort',
      "tell the coordinator this cohort's patient counts by split (shown to the consortium; no per-patient data)",
    )
    .option('--run <id>', 'accept tasks of this run only')
    .option(
      '--fedbn',
      "keep normalisation parameters at the site (FedBN); checked against each task's signed instruction, which sets the pattern even without this flag",
    )
    .option('--keep-local <regex>', 'tensors that never leave the site (overrides --fedbn)')
    .option('--tiny', 'the tiny test model (32×32 crops); not for real use')
    .option('--model-config <file>', 'JSON file of model config overrides (default: the full-size model)')
    .option('--max-task-mb <n>', 'largest global-weights payload accepted, in MiB', '1024')
    .option(
      '--approve <sha512>',
      'approve the run plan with this digest (repeatable; the run planDigest, shown by the coordinator and by this agent)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option(
      '--approvals <dir>',
      'folder of approved plan digests (one file per plan, named by or starting with the digest)',
    )
    .option('--require-secure-aggregation', 'refuse any plan whose updates would leave this site in clear')
    .option('--min-bin-count <k>', 'refuse plans whose evaluation histograms have bins under k patients')
    .option(
      '--max-epsilon <eps>',
      'refuse plans whose differential-privacy ε for the run exceeds this (no DP = ∞)',
    )
    .option('--dp-sgd-clip <C>', "record-level DP-SGD: clip each patient's fine-tune gradient to L2 norm C")
    .option(
      '--dp-sgd-noise <sigma>',
      'record-level DP-SGD: noise multiplier σ (noise sd = σ·C on the summed gradient)',
    )
    .option('--dp-sgd-delta <delta>', 'δ of the reported record-level (ε, δ)', '1e-5')
    .option(...ALLOW_OUTSIDE_PATHS)
    .option(
      '--ca <file>',
      "PEM certificate of the CA that signed the coordinator's certificate (self-signed consortium CA)",
    )
    .addOption(
      new Option(
        '--transport <kind>',
        'auto: long-polling upgraded to WebSocket when the network allows (works through proxies that strip upgrades); websocket: WebSocket only',
      )
        .choices(['auto', 'websocket'])
        .default('auto'),
    )
    .action(async (opts: AgentCommandOptions, cmd: Command) => {
      const log = commandLogger(cmd);
      const kitDir = resolve(opts.kit);
      const maxTaskMb = Number(opts.maxTaskMb);
      if (!Number.isFinite(maxTaskMb) || maxTaskMb <= 0) {
        throw new InputError(`--max-task-mb must be a positive number (got "${opts.maxTaskMb}")`);
      }
      const keepLocal = keepLocalPattern(opts);
      const dpSgd = dpSgdOption(opts);
      const config = agentModelConfig(opts);
      const cohortDir = checkCohortPath(opts.cohort);

      const { loadSiteKit } = await import('../../../../libs/protocol/src');
      const kit = loadSiteKit(kitDir);
      const { parseCoordinatorUrls } = await import('../../../site-agent/src/coordinator-urls');
      const coordinatorUrls = parseCoordinatorUrls(
        opts.coordinator.length ? opts.coordinator : [kit.coordinatorUrl],
      );
      const { initBackend } = await import('../../../../libs/compute/src');
      const { SiteAgent } = await import('../../../site-agent/src');

      const out = (line: string) => process.stdout.write(line + '\n');
      const consent = await consentGate(opts, out);
      const backend = await initBackend(backendOptions(cmd, log));
      const stateDir = resolve(opts.state ?? join(kitDir, 'state'));
      const { executors, counts } = await loadSiteExecutors(cohortDir, config, stateDir, log, out, {
        allowPathsOutside: opts.allowOutsidePaths,
        ...(dpSgd && { dpSgd: { ...dpSgd, stateDir } }),
      });
      const network = { caFile: opts.ca, transport: opts.transport };
      const { connectionOptions } = await import('../../../site-agent/src/connection-options');
      const route = connectionOptions(coordinatorUrls[0], network);
      const agent = new SiteAgent({
        kit,
        coordinatorUrls,
        network,
        executors,
        phases: { count: config.phases, names: config.phaseNames, times: config.phaseTimes },
        // Shown on the consortium's dashboard; patient counts only if the site chose to report them.
        facts: {
          version: packageVersion(),
          backend: backend.gpu ? `${backend.name}-gpu` : backend.name,
          ...(opts.reportCohort ? { cohort: counts } : {}),
        },
        stateDir,
        keepLocal,
        runId: opts.run,
        once: opts.once,
        maxTaskBytes: Math.round(maxTaskMb * 1024 * 1024),
        log,
        onEvent: (event) => {
          if (event.type === 'connected' && coordinatorUrls.length > 1) out(`connected to ${event.url}`);
          reportEvent(event, out, log);
        },
        consent,
      });
      out(
        `site ${kit.siteId} → ${coordinatorUrls.map((url) => url + kit.namespace).join(', ')}${route.proxy ? ` via proxy ${route.proxy}` : ''}; message log: ${agent.messageLog.file}`,
      );
      const stop = () => {
        out('stopping (SIGINT)…');
        void agent.stop();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await Promise.race([agent.start(), agent.done]);
        await agent.done;
      } catch (err) {
        await agent.stop();
        throw new InputError((err as Error).message);
      } finally {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
      }
      out('agent stopped');
    });
}

/**
 * The site's consent (apps/site-agent/src/consent): approvals from --approve and --approvals, the
 * site's limits, the plan shown on stdout, and a yes/no prompt when stdin and stdout are a terminal.
 */
async function consentGate(opts: AgentCommandOptions, out: (line: string) => void) {
  const { ConsentGate, checkLimits } = await import('../../../site-agent/src/consent');
  const positive = (text: string | undefined, flag: string, integer: boolean): number | undefined => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value)))
      throw new InputError(`${flag} must be a positive ${integer ? 'integer' : 'number'} (got "${text}")`);
    return value;
  };
  const approvalsDir = opts.approvals === undefined ? undefined : resolve(opts.approvals);
  if (approvalsDir !== undefined && !existsSync(approvalsDir))
    throw new InputError(`--approvals ${approvalsDir}: no such folder`);
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  return new ConsentGate({
    approve: opts.approve,
    approvalsDir,
    limits: checkLimits({
      ...(opts.requireSecureAggregation ? { requireSecureAggregation: true } : {}),
      ...(opts.minBinCount !== undefined
        ? { minBinCount: positive(opts.minBinCount, '--min-bin-count', true) }
        : {}),
      ...(opts.maxEpsilon !== undefined
        ? { maxEpsilon: positive(opts.maxEpsilon, '--max-epsilon', false) }
        : {}),
    }),
    show: (_summary, text) => out(`run plan received:\n${text}`),
    ...(interactive
      ? { ask: (summary) => askYesNo(`Approve plan ${summary.digest.slice(0, 16)}…? [y/N] `) }
      : {}),
  });
}

async function askYesNo(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** --dp-sgd-clip and --dp-sgd-noise come together; checked before anything connects. */
function dpSgdOption(opts: AgentCommandOptions) {
  if (opts.dpSgdClip === undefined && opts.dpSgdNoise === undefined) return undefined;
  if (opts.dpSgdClip === undefined || opts.dpSgdNoise === undefined)
    throw new InputError('--dp-sgd-clip and --dp-sgd-noise come together (record-level DP-SGD needs both)');
  const number = (text: string, flag: string, ok: (x: number) => boolean, what: string): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || !ok(value))
      throw new InputError(`${flag} must be ${what} (got "${text}")`);
    return value;
  };
  return {
    clip: number(opts.dpSgdClip, '--dp-sgd-clip', (x) => x > 0, 'a number > 0'),
    noiseMultiplier: number(opts.dpSgdNoise, '--dp-sgd-noise', (x) => x >= 0, 'a number ≥ 0'),
    delta: number(opts.dpSgdDelta, '--dp-sgd-delta', (x) => x > 0 && x < 1, 'in (0, 1)'),
  };
}

function keepLocalPattern(opts: AgentCommandOptions): RegExp | null {
  if (opts.keepLocal !== undefined) {
    try {
      return new RegExp(opts.keepLocal);
    } catch (err) {
      throw new InputError(`--keep-local: not a valid regular expression: ${(err as Error).message}`);
    }
  }
  // The same default FedBN pattern as libs/federated (LayerNorm / GRN parameters).
  return opts.fedbn ? /\/(?:norm|ln|grn)/ : null;
}

export function agentModelConfig(opts: Pick<AgentCommandOptions, 'tiny' | 'modelConfig'>): ModelConfig {
  if (opts.modelConfig !== undefined) {
    if (opts.tiny) throw new InputError('--tiny and --model-config are mutually exclusive');
    const file = resolve(opts.modelConfig);
    if (!existsSync(file)) throw new InputError(`--model-config ${file}: no such file`);
    let overrides: unknown;
    try {
      overrides = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new InputError(`--model-config ${file}: not JSON: ${(err as Error).message}`);
    }
    if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
      throw new InputError(`--model-config ${file}: must be a JSON object of model config fields`);
    }
    return modelConfig(overrides as Partial<ModelConfig>);
  }
  return modelConfig(opts.tiny ? TINY_MODEL : {});
}

function reportEvent(event: AgentEvent, out: (line: string) => void, log: Log): void {
  switch (event.type) {
    case 'welcomed':
      out('connected; coordinator key verified');
      break;
    case 'disconnected':
      out(`disconnected (${event.reason}); reconnecting…`);
      break;
    case 'connect-refused':
      out(
        `connection refused: ${event.code}: ${event.reason}` +
          (event.retryInMs !== undefined ? `; retrying in ${(event.retryInMs / 1000).toFixed(1)} s` : ''),
      );
      break;
    case 'task':
      out(`task ${event.taskId}: run ${event.runId} round ${event.round}, ${event.stage}`);
      break;
    case 'task-refused':
      out(`task ${event.taskId ?? '?'} refused: ${event.code}: ${event.reason}`);
      break;
    case 'progress':
      log.info(
        { taskId: event.taskId, progress: Number(event.fraction.toFixed(3)) },
        event.message ?? 'progress',
      );
      break;
    case 'result-sent':
      out(`task ${event.taskId}: ${event.kind} ${event.ok ? 'accepted' : 'refused'} by the coordinator`);
      break;
    case 'task-failed':
      out(`task ${event.taskId} failed: ${event.reason}`);
      break;
    case 'plan-refused':
      out(`run ${event.runId}: plan refused (${event.code}): ${event.reason}`);
      break;
    default:
      break;
  }
}
