// When compareAndSet's `expected` matches the stored value. Applications compare values, not
// encodings: `{ b: 2, a: 1 }` must match a stored `{ a: 1, b: 2 }`, although msgpack keeps
// the order of an object's keys. Equality is decided from the bytes alone, so every member
// reaches the same answer.
import { strictDecode } from './codec.js';

/** Most pairs of containers compared before giving up (values are at most about 1 MiB). */
const MAX_PAIRS_WALKED = 2_000_000;

/**
 * Deep equality of two stored values: plain objects by their keys and values in any order,
 * arrays by position, byte arrays by bytes, dates by time, numbers by value (0 equals -0,
 * NaN equals NaN), everything else by ===. Byte-equal encodings are equal without decoding.
 */
export function storedValuesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (Buffer.compare(a, b) === 0) return true;
  let x: unknown;
  let y: unknown;
  try {
    x = strictDecode(a);
    y = strictDecode(b);
  } catch {
    return false; // one of them is not a value: they cannot be equal ones
  }
  return deepEqual(x, y);
}

function deepEqual(first: unknown, second: unknown): boolean {
  const stack: [unknown, unknown][] = [[first, second]];
  for (let walked = 0; stack.length > 0; walked++) {
    if (walked >= MAX_PAIRS_WALKED) throw new Error(`more than ${MAX_PAIRS_WALKED} values compared`);
    const [x, y] = stack.pop()!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') {
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      return false;
    }
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
    if (x instanceof Uint8Array || y instanceof Uint8Array) {
      if (!(x instanceof Uint8Array && y instanceof Uint8Array) || Buffer.compare(x, y) !== 0) return false;
      continue;
    }
    if (x instanceof Date || y instanceof Date) {
      if (!(x instanceof Date && y instanceof Date) || !Object.is(x.getTime(), y.getTime())) return false;
      continue;
    }
    if (Array.isArray(x) || Array.isArray(y)) {
      if (!(Array.isArray(x) && Array.isArray(y)) || x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) stack.push([x[i], y[i]]);
      continue;
    }
    if (x instanceof Map || y instanceof Map) return false; // maps decode as objects; anything else is not a stored value
    const xs = x as Record<string, unknown>;
    const ys = y as Record<string, unknown>;
    const keys = Object.keys(xs);
    if (keys.length !== Object.keys(ys).length) return false;
    for (const k of keys) {
      if (!Object.prototype.hasOwnProperty.call(ys, k)) return false;
      stack.push([xs[k], ys[k]]);
    }
  }
  return true;
}
