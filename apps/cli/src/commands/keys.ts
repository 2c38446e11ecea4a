import { Command } from 'commander';
import { InputError } from '../../../../libs/common/src';
import { coordinatorDirOf, describeKeys, revokeSite } from '../../../../libs/protocol/src';
import { commandLogger } from '../context';

/** `phcc-fed keys show|revoke`: public fingerprints of a kit, and revoking a site's enrolment. */
export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .summary('show public key fingerprints of a kit; revoke a site')
    .description('Inspect keys made by `phcc-fed provision` (public parts only) and revoke enrolled sites.');

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
