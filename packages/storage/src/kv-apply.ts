// Applying one KV command: the writes it adds to the apply batch and its outcome.
import type { RawClear, RawCommand } from './command.js';
import { kvKey, type KvSpace } from './keys.js';
import type { BatchOp } from './raw-db.js';
import type { CommandOutcome } from './storage-types.js';
import { storedValuesEqual } from './value-equality.js';

/**
 * Adds a command's writes to `ops` (and to `changes`, the batch's own view of the keys it
 * wrote, which later commands in the same batch read first) and returns its outcome.
 */
export async function applyCommand(
  cmd: RawCommand,
  space: KvSpace,
  ops: BatchOp[],
  changes: Map<string, Buffer | null>,
  readStored: (key: string, space: KvSpace) => Promise<Buffer | null>,
  decodeStored: (key: string, bytes: Uint8Array) => unknown,
  /** The keys a clear deletes: the first `limit` of its range in the state so far (changes included). */
  clearKeys: (c: RawClear) => Promise<string[]>,
): Promise<CommandOutcome> {
  const put = (key: string, value: Uint8Array): void => {
    const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    ops.push({ type: 'put', key: kvKey(space, key), value: bytes });
    changes.set(key, bytes);
  };
  const del = (key: string): void => {
    ops.push({ type: 'del', key: kvKey(space, key) });
    changes.set(key, null);
  };
  switch (cmd.op) {
    case 'put':
      put(cmd.key, cmd.value);
      return { op: 'put' };
    case 'del':
      del(cmd.key);
      return { op: 'del' };
    case 'batch':
      for (const op of cmd.ops) {
        if (op.op === 'put') put(op.key, op.value);
        else del(op.key);
      }
      return { op: 'batch', count: cmd.ops.length };
    case 'cas': {
      const current = changes.has(cmd.key) ? changes.get(cmd.key)! : await readStored(cmd.key, space);
      const succeeded = cmd.expected === null ? current === null : current !== null && storedValuesEqual(current, cmd.expected);
      if (succeeded) {
        if (cmd.value === null) del(cmd.key);
        else put(cmd.key, cmd.value);
      }
      return { op: 'cas', succeeded, current: current === null ? undefined : decodeStored(cmd.key, current) };
    }
    case 'clear': {
      const keys = await clearKeys(cmd);
      for (const k of keys) del(k);
      return { op: 'clear', count: keys.length, lastKey: keys.length > 0 ? keys[keys.length - 1]! : null };
    }
  }
}
