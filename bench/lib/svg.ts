// The benchmark's chart as a standalone SVG, drawn by hand (no browser, no chart library):
// one row per value size; left, commit-ack latency per configuration and writes in flight
// (bar = p50, whisker = p99, dot = p99.9, log scale, the floor dashed); right, throughput
// against writes in flight.
import { CONFIG_IDS, CONFIGS, findCell, sizeLabel, type BenchResults, type ConfigId } from './configs.js';

const PANEL_W = 560;
const PANEL_H = 300;
const MARGIN = { left: 70, right: 20, top: 34, bottom: 44 };
const GAP_X = 40;
const HEADER_H = 110;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

class Svg {
  private readonly parts: string[] = [];
  line(x1: number, y1: number, x2: number, y2: number, stroke: string, extra = ''): void {
    this.parts.push(`<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${stroke}" ${extra}/>`);
  }
  rect(x: number, y: number, w: number, h: number, fill: string, extra = ''): void {
    this.parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0, w).toFixed(1)}" height="${Math.max(0, h).toFixed(1)}" fill="${fill}" ${extra}/>`);
  }
  circle(x: number, y: number, r: number, fill: string, extra = ''): void {
    this.parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r}" fill="${fill}" ${extra}/>`);
  }
  text(x: number, y: number, s: string, extra = ''): void {
    this.parts.push(`<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${extra}>${esc(s)}</text>`);
  }
  polyline(points: [number, number][], stroke: string): void {
    this.parts.push(`<polyline fill="none" stroke="${stroke}" stroke-width="2" points="${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
  }
  toString(width: number, height: number): string {
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
      `<rect width="${width}" height="${height}" fill="white"/>`,
      ...this.parts,
      '</svg>',
    ].join('\n');
  }
}

/** 1, 2, 5 steps covering [lo, hi] on a log axis. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let decade = 10 ** Math.floor(Math.log10(lo)); decade <= hi * 10 && out.length < 40; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const v = decade * m;
      if (v >= lo && v <= hi) out.push(v);
    }
  }
  return out;
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(v, 1)));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function latencyLabel(us: number): string {
  return us >= 1000 ? `${us / 1000} ms` : `${us} µs`;
}

function latencyPanel(svg: Svg, r: BenchResults, sizeBytes: number, configs: readonly ConfigId[], inflights: readonly number[], x0: number, y0: number): void {
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const left = x0 + MARGIN.left;
  const top = y0 + MARGIN.top;
  const cells = r.cells.filter((c) => c.sizeBytes === sizeBytes && c.latency.count > 0);
  const values = cells.flatMap((c) => [c.latency.p50Us, c.latency.p999Us]).concat([r.floor.p50Us]);
  const lo = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...values))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values) * 1.05));
  const y = (us: number): number => top + h - ((Math.log10(Math.max(us, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * h;
  svg.text(x0 + PANEL_W / 2, y0 + 18, `commit-ack latency, ${sizeLabel(sizeBytes)} values`, 'text-anchor="middle" font-weight="bold" font-size="13"');
  for (const t of logTicks(lo, hi)) {
    svg.line(left, y(t), left + w, y(t), '#e5e5e5');
    svg.text(left - 6, y(t) + 4, latencyLabel(t), 'text-anchor="end" fill="#555"');
  }
  const groupW = w / inflights.length;
  // Slots only for the configurations measured at this size (quick runs measure some at 100 B only).
  const here = configs.filter((c) => r.cells.some((x) => x.config === c && x.sizeBytes === sizeBytes));
  const slotW = (groupW * 0.8) / Math.max(1, here.length);
  inflights.forEach((inflight, gi) => {
    const gx = left + gi * groupW + groupW * 0.1;
    svg.text(left + gi * groupW + groupW / 2, top + h + 18, `${inflight}`, 'text-anchor="middle"');
    here.forEach((config, ci) => {
      const cx = gx + ci * slotW + slotW / 2;
      const c = findCell(cells, config, sizeBytes, inflight);
      if (!c) {
        // Ran, but no write succeeded: say so rather than leave a gap that reads as "not run".
        if (findCell(r.cells, config, sizeBytes, inflight)) svg.text(cx, top + h - 4, '✗', `text-anchor="middle" fill="${CONFIGS[config].color}" font-size="14"`);
        return;
      }
      const color = CONFIGS[config].color;
      svg.rect(gx + ci * slotW + 1, y(c.latency.p50Us), slotW - 2, top + h - y(c.latency.p50Us), color, 'fill-opacity="0.75"');
      svg.line(cx, y(c.latency.p50Us), cx, y(c.latency.p99Us), color, 'stroke-width="1.5"');
      svg.line(cx - slotW / 4, y(c.latency.p99Us), cx + slotW / 4, y(c.latency.p99Us), color, 'stroke-width="1.5"');
      svg.circle(cx, y(c.latency.p999Us), 2.5, color);
    });
  });
  svg.line(left, y(r.floor.p50Us), left + w, y(r.floor.p50Us), '#000', 'stroke-dasharray="5,4"');
  svg.text(left + w - 4, y(r.floor.p50Us) - 4, `floor ${latencyLabel(Math.round(r.floor.p50Us))}`, 'text-anchor="end" fill="#000" font-size="11"');
  svg.line(left, top + h, left + w, top + h, '#333');
  svg.line(left, top, left, top + h, '#333');
  svg.text(left + w / 2, top + h + 36, 'writes in flight', 'text-anchor="middle" fill="#333"');
}

function throughputPanel(svg: Svg, r: BenchResults, sizeBytes: number, configs: readonly ConfigId[], inflights: readonly number[], x0: number, y0: number): void {
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const left = x0 + MARGIN.left;
  const top = y0 + MARGIN.top;
  const cells = r.cells.filter((c) => c.sizeBytes === sizeBytes && c.ops > 0);
  const max = niceMax(Math.max(1, ...cells.map((c) => c.opsPerS)));
  const y = (v: number): number => top + h - (v / max) * h;
  const x = (i: number): number => left + (inflights.length === 1 ? w / 2 : (i / (inflights.length - 1)) * (w - 40) + 20);
  svg.text(x0 + PANEL_W / 2, y0 + 18, `throughput, ${sizeLabel(sizeBytes)} values`, 'text-anchor="middle" font-weight="bold" font-size="13"');
  for (let k = 0; k <= 5; k++) {
    const v = (max * k) / 5;
    svg.line(left, y(v), left + w, y(v), '#e5e5e5');
    svg.text(left - 6, y(v) + 4, Math.round(v).toLocaleString('en-US'), 'text-anchor="end" fill="#555"');
  }
  inflights.forEach((inflight, i) => svg.text(x(i), top + h + 18, `${inflight}`, 'text-anchor="middle"'));
  for (const config of configs) {
    const pts: [number, number][] = [];
    inflights.forEach((inflight, i) => {
      const c = findCell(cells, config, sizeBytes, inflight);
      if (c) pts.push([x(i), y(c.opsPerS)]);
    });
    if (pts.length === 0) continue;
    svg.polyline(pts, CONFIGS[config].color);
    for (const [px, py] of pts) svg.circle(px, py, 3.5, CONFIGS[config].color);
  }
  svg.line(left, top + h, left + w, top + h, '#333');
  svg.line(left, top, left, top + h, '#333');
  svg.text(left + w / 2, top + h + 36, 'writes in flight', 'text-anchor="middle" fill="#333"');
  svg.text(x0 + 16, top + h / 2, 'writes/s', `text-anchor="middle" fill="#333" transform="rotate(-90 ${x0 + 16} ${top + h / 2})"`);
}

export function renderChart(r: BenchResults): string {
  const sizes = [...new Set(r.cells.map((c) => c.sizeBytes))].sort((a, b) => a - b);
  const inflights = [...new Set(r.cells.map((c) => c.inflight))].sort((a, b) => a - b);
  const configs = CONFIG_IDS.filter((id) => r.cells.some((c) => c.config === id));
  const width = PANEL_W * 2 + GAP_X;
  const height = HEADER_H + sizes.length * PANEL_H + 10;
  const svg = new Svg();
  svg.text(16, 26, `conclave commit-ack benchmark, ${r.at}${r.quick ? ' (quick)' : ''}`, 'font-weight="bold" font-size="16"');
  svg.text(16, 46, `${r.machine.cpus} CPUs, node ${r.machine.node}, disk ${r.machine.disk}; every write durable (fsync) on a quorum; floor = fdatasync p50 + ws round trip p50 = ${latencyLabel(Math.round(r.floor.p50Us))}`, 'fill="#333"');
  configs.forEach((id, i) => {
    const lx = 16 + (i % 3) * 380;
    const ly = 66 + Math.floor(i / 3) * 18;
    svg.rect(lx, ly - 10, 14, 10, CONFIGS[id].color);
    svg.text(lx + 20, ly, CONFIGS[id].label);
  });
  svg.text(width - 16, 102, 'latency: bar = p50, whisker = p99, dot = p99.9 (log scale); ✗ = every write failed', 'text-anchor="end" fill="#555" font-size="11"');
  sizes.forEach((size, row) => {
    const y0 = HEADER_H + row * PANEL_H;
    latencyPanel(svg, r, size, configs, inflights, 0, y0);
    throughputPanel(svg, r, size, configs, inflights, PANEL_W + GAP_X, y0);
  });
  return svg.toString(width, height);
}
