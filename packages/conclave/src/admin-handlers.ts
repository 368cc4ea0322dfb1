// Admin RPC methods every node serves: write forwarding between members, and the requests
// of the `conclave` CLI. Parameters arrive from the network, so each is validated here.
import { InvalidArgumentError, type ConfChange } from '@conclave/core';
import type { Transport } from '@conclave/transport';
import type { ConclaveNode } from './node.js';
import { registerFaultHandlers } from './fault-handlers.js';
import { resolveDurability, validateConsistency, DEFAULT_DURABILITY } from './options.js';

function obj(params: unknown, method: string): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new InvalidArgumentError(`${method}: params must be an object`);
  return params as Record<string, unknown>;
}

const MAX_SCAN_LIMIT = 10_000;

export function registerAdminHandlers(transport: Transport, node: ConclaveNode): void {
  transport.registerAdminHandler('kv.write', async (params) => {
    const p = obj(params, 'kv.write');
    if (!(p.data instanceof Uint8Array)) throw new InvalidArgumentError('kv.write: data must be bytes');
    const durability = resolveDurability(p.durability as object | undefined, DEFAULT_DURABILITY, 'kv.write durability');
    return node.proposeLocal(p.data, durability, p.needsOutcome === true);
  });

  transport.registerAdminHandler('kv.get', async (params) => {
    const p = obj(params, 'kv.get');
    if (typeof p.key !== 'string') throw new InvalidArgumentError('kv.get: key must be a string');
    const value = await node.get(p.key, { consistency: validateConsistency(p.consistency ?? 'linearizable') });
    return { found: value !== undefined, value: value ?? null };
  });

  transport.registerAdminHandler('kv.put', async (params) => {
    const p = obj(params, 'kv.put');
    if (typeof p.key !== 'string') throw new InvalidArgumentError('kv.put: key must be a string');
    return node.put(p.key, p.value, p.durability ? { durability: p.durability as object } : {});
  });

  transport.registerAdminHandler('kv.cas', async (params) => {
    const p = obj(params, 'kv.cas');
    if (typeof p.key !== 'string') throw new InvalidArgumentError('kv.cas: key must be a string');
    // A missing `expected` means "the key is absent"; a missing `value` deletes on success (as compareAndSet).
    const r = await node.compareAndSet(p.key, p.expected, p.value, p.durability ? { durability: p.durability as object } : {});
    return { token: r.token, succeeded: r.succeeded, found: r.current !== undefined, current: r.current ?? null };
  });

  registerFaultHandlers(transport, node.id, () => node.faultInjectionEnabled);

  transport.registerAdminHandler('kv.delete', async (params) => {
    const p = obj(params, 'kv.delete');
    if (typeof p.key !== 'string') throw new InvalidArgumentError('kv.delete: key must be a string');
    return node.delete(p.key, p.durability ? { durability: p.durability as object } : {});
  });

  transport.registerAdminHandler('kv.scan', async (params) => {
    const p = obj(params, 'kv.scan');
    const limit = p.limit === undefined ? 1000 : p.limit;
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_SCAN_LIMIT) {
      throw new InvalidArgumentError(`kv.scan: limit must be an integer from 1 to ${MAX_SCAN_LIMIT}`);
    }
    const range: Record<string, string> = {};
    for (const k of ['gte', 'gt', 'lte', 'lt'] as const) {
      if (p[k] === undefined) continue;
      if (typeof p[k] !== 'string') throw new InvalidArgumentError(`kv.scan: ${k} must be a string`);
      range[k] = p[k] as string;
    }
    const pairs: [string, unknown][] = [];
    for await (const pair of node.scan({ ...range, limit }, { consistency: validateConsistency(p.consistency ?? 'linearizable') })) pairs.push(pair);
    return { pairs };
  });

  transport.registerAdminHandler('node.status', () => node.status());

  transport.registerAdminHandler('group.change', async (params) => {
    const p = obj(params, 'group.change');
    const change = p.change as ConfChange;
    if (typeof change !== 'object' || change === null || typeof (change as { op?: unknown }).op !== 'string') {
      throw new InvalidArgumentError('group.change: change must be { op, id, ... }');
    }
    return { group: await node.changeMembership(change) };
  });
}
