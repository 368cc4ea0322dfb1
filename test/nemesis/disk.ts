// Disk faults (`--disk`): every node process runs under libfiu (`fiu-run -x`, Debian
// fiu-utils), whose POSIX preload library can make libc calls fail; the nemesis turns
// failure points on and off in one running node with `fiu-ctrl`.
//
// The failure points: fdatasync/fsync (EIO: the data may not be on disk), open (EIO or
// ENOSPC: LevelDB cannot make its next file) and write (ENOSPC: the disk is full). write()
// is the same libc call for files and sockets, so a write fault also fails the node's
// socket and pipe writes: the node loses its connections as well as its disk.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LaunchSpec } from './cluster.js';
import { systemTool } from './netns.js';

const run = promisify(execFile);
const COMMAND_TIMEOUT_MS = 10_000;

export interface DiskFault {
  readonly point: string;
  readonly errno: 'EIO' | 'ENOSPC';
}

const ERRNO = { EIO: 5, ENOSPC: 28 } as const;

export const DISK_FAULTS: readonly DiskFault[] = [
  { point: 'posix/io/sync/*', errno: 'EIO' },
  { point: 'posix/io/oc/open', errno: 'ENOSPC' },
  { point: 'posix/io/oc/open', errno: 'EIO' },
  { point: 'posix/io/rw/write', errno: 'ENOSPC' },
];

export class DiskUnavailableError extends Error {
  readonly code = 'DISK_FAULTS_UNAVAILABLE';
  constructor() {
    super('libfiu is not installed (apt-get install -y fiu-utils libfiu-dev)');
    this.name = 'DiskUnavailableError';
  }
}

export class DiskControl {
  private readonly fiuRun: string;
  private readonly fiuCtrl: string;
  private readonly prefix: string;

  constructor(dir: string) {
    const fiuRun = systemTool('fiu-run');
    const fiuCtrl = systemTool('fiu-ctrl');
    if (!fiuRun || !fiuCtrl) throw new DiskUnavailableError();
    this.fiuRun = fiuRun;
    this.fiuCtrl = fiuCtrl;
    // fiu-run makes <prefix>-<pid>.in/.out named pipes here, one pair per node process.
    this.prefix = join(dir, 'fiu-ctrl');
  }

  /** Wraps a node's launch in `fiu-run -x` (it execs the node: the pid stays the node's). */
  launcher = (_id: string, spec: LaunchSpec): LaunchSpec => ({ ...spec, cmd: this.fiuRun, args: ['-x', '-f', this.prefix, spec.cmd, ...spec.args] });

  private async ctrl(pid: number, command: string): Promise<void> {
    try {
      await run(this.fiuCtrl, ['-f', this.prefix, '-c', command, String(pid)], { timeout: COMMAND_TIMEOUT_MS });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`fiu-ctrl ${command} ${pid}: ${(e.stderr || e.message).trim()}`);
    }
  }

  async enable(pid: number, f: DiskFault): Promise<void> {
    await this.ctrl(pid, `enable name=${f.point},failinfo=${ERRNO[f.errno]}`);
  }

  async disable(pid: number, f: DiskFault): Promise<void> {
    await this.ctrl(pid, `disable name=${f.point}`);
  }
}
