import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/** A colour per series, readable in print and for common colour-vision deficiencies (Okabe–Ito). */
export const PALETTE = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#F0E442',
  '#000000',
];

/**
 * A site's colour, the same in every chart of a page: its place among the sites in id order.
 * The run-wide series (`pooled`, `global`) are black.
 */
export function siteColour(label: string, labels: string[]): string {
  if (label === 'pooled' || label === 'global') return '#000000';
  const sites = labels
    .filter((l) => l !== 'pooled' && l !== 'global')
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return PALETTE[Math.max(0, sites.indexOf(label)) % PALETTE.length];
}

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color?: string;
  dash?: number[];
  /** Draw points only (no line): for sparse series. */
  points?: boolean;
}

interface ChartProps {
  title: string;
  x: number[];
  series: ChartSeries[];
  xLabel: string;
  yLabel: string;
  /** Fixed y range, e.g. [0, 1] for AUC. */
  yRange?: [number, number];
  xRange?: [number, number];
  /** x tick labels (rounds); default numbers. */
  xTicks?: string[];
  /** Shaded bands between pairs of series indices (1-based, as uPlot counts): confidence intervals. */
  bands?: { between: [number, number]; fill: string }[];
  height?: number;
  /** Extra label read by screen readers. */
  summary: string;
}

/** A uPlot chart that follows its container's width. */
export function Chart(props: ChartProps) {
  const holder = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = holder.current!;
    const width = () => Math.max(320, el.clientWidth);
    const { xTicks } = props;
    const plot = new uPlot(
      {
        width: width(),
        height: props.height ?? 240,
        legend: { show: true, live: false },
        scales: {
          x: { time: false, ...(props.xRange ? { range: props.xRange } : {}) },
          y: props.yRange ? { range: props.yRange } : {},
        },
        axes: [
          {
            label: props.xLabel,
            ...(xTicks
              ? {
                  splits: () => xTicks.map((_t, i) => i),
                  values: (_u: uPlot, splits: number[]) => splits.map((i) => xTicks[i] ?? ''),
                }
              : {}),
          },
          { label: props.yLabel },
        ],
        series: [
          { label: props.xLabel },
          ...props.series.map((s, i) => ({
            label: s.label,
            stroke: s.color ?? PALETTE[i % PALETTE.length],
            width: 2,
            dash: s.dash,
            spanGaps: true,
            points: { show: s.points ?? true, size: 6 },
            ...(s.points ? { paths: () => null } : {}),
          })),
        ],
        bands: props.bands?.map((b) => ({ series: b.between, fill: b.fill })),
      },
      [props.x, ...props.series.map((s) => s.values)] as uPlot.AlignedData,
      el,
    );
    const observer = new ResizeObserver(() => plot.setSize({ width: width(), height: props.height ?? 240 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [JSON.stringify(props)]);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={holder} role="img" aria-label={props.summary} />
    </figure>
  );
}
