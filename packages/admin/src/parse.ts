// Parsing of CLI arguments into validated values; every error names the bad argument.
import { readFileSync } from 'node:fs';
import { checkId, InvalidArgumentError, parseAddress } from '@conclave/core';

/** "n1=127.0.0.1:7001,n2=127.0.0.1:7002" -> { n1: '127.0.0.1:7001', ... } */
export function parsePeers(spec: string): Record<string, string> {
  const peers: Record<string, string> = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`--peers entry '${part}' is not ID=HOST:PORT`);
    const id = part.slice(0, eq);
    const address = part.slice(eq + 1);
    parseAddress(address, `--peers address of ${id}`);
    if (id in peers) throw new InvalidArgumentError(`--peers names ${id} twice`);
    peers[id] = address;
  }
  if (Object.keys(peers).length === 0) throw new InvalidArgumentError('--peers is empty');
  return peers;
}

export function parseIntArg(name: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got '${v}'`);
  }
  return n;
}

export function readSecretFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`cannot read ${what} '${path}': ${(err as Error).message}`);
  }
  const secret = text.trim();
  if (secret.length < 16) throw new InvalidArgumentError(`${what} '${path}' must hold at least 16 characters`);
  return secret;
}

/** A member id argument (checked before anything is asked of the group). */
export function parseMemberId(v: string, what: string): string {
  checkId(v, what);
  return v;
}
