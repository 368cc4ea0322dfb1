// `conclave override show|set|clear`: the electable group size override (JE HA's
// ELECTABLE_GROUP_SIZE_OVERRIDE), per node, with step 1 of the documented procedure checked
// before it is set (seeds/je-ha-election-override.txt).
import type { Command } from 'commander';
import { InvalidArgumentError } from '@conclave/core';
import { emit, parseNodes, withClient, withNodeOption, type CommonFlags } from './common.js';
import { EXIT } from './exit-codes.js';
import { actionExitCode } from './openio-status.js';
import { MajorityAnswersError, MembersMaybeAliveError, probeText, type OverrideChangeRow } from './override-report.js';
import { memberLabel, renderTable } from './render.js';

type NodeFlags = CommonFlags & { node?: string[] };

function changeText(rows: readonly OverrideChangeRow[]): string {
  return renderTable(['Id', 'Status', 'Message'], rows.map((m) => [memberLabel(m), m.status, m.message]), ['left', 'right', 'left']);
}

function parseN(v: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) {
    throw new InvalidArgumentError(`N must be an integer from 1 to the electable group size, got '${v}' (to turn the override off: conclave override clear)`);
  }
  return Number(v);
}

export function registerOverrideCommands(program: Command, common: (c: Command) => Command): void {
  const override = program.command('override').description('the electable group size override: for when a majority of the group is lost (read the JE HA procedure first)');

  common(override.command('show').description("each member's override, where it comes from, and the quorum it gives")).action(async (f: CommonFlags) => {
    const r = await withClient(f, (c) => c.showOverrides());
    emit(f, r, () => renderTable(['Id', 'Status', 'Override', 'Message'], r.members.map((m) => [memberLabel(m), m.status, m.override, m.message]), ['left', 'right', 'right', 'left']));
  });

  common(
    withNodeOption(
      override
        .command('set <n>')
        .description('set the override to N (the electable members known to be available) on the members named, or on every electable member that answers; refused while a majority of the electable members still answers')
        .option('--force', 'set it even though a majority of the electable members answers (two leaders become possible)')
        .option('--until-majority', 'each node clears its own override once a true majority of electable members is connected and caught up'),
      'a member to set it on',
    ),
  ).action(async (nArg: string, f: NodeFlags & { force?: boolean; untilMajority?: boolean }) => {
    const n = parseN(nArg);
    const nodes = parseNodes(f.node);
    try {
      const r = await withClient(f, (c) => c.setOverride(n, { ...(nodes ? { ids: nodes } : {}), force: f.force === true, untilMajority: f.untilMajority === true }));
      emit(
        f,
        r,
        () => {
          const lines = [probeText(r.probe)];
          if (r.probe.majorityAnswers) lines.push(`WARNING: --force: a majority answers, so this group can now elect two leaders; clear the override as soon as you can`);
          if (r.probe.unresponsive.length > 0) lines.push(`WARNING: --force: ${r.probe.unresponsive.join(', ')} may be alive behind a partition; if so, the side whose leader has the higher term wins when it heals and the other side's writes are rolled back`);
          const a = r.probe.answering.length;
          if (a !== n) lines.push(`note: ${a} electable member${a === 1 ? ' answers' : 's answer'} and N = ${n}; the procedure sets N to the number of electable members known to be available`);
          return [...lines, changeText(r.members)].join('\n');
        },
        actionExitCode(r.members),
      );
    } catch (err) {
      if (!(err instanceof MajorityAnswersError) && !(err instanceof MembersMaybeAliveError)) throw err;
      if (f.json) console.log(JSON.stringify({ ok: false, error: { code: err.code, message: err.message }, probe: err.probe }));
      else console.log(probeText(err.probe));
      console.error(`conclave: ${err.message} [${err.code}]`);
      process.exitCode = EXIT.failed;
    }
  });

  common(withNodeOption(override.command('clear').description('turn the override off (0) on the members named, or on every member that answers'), 'a member to clear it on')).action(async (f: NodeFlags) => {
    const nodes = parseNodes(f.node);
    const r = await withClient(f, (c) => c.clearOverride(nodes));
    emit(f, r, () => changeText(r.members), actionExitCode(r.members));
  });
}
