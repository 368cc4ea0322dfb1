// Keys order by their UTF-8 bytes, which for well-formed strings is code point order. Shared
// by the storage (transaction and watch prefixes) and the CLI (scan prefixes).

/**
 * The smallest string above every string that starts with `prefix`: its last code point
 * plus one (skipping the surrogate block), carrying past U+10FFFF. null: no upper bound.
 */
export function prefixEnd(prefix: string): string | null {
  const points = [...prefix].map((c) => c.codePointAt(0)!);
  while (points.length > 0) {
    let last = points.pop()! + 1;
    if (last === 0xd800) last = 0xe000;
    if (last <= 0x10ffff) return String.fromCodePoint(...points, last);
  }
  return null;
}
