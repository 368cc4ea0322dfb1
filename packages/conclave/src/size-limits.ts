// Why no Raft message can exceed what the transport carries (issue 11): every `normal`
// entry is one command of at most MAX_COMMAND_BYTES (the core refuses bigger proposals
// too), and the core packs entries into an append up to maxMsgBytes or sends one larger
// entry alone. So an append's entries stay within max(maxMsgBytes, MAX_COMMAND_BYTES + 24)
// bytes, and the transport's frame must hold that plus the message's own fields.
import { InvalidArgumentError, RAFT_DEFAULTS } from '@conclave/core';
import { MAX_COMMAND_BYTES } from '@conclave/storage';
import { DEFAULTS as TRANSPORT_DEFAULTS } from '@conclave/transport';

/** What entrySizeBytes adds to an entry's data: the core's estimate of its framing. */
const ENTRY_OVERHEAD_BYTES = 24;
/** Room for a message's other fields (ids, read context, snapshot metadata), generously. */
export const MESSAGE_ENVELOPE_BYTES = 64 * 1024;

export interface SizeLimits {
  /** The core's maxMsgBytes. */
  readonly maxMsgBytes: number;
  /** The core's maxProposalBytes: the command limit. */
  readonly maxProposalBytes: number;
  /** The transport's frame limit. */
  readonly maxPayloadBytes: number;
}

export const SIZE_LIMITS: SizeLimits = {
  maxMsgBytes: RAFT_DEFAULTS.maxMsgBytes,
  maxProposalBytes: MAX_COMMAND_BYTES,
  maxPayloadBytes: TRANSPORT_DEFAULTS.maxPayloadBytes,
};

/** The largest append the core can produce under `limits`, in bytes of its encoding. */
export function largestAppendBytes(limits: SizeLimits): number {
  return Math.max(limits.maxMsgBytes, limits.maxProposalBytes + ENTRY_OVERHEAD_BYTES) + MESSAGE_ENVELOPE_BYTES;
}

/** Throws unless every append the core can produce fits one transport frame. */
export function checkSizeLimits(limits: SizeLimits): void {
  const largest = largestAppendBytes(limits);
  if (largest > limits.maxPayloadBytes) {
    throw new InvalidArgumentError(
      `an append can reach ${largest} bytes (maxMsgBytes ${limits.maxMsgBytes}, command limit ${limits.maxProposalBytes}), more than the transport's frame limit ${limits.maxPayloadBytes}`,
    );
  }
}
