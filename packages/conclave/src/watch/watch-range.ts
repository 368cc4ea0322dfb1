// What a watcher watches: one key, a prefix, or a range [gte, lt), checked as the caller wrote it.
import { InvalidArgumentError } from '@conclave/core';
import { checkKey } from '@conclave/storage';

export type WatchRange = { readonly key: string } | { readonly prefix: string } | { readonly gte: string; readonly lt?: string };

/** A predicate over keys, in UTF-8 byte order (the store's key order). */
export type KeyMatcher = (key: string) => boolean;

export function watchMatcher(range: unknown): { matcher: KeyMatcher; range: WatchRange } {
  if (typeof range !== 'object' || range === null || Array.isArray(range)) throw new InvalidArgumentError('the watch range must be { key }, { prefix } or { gte, lt }');
  const r = range as Record<string, unknown>;
  const given = ['key', 'prefix', 'gte'].filter((k) => r[k] !== undefined);
  if (given.length !== 1) throw new InvalidArgumentError(`the watch range must have exactly one of key, prefix, gte (got ${given.join(', ') || 'none'})`);
  for (const k of Object.keys(r)) if (!['key', 'prefix', 'gte', 'lt'].includes(k)) throw new InvalidArgumentError(`the watch range has an unknown field '${k}'`);
  if (r.lt !== undefined && r.gte === undefined) throw new InvalidArgumentError('the watch range: lt goes with gte');
  if (r.key !== undefined) {
    checkKey(r.key, 'range.key');
    const key = r.key;
    return { matcher: (k) => k === key, range: { key } };
  }
  if (r.prefix !== undefined) {
    checkKey(r.prefix, 'range.prefix');
    // For well-formed strings a UTF-8 byte prefix is a string prefix.
    const prefix = r.prefix;
    return { matcher: (k) => k.startsWith(prefix), range: { prefix } };
  }
  checkKey(r.gte, 'range.gte');
  const gte = Buffer.from(r.gte, 'utf8');
  if (r.lt === undefined) return { matcher: (k) => Buffer.compare(Buffer.from(k, 'utf8'), gte) >= 0, range: { gte: r.gte } };
  checkKey(r.lt, 'range.lt');
  const lt = Buffer.from(r.lt, 'utf8');
  return {
    matcher: (k) => {
      const b = Buffer.from(k, 'utf8');
      return Buffer.compare(b, gte) >= 0 && Buffer.compare(b, lt) < 0;
    },
    range: { gte: r.gte, lt: r.lt },
  };
}
