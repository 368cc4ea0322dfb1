// Applying one KV command at its revision (its log index): the writes it adds to the apply
// batch, the changes it makes (for watch history), and its outcome.
import { InvalidArgumentError } from '@conclave/core';
import type { RawClear, RawCommand } from './command.js';
import { CommandApply, type ApplyReads } from './command-apply.js';
import type { KvSpace } from './keys.js';
import { recordValue } from './kv-record.js';
import { keysToClear } from './kv-view.js';
import type { BatchOp } from './raw-db.js';
import type { AppliedChange, CommandOutcome } from './storage-types.js';
import { applyTxn } from './txn-apply.js';
import { storedValuesEqual } from './value-equality.js';

async function keysOfClear(a: CommandApply, c: RawClear): Promise<string[]> {
  const view = a.view();
  try {
    return await keysToClear(view, c);
  } finally {
    await view.close();
  }
}

/**
 * Applies `cmd` at `revision`: adds its writes to `ops` and `batch` (the apply batch's own
 * view of the keys it wrote, which later commands read first) and its changes to `changes`,
 * and returns its outcome. Throws InvalidArgumentError, having added nothing, when the
 * command cannot be applied (then every member refuses it the same way).
 */
export async function applyCommand(
  cmd: RawCommand,
  space: KvSpace,
  revision: number,
  ops: BatchOp[],
  batch: Map<string, Buffer | null>,
  changes: AppliedChange[],
  reads: ApplyReads,
): Promise<CommandOutcome> {
  const a = new CommandApply(space, revision, batch, reads);
  const outcome = await applyOne(cmd, a);
  for (const op of a.ops) ops.push(op);
  for (const [k, v] of a.local) batch.set(k, v);
  for (const c of a.changes) changes.push(c);
  reads.leases.commit(a.leases);
  return outcome;
}

async function applyOne(cmd: RawCommand, a: CommandApply): Promise<CommandOutcome> {
  switch (cmd.op) {
    case 'put':
      await a.put(cmd.key, cmd.value, cmd.lease);
      return { op: 'put' };
    case 'del':
      await a.del(cmd.key);
      return { op: 'del' };
    case 'batch': {
      // A batch may write one key twice: the last write wins, and each is a change.
      for (const op of cmd.ops) {
        if (op.op === 'put') await a.put(op.key, op.value, op.lease);
        else await a.del(op.key);
      }
      return { op: 'batch', count: cmd.ops.length };
    }
    case 'cas': {
      const current = await a.current(cmd.key);
      const succeeded = cmd.expected === null ? current === null : current !== null && storedValuesEqual(recordValue(current), cmd.expected);
      if (succeeded) {
        if (cmd.value === null) await a.del(cmd.key, current);
        else await a.put(cmd.key, cmd.value);
      }
      return { op: 'cas', succeeded, current: current === null ? undefined : a.decode(cmd.key, current) };
    }
    case 'clear': {
      const keys = await keysOfClear(a, cmd);
      for (const k of keys) await a.del(k);
      return { op: 'clear', count: keys.length, lastKey: keys.length > 0 ? keys[keys.length - 1]! : null };
    }
    case 'txn':
      return applyTxn(cmd, a);
    case 'leaseGrant':
      // The id is the grant's revision: unique, and the same on every member without randomness.
      a.leases.grant(a.revision, cmd.ttlMs);
      return { op: 'leaseGrant', id: a.revision, ttlMs: cmd.ttlMs };
    case 'leaseRevoke': {
      if (!a.leases.exists(cmd.id)) return { op: 'leaseRevoke', id: cmd.id, found: false, deleted: 0 };
      // Its keys go in this same entry, so watchers see the deletes at the revocation's revision.
      const keys = a.leases.keysOf(cmd.id);
      for (const k of keys) await a.del(k);
      a.leases.revoke(cmd.id);
      return { op: 'leaseRevoke', id: cmd.id, found: true, deleted: keys.length };
    }
    default:
      throw new InvalidArgumentError(`unknown command ${(cmd as { op?: unknown }).op as string}`);
  }
}
