import { useEffect, useState } from 'preact/hooks';
import { Api, errorText } from '../api';
import { Chart, ChartSeries, siteColour } from '../chart';
import { ForestPlot } from '../forest-plot';
import { valuesOf } from '../live';
import { reportMarkdown } from '../report';
import { href } from '../router';
import {
  finalGlobalRows,
  formatAuc,
  formatBytes,
  formatDuration,
  lossSeries,
  pairedPanels,
  pooledHistogram,
  rocFromHistogram,
  timeline,
  TimelineRow,
} from '../run-model';
import { Session } from '../session';
import {
  EvaluationRow,
  MetricLive,
  RoundLive,
  RunLive,
  RunResults,
  SiteScore,
  TaskLive,
  UpdateLive,
} from '../types';
import { LiveBadge, useLive } from '../use-live';
import { ErrorLine, StateBadge, time } from '../components';

export function RunPage({ api, session, runId }: { api: Api; session: Session; runId: string }) {
  const { maps, status, detail } = useLive(`/events/runs/${encodeURIComponent(runId)}`, session.token);
  const run = valuesOf<RunLive>(maps, 'run')[0];
  const rounds = valuesOf<RoundLive>(maps, 'round');
  const tasks = valuesOf<TaskLive>(maps, 'task');
  const updates = valuesOf<UpdateLive>(maps, 'update');
  const metrics = valuesOf<MetricLive>(maps, 'metric');
  const evaluations = valuesOf<EvaluationRow>(maps, 'evaluation');
  const [results, setResults] = useState<RunResults | null>(null);
  const [error, setError] = useState('');
  const [now, setNow] = useState(Date.now());

  // Results (grouped by the coordinator, the numbers every other client sees) are fetched when the
  // stream says evaluations or metrics changed, not on a timer.
  useEffect(() => {
    api
      .get<RunResults>(`/runs/${encodeURIComponent(runId)}/results`)
      .then(setResults)
      .catch((err) => setError(errorText(err)));
  }, [runId, evaluations.length, metrics.length, run?.state]);
  useEffect(() => {
    if (run?.state !== 'running') return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [run?.state]);

  if (!run) {
    return (
      <section>
        <h1>Run {runId}</h1>
        <LiveBadge status={status} detail={detail} />
        <ErrorLine text={error} />
      </section>
    );
  }
  const rows = timeline(run.plan, rounds, tasks, updates, evaluations, now);
  const { done: doneRounds, planned } = run.progress;
  const bytesUp = rows.reduce((s, r) => s + r.bytesUp, 0);
  const bytesDown = rows.reduce((s, r) => s + r.bytesDown, 0);
  const final = results?.evaluation.final ?? null;
  const act = async (action: 'start' | 'stop') => {
    setError('');
    try {
      if (action === 'stop' && !confirm(`Stop run ${run.name}? A stopped run cannot be resumed.`)) return;
      await api.post(
        `/runs/${run.id}/${action}`,
        action === 'stop' ? { reason: `stopped from the dashboard by ${session.actor}` } : undefined,
      );
    } catch (err) {
      setError(errorText(err));
    }
  };
  const download = (name: string, type: string, body: string) => {
    const url = URL.createObjectURL(new Blob([body], { type }));
    const a = Object.assign(document.createElement('a'), { href: url, download: name });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  return (
    <article aria-labelledby="run-title">
      <p class="crumbs no-print">
        <a href={href('runs')}>Runs</a> /
      </p>
      <div class="title-row">
        <h1 id="run-title">{run.name}</h1>
        <StateBadge state={run.state} />
        <LiveBadge status={status} detail={detail} />
      </div>
      <p class="meta">
        <span class="mono">{run.id}</span> · {run.plan.strategy.name} · quorum {run.plan.quorum.minSites} ·
        created {time(run.createdAt)} · started {time(run.startedAt)} · ended {time(run.endedAt)}
        {run.reason && <> · {run.reason}</>}
      </p>
      <div class="actions no-print">
        {session.role === 'admin' && run.state === 'created' && (
          <button type="button" onClick={() => act('start')}>
            Start
          </button>
        )}
        {session.role === 'admin' && (run.state === 'created' || run.state === 'running') && (
          <button type="button" class="danger" onClick={() => act('stop')}>
            Stop
          </button>
        )}
        <button
          type="button"
          disabled={!results}
          onClick={() =>
            download(`${run.id}-report.md`, 'text/markdown', reportMarkdown(run, rows, results!))
          }
        >
          Download report (Markdown)
        </button>
        <button
          type="button"
          disabled={!results}
          onClick={() =>
            download(
              `${run.id}-results.json`,
              'application/json',
              JSON.stringify({ run, rounds: rows, results }, null, 2),
            )
          }
        >
          Download results (JSON)
        </button>
        <button type="button" onClick={() => print()}>
          Print
        </button>
      </div>
      <ErrorLine text={error} />
      <div class="cards">
        <Card label="Progress" value={`${doneRounds} / ${planned} rounds`}>
          <progress max={planned} value={doneRounds} aria-label="rounds done" />
        </Card>
        <Card label="Pooled AUC (final)" value={formatAuc(final?.pooledAuc)} testId="pooled-auc" />
        <Card label="Mean site AUC" value={formatAuc(final?.meanSiteAuc)} />
        <Card label="Bytes moved" value={formatBytes(bytesUp + bytesDown)}>
          <span class="small">
            ↑ {formatBytes(bytesUp)} updates · ↓ {formatBytes(bytesDown)} models
          </span>
        </Card>
      </div>
      <PrivacyPanel results={results} />
      <Timeline rows={rows} />
      <SiteAucTable final={final} />
      <PairedComparisons results={results} />
      <div class="charts">
        <LossChart metrics={metrics} />
        <AucOverRounds results={results} />
        <RocChart evaluations={results?.evaluations ?? []} />
      </div>
      <CrossSite results={results} />
    </article>
  );
}

function Card(props: { label: string; value: string; testId?: string; children?: preact.ComponentChildren }) {
  return (
    <div class="card">
      <div class="card-label">{props.label}</div>
      <div class="card-value" data-testid={props.testId}>
        {props.value}
      </div>
      {props.children}
    </div>
  );
}

function Timeline({ rows }: { rows: TimelineRow[] }) {
  return (
    <section aria-labelledby="timeline-title">
      <h2 id="timeline-title">Rounds</h2>
      <table class="data timeline">
        <thead>
          <tr>
            <th scope="col">Round</th>
            <th scope="col">State</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            <th scope="col">Quorum</th>
            <th scope="col">Answered</th>
            <th scope="col">Refused updates</th>
            <th scope="col">Bytes ↑ / ↓</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td colSpan={8}>No round has started yet.</td>
            </tr>
          )}
          {rows.map((row) => (
            <tr key={row.key} data-round={row.key} class={`round-${row.state}`}>
              <th scope="row">{row.label}</th>
              <td>
                <StateBadge state={row.state} />
                {row.reason && <div class="small">{row.reason}</div>}
              </td>
              <td>{new Date(row.startedAt).toLocaleTimeString()}</td>
              <td>{formatDuration(row.durationMs)}</td>
              <td
                class={
                  row.stage !== 'evaluate' && row.accepted < row.quorum && row.state === 'done' ? 'warn' : ''
                }
              >
                {row.stage === 'evaluate' ? '—' : `${row.accepted} / ${row.quorum}`}
              </td>
              <td>
                {row.answered.join(', ') || '—'}
                {row.waiting.length > 0 && <div class="small">waiting: {row.waiting.join(', ')}</div>}
              </td>
              <td>
                {row.refused.length === 0
                  ? '—'
                  : row.refused.map((r) => (
                      <div>
                        {r.siteId}: <code>{r.reason}</code>
                      </div>
                    ))}
              </td>
              <td class="num">
                {formatBytes(row.bytesUp)} / {formatBytes(row.bytesDown)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function SiteAucTable({ final }: { final: RunResults['evaluation']['final'] }) {
  if (!final) return null;
  return (
    <section aria-labelledby="auc-title">
      <h2 id="auc-title">Final evaluation of the global model</h2>
      <table class="data site-auc">
        <thead>
          <tr>
            <th scope="col">Site</th>
            <th scope="col">AUC</th>
            <th scope="col">95 % CI (DeLong)</th>
            <th scope="col">Patients</th>
            <th scope="col">Proliferative</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(final.sites).map(([site, score]) => (
            <tr key={site} data-site={site}>
              <th scope="row">{site}</th>
              <td class="num" data-auc={score.auc ?? ''}>
                {formatAuc(score.auc)}
              </td>
              <td class="num">{ci(score)}</td>
              <td class="num">{score.n}</td>
              <td class="num">{score.nPositive}</td>
            </tr>
          ))}
          <tr class="pooled">
            <th scope="row">pooled</th>
            <td class="num" data-auc={final.pooledAuc ?? ''}>
              {formatAuc(final.pooledAuc)}
            </td>
            <td colSpan={3} class="small">
              from the sites&rsquo; summed score histograms (not an average of AUCs)
            </td>
          </tr>
        </tbody>
      </table>
    </section>
  );
}

/**
 * The paired evaluation round (plan `evaluation.compareWith`): per compared model, the final
 * global's AUC minus that model's on the same patients at each site, combined by fixed effect.
 */
function PairedComparisons({ results }: { results: RunResults | null }) {
  const panels = pairedPanels(results?.paired ?? []);
  if (!panels.length) return null;
  return (
    <section aria-labelledby="paired-title" data-testid="paired">
      <h2 id="paired-title">Paired comparisons</h2>
      <p class="small">
        Each site scored the final global and the compared model on the same test patients and returned only
        the two AUCs, their DeLong variances and covariance; the differences are combined across sites by
        inverse variance (fixed effect).
      </p>
      {panels.map((panel) => (
        <div class="paired" key={panel.key} data-compared={panel.modelB}>
          <h3 title={`${panel.modelA} − ${panel.modelB}`}>{panel.title}</h3>
          <dl class="paired-summary">
            <dt>Difference in AUC</dt>
            <dd data-testid="paired-difference">{panel.difference}</dd>
            <dt>p</dt>
            <dd>{panel.p}</dd>
            <dt>Heterogeneity</dt>
            <dd>{panel.heterogeneity}</dd>
            <dt>AUC, final global</dt>
            <dd>{panel.aucA}</dd>
            <dt>AUC, compared model</dt>
            <dd>{panel.aucB}</dd>
            <dt>Patients</dt>
            <dd>{panel.patients}</dd>
          </dl>
          <table class="data">
            <thead>
              <tr>
                <th scope="col">Site</th>
                <th scope="col">AUC global</th>
                <th scope="col">AUC compared</th>
                <th scope="col">Difference (95 % CI)</th>
                <th scope="col">Weight</th>
                <th scope="col">Patients</th>
              </tr>
            </thead>
            <tbody>
              {panel.sites.map((s) => (
                <tr key={s.site} data-site={s.site}>
                  <th scope="row">{s.site}</th>
                  <td class="num">{s.aucA}</td>
                  <td class="num">{s.aucB}</td>
                  <td class="num">{s.difference}</td>
                  <td class="num">{s.weight}</td>
                  <td class="num">{s.patients}</td>
                </tr>
              ))}
              {panel.leftOut.map((s) => (
                <tr key={s.site} data-site={s.site} class="left-out">
                  <th scope="row">{s.site}</th>
                  <td colSpan={5} class="small">
                    left out ({s.aucs}): {s.reason}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}

function ci(score: SiteScore): string {
  return score.ci95 ? `${score.ci95[0].toFixed(3)}–${score.ci95[1].toFixed(3)}` : 'n/a';
}

function LossChart({ metrics }: { metrics: MetricLive[] }) {
  const loss = lossSeries(metrics);
  if (!loss.labels.length)
    return <EmptyChart title="Training loss per round" text="No training round has closed yet." />;
  const names = Object.keys(loss.series);
  const series: ChartSeries[] = Object.entries(loss.series).map(([name, values]) => ({
    label: name === 'global' ? 'all sites (weighted mean)' : name,
    values,
    color: siteColour(name, names),
    dash: name === 'global' ? [6, 4] : undefined,
  }));
  return (
    <Chart
      title="Training loss per round"
      summary={`Training loss over ${loss.labels.length} rounds`}
      x={loss.labels.map((_l, i) => i)}
      xTicks={loss.labels}
      xRange={[-0.3, loss.labels.length - 0.7]}
      series={series}
      xLabel="round"
      yLabel="loss"
    />
  );
}

/** Each site's AUC with its 95 % CI, and the pooled AUC, at every evaluation of the global model. */
function AucOverRounds({ results }: { results: RunResults | null }) {
  const evaluations = [
    ...(results?.evaluation.periodic ?? []),
    ...(results?.evaluation.final ? [results.evaluation.final] : []),
  ];
  if (!evaluations.length) return <EmptyChart title="AUC per site" text="No evaluation yet." />;
  return (
    <ForestPlot
      title="AUC per site with 95 % CI, and pooled AUC"
      groups={evaluations.map((e) => ({
        label: e.afterFinetuneRounds === null ? 'final' : `after fine-tune ${e.afterFinetuneRounds}`,
        points: [
          ...Object.entries(e.sites).map(([site, score]) => ({
            label: site,
            value: score.auc,
            ci: score.ci95,
          })),
          { label: 'pooled', value: e.pooledAuc, ci: null },
        ],
      }))}
    />
  );
}

/** ROC curves of the final global model at each site and pooled, from the evaluation histograms. */
function RocChart({ evaluations }: { evaluations: EvaluationRow[] }) {
  const rows = finalGlobalRows(evaluations).filter((e) => e.histograms);
  if (!rows.length) return <EmptyChart title="ROC curves" text="No final evaluation yet." />;
  const curves = rows.map((r) => ({ label: r.siteId, ...rocFromHistogram(r.histograms!) }));
  const pooled = pooledHistogram(rows.map((r) => r.histograms!));
  if (pooled) curves.push({ label: 'pooled', ...rocFromHistogram(pooled) });
  // uPlot shares one x axis: put every curve on the union of false-positive rates.
  const xs = [...new Set(curves.flatMap((c) => c.fpr))].sort((a, b) => a - b);
  const series: ChartSeries[] = curves.map((c) => ({
    label: c.label,
    values: xs.map((x) => stepAt(c.fpr, c.tpr, x)),
    color: siteColour(
      c.label,
      curves.map((k) => k.label),
    ),
    dash: c.label === 'pooled' ? [6, 4] : undefined,
  }));
  series.push({ label: 'chance', values: xs, color: '#999999', dash: [2, 4] });
  return (
    <Chart
      title="ROC curves (final global model, binned scores)"
      summary={`ROC curves of ${rows.length} sites and pooled`}
      x={xs}
      series={series}
      xRange={[0, 1]}
      yRange={[0, 1]}
      xLabel="false-positive rate"
      yLabel="true-positive rate"
    />
  );
}

/** The highest TPR reached at or before false-positive rate x (ROC points are sorted by FPR). */
function stepAt(fpr: number[], tpr: number[], x: number): number {
  let best = 0;
  for (let i = 0; i < fpr.length; i++) if (fpr[i] <= x) best = Math.max(best, tpr[i]);
  return best;
}

function EmptyChart({ title, text }: { title: string; text: string }) {
  return (
    <figure class="chart empty">
      <figcaption>{title}</figcaption>
      <p class="small">{text}</p>
    </figure>
  );
}

/** The cross-site matrix as a heat map: rows are whose local model, columns where it was evaluated. */
function CrossSite({ results }: { results: RunResults | null }) {
  const cross = results?.evaluation.crossSite;
  if (!cross) return null;
  const owners = Object.keys(cross.matrix);
  const columns = [...new Set(owners.flatMap((o) => Object.keys(cross.matrix[o])))];
  return (
    <details class="cross-site">
      <summary>
        <h2>Cross-site matrix</h2> ({owners.length} local models × {columns.length} sites)
      </summary>
      <table class="heat">
        <caption>
          AUC of each site&rsquo;s local model (row) on each site&rsquo;s test split (column); the diagonal is
          home.
        </caption>
        <thead>
          <tr>
            <th scope="col">model of ↓ / evaluated at →</th>
            {columns.map((c) => (
              <th scope="col">{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {owners.map((owner) => (
            <tr>
              <th scope="row">
                {owner}
                <div class="small">{finetuneLabel(cross.models[owner]?.finetuneRound)}</div>
              </th>
              {columns.map((column) => {
                const score = cross.matrix[owner][column];
                const auc = score?.auc ?? null;
                return (
                  <td
                    class={`num ${owner === column ? 'diagonal' : ''}`}
                    style={{
                      background: heat(auc),
                      color: auc !== null && Math.abs(auc - 0.5) > 0.3 ? '#fff' : '#000',
                    }}
                    data-cell={`${owner}/${column}`}
                    title={
                      score
                        ? `n ${score.n}, ${score.nPositive} proliferative, CI ${ci(score)}`
                        : 'not evaluated'
                    }
                  >
                    {formatAuc(auc)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <p class="small legend">
        <span class="swatch" style={{ background: heat(0.2) }} /> 0.2 ·{' '}
        <span class="swatch" style={{ background: heat(0.5) }} /> 0.5 (chance) ·{' '}
        <span class="swatch" style={{ background: heat(0.8) }} /> 0.8 ·{' '}
        <span class="swatch" style={{ background: heat(1) }} /> 1.0
      </p>
    </details>
  );
}

/** Diverging colour around chance (0.5): orange below, blue above, white at chance. */
function heat(auc: number | null): string {
  if (auc === null) return '#eeeeee';
  const t = Math.max(-1, Math.min(1, (auc - 0.5) * 2));
  const [r, g, b] = t >= 0 ? [0, 114, 178] : [213, 94, 0];
  const mix = (c: number) => Math.round(255 + (c - 255) * Math.abs(t));
  return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
}

/** Which fine-tune round a local model came from (stored from 0, shown from 1). */
function finetuneLabel(round: number | null | undefined): string {
  return round === null || round === undefined
    ? 'fine-tune round unknown'
    : `from fine-tune round ${round + 1}`;
}

/**
 * What bounded what left the sites (docs/PRIVACY.md): ε spent at δ by the RDP accountant, the
 * noise, k of the released histograms, secure aggregation, and sites that refused the plan.
 */
function PrivacyPanel({ results }: { results: RunResults | null }) {
  const privacy = results?.privacy ?? null;
  const refusals = results?.planRefusals ?? [];
  if (!privacy && refusals.length === 0) return null;
  const dp = privacy?.dp ?? null;
  const bound = results?.metrics.find((m) => m.name === 'eval/pooled_auc_max_binning_error' && !m.siteId);
  return (
    <section aria-label="privacy" data-testid="privacy">
      <h2>Privacy</h2>
      {privacy && (
        <div class="cards">
          <Card
            label="Differential privacy (ε at δ)"
            value={dp ? `ε ${dp.epsilon.toFixed(2)} at δ ${dp.delta}` : 'none'}
            testId="privacy-epsilon"
          >
            {dp && (
              <span class="small">
                {dp.noise} noise, multiplier {dp.noiseMultiplier?.toFixed(3) ?? 'n/a'}
                {dp.adaptiveClipping ? ', adaptive clipping' : ''} · {dp.rounds.length} round(s) accounted
              </span>
            )}
          </Card>
          <Card label="Evaluation histograms" value={`≥ ${privacy.minBinCount} patients per bin`}>
            {bound && <span class="small">pooled AUC within ±{bound.value.toFixed(3)} of the exact one</span>}
          </Card>
          <Card label="Secure aggregation" value={privacy.secureAggregation ? 'on' : 'off'} />
        </div>
      )}
      {dp && dp.rounds.length > 0 && (
        <table class="small">
          <thead>
            <tr>
              <th scope="col">round</th>
              <th scope="col">ε this round</th>
              <th scope="col">ε so far</th>
              <th scope="col">clip</th>
            </tr>
          </thead>
          <tbody>
            {dp.rounds.map((r) => (
              <tr key={`${r.stage}/${r.round}`}>
                <td>
                  {r.stage} {r.round}
                </td>
                <td class="num">{r.roundEpsilon.toFixed(3)}</td>
                <td class="num">{r.epsilon.toFixed(3)}</td>
                <td class="num">{r.clip.toPrecision(3)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {refusals.length > 0 && (
        <table class="small" data-testid="plan-refusals">
          <caption>Sites that refused this plan</caption>
          <thead>
            <tr>
              <th scope="col">site</th>
              <th scope="col">code</th>
              <th scope="col">reason</th>
              <th scope="col">when</th>
            </tr>
          </thead>
          <tbody>
            {refusals.map((r) => (
              <tr key={`${r.siteId}/${r.at}`}>
                <td>{r.siteId}</td>
                <td>{r.code}</td>
                <td>{r.reason ?? ''}</td>
                <td>{time(r.at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
