import { Command } from 'commander';
import { provision } from '../../../../libs/protocol/src';
import { commandLogger } from '../context';

interface ProvisionOptions {
  coordinatorUrl?: string;
  site: string[];
  out: string;
  force?: boolean;
  json?: boolean;
}

/**
 * `phcc-fed provision`: the coordinator key pair (once) and one site kit per site. Prints public
 * fingerprints only — what the coordinator's operator reads out to each hospital to confirm.
 */
export function registerProvision(program: Command): void {
  program
    .command('provision')
    .summary('create the coordinator key pair and one site kit per site')
    .description(
      'Creates DIR/coordinator/ (Ed25519 key pair, coordinator.json, sites.json) if absent and one kit per\n' +
        'site in DIR/sites/<id>/ (site key pair, coordinator URL and public key, kit.json), enrolling each\n' +
        'site in sites.json. Secret keys are written mode 0600 and never printed. Run again with new\n' +
        '--site ids to add hospitals: the coordinator key is reused. See docs/PROTOCOL.md.',
    )
    .option('--coordinator-url <url>', 'URL sites connect to (required the first time)')
    .option(
      '--site <id>',
      'site id, e.g. hospital-a (repeatable)',
      (id: string, ids: string[]) => [...ids, id],
      [],
    )
    .requiredOption('--out <dir>', 'provisioning directory')
    .option('--force', 'replace existing kits of these sites (old kits are moved to DIR/retired/)')
    .option('--json', 'end the output with one JSON line')
    .action((opts: ProvisionOptions, cmd: Command) => {
      const result = provision({
        outDir: opts.out,
        coordinatorUrl: opts.coordinatorUrl,
        siteIds: opts.site,
        force: Boolean(opts.force),
        log: commandLogger(cmd),
      });
      const out = (line: string) => process.stdout.write(line + '\n');
      out(
        `coordinator ${result.coordinator.created ? 'created' : 'reused '}  ${result.coordinator.fingerprint}  ${result.coordinator.dir}  (${result.coordinator.url})`,
      );
      for (const site of result.sites) {
        out(
          `site ${site.id.padEnd(20)} ${site.fingerprint}  ${site.kitDir}${site.retiredTo ? `  (old kit moved to ${site.retiredTo})` : ''}`,
        );
      }
      out(
        'Send each hospital its kit directory over a trusted channel and confirm both fingerprints by phone.',
      );
      if (opts.json) out(JSON.stringify(result));
    });
}
