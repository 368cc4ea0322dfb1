// `conclave election status|debug|leave|ping`: OpenIO SDS's election troubleshooting
// (seeds/openio-election-troubles.rst) for a conclave group.
import type { Command } from 'commander';
import { electionExitCode, type ElectionDebugReport, type ElectionReport } from './election-report.js';
import { emit, parseNodes, withClient, withNodeOption, type CommonFlags } from './common.js';
import { actionExitCode } from './openio-status.js';
import { bodyText, memberLabel, renderTable } from './render.js';

type NodeFlags = CommonFlags & { node?: string[] };

function statusText(r: ElectionReport): string {
  const table = renderTable(['Id', 'Status', 'Message'], r.members.map((m) => [memberLabel(m), m.status, m.message]), ['left', 'right', 'left']);
  return `${table}\n${r.verdict.text}`;
}

function debugText(r: ElectionDebugReport, human: boolean): string {
  const now = Date.now();
  const sections = r.members.map((m) => [`== ${memberLabel(m)}: ${m.status} ${m.message}`, ...(m.body ? [bodyText(m.body, human, now)] : [])].join('\n'));
  return `${sections.join('\n\n')}\n\n${r.verdict.text}`;
}

function rowsText(rows: readonly { id: string; address: string; status: number; message: string }[]): string {
  return renderTable(['Id', 'Status', 'Message'], rows.map((m) => [memberLabel(m), m.status, m.message]), ['left', 'right', 'left']);
}

export function registerElectionCommands(program: Command, common: (c: Command) => Command): void {
  const election = program.command('election').description('election troubleshooting, as OpenIO SDS has it: status, debug, leave, ping');

  common(election.command('status').description('ask every member in parallel who leads; one verdict line (exit 0 only with one leader and a reachable quorum)')).action(
    async (f: CommonFlags) => {
      const r = await withClient(f, (c) => c.electionStatus());
      emit(f, r, () => statusText(r), electionExitCode(r));
    },
  );

  common(election.command('debug').description('status plus each member\'s body: local, leader, peers, counters, quorum and override, history (newest first)').option('--human', 'dates instead of milliseconds since the epoch')).action(
    async (f: CommonFlags & { human?: boolean }) => {
      const r = await withClient(f, (c) => c.electionDebug());
      emit(f, r, () => debugText(r, f.human === true), electionExitCode(r));
    },
  );

  common(withNodeOption(election.command('leave').description('ask members to step down and start their election over'), 'a member to ask')).action(async (f: NodeFlags) => {
    const nodes = parseNodes(f.node);
    const r = await withClient(f, (c) => c.leaveElection(nodes));
    emit(f, r, () => rowsText(r.members), actionExitCode(r.members));
  });

  common(withNodeOption(election.command('ping').description('trigger an election check (a campaign where no leader is known) without waiting for its result'), 'a member to ping')).action(
    async (f: NodeFlags) => {
      const nodes = parseNodes(f.node);
      const r = await withClient(f, (c) => c.pingElection(nodes));
      emit(f, r, () => rowsText(r.members), actionExitCode(r.members));
    },
  );
}
