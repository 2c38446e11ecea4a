import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastJsonLine, runCliCaptured } from '../__tests__/run-cli';

const cli = (...args: string[]) => runCliCaptured(args);

const lastJson = lastJsonLine;

describe('phcc-fed provision / keys', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-cli-kits-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('provisions, shows fingerprints (never secrets), adds a site, revokes one', async () => {
    const first = await cli(
      'provision',
      '--coordinator-url',
      'http://127.0.0.1:8080',
      '--site',
      'hospital-a',
      '--site',
      'hospital-b',
      '--out',
      dir,
      '--json',
    );
    expect(first.code).toBe(0);
    const result = lastJson(first.stdout) as { sites: { id: string; fingerprint: string }[] };
    expect(result.sites.map((s) => s.id)).toEqual(['hospital-a', 'hospital-b']);
    const seed = (
      JSON.parse(readFileSync(join(dir, 'sites/hospital-a/site.key'), 'utf8')) as { seed: string }
    ).seed;

    const added = await cli('provision', '--site', 'hospital-c', '--out', dir);
    expect(added.stdout).toContain('coordinator reused');

    const shown = await cli('keys', 'show', dir, '--json');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(result.sites[0].fingerprint);
    expect((lastJson(shown.stdout).sites as unknown[]).length).toBe(3);
    const kit = await cli('keys', 'show', join(dir, 'sites', 'hospital-a'));
    expect(kit.stdout).toMatch(/trusts coordinator [0-9a-f:]{39}/);
    for (const output of [first, added, shown, kit])
      expect(output.stdout + output.stderr).not.toContain(seed);

    const revoked = await cli('keys', 'revoke', dir, '--site', 'hospital-b', '--reason', 'test');
    expect(revoked.code).toBe(0);
    expect((await cli('keys', 'show', join(dir, 'coordinator'))).stdout).toMatch(
      /hospital-b\s+\S+\s+REVOKED/,
    );
  });

  it('exits 2 with a clear message on bad input', async () => {
    const again = await cli('provision', '--site', 'hospital-a', '--out', dir);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
    const missing = await cli('keys', 'show', join(dir, 'nowhere'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nowhere');
    expect((await cli('keys', 'revoke', dir, '--site', 'hospital-q')).stderr).toContain('not enrolled');
  });
});
