// The admin method `test.faults`: drives the transport's fault hook from another process
// (the nemesis). A node refuses it unless it was opened with enableFaultInjection, so a
// production node can never be partitioned by an admin request.
import { ConclaveError, InvalidArgumentError } from '@conclave/core';
import type { LinkFaults } from '@conclave/transport';
import type { PeerTransport } from './seams.js';

/** `test.faults` was called on a node opened without enableFaultInjection. */
export class FaultInjectionDisabledError extends ConclaveError {
  constructor(id: string) {
    super('FAULT_INJECTION_DISABLED', `node ${id} was not started with fault injection enabled (--enable-fault-injection); test.faults is refused`);
  }
}

/** Bounds on what a request may name: far above any real group. */
const MAX_SIDES = 16;
const MAX_IDS = 256;
const LINK_FIELDS = ['dropProbability', 'duplicateProbability', 'delayMs', 'delayJitterMs'] as const;

function sidesOf(v: unknown): string[][] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_SIDES) throw new InvalidArgumentError(`test.faults partition: sides must be an array of 1 to ${MAX_SIDES} arrays of node ids`);
  let count = 0;
  return v.map((side, i) => {
    if (!Array.isArray(side)) throw new InvalidArgumentError(`test.faults partition: sides[${i}] must be an array of node ids`);
    count += side.length;
    if (count > MAX_IDS) throw new InvalidArgumentError(`test.faults partition: more than ${MAX_IDS} node ids`);
    return side.map((id, j) => {
      if (typeof id !== 'string' || id.length === 0 || id.length > 64) throw new InvalidArgumentError(`test.faults partition: sides[${i}][${j}] must be a node id`);
      return id;
    });
  });
}

function linkFaultsOf(v: unknown): LinkFaults {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError('test.faults setLink: faults must be an object');
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v)) {
    if (!(LINK_FIELDS as readonly string[]).includes(k)) throw new InvalidArgumentError(`test.faults setLink: unknown field '${k.slice(0, 40)}' (known: ${LINK_FIELDS.join(', ')})`);
    if (typeof x !== 'number') throw new InvalidArgumentError(`test.faults setLink: ${k} must be a number`);
    out[k] = x;
  }
  return out; // the FaultInjector checks the ranges and names the bad one
}

/** Registers `test.faults`; it acts only when `enabled`. */
export function registerFaultHandlers(transport: Pick<PeerTransport, 'registerAdminHandler' | 'faults'>, nodeId: string, enabled: () => boolean): void {
  transport.registerAdminHandler('test.faults', (params) => {
    if (!enabled()) throw new FaultInjectionDisabledError(nodeId);
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new InvalidArgumentError('test.faults: params must be an object { action, ... }');
    const p = params as Record<string, unknown>;
    const faults = transport.faults;
    switch (p.action) {
      case 'partition':
        faults.partition(sidesOf(p.sides));
        break;
      case 'heal':
        faults.heal();
        break;
      case 'setLink': {
        if (typeof p.to !== 'string' || p.to.length === 0 || p.to.length > 64) throw new InvalidArgumentError("test.faults setLink: to must be a node id or '*'");
        faults.setLink(p.to, linkFaultsOf(p.faults));
        break;
      }
      case 'reset':
        faults.reset();
        break;
      default:
        throw new InvalidArgumentError(`test.faults: action must be partition, heal, setLink or reset, got ${JSON.stringify(p.action)?.slice(0, 40)}`);
    }
    return { node: nodeId, action: p.action };
  });
}
