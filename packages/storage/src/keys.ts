// The key layout of one node's LevelDB. Each key space is a one-byte prefix, so a key
// space is a contiguous byte range and can be iterated or cleared as a range.
//
//   0x00 <ascii name>        meta records: format marker, hard state, group, applied index,
//                            snapshot meta, compaction point, active KV space, install marker
//   0x01 <ascii name>        local node settings (never replicated)
//   0x02 <u64 big-endian>    the Raft log; big-endian so byte order is index order
//   0x03 <utf8 key>          KV space A
//   0x04 <utf8 key>          KV space B
//
// Exactly one KV space is active; the other is the staging area of a snapshot install
// (see snapshot-install in node-storage.ts). Keys order by their UTF-8 bytes.

export const PREFIX_META = 0x00;
export const PREFIX_SETTINGS = 0x01;
export const PREFIX_LOG = 0x02;
export const PREFIX_KV_A = 0x03;
export const PREFIX_KV_B = 0x04;

/** Which of the two KV key spaces holds the live data. */
export type KvSpace = 'a' | 'b';

export function kvPrefix(space: KvSpace): number {
  return space === 'a' ? PREFIX_KV_A : PREFIX_KV_B;
}

export function otherSpace(space: KvSpace): KvSpace {
  return space === 'a' ? 'b' : 'a';
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
  const out = Buffer.allocUnsafe(1 + length);
  out[0] = kvPrefix(space);
  out.write(key, 1, 'utf8');
  return out;
}

export function kvKeyFromBytes(space: KvSpace, keyBytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + keyBytes.length);
  out[0] = kvPrefix(space);
  out.set(keyBytes, 1);
  return out;
}

export function kvRange(space: KvSpace): { gte: Buffer; lt: Buffer } {
  const prefix = kvPrefix(space);
  return { gte: Buffer.from([prefix]), lt: Buffer.from([prefix + 1]) };
}

export function userKeyOf(key: Buffer): string {
  return key.toString('utf8', 1);
}
