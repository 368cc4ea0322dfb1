// Where benchmarks keep their data: a directory on a real disk (never a RAM filesystem,
// where fdatasync costs nothing and every durable-write figure would be a lie).
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Filesystem {
  readonly mount: string;
  readonly type: string;
  readonly device: string;
}

/** The filesystem a path lives on, from /proc/mounts (longest matching mount point). */
export function filesystemOf(path: string): Filesystem {
  let best: Filesystem = { mount: '/', type: 'unknown', device: 'unknown' };
  try {
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mount, type] = line.split(' ');
      if (!device || !mount || !type) continue;
      if ((path === mount || path.startsWith(mount.endsWith('/') ? mount : mount + '/')) && mount.length >= best.mount.length) best = { mount, type, device };
    }
  } catch {
    // Not Linux: report unknown.
  }
  return best;
}

/** A fresh temp dir on a real disk: os.tmpdir() unless it is a RAM filesystem, then /work. */
export function benchDir(prefix: string): { dir: string; where: string } {
  const candidates = [tmpdir(), '/work'];
  for (const base of candidates) {
    try {
      if (!statSync(base).isDirectory()) continue;
    } catch {
      continue;
    }
    const fs = filesystemOf(base);
    if (fs.type === 'tmpfs' || fs.type === 'ramfs') continue;
    return { dir: mkdtempSync(join(base, prefix)), where: `${base} (${fs.type} on ${fs.device}, mounted at ${fs.mount})` };
  }
  throw new Error(`no real disk among ${candidates.join(', ')}`);
}
