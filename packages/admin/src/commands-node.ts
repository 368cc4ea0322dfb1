// `conclave node start`: one node in this process, until SIGINT or SIGTERM.
import type { Command } from 'commander';
import { InvalidArgumentError } from '@conclave/core';
import type { OpenNodeOptions } from 'conclave';
import { emit, parseNodes, withClient, withCommonOptions, type CommonFlags } from './common.js';
import { actionExitCode } from './openio-status.js';
import { parseIntArg, parsePeers, readSecretFile } from './parse.js';
import { renderTable, memberLabel } from './render.js';

interface StartFlags {
  id: string;
  data: string;
  listen: string;
  peers?: string;
  join?: string;
  group?: string;
  secretFile?: string;
  adminSecretFile?: string;
  override?: string;
  tickMs?: string;
  electionTicks?: string;
  syncPolicy?: string;
  snapshotInterval?: string;
  entriesKept?: string;
  enableFaultInjection?: boolean;
  rollbackLimit?: string;
  acceptRollback?: boolean;
  logFormat?: string;
  logLevel?: string;
}

const LOG_FORMATS = ['pretty', 'json'] as const;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description('run a node');
  node
    .command('start')
    .description('start a node in this process (Ctrl-C stops it cleanly)')
    .requiredOption('--id <id>', 'this node id')
    .requiredOption('--data <dir>', 'data directory')
    .requiredOption('--listen <host:port>', 'address for peers and admin requests')
    .option('--peers <list>', 'initial members, ID=HOST:PORT,... (empty data directory only)')
    .option('--join <host:port>', 'join the group of this running member as a secondary')
    .option('--group <id>', 'group id', 'conclave')
    .option('--secret-file <file>', 'file holding the cluster secret')
    .option('--admin-secret-file <file>', 'file holding the admin secret')
    .option('--override <n>', 'electable group size override (0 = off)')
    .option('--tick-ms <ms>', 'tick interval', '100')
    .option('--election-ticks <n>', 'ticks without a leader before campaigning', '10')
    .option('--sync-policy <policy>', 'sync | writeNoSync | noSync', 'sync')
    .option('--snapshot-interval <entries>', 'take a snapshot every this many applied entries')
    .option('--entries-kept <n>', 'log entries kept behind each snapshot')
    .option('--enable-fault-injection', 'serve the test.faults admin method (partitions, drops, delays): tests and the nemesis only')
    .option('--rollback-limit <n>', 'committed writes this node may roll back on its own after a split brain (JE TXN_ROLLBACK_LIMIT)', '10')
    .option('--accept-rollback', 'accept rolling back any number of diverged committed writes')
    .option('--log-format <format>', 'pretty (readable lines) or json (one JSON object a line); default: pretty on a terminal, json otherwise')
    .option('--log-level <level>', 'trace | debug | info | warn | error | fatal | silent', 'info')
    .action(async (f: StartFlags) => {
      const logFormat = f.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json');
      if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) throw new InvalidArgumentError(`--log-format must be pretty or json, got '${logFormat}'`);
      const logLevel = f.logLevel ?? 'info';
      if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new InvalidArgumentError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
      const options: OpenNodeOptions = {
        id: f.id,
        dataDir: f.data,
        listen: f.listen,
        groupId: f.group ?? 'conclave',
        tickMs: parseIntArg('--tick-ms', f.tickMs ?? '100', 1, 60_000),
        electionTicks: parseIntArg('--election-ticks', f.electionTicks ?? '10', 2, 1000),
        ...(f.snapshotInterval ? { snapshotIntervalEntries: parseIntArg('--snapshot-interval', f.snapshotInterval, 1) } : {}),
        ...(f.entriesKept ? { entriesKeptAfterSnapshot: parseIntArg('--entries-kept', f.entriesKept, 0) } : {}),
        ...(f.enableFaultInjection ? { enableFaultInjection: true } : {}),
        rollbackLimit: parseIntArg('--rollback-limit', f.rollbackLimit ?? '10', 0),
        ...(f.acceptRollback ? { acceptRollback: true } : {}),
        ...(f.peers ? { peers: parsePeers(f.peers) } : {}),
        ...(f.join ? { join: f.join } : {}),
        ...(f.secretFile ? { secret: readSecretFile(f.secretFile, '--secret-file') } : {}),
        ...(f.adminSecretFile ? { adminSecret: readSecretFile(f.adminSecretFile, '--admin-secret-file') } : {}),
        ...(f.override !== undefined ? { electableGroupSizeOverride: parseIntArg('--override', f.override, 0, 1000) } : {}),
      };
      if (f.syncPolicy !== undefined) {
        if (!['sync', 'writeNoSync', 'noSync'].includes(f.syncPolicy)) throw new InvalidArgumentError(`--sync-policy must be sync, writeNoSync or noSync, got '${f.syncPolicy}'`);
        (options as { syncPolicy?: string }).syncPolicy = f.syncPolicy;
      }
      // Loaded here, not at the top: the node (storage, transport) and the logger are not needed for --help.
      const logger = await nodeLogger(logFormat as 'pretty' | 'json', logLevel);
      const { openNode } = await import('conclave');
      const n = await openNode({ ...options, logger });
      // The node logs its own events (node_started, leader_elected, override_set, rollback, ...).
      n.on('error', (e) => {
        logger.fatal({ nodeId: n.id, event: 'node_exit', code: (e as { code?: string }).code }, `fatal: ${e.message}`);
        process.exit(1);
      });
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await n.close();
    });

  withCommonOptions(
    node
      .command('accept-rollback')
      .description('accept the rollback a diverged member refused (ROLLBACK_PROHIBITED or DIVERGED_WITHOUT_OVERRIDE): it discards its diverged committed writes, listed in its report file, and follows the leader')
      .requiredOption('--node <id>', 'the member to roll back (repeatable)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .option('--yes', 'confirm: the diverged committed writes are discarded'),
  ).action(async (f: CommonFlags & { node: string[]; yes?: boolean }) => {
    const ids = parseNodes(f.node)!;
    if (f.yes !== true) {
      throw new InvalidArgumentError(`accept-rollback discards the diverged committed writes of ${ids.join(', ')} (listed in its rollbacks/ report first); run it again with --yes to confirm`);
    }
    const r = await withClient(f, (c) => c.acceptRollback(ids));
    emit(f, r, () => renderTable(['Id', 'Status', 'Message'], r.members.map((m) => [memberLabel(m), m.status, m.message]), ['left', 'right', 'left']), actionExitCode(r.members));
  });
}

/** pino, as JSON lines on stdout or through pino-pretty (synchronously, in this thread: nothing is lost at exit). */
async function nodeLogger(format: 'pretty' | 'json', level: string): Promise<import('pino').Logger> {
  const { pino } = await import('pino');
  if (format === 'json') return pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 1, sync: true }));
  const { default: pretty } = await import('pino-pretty');
  return pino({ level }, pretty({ colorize: process.stdout.isTTY === true, sync: true, ignore: 'pid,hostname', messageKey: 'msg', messageFormat: '[{nodeId}] term {term} {role} {event}: {msg}', hideObject: true, translateTime: 'HH:MM:ss.l' }));
}
