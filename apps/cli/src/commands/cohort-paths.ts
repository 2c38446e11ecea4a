/**
 * `--allow-outside-paths`, shared by the commands that read a cohort (`.option(...ALLOW_OUTSIDE_PATHS)`):
 * manifest paths are confined to the cohort folder by default (docs/SECURITY.md), so a manifest
 * that names files elsewhere (`../`, absolute paths, symlinks out) must say so on purpose.
 */
export const ALLOW_OUTSIDE_PATHS = [
  '--allow-outside-paths',
  "let manifest.csv name images outside the cohort folder ('../', absolute paths, symlinks that lead out)",
] as const;

export interface AllowOutsidePathsOption {
  allowOutsidePaths?: boolean;
}
