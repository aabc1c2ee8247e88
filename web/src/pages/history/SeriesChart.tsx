// A time-series chart on uPlot (loaded lazily with its CSS), coloured from the theme's CSS
// variables and redrawn when the theme changes. The canvas is one image for assistive
// technology, named by the chart's title and a summary in words; the page offers the
// numbers as a table as well.
import { useEffect, useRef, useState } from 'react';
import type uPlot from 'uplot';

type UPlotClass = typeof uPlot;
let uplotLoad: Promise<UPlotClass> | null = null;

function loadUPlot(): Promise<UPlotClass> {
  uplotLoad ??= Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(
    // The ESM build has a default export; its typings use `export =`.
    ([m]) => ((m as unknown as { default?: UPlotClass }).default ?? (m as unknown as UPlotClass)),
  );
  return uplotLoad;
}

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  /** A theme colour variable (`--ok`). */
  colorVar: string;
  bars?: boolean;
  dash?: boolean;
}

/** Bumps whenever the theme (the `dark` class on <html>) changes. */
function useThemeVersion(): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const observer = new MutationObserver(() => setVersion((v) => v + 1));
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ['class'] });
    return () => observer.disconnect();
  }, []);
  return version;
}

/** Indices of values with no neighbour on either side (drawn as dots, not lines). */
function isolated(values: (number | null)[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (values[i] === null) continue;
    if ((i === 0 || values[i - 1] === null) && (i === values.length - 1 || values[i + 1] === null)) out.push(i);
  }
  return out;
}

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export function SeriesChart({
  id,
  title,
  summary,
  x,
  series,
  xRange,
  yRange,
  format,
  height = 180,
}: {
  id: string;
  title: string;
  summary: string;
  /** Bucket starts, seconds since the epoch. */
  x: number[];
  series: ChartSeries[];
  xRange: [number, number];
  yRange?: [number, number];
  format: (value: number) => string;
  height?: number;
}) {
  const container = useRef<HTMLDivElement>(null);
  const themeVersion = useThemeVersion();
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    let chart: uPlot | null = null;
    let observer: ResizeObserver | null = null;
    let cancelled = false;
    void loadUPlot()
      .then((UPlot) => {
        const element = container.current;
        if (cancelled || !element) return;
        const foreground = cssVar('--muted-foreground', '#666');
        const grid = cssVar('--border', '#ddd');
        const options: uPlot.Options = {
          width: Math.max(200, element.clientWidth),
          height,
          legend: { show: true, live: true },
          cursor: { drag: { x: false, y: false } },
          scales: {
            x: { time: true, range: () => xRange },
            y: yRange ? { range: () => yRange } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
          },
          axes: [
            { stroke: foreground, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
            {
              stroke: foreground,
              grid: { stroke: grid, width: 1 },
              ticks: { stroke: grid, width: 1 },
              size: 64,
              values: (_u, splits) => splits.map((v) => format(v)),
            },
          ],
          series: [
            {},
            ...series.map((s): uPlot.Series => {
              const colour = cssVar(s.colorVar, '#36c');
              return {
                label: s.label,
                stroke: colour,
                width: 2,
                dash: s.dash ? [6, 4] : undefined,
                fill: s.bars ? colour : undefined,
                paths: s.bars ? UPlot.paths.bars?.({ size: [0.7, 40] }) : undefined,
                // Dense lines hide their points; a bucket between two gaps still shows as a dot.
                points: {
                  show: x.length <= 60,
                  size: 5,
                  fill: colour,
                  filter: (_u, _i, show) => (show || s.bars ? null : isolated(s.values)),
                },
                spanGaps: false,
                value: (_u, v) => (v === null || v === undefined ? '—' : format(v)),
              };
            }),
          ],
        };
        const data = [x, ...series.map((s) => s.values)] as uPlot.AlignedData;
        chart = new UPlot(options, data, element);
        observer = new ResizeObserver(() => {
          if (chart && element.clientWidth > 0) chart.setSize({ width: element.clientWidth, height });
        });
        observer.observe(element);
      })
      .catch(() => {
        if (!cancelled) setFailed(true);
      });
    return () => {
      cancelled = true;
      observer?.disconnect();
      chart?.destroy();
    };
    // Rebuilt when the data or the theme changes; the inputs are new arrays per fetch.
  }, [x, series, xRange, yRange, format, height, themeVersion]);

  return (
    <figure className="flex min-w-0 flex-col gap-1" aria-labelledby={`chart-${id}-title`}>
      <figcaption>
        <h3 id={`chart-${id}-title`} className="text-sm font-semibold">
          {title}
        </h3>
        <p className="text-xs text-muted-foreground" data-testid={`chart-${id}-summary`}>
          {summary}
        </p>
      </figcaption>
      <div
        ref={container}
        role="img"
        aria-label={`${title}. ${summary}`}
        data-testid={`chart-${id}`}
        className="w-full overflow-hidden text-xs text-foreground"
        style={{ minHeight: height + 30 }}
      >
        {failed && <span className="sr-only">{summary}</span>}
      </div>
    </figure>
  );
}
