// Self time per function of a V8 .cpuprofile written by a bench process (--cpu-prof).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** The top `count` functions by self time of the first .cpuprofile under `dir` whose path contains `label`. */
export function profileSummary(dir: string, label: string, count = 20): string {
  const files: string[] = [];
  for (const d of readdirSync(dir, { recursive: true }) as string[]) if (d.endsWith('.cpuprofile') && d.includes(label)) files.push(join(dir, d));
  if (files.length === 0) return `(no profile under ${dir} for ${label})`;
  const prof = JSON.parse(readFileSync(files[0]!, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules|packages)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`;
    const dt = prof.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, count);
  return top.map(([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`).join('\n');
}
