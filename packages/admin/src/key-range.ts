// Key ranges for `conclave scan`: a prefix as a [gte, lt) range in the store's key order
// (UTF-8 bytes, which is code point order), and the checks on range flags.
import { InvalidArgumentError, prefixEnd } from '@conclave/core';

export interface KeyRange {
  readonly gte?: string;
  readonly gt?: string;
  readonly lte?: string;
  readonly lt?: string;
}

export { prefixEnd } from '@conclave/core';

/** The range of keys starting with `prefix` (the empty prefix: every key). */
export function prefixRange(prefix: string): KeyRange {
  if (prefix === '') return {};
  const end = prefixEnd(prefix);
  return end === null ? { gte: prefix } : { gte: prefix, lt: end };
}

/** A prefix or explicit bounds, never both; at most one lower and one upper bound. */
export function scanRange(prefix: string | undefined, flags: KeyRange): KeyRange {
  const bounds = Object.entries(flags).filter(([, v]) => v !== undefined);
  if (prefix !== undefined && bounds.length > 0) throw new InvalidArgumentError(`give PREFIX or --${bounds.map(([k]) => k).join('/--')}, not both`);
  if (flags.gte !== undefined && flags.gt !== undefined) throw new InvalidArgumentError('give --gte or --gt, not both');
  if (flags.lte !== undefined && flags.lt !== undefined) throw new InvalidArgumentError('give --lte or --lt, not both');
  return prefix !== undefined ? prefixRange(prefix) : Object.fromEntries(bounds);
}
