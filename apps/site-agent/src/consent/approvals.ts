import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../../../libs/common/src';
import { PLAN_DIGEST_PATTERN } from './plan';

/**
 * The plan digests a site approved: `--approve HASH` flags and, optionally, an approvals folder
 * in which each approved plan is a file named by its digest (with any extension, e.g.
 * `<digest>.approved`) or a file whose first line is the digest (so an approval can carry a
 * note, who approved and when, below it). Anything else in the folder is an error, not ignored:
 * a typo in an approval must not silently leave a plan unapproved or approve another.
 */
export function loadApprovals(options: { approve?: readonly string[]; approvalsDir?: string }): Set<string> {
  const approved = new Set<string>();
  for (const hash of options.approve ?? []) {
    const h = hash.trim().toLowerCase();
    if (!PLAN_DIGEST_PATTERN.test(h))
      throw new InputError(
        `--approve ${hash}: a plan digest is 128 hex characters (SHA-512, the run's planDigest)`,
      );
    approved.add(h);
  }
  const dir = options.approvalsDir;
  if (dir === undefined) return approved;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new InputError(`approvals folder ${dir} cannot be read`);
  }
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (!statSync(path).isFile())
      throw new InputError(`${path}: the approvals folder holds only approval files`);
    const stem = name.split('.')[0].toLowerCase();
    if (PLAN_DIGEST_PATTERN.test(stem)) {
      approved.add(stem);
      continue;
    }
    const first = readFileSync(path, 'utf8').split(/\r?\n/, 1)[0].trim().toLowerCase();
    if (!PLAN_DIGEST_PATTERN.test(first)) {
      throw new InputError(
        `${path}: neither its name nor its first line is a plan digest (128 hex characters)`,
      );
    }
    approved.add(first);
  }
  return approved;
}
