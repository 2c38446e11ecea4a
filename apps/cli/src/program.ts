import { Command, Option } from 'commander';
import { LOG_LEVELS, packageVersion } from '../../../libs/common/src';
import { registerNotAvailable } from './commands/not-available';
import { registerBench } from './commands/bench';

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
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ sortSubcommands: false });

  registerNotAvailable(
    program,
    'coordinator',
    'run the consortium coordinator (REST admin API + socket.io gateway)',
    'Federation',
  );
  registerNotAvailable(program, 'agent', "run a hospital's site agent next to its cohort", 'Federation');
  registerNotAvailable(
    program,
    'demo',
    'coordinator + 3 synthetic hospitals, SSL and fine-tune rounds, cross-site AUC',
    'Federation',
  );
  registerNotAvailable(
    program,
    'synth',
    'generate synthetic multi-centre DCE-MRI cohorts (NIfTI + manifest.csv)',
    'Imaging',
  );
  registerNotAvailable(
    program,
    'inspect',
    'print the header, affine and voxel statistics of a NIfTI file',
    'Imaging',
  );
  registerNotAvailable(
    program,
    'train',
    'train the pHCC-SSL model locally (SSL, fine-tune or both)',
    'Model',
  );
  registerNotAvailable(
    program,
    'evaluate',
    'evaluate a model on a cohort: AUC with 95 % CI, predictions CSV',
    'Model',
  );
  registerNotAvailable(program, 'predict', 'predict one patient and write Grad-CAM overlays', 'Model');
  registerNotAvailable(program, 'roc', 'AUC, DeLong CI and tests from a CSV of labels and scores', 'Metrics');
  registerNotAvailable(
    program,
    'provision',
    'create the coordinator key pair and one site kit per site',
    'Protocol',
  );
  registerNotAvailable(program, 'keys', 'show public key fingerprints of a kit', 'Protocol');
  registerBench(program);
  return program;
}
