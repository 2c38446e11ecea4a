import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../../libs/common/src';

export interface SiteProcessSpec {
  siteId: string;
  kitDir: string;
  cohortDir: string;
  stateDir: string;
  tiny: boolean;
  runId?: string;
  logLevel: string;
  backend?: string;
  /** `--coordinator`: URLs instead of the kit's (an active coordinator and its standby). */
  coordinatorUrls?: string[];
  /** Where the agent's stdout + stderr go (one file per site). */
  logFile: string;
  /** Plan digests the site approves (`--approve`): the demo approves the plan it created, explicitly. */
  approve?: readonly string[];
  /** `--report-cohort`: tell the coordinator the cohort's patient counts (opt-in for a real site). */
  reportCohort?: boolean;
}

/**
 * One `phcc-fed agent` child process per hospital: each site trains in its own process (as it
 * would on its own machine), so the sites run in parallel and never block the coordinator.
 */
export class SiteProcess {
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(readonly spec: SiteProcessSpec) {
    const bin = join(packageRoot(), 'bin', 'phcc-fed.js');
    const args = [bin, '--log-level', spec.logLevel];
    if (spec.backend) args.push('--backend', spec.backend);
    args.push('agent', '--kit', spec.kitDir, '--cohort', spec.cohortDir, '--state', spec.stateDir);
    if (spec.tiny) args.push('--tiny');
    if (spec.runId) args.push('--run', spec.runId);
    if (spec.coordinatorUrls?.length) args.push('--coordinator', spec.coordinatorUrls.join(','));
    for (const digest of spec.approve ?? []) args.push('--approve', digest);
    if (spec.reportCohort) args.push('--report-cohort');
    const log = createWriteStream(spec.logFile, { flags: 'a' });
    this.child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.pipe(log, { end: false });
    this.child.stderr?.pipe(log, { end: false });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        log.end();
        resolve(code);
      });
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** A crash, as resilience tests simulate one (SIGKILL: no goodbye on the socket); resolves on exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.child.kill(signal);
    await this.exited;
  }

  /** SIGTERM (the agent closes its connection and exits), then SIGKILL if it does not within graceMs. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
