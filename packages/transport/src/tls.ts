// TLS material, read once at construction so a bad path fails fast and names the file.
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '@conclave/core';

export interface TlsFiles {
  /** PEM private key of this node's certificate. */
  readonly keyFile: string;
  /** PEM certificate of this node (SAN must cover the address peers dial). */
  readonly certFile: string;
  /** PEM CA that signed every node's certificate; peers are verified against it. */
  readonly caFile: string;
}

export interface TlsMaterial {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
}

function readPem(path: unknown, what: string): Buffer {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError(`${what} must be a file path`);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new InvalidArgumentError(`cannot read ${what} '${path}': ${(err as Error).message}`);
  }
}

export function loadTls(files: TlsFiles): TlsMaterial {
  return { key: readPem(files.keyFile, 'tls.keyFile'), cert: readPem(files.certFile, 'tls.certFile'), ca: readPem(files.caFile, 'tls.caFile') };
}
