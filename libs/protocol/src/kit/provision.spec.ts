import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../../common/src';
import { signEnvelope } from '../envelope/envelope';
import { EnvelopeVerifier } from '../envelope/verifier';
import { sampleBody, TEST_NOW } from '../test-support/fixtures';
import { describeKeys, loadCoordinator, loadSiteKit } from './load';
import { provision } from './provision';
import { readRegistry, revokeSite } from './registry';

describe('provisioning kits', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-kits-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const url = 'https://coordinator.example.org:8443';

  it('writes the coordinator and one kit per site, secret keys 0600, all consistent', () => {
    const result = provision({ outDir: dir, coordinatorUrl: url, siteIds: ['hospital-a', 'hospital-b'] });
    expect(result.coordinator.created).toBe(true);
    for (const file of [
      'coordinator/coordinator.key',
      'sites/hospital-a/site.key',
      'sites/hospital-b/site.key',
    ]) {
      expect([file, statSync(join(dir, file)).mode & 0o777]).toEqual([file, 0o600]);
    }
    const coordinator = loadCoordinator(join(dir, 'coordinator'));
    const kit = loadSiteKit(join(dir, 'sites', 'hospital-a'));
    expect(kit.coordinatorUrl).toBe(url);
    expect(Buffer.from(kit.coordinatorPublicKey)).toEqual(Buffer.from(coordinator.keys.publicKey));
    expect(coordinator.keyring.ids().sort()).toEqual(['coordinator', 'hospital-a', 'hospital-b']);

    // A kit's key signs what the coordinator's keyring verifies.
    const verifier = new EnvelopeVerifier({
      keyring: coordinator.keyring,
      maxPayloadBytes: 1,
      now: () => TEST_NOW,
    });
    const env = signEnvelope({
      type: 'status',
      body: sampleBody('status', 'hospital-a'),
      signer: 'hospital-a',
      secretKey: kit.keys.secretKey,
    });
    expect(verifier.verify(env).ok).toBe(true);
    // Nothing public mentions the seed.
    const seed = JSON.parse(readFileSync(join(dir, 'sites/hospital-a/site.key'), 'utf8')).seed as string;
    expect(JSON.stringify(describeKeys(dir))).not.toContain(seed);
    expect(readFileSync(join(dir, 'sites/hospital-a/kit.json'), 'utf8')).not.toContain(seed);
  });

  it('reuses the coordinator key for a later site and refuses to overwrite a kit without --force', () => {
    const first = provision({ outDir: dir, coordinatorUrl: url, siteIds: ['hospital-a'] });
    const second = provision({ outDir: dir, siteIds: ['hospital-c'] });
    expect(second.coordinator).toMatchObject({
      created: false,
      fingerprint: first.coordinator.fingerprint,
      url,
    });
    expect(readRegistry(join(dir, 'coordinator')).sites.map((s) => s.id)).toEqual([
      'hospital-a',
      'hospital-c',
    ]);
    expect(() => provision({ outDir: dir, siteIds: ['hospital-d', 'hospital-a'] })).toThrow(
      /already exists.*--force/,
    );
    expect(existsSync(join(dir, 'sites', 'hospital-d'))).toBe(false); // nothing half done

    const replaced = provision({ outDir: dir, siteIds: ['hospital-a'], force: true });
    expect(replaced.sites[0].fingerprint).not.toBe(first.sites[0].fingerprint);
    expect(existsSync(join(replaced.sites[0].retiredTo!, 'site.key'))).toBe(true); // never lose a key
    const entry = readRegistry(join(dir, 'coordinator')).sites.find((s) => s.id === 'hospital-a')!;
    expect(entry.replacedKeys?.[0].fingerprint).toBe(first.sites[0].fingerprint);
  });

  it('refuses bad input with InputError naming it', () => {
    expect(() => provision({ outDir: dir, siteIds: ['hospital-a'] })).toThrow(
      /--coordinator-url is required/,
    );
    expect(() => provision({ outDir: dir, coordinatorUrl: 'ftp://x', siteIds: ['a'] })).toThrow(
      /http, https, ws or wss/,
    );
    expect(() => provision({ outDir: dir, coordinatorUrl: url, siteIds: ['Hospital A'] })).toThrow(
      /site id "Hospital A"/,
    );
    expect(() => provision({ outDir: dir, coordinatorUrl: url, siteIds: ['coordinator'] })).toThrow(
      InputError,
    );
    expect(() => provision({ outDir: dir, coordinatorUrl: url, siteIds: ['a', 'a'] })).toThrow(/named twice/);
    expect(() => provision({ outDir: dir, coordinatorUrl: url, siteIds: [] })).toThrow(/at least one site/);
  });

  it('revocation: the revoked site is refused by the reloaded keyring, the others are not', () => {
    provision({ outDir: dir, coordinatorUrl: url, siteIds: ['hospital-a', 'hospital-b'] });
    revokeSite(join(dir, 'coordinator'), 'hospital-a', 'laptop stolen', new Date(TEST_NOW));
    expect(() => revokeSite(join(dir, 'coordinator'), 'hospital-x', 'typo')).toThrow(/not enrolled/);
    const { keyring } = loadCoordinator(join(dir, 'coordinator'));
    const verifier = new EnvelopeVerifier({ keyring, maxPayloadBytes: 1, now: () => TEST_NOW });
    const send = (site: string) =>
      verifier.verify(
        signEnvelope({
          type: 'status',
          body: sampleBody('status', site),
          signer: site,
          secretKey: loadSiteKit(join(dir, 'sites', site)).keys.secretKey,
        }),
      );
    expect(send('hospital-a')).toMatchObject({ ok: false, error: { code: 'REVOKED_SIGNER' } });
    expect(send('hospital-b').ok).toBe(true);
    expect(describeKeys(dir).sites.map((s) => [s.id, s.revoked])).toEqual([
      ['hospital-a', true],
      ['hospital-b', false],
    ]);
  });
});
