import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../libs/common/src';

/**
 * Issue #18: `phcc-fed inspect … | head` died with an EPIPE stack trace once the reader closed the
 * pipe. Piping into `true` (which exits at once, before node has written anything) makes the
 * closed pipe certain; the CLI must end quietly with status 0.
 */
describe('phcc-fed output into a closed pipe', () => {
  it('inspect | true exits 0 without a stack trace', () => {
    const cli = join(packageRoot(), 'bin', 'phcc-fed.js');
    const image = join(packageRoot(), 'libs', 'imaging', 'src', 'nifti', 'testdata', 'standard.nii.gz');
    const result = spawnSync(
      'bash',
      [
        '-c',
        `"${process.execPath}" "${cli}" inspect "${image}" --json | true; echo "status \${PIPESTATUS[0]}"`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(result.stdout.trim()).toBe('status 0');
    expect(result.stderr).toBe('');
  }, 90_000);
});
