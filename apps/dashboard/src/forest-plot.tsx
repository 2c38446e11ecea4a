import { siteColour } from './chart';

export interface ForestPoint {
  label: string;
  value: number | null;
  ci: [number, number] | null;
}

interface ForestProps {
  title: string;
  /** One group per evaluation (x), each with a point per site (colour) plus the pooled one (black). */
  groups: { label: string; points: ForestPoint[] }[];
}

const WIDTH = 420;
const HEIGHT = 240;
const PAD = { left: 40, right: 12, top: 12, bottom: 36 };

/**
 * AUCs with their confidence intervals as points and whiskers on a 0–1 axis, grouped by
 * evaluation round: the figure clinicians expect, plain SVG (scales with the card, prints sharp).
 */
export function ForestPlot({ title, groups }: ForestProps) {
  const labels = [...new Set(groups.flatMap((g) => g.points.map((p) => p.label)))];
  const colour = (label: string) => siteColour(label, labels);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const y = (auc: number) => PAD.top + (1 - auc) * plotH;
  const groupW = plotW / groups.length;
  const step = groupW / (labels.length + 1);
  const summary = groups
    .map(
      (g) =>
        `${g.label}: ${g.points.map((p) => `${p.label} ${p.value === null ? 'n/a' : p.value.toFixed(3)}`).join(', ')}`,
    )
    .join('; ');
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={summary} class="forest">
        {[0, 0.25, 0.5, 0.75, 1].map((t) => (
          <g>
            <line
              x1={PAD.left}
              x2={WIDTH - PAD.right}
              y1={y(t)}
              y2={y(t)}
              class={t === 0.5 ? 'chance' : 'grid'}
            />
            <text x={PAD.left - 6} y={y(t) + 4} text-anchor="end">
              {t}
            </text>
          </g>
        ))}
        {groups.map((group, g) => (
          <g>
            <text x={PAD.left + g * groupW + groupW / 2} y={HEIGHT - 12} text-anchor="middle">
              {group.label}
            </text>
            {group.points.map((point) => {
              const x = PAD.left + g * groupW + step * (labels.indexOf(point.label) + 1);
              if (point.value === null) return null;
              return (
                <g stroke={colour(point.label)} fill={colour(point.label)}>
                  {point.ci && (
                    <line x1={x} x2={x} y1={y(point.ci[0])} y2={y(point.ci[1])} stroke-width={2} />
                  )}
                  {point.ci && (
                    <line x1={x - 4} x2={x + 4} y1={y(point.ci[0])} y2={y(point.ci[0])} stroke-width={2} />
                  )}
                  {point.ci && (
                    <line x1={x - 4} x2={x + 4} y1={y(point.ci[1])} y2={y(point.ci[1])} stroke-width={2} />
                  )}
                  {point.label === 'pooled' ? (
                    <rect x={x - 5} y={y(point.value) - 5} width={10} height={10} />
                  ) : (
                    <circle cx={x} cy={y(point.value)} r={4.5} />
                  )}
                </g>
              );
            })}
          </g>
        ))}
        <text
          x={12}
          y={PAD.top + plotH / 2}
          transform={`rotate(-90 12 ${PAD.top + plotH / 2})`}
          text-anchor="middle"
        >
          AUC
        </text>
      </svg>
      <ul class="legend-list">
        {labels.map((label) => (
          <li>
            <span class="swatch" style={{ background: colour(label) }} /> {label}
            {label === 'pooled' ? ' (summed histograms)' : ''}
          </li>
        ))}
      </ul>
    </figure>
  );
}
