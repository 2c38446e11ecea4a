import { Command } from 'commander';
import { InputError } from '../../../../libs/common/src';
import { coordinatorDirOf, describeKeys, initSiteKeys, revokeSite } from '../../../../libs/protocol/src';
import { commandLogger } from '../context';

/**
 * `phcc-fed keys init|show|revoke`: a site's key pair made at the hospital, public fingerprints
 * of a kit, and revoking a site's enrolment.
 */
export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .summary("make a site's keys at the hospital; show fingerprints; revoke a site")
    .description(
      'Make a site key pair where the site runs (init), inspect keys (public parts only), revoke enrolled sites.',
    );

  keys
    .command('init')
    .description(
      "run AT THE HOSPITAL: makes the site's key pair in --out (secret key file 0600, never printed, never\n" +
        'sent) and a kit for "phcc-fed agent --kit", after checking the coordinator\'s public key against the\n' +
        'fingerprint its operator read out to you. Prints the public key and fingerprint to send back: the\n' +
        'operator enrols them with "phcc-fed admin sites enrol" after reading the fingerprint back by phone.',
    )
    .requiredOption('--site <id>', 'this site’s id, as agreed with the consortium operator')
    .requiredOption('--out <dir>', 'kit folder to create (must be empty or absent)')
    .requiredOption('--coordinator-url <url>', 'the coordinator agents connect to (https://…)')
    .requiredOption(
      '--coordinator-key <file|base64>',
      "the coordinator's coordinator.pub file, or its public key",
    )
    .requiredOption(
      '--coordinator-fingerprint <fp>',
      "the coordinator's fingerprint, as read out by its operator",
    )
    .option('--json', 'end the output with one JSON line')
    .action(
      (
        opts: {
          site: string;
          out: string;
          coordinatorUrl: string;
          coordinatorKey: string;
          coordinatorFingerprint: string;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const result = initSiteKeys({
          siteId: opts.site,
          outDir: opts.out,
          coordinatorUrl: opts.coordinatorUrl,
          coordinatorKey: opts.coordinatorKey,
          coordinatorFingerprint: opts.coordinatorFingerprint,
        });
        commandLogger(cmd).info({ site: result.siteId, kit: result.kitDir }, 'site key pair created');
        const out = (line: string) => process.stdout.write(line + '\n');
        out(`site ${result.siteId}: key pair created in ${result.kitDir} (site.key stays here, mode 0600)`);
        out(`coordinator trusted: ${result.coordinatorFingerprint}`);
        out('send these two lines to the consortium operator, then read the fingerprint to them by phone:');
        out(`public key:  ${result.publicKey}`);
        out(`fingerprint: ${result.fingerprint}`);
        if (opts.json) out(JSON.stringify(result));
      },
    );

  keys
    .command('show')
    .description(
      'print the public fingerprints of a provision directory, a coordinator directory or a site kit',
    )
    .argument('<dir>', 'provision directory (--out of provision), DIR/coordinator or DIR/sites/<id>')
    .option('--json', 'end the output with one JSON line')
    .action((dir: string, opts: { json?: boolean }) => {
      const listing = describeKeys(dir);
      const out = (line: string) => process.stdout.write(line + '\n');
      out(`${dir}: ${listing.kind}`);
      if (listing.coordinator)
        out(`coordinator          ${listing.coordinator.fingerprint}  ${listing.coordinator.url}`);
      for (const site of listing.sites) {
        const state = site.revoked === undefined ? '' : site.revoked ? '  REVOKED' : '  enrolled';
        const trusts = site.coordinatorFingerprint
          ? `  trusts coordinator ${site.coordinatorFingerprint}`
          : '';
        out(`site ${site.id.padEnd(15)} ${site.fingerprint}${state}${trusts}`);
      }
      if (opts.json) out(JSON.stringify(listing));
    });

  keys
    .command('revoke')
    .description(
      "mark a site revoked in the coordinator's sites.json: its handshakes and envelopes are refused\n" +
        '(REVOKED_SIGNER) once the coordinator (re)loads the registry',
    )
    .argument('<dir>', 'provision directory or its coordinator/ directory')
    .requiredOption('--site <id>', 'site to revoke')
    .option('--reason <text>', 'why (kept in sites.json)', 'revoked by operator')
    .option('--json', 'end the output with one JSON line')
    .action((dir: string, opts: { site: string; reason: string; json?: boolean }, cmd: Command) => {
      const coordinatorDir = coordinatorDirOf(dir);
      if (!coordinatorDir) throw new InputError(`${dir}: no coordinator.json here or in ${dir}/coordinator`);
      const site = revokeSite(coordinatorDir, opts.site, opts.reason);
      commandLogger(cmd).info({ site: site.id, revokedAt: site.revokedAt }, 'site revoked');
      process.stdout.write(`site ${site.id} revoked at ${site.revokedAt} (${site.fingerprint})\n`);
      if (opts.json) process.stdout.write(JSON.stringify(site) + '\n');
    });
}
