// conclave/internal: @internal, not part of the documented API and not covered by semver.
// The deterministic simulation (test/sim-node) opens whole nodes here with simulated time,
// randomness, disk and network. See seams.ts for what each seam must honour.
import { ConclaveNode } from './node.js';
import type { OpenNodeOptions } from './options.js';
import { PRODUCTION_SEAMS, type NodeSeams } from './seams.js';

export * from './seams.js';
export { WriteTrace, type TraceStep, type WriteTracer } from './write-trace.js';

/** openNode with some (or all) of the seams replaced; the others are production's. */
export function openNodeWith(options: OpenNodeOptions, seams: Partial<NodeSeams>): Promise<ConclaveNode> {
  return ConclaveNode.open(options, { ...PRODUCTION_SEAMS, ...seams });
}
