import { Command, Option } from 'commander';
import { LOG_LEVELS, packageVersion } from '../../../libs/common/src';
import { registerCoordinator } from './commands/coordinator';
import { registerAgent } from './commands/agent';
import { registerBench } from './commands/bench';
import { registerProvision } from './commands/provision';
import { registerKeys } from './commands/keys';
import { registerSynth } from './commands/synth';
import { registerRoc } from './commands/roc';
import { registerInspect } from './commands/inspect';
import { registerConvert } from './commands/convert';
import { registerCohort } from './commands/cohort';
import { registerTrain } from './commands/train';
import { registerEvaluate } from './commands/evaluate';
import { registerModels } from './commands/models';
import { registerPredict } from './commands/predict';
import { registerDemo } from './commands/demo';
import { registerSimulate } from './commands/simulate';
import { registerCompare } from './commands/compare';
import { registerAdmin } from './commands/admin';

/** The `phcc-fed` command tree. Each subcommand lives in its own file under commands/. */
export function buildProgram(): Command {
  const program = new Command('phcc-fed')
    .description(
      'Federated learning of the pHCC-SSL model (proliferative HCC from DCE-MRI) across hospitals.\n' +
        'Images never leave a hospital: only signed model weights and aggregate metrics move.',
    )
    .version(packageVersion(), '-V, --version')
    .addOption(
      new Option('--log-level <level>', 'log verbosity (logs go to stderr)')
        .choices([...LOG_LEVELS])
        .default('info')
        .env('PHCC_LOG_LEVEL'),
    )
    .addOption(
      new Option(
        '--backend <name>',
        'compute backend: tensorflow (tfjs-node-gpu / tfjs-node), wasm or cpu; default: the fastest installed',
      )
        .choices(['tensorflow', 'wasm', 'cpu'])
        .env('PHCC_BACKEND'),
    )
    .addOption(
      new Option(
        '--wasm-threads <n>',
        'wasm: threads that share each large kernel call in one process (intra-op; 2 on a 2-core machine); default 1',
      ).env('PHCC_WASM_THREADS'),
    )
    .showHelpAfterError('(add --help for usage)')
    // Set before subcommands are added so they inherit it: usage errors anywhere exit 2, not 1.
    .exitOverride()
    .configureHelp({ sortSubcommands: false });

  registerCoordinator(program);
  registerAgent(program);
  registerDemo(program);
  registerSimulate(program);
  registerCompare(program);
  registerAdmin(program);
  registerSynth(program);
  registerInspect(program);
  registerConvert(program);
  registerCohort(program);
  registerTrain(program);
  registerEvaluate(program);
  registerModels(program);
  registerPredict(program);
  registerRoc(program);
  registerProvision(program);
  registerKeys(program);
  registerBench(program);
  return program;
}
