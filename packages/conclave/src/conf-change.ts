// Membership changes arrive from embedders and from the admin endpoint: a change is checked
// in full before it is proposed. A malformed one that reached the log would stop every
// leader that tries to send it (the transport refuses to), and every node that reads it
// back from disk (storage refuses to).
import { checkId, InvalidArgumentError, parseAddress, type ConfChange } from '@conclave/core';
import { confChangeProblem } from '@conclave/transport';

/** Returns `change` as a ConfChange, or throws InvalidArgumentError naming what is wrong. */
export function checkConfChange(change: unknown): ConfChange {
  const problem = confChangeProblem(change);
  if (problem) throw new InvalidArgumentError(`membership change ${JSON.stringify(change)?.slice(0, 200)}: ${problem}`);
  const c = change as ConfChange;
  checkId(c.id, 'membership change: member id');
  if (c.op === 'addElectable' || c.op === 'addSecondary') parseAddress(c.address, `membership change: address of ${c.id}`);
  return c;
}
