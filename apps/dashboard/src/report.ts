import { formatAuc, formatBytes, formatDuration, pairedPanels, TimelineRow } from './run-model';
import { RunLive, RunResults } from './types';

/** A run's report as Markdown, from what the page shows: plan, rounds, AUCs, paired comparisons, cross-site matrix. */
export function reportMarkdown(run: RunLive, rows: TimelineRow[], results: RunResults): string {
  const lines = [
    `# ${run.name} (${run.id})`,
    '',
    `- state: ${run.state}${run.reason ? ` (${run.reason})` : ''}`,
    `- strategy: ${run.plan.strategy.name}; quorum ${run.plan.quorum.minSites}`,
    `- created ${run.createdAt}; started ${run.startedAt ?? '—'}; ended ${run.endedAt ?? '—'}`,
    `- plan digest (SHA-512): ${run.planDigest ?? '—'}`,
    '',
    '## Rounds',
    '',
    '| stage | round | state | duration | accepted / quorum | answered | refused | bytes up | bytes down |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.stage} | ${r.round} | ${r.state} | ${formatDuration(r.durationMs)} | ${r.accepted} / ${r.quorum} | ${r.answered.join(', ')} | ${r.refused.map((x) => `${x.siteId}: ${x.reason}`).join('; ')} | ${formatBytes(r.bytesUp)} | ${formatBytes(r.bytesDown)} |`,
    ),
  ];
  const final = results.evaluation.final;
  if (final) {
    lines.push(
      '',
      '## Final evaluation of the global model',
      '',
      '| site | AUC | 95 % CI | n | proliferative |',
      '|---|---|---|---|---|',
    );
    for (const [site, s] of Object.entries(final.sites)) {
      const ci = s.ci95 ? `${s.ci95[0].toFixed(3)}–${s.ci95[1].toFixed(3)}` : 'n/a';
      lines.push(`| ${site} | ${formatAuc(s.auc)} | ${ci} | ${s.n} | ${s.nPositive} |`);
    }
    lines.push(
      '',
      `Pooled AUC ${formatAuc(final.pooledAuc)} (summed histograms); mean site AUC ${formatAuc(final.meanSiteAuc)}.`,
    );
  }
  for (const panel of pairedPanels(results.paired ?? [])) {
    lines.push(
      '',
      `## Paired comparison: ${panel.title}`,
      '',
      `- final global: ${panel.modelA}`,
      `- compared model: ${panel.modelB}`,
      `- difference in AUC (final global − compared, fixed effect): ${panel.difference}, p ${panel.p}`,
      `- heterogeneity: ${panel.heterogeneity}`,
      `- AUC final global ${panel.aucA}; compared model ${panel.aucB}; patients ${panel.patients}`,
      '',
      '| site | AUC global | AUC compared | difference (95 % CI) | weight | patients |',
      '|---|---|---|---|---|---|',
      ...panel.sites.map(
        (s) => `| ${s.site} | ${s.aucA} | ${s.aucB} | ${s.difference} | ${s.weight} | ${s.patients} |`,
      ),
      ...panel.leftOut.map((s) => `| ${s.site} | left out (${s.aucs}): ${s.reason} | | | | |`),
    );
  }
  const cross = results.evaluation.crossSite;
  if (cross) {
    const columns = [...new Set(Object.values(cross.matrix).flatMap((row) => Object.keys(row)))];
    lines.push('', '## Cross-site matrix (AUC; row = whose model, column = where evaluated)', '');
    lines.push(`| model | ${columns.join(' | ')} |`, `|---|${columns.map(() => '---|').join('')}`);
    for (const [owner, row] of Object.entries(cross.matrix)) {
      lines.push(`| ${owner} | ${columns.map((c) => formatAuc(row[c]?.auc)).join(' | ')} |`);
    }
  }
  return lines.join('\n') + '\n';
}
