// Exit codes scripts can rely on (DESIGN.md, "admin and the conclave CLI").
export const EXIT = {
  ok: 0,
  /** The operation was refused or failed. */
  failed: 1,
  /** Bad arguments. */
  usage: 2,
  /** No endpoint could be reached. */
  unreachable: 3,
} as const;

const UNREACHABLE_CODES = new Set(['CONNECTION_REFUSED', 'TIMEOUT', 'CONNECTION_FAILED', 'NO_ENDPOINT']);

export function exitCodeFor(err: unknown): number {
  const code = (err as { code?: string })?.code;
  if (code === 'USAGE' || code === 'INVALID_ARGUMENT') return EXIT.usage;
  if (code && UNREACHABLE_CODES.has(code)) return EXIT.unreachable;
  return EXIT.failed;
}
