// The state a ConclaveLevel read sees: ONE state of the member's applied KV, for the
// read's whole life (an iterator's nexts and seeks, a snapshot's gets). It is taken
// synchronously when the read is created, so that later writes never show in it; a
// consistency other than 'none' then waits for its read point (read index, token, lag).
// If the state taken is behind that point (a lagging follower, a new leader still
// applying), the read gets the state AT the read point: the member has applied past it by
// then, maybe with writes made after the read was created, so the entries between are
// replayed over the state taken (storage's viewAt). Only when that cannot be done (a
// snapshot installed meanwhile, or a member more than VIEW_REPLAY_MAX_ENTRIES behind) is
// the member's state re-taken, at or past the read point.
import type { KvView } from '@conclave/storage';
import type { ConclaveNode } from '../node.js';
import type { Consistency } from '../options.js';

export class ReadView {
  private readonly view: Promise<KvView>;
  private closed = false;

  constructor(node: ConclaveNode, consistency: Consistency, timeoutMs: number) {
    const taken = node.localView();
    if (consistency === 'none') {
      this.view = Promise.resolve(taken);
      return;
    }
    this.view = node.readBarrier(consistency, timeoutMs).then(
      async (needed) => {
        if (taken.appliedIndex >= needed) return taken;
        let at: KvView | null;
        try {
          at = await node.localView({ base: taken, index: needed });
        } catch (err) {
          await taken.close();
          throw err;
        }
        if (at !== null) return at; // shares taken's snapshot, released when it closes
        await taken.close();
        return node.localView();
      },
      async (err: unknown) => {
        await taken.close();
        throw err;
      },
    );
    // Reported to the reader that awaits it; never unhandled when nobody reads.
    this.view.catch(() => {});
  }

  /** The view, once its consistency is satisfied. */
  get(): Promise<KvView> {
    return this.view;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const v = await this.view.catch(() => null);
    await v?.close();
  }
}
