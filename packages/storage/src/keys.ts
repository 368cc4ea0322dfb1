// The key layout of one node's LevelDB. Each key space is a one-byte prefix, so a key
// space is a contiguous byte range and can be iterated or cleared as a range.
//
//   0x00 <ascii name>        meta records: format marker, hard state, group, applied index,
//                            snapshot meta, compaction point, active KV space, install marker
//   0x01 <ascii name>        local node settings (never replicated)
//   0x02 <u64 big-endian>    the Raft log; big-endian so byte order is index order
//   0x03 <u32 BE generation> <utf8 key>
//                            the KV state machine, one generation per key space
//   0x04 <u64 big-endian> <u32 size> <u64 refs...>
//                            watch history: the changes applied at each revision (history.ts)
//
// Exactly one KV generation is active. Each snapshot install stages into a generation
// never used before (META_KV_NEXT only grows, fsynced before the first staged write), so
// a staged space never holds keys of an older state, even when the unsynced clear of
// that older state was lost in a power cut. Keys order by their UTF-8 bytes.

export const PREFIX_META = 0x00;
export const PREFIX_SETTINGS = 0x01;
export const PREFIX_LOG = 0x02;
export const PREFIX_KV = 0x03;
export const PREFIX_HISTORY = 0x04;
export const KV_PREFIX_BYTES = 5;

/** A KV key-space generation: an integer in [0, MAX_KV_GENERATION]. */
export type KvSpace = number;
export const MAX_KV_GENERATION = 0xffff_fffe;

export function isKvSpace(v: unknown): v is KvSpace {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_KV_GENERATION;
}

/** The bytes every key of generation `space` starts with. */
export function kvPrefix(space: KvSpace): Buffer {
  const out = Buffer.allocUnsafe(KV_PREFIX_BYTES);
  out[0] = PREFIX_KV;
  out.writeUInt32BE(space, 1);
  return out;
}

function named(prefix: number, name: string): Buffer {
  const key = Buffer.allocUnsafe(1 + name.length);
  key[0] = prefix;
  key.write(name, 1, 'latin1');
  return key;
}

export const META_FORMAT = named(PREFIX_META, 'format');
export const META_HARD_STATE = named(PREFIX_META, 'hardState');
export const META_GROUP = named(PREFIX_META, 'group');
export const META_APPLIED = named(PREFIX_META, 'applied');
export const META_SNAPSHOT = named(PREFIX_META, 'snapshot');
export const META_COMPACTED = named(PREFIX_META, 'compacted');
export const META_KV_SPACE = named(PREFIX_META, 'kvSpace');
export const META_INSTALL = named(PREFIX_META, 'install');
/** The first revision whose changes the watch history holds whole. */
export const META_HISTORY_START = named(PREFIX_META, 'historyStart');
/** The lowest KV generation never handed out. */
export const META_KV_NEXT = named(PREFIX_META, 'kvNext');

export function settingKey(name: string): Buffer {
  return named(PREFIX_SETTINGS, name);
}

export const SETTINGS_RANGE = { gte: Buffer.from([PREFIX_SETTINGS]), lt: Buffer.from([PREFIX_SETTINGS + 1]) };

export function settingName(key: Buffer): string {
  return key.toString('latin1', 1);
}

export const LOG_KEY_BYTES = 9;

/** Log key: prefix + 8-byte big-endian index (indexes stay below 2^53). */
export function logKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(LOG_KEY_BYTES);
  key[0] = PREFIX_LOG;
  key.writeUInt32BE(Math.floor(index / 0x1_0000_0000), 1);
  key.writeUInt32BE(index >>> 0, 5);
  return key;
}

/** The index of a log key, or -1 when the key is not a well-formed log key. */
export function logIndexOf(key: Buffer): number {
  if (key.length !== LOG_KEY_BYTES || key[0] !== PREFIX_LOG) return -1;
  return key.readUInt32BE(1) * 0x1_0000_0000 + key.readUInt32BE(5);
}

export const LOG_RANGE = { gte: Buffer.from([PREFIX_LOG]), lt: Buffer.from([PREFIX_LOG + 1]) };

export function kvKey(space: KvSpace, key: string): Buffer {
  const length = Buffer.byteLength(key, 'utf8');
  const out = Buffer.allocUnsafe(KV_PREFIX_BYTES + length);
  out[0] = PREFIX_KV;
  out.writeUInt32BE(space, 1);
  out.write(key, KV_PREFIX_BYTES, 'utf8');
  return out;
}

export function kvRange(space: KvSpace): { gte: Buffer; lt: Buffer } {
  return { gte: kvPrefix(space), lt: kvPrefix(space + 1) };
}

/** The ranges of every KV generation except `space`: what is left of other states. */
export function otherKvRanges(space: KvSpace): { gte: Buffer; lt: Buffer }[] {
  return [
    { gte: Buffer.from([PREFIX_KV]), lt: kvPrefix(space) },
    { gte: kvPrefix(space + 1), lt: Buffer.from([PREFIX_KV + 1]) },
  ];
}

export function userKeyOf(key: Buffer): string {
  return key.toString('utf8', KV_PREFIX_BYTES);
}

const HISTORY_KEY_BYTES = LOG_KEY_BYTES + 4;

/**
 * History key: prefix + 8-byte big-endian revision + 4-byte size of the record, then the
 * revisions (8 bytes each, big-endian) of the older records whose values this one refers to
 * as previous values (history.ts). The size and the references are in the key so that
 * opening a node learns the history's sizes and pins from its keys alone, without reading
 * records that hold whole values (test/memory/boot-rss). Keys without references (13 bytes)
 * are those every format version wrote.
 */
export function historyKey(revision: number, sizeBytes: number, refs: readonly number[] | null = null): Buffer {
  const key = Buffer.alloc(HISTORY_KEY_BYTES + (refs === null ? 0 : refs.length * 8));
  logKey(revision).copy(key);
  key[0] = PREFIX_HISTORY;
  key.writeUInt32BE(Math.min(sizeBytes, 0xffff_ffff), LOG_KEY_BYTES); // accounting only: a larger record counts as 4 GiB
  if (refs !== null) for (let i = 0; i < refs.length; i++) logKey(refs[i]!).copy(key, HISTORY_KEY_BYTES + i * 8, 1);
  return key;
}

/** The first history key of `revision` or later (a range bound). */
export function historyBound(revision: number): Buffer {
  return historyKey(revision, 0);
}

function isHistoryKey(key: Buffer): boolean {
  return key.length >= HISTORY_KEY_BYTES && (key.length - HISTORY_KEY_BYTES) % 8 === 0 && key[0] === PREFIX_HISTORY;
}

export function historyRevisionOf(key: Buffer): number {
  if (!isHistoryKey(key)) return -1;
  return key.readUInt32BE(1) * 0x1_0000_0000 + key.readUInt32BE(5);
}

export function historySizeOf(key: Buffer): number {
  return key.readUInt32BE(LOG_KEY_BYTES);
}

/** The revisions a history key refers to (see historyKey); null when none. */
export function historyRefsOf(key: Buffer): number[] | null {
  if (key.length === HISTORY_KEY_BYTES) return null;
  const refs: number[] = [];
  for (let at = HISTORY_KEY_BYTES; at + 8 <= key.length; at += 8) refs.push(key.readUInt32BE(at) * 0x1_0000_0000 + key.readUInt32BE(at + 4));
  return refs;
}

export const HISTORY_RANGE = { gte: Buffer.from([PREFIX_HISTORY]), lt: Buffer.from([PREFIX_HISTORY + 1]) };
