// `conclave group show|add-member|remove-member|transfer-leader`: the replicated group
// metadata, and membership changes committed through the leader.
import type { Command } from 'commander';
import { parseAddress } from '@conclave/core';
import { emit, resolveEndpoints, withClient, type CommonFlags } from './common.js';
import type { GroupMemberRow, GroupReport } from './group-report.js';
import { parseMemberId } from './parse.js';
import { renderTable } from './render.js';

function overrideCell(m: GroupMemberRow): string | null {
  if (m.override === null) return null;
  if (m.override === 0) return '0';
  return `${m.override} (${m.overrideSource}${m.untilMajority ? ', until majority' : ''})`;
}

function groupText(r: GroupReport): string {
  const leader = r.leader ? `leader ${r.leader.id} (${r.leader.address}) in term ${r.leader.term}` : 'no leader';
  const head = `group ${r.groupId}: electable group size E = ${r.electableGroupSize}, ${leader} [metadata from ${r.source}]`;
  const rows = r.members.map((m) => [
    m.id,
    m.address,
    m.removed ? `${m.type}, removed` : m.type,
    m.priority,
    m.status,
    m.removed ? 'removed' : m.state ?? 'no answer',
    m.term,
    m.appliedIndex,
    overrideCell(m),
  ]);
  const table = renderTable(['Id', 'Address', 'Type', 'Priority', 'Status', 'State', 'Term', 'Applied', 'Override'], rows, ['left', 'left', 'left', 'right', 'right', 'left', 'right', 'right', 'left']);
  const silent = r.members.filter((m) => !m.removed && m.status !== null && m.state === null);
  const notes = silent.map((m) => `${m.id}: ${m.message}`);
  return [head, table, ...notes].join('\n');
}

export function registerGroupCommands(program: Command, common: (c: Command) => Command): void {
  const group = program.command('group').description('the replication group: members, electable group size, leader; membership changes');

  common(group.command('show').description("members (removed ones too), types, addresses, the electable group size, the leader, and each node's override with its source")).action(
    async (f: CommonFlags) => {
      const r = await withClient(f, (c) => c.showGroup());
      emit(f, r, () => groupText(r));
    },
  );

  common(
    group
      .command('add-member <id> <address>')
      .description('add a member (electable unless --secondary), then start it with `conclave node start --join`; a secondary already at ADDRESS is promoted')
      .option('--secondary', 'add it as a secondary (replicates, neither votes nor counts for commit)')
      .option('--force', 'add or promote an electable member even though the leader runs with an override (its quorum falls below a true majority)'),
  ).action(async (idArg: string, address: string, f: CommonFlags & { secondary?: boolean; force?: boolean }) => {
    const id = parseMemberId(idArg, 'ID');
    parseAddress(address, 'ADDRESS');
    const r = await withClient(f, (c) => c.addMember(id, address, { secondary: f.secondary === true, force: f.force === true }));
    emit(f, r, () =>
      r.change === 'promote'
        ? `OK: ${id} promoted to electable; electable group size E = ${r.electableGroupSize}`
        : `OK: ${id} (${address}) added as ${r.type === 'electable' ? 'an electable member' : 'a secondary'}; electable group size E = ${r.electableGroupSize}\n` +
          `Start it with: conclave node start --id ${id} --listen ${address} --data DIR --join ${resolveEndpoints(f.endpoint)[0]}`,
    );
  });

  common(
    group
      .command('remove-member <id>')
      .description('remove a member for good (committed through the leader; a removed id can never rejoin)')
      .option('--transfer', 'when ID is the leader, hand leadership to the most caught-up electable member first'),
  ).action(async (idArg: string, f: CommonFlags & { transfer?: boolean }) => {
    const id = parseMemberId(idArg, 'ID');
    const r = await withClient(f, (c) => c.removeMember(id, { transfer: f.transfer === true }));
    emit(f, r, () => `OK: ${r.removed} removed${r.transferredTo ? ` (leadership moved to ${r.transferredTo} first)` : ''}; electable group size E = ${r.electableGroupSize}`);
  });

  common(
    group
      .command('transfer-leader <ids...>')
      .description("JE's transferMaster: the most caught-up of the electable members IDS becomes leader, within --timeout")
      .option('--force', 'supersede a leadership transfer already under way'),
  ).action(async (idArgs: string[], f: CommonFlags & { force?: boolean }) => {
    const ids = idArgs.map((v) => parseMemberId(v, 'ID'));
    const r = await withClient(f, (c) => c.transferLeader(ids, { force: f.force === true }));
    emit(f, r, () =>
      r.alreadyLeader ? `OK: ${r.leader.id} already leads (it is one of the ids given)` : `OK: leader is now ${r.leader.id} (${r.leader.address ?? 'address unknown'}), was ${r.previous}`,
    );
  });
}
