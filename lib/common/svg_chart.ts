/**
 * Dependency-free SVG charts for results people would rather see than read: line charts with several series
 * (miss-ratio curves, latency CDFs, dirty data over time, benchmark throughput) and grouped bar charts.
 *
 * @module
 */

/** One line of a line chart. */
export interface Series {
  /** Legend label. */
  name: string;
  /** Points as [x, y]. */
  points: ReadonlyArray<readonly [number, number]>;
}

/** Options for {@linkcode lineChart}. */
export interface LineChartOptions {
  /** Heading drawn above the plot. */
  title: string;
  /** Label under the x axis. */
  xLabel: string;
  /** Label beside the y axis. */
  yLabel: string;
  /** Log-scale x axis (values must be > 0). */
  logX?: boolean;
  /** SVG width in pixels (default 760). */
  width?: number;
  /** SVG height in pixels (default 440). */
  height?: number;
  /** Force the y range, e.g. [0, 1] for ratios. */
  yRange?: readonly [number, number];
  /** Draw points as steps (for CDFs). */
  step?: boolean;
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];

/** Escape text for SVG/XML. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(3));
}

/** Render a line chart as a standalone SVG document. */
export function lineChart(series: readonly Series[], options: LineChartOptions): string {
  const W = options.width ?? 760, H = options.height ?? 440;
  const m = { l: 70, r: 170, t: 40, b: 55 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  const all = series.flatMap((s) => s.points);
  const tx = (x: number) => (options.logX ? Math.log10(Math.max(x, 1e-12)) : x);
  let x0 = Math.min(...all.map((p) => tx(p[0]))), x1 = Math.max(...all.map((p) => tx(p[0])));
  let [y0, y1] = options.yRange ?? [Math.min(0, ...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (!Number.isFinite(x0) || !Number.isFinite(x1)) [x0, x1] = [0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (!Number.isFinite(y0) || !Number.isFinite(y1)) [y0, y1] = [0, 1];
  if (y1 === y0) y1 = y0 + 1;
  const sx = (x: number) => m.l + ((tx(x) - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2 - m.r / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${
      escapeXml(options.title)
    }</text>`,
  );
  const xt = options.logX
    ? Array.from({ length: Math.floor(x1) - Math.ceil(x0) + 1 }, (_, i) => 10 ** (Math.ceil(x0) + i))
    : niceTicks(x0, x1);
  for (const v of xt) {
    const x = sx(v);
    out.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${m.t + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${m.t + ph + 16}" text-anchor="middle">${fmtTick(v)}</text>`);
  }
  for (const v of niceTicks(y0, y1)) {
    const y = sy(v);
    out.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 6}" y="${y + 4}" text-anchor="end">${fmtTick(v)}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  out.push(
    `<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${
      escapeXml(options.yLabel)
    }</text>`,
  );
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    let d = "";
    let prevY: number | undefined;
    for (const [x, y] of s.points) {
      const px = sx(x).toFixed(1), py = sy(y).toFixed(1);
      if (d === "") d = `M${px},${py}`;
      else if (options.step && prevY !== undefined) d += ` L${px},${prevY} L${px},${py}`;
      else d += ` L${px},${py}`;
      prevY = Number(py);
    }
    if (d) out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const ly = m.t + 10 + i * 18;
    out.push(
      `<line x1="${m.l + pw + 12}" y1="${ly}" x2="${m.l + pw + 32}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
    );
    out.push(`<text x="${m.l + pw + 38}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/** One group of a bar chart: a label and one value per series. */
export interface BarGroup {
  /** Text under the group. */
  label: string;
  /** One bar height per series, in `seriesNames` order; non-finite values draw no bar. */
  values: readonly number[];
}

/** Render a grouped bar chart (e.g. benchmark results: one group per case, one bar per implementation). */
export function barChart(
  groups: readonly BarGroup[],
  options: { title: string; yLabel: string; seriesNames: readonly string[]; width?: number; height?: number },
): string {
  const W = options.width ?? Math.max(520, 120 + groups.length * 110), H = options.height ?? 420;
  const m = { l: 70, r: 160, t: 40, b: 80 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  const ymax = Math.max(1e-12, ...groups.flatMap((g) => g.values.filter(Number.isFinite)));
  const ticks = niceTicks(0, ymax);
  const top = Math.max(ymax, ticks[ticks.length - 1]);
  const sy = (y: number) => m.t + ph - (y / top) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2 - m.r / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${
      escapeXml(options.title)
    }</text>`,
  ];
  for (const v of ticks) {
    out.push(`<line x1="${m.l}" y1="${sy(v)}" x2="${m.l + pw}" y2="${sy(v)}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 6}" y="${sy(v) + 4}" text-anchor="end">${fmtTick(v)}</text>`);
  }
  const gw = pw / Math.max(1, groups.length);
  const n = options.seriesNames.length;
  const bw = (gw * 0.8) / Math.max(1, n);
  groups.forEach((g, gi) => {
    const gx = m.l + gi * gw + gw * 0.1;
    g.values.forEach((v, si) => {
      if (!Number.isFinite(v)) return;
      const x = gx + si * bw;
      out.push(
        `<rect x="${x.toFixed(1)}" y="${sy(v).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${
          (m.t + ph - sy(v)).toFixed(1)
        }" fill="${PALETTE[si % PALETTE.length]}"><title>${
          escapeXml(`${options.seriesNames[si]}: ${v}`)
        }</title></rect>`,
      );
    });
    out.push(
      `<text transform="translate(${gx + gw * 0.4} ${m.t + ph + 14}) rotate(20)" font-size="11">${
        escapeXml(g.label)
      }</text>`,
    );
  });
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(
    `<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${
      escapeXml(options.yLabel)
    }</text>`,
  );
  options.seriesNames.forEach((s, i) => {
    const ly = m.t + 10 + i * 18;
    out.push(`<rect x="${m.l + pw + 12}" y="${ly - 6}" width="14" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`);
    out.push(`<text x="${m.l + pw + 32}" y="${ly + 4}">${escapeXml(s)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
