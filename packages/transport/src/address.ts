// host:port parsing for listen and peer addresses.
import { InvalidArgumentError } from '@conclave/core';

export interface HostPort {
  /** Without brackets, as net.listen and tls want it. */
  readonly host: string;
  readonly port: number;
}

const ADDRESS_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Parses HOST:PORT ([v6]:PORT too). `allowPortZero` for listen addresses (pick a free port). */
export function parseHostPort(address: string, what: string, allowPortZero = false): HostPort {
  const m = typeof address === 'string' ? ADDRESS_RE.exec(address) : null;
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= (allowPortZero ? 0 : 1) && port <= 65535)) {
    throw new InvalidArgumentError(`${what} '${String(address)}' is not HOST:PORT with a port from ${allowPortZero ? 0 : 1} to 65535`);
  }
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return { host, port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::ffff:127.0.0.1';
}

export function wsUrl(address: HostPort, tls: boolean, path: string): string {
  return `${tls ? 'wss' : 'ws'}://${formatHostPort(address.host, address.port)}${path}`;
}
