// Address helpers for listen and peer addresses; parsing itself is core's parseAddress.
import type { HostPort } from '@conclave/core';

export { parseAddress as parseHostPort, type HostPort } from '@conclave/core';

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
