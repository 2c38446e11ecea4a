import { useState } from 'preact/hooks';
import { ErrorLine, StateBadge, time } from '../components';
import { Api, ApiError, errorText } from '../api';
import { valuesOf } from '../live';
import { href } from '../router';
import { Session } from '../session';
import { RunSummary } from '../types';
import { LiveBadge, useLive } from '../use-live';

const PLAN_TEMPLATE = `name: my run
sites: all
stages:
  ssl:
    rounds: 2
    localEpochs: 1
    optimiser: { name: adam, lr: 0.001 }
    maskRatio: 0.6
    batchSize: 8
  finetune:
    rounds: 3
    localEpochs: 5
    optimiser: { name: adam, lr: 0.002 }
    batchSize: 8
strategy:
  name: fedavg
quorum:
  minSites: 2
roundDeadlineSeconds: 600
encoding: float16
evaluation:
  final: true
  crossSite: true
seed: 1
`;

export function RunsPage({ api, session }: { api: Api; session: Session }) {
  const { maps, status, detail } = useLive('/events/runs', session.token);
  const runs = valuesOf<RunSummary>(maps, 'run').sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const [actionError, setActionError] = useState('');
  const act = async (run: RunSummary, action: 'start' | 'stop') => {
    setActionError('');
    try {
      if (action === 'stop' && !confirm(`Stop run ${run.name} (${run.id})? A stopped run cannot be resumed.`))
        return;
      await api.post(
        `/runs/${run.id}/${action}`,
        action === 'stop' ? { reason: `stopped from the dashboard by ${session.actor}` } : undefined,
      );
    } catch (err) {
      setActionError(`${action} ${run.id}: ${errorText(err)}`);
    }
  };
  return (
    <section aria-labelledby="runs-title">
      <div class="title-row">
        <h1 id="runs-title">Runs</h1>
        <LiveBadge status={status} detail={detail} />
      </div>
      <ErrorLine text={actionError} />
      <table class="data runs">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">State</th>
            <th scope="col">Strategy</th>
            <th scope="col">Progress</th>
            <th scope="col">Sites</th>
            <th scope="col">Started</th>
            <th scope="col">Ended</th>
            {session.role === 'admin' && (
              <th scope="col" class="no-print">
                Actions
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {runs.length === 0 && (
            <tr>
              <td colSpan={8}>
                No runs yet{session.role === 'admin' ? ': create one from a plan below.' : '.'}
              </td>
            </tr>
          )}
          {runs.map((run) => (
            <tr key={run.id} data-run={run.id}>
              <td>
                <a href={href('runs', run.id)}>{run.name}</a>
                <div class="mono small">{run.id}</div>
              </td>
              <td>
                <StateBadge state={run.state} />
                {run.reason && <div class="small">{run.reason}</div>}
              </td>
              <td>{run.strategy ?? '—'}</td>
              <td
                class="progress"
                data-done={run.progress.done}
                data-planned={run.progress.planned}
                title="SSL and fine-tune rounds and the final evaluation, done of planned"
              >
                {run.progress.done} / {run.progress.planned} rounds
                <progress
                  max={run.progress.planned}
                  value={run.progress.done}
                  aria-label={`${run.name}: rounds done`}
                />
                <div class="small">
                  {run.stages?.ssl?.rounds ?? 0} SSL + {run.stages?.finetune?.rounds ?? 0} fine-tune
                </div>
              </td>
              <td>{run.sites === 'all' || !run.sites ? 'all' : run.sites.join(', ')}</td>
              <td>{time(run.startedAt)}</td>
              <td>{time(run.endedAt)}</td>
              {session.role === 'admin' && (
                <td class="no-print">
                  {run.state === 'created' && (
                    <button type="button" onClick={() => act(run, 'start')}>
                      Start
                    </button>
                  )}
                  {(run.state === 'created' || run.state === 'running') && (
                    <button type="button" class="danger" onClick={() => act(run, 'stop')}>
                      Stop
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {session.role === 'admin' && <CreateRun api={api} />}
    </section>
  );
}

/** The plan editor: YAML or JSON as the API takes it, with the API's field problems beside the lines. */
function CreateRun({ api }: { api: Api }) {
  const [text, setText] = useState(PLAN_TEMPLATE);
  const [problems, setProblems] = useState<{ text: string; line?: number }[]>([]);
  const [created, setCreated] = useState<RunSummary | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setProblems([]);
    setCreated(null);
    const json = text.trimStart().startsWith('{');
    try {
      setCreated(await api.post<RunSummary>('/runs', text, json ? 'application/json' : 'application/yaml'));
    } catch (err) {
      const list = err instanceof ApiError ? err.problems : [errorText(err)];
      setProblems(list.map((p) => ({ text: p, line: lineOfField(text, p) })));
    }
  };
  const badLines = new Set(problems.map((p) => p.line).filter((l): l is number => l !== undefined));
  return (
    <details class="create no-print">
      <summary>
        <h2>Create a run from a plan</h2>
      </summary>
      <form onSubmit={submit} aria-label="Create a run from a plan">
        <p class="small">
          YAML or JSON, as in <code>configs/plans/*.yaml</code>. The coordinator checks it; every problem is
          listed with its line.
        </p>
        <div class="editor">
          <div class="gutter" aria-hidden="true">
            {text.split('\n').map((_l, i) => (
              <span class={badLines.has(i + 1) ? 'bad' : undefined}>{i + 1}</span>
            ))}
          </div>
          <textarea
            id="plan"
            aria-label="Run plan (YAML or JSON)"
            aria-invalid={problems.length > 0}
            aria-describedby="plan-problems"
            spellcheck={false}
            rows={Math.max(12, text.split('\n').length)}
            value={text}
            onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
          />
        </div>
        <ul id="plan-problems" class="problems" role="alert">
          {problems.map((p) => (
            <li>
              {p.line !== undefined && <span class="line">line {p.line}</span>} {p.text}
            </li>
          ))}
        </ul>
        <button type="submit">Create run</button>
        {created && (
          <p class="ok" role="status">
            Created <a href={href('runs', created.id)}>{created.name}</a> ({created.id}); start it from the
            list when the sites are connected.
          </p>
        )}
      </form>
    </details>
  );
}

/** The line where the last named field of a "a.b.c: problem" message appears, if it can be found. */
export function lineOfField(text: string, problem: string): number | undefined {
  const path = /^([A-Za-z0-9_.[\]]+):/.exec(problem)?.[1];
  if (!path) return undefined;
  const field = path
    .split('.')
    .at(-1)!
    .replace(/\[\d+\]$/, '');
  const lines = text.split('\n');
  const index = lines.findIndex((line) => new RegExp(`^\\s*"?${field}"?\\s*:`).test(line));
  return index >= 0 ? index + 1 : undefined;
}
