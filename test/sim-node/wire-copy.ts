// What a message becomes on the far side of a socket, without the socket's cost: msgpack
// encoding and decoding every simulated message was the largest single cost of a seed
// (values near 1 MiB). For the plain data the transport carries (objects, arrays, strings,
// numbers, booleans, null, undefined, byte arrays) a structural copy gives what msgpackr's
// unpack(pack(x)) gives: fresh objects, Buffers for bytes, -0 as 0. Anything else takes
// the real codec. Sizes are exact only when they matter: near the frame limit.
import { pack, unpack } from 'msgpackr';

/** Nesting a copy follows before it hands the value to the real codec (bounded recursion). */
const MAX_DEPTH = 32;

class NotPlain extends Error {}

/** The receiver's copy of `v`, as msgpackr's round trip would make it. */
export function wireCopy<T>(v: T): T {
  try {
    return copy(v, 0) as T;
  } catch (err) {
    if (!(err instanceof NotPlain)) throw err;
    return unpack(pack(v)) as T;
  }
}

function copy(v: unknown, depth: number): unknown {
  if (v === null || v === undefined || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return v === 0 ? 0 : v;
  if (depth > MAX_DEPTH || typeof v !== 'object') throw new NotPlain();
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copy(v[i], depth + 1);
    return out;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) throw new NotPlain();
  const out: Record<string, unknown> = {};
  for (const k in v) out[k] = copy((v as Record<string, unknown>)[k], depth + 1);
  return out;
}

/**
 * The encoded size of `v` when it may exceed `limitBytes` (exact: the real codec), else an
 * upper bound that does not (compares with the limit as the exact size would).
 */
export function wireSize(v: unknown, limitBytes: number): number {
  const bound = sizeBound(v, 0);
  return bound <= limitBytes ? bound : pack(v).length;
}

/** msgpack's worst case per value: a 5-byte header, 3 UTF-8 bytes per UTF-16 unit, 9 per number. */
function sizeBound(v: unknown, depth: number): number {
  if (v === null || v === undefined || typeof v === 'boolean') return 3;
  if (typeof v === 'number') return 9;
  if (typeof v === 'string') return 5 + 3 * v.length;
  if (depth > MAX_DEPTH || typeof v !== 'object') return Infinity;
  if (v instanceof Uint8Array) return 5 + v.byteLength;
  let n = 5;
  if (Array.isArray(v)) {
    for (const x of v) n += sizeBound(x, depth + 1);
    return n;
  }
  for (const k in v) n += 5 + 3 * k.length + sizeBound((v as Record<string, unknown>)[k], depth + 1);
  return n;
}
