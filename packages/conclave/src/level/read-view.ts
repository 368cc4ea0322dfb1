// The state a ConclaveLevel read sees: the member's applied state, taken synchronously
// when the read (an iterator, a snapshot) is created, so that later writes never show in
// it. A consistency other than 'none' then waits for its read point (read index, token,
// lag); if the state taken is behind that point (a lagging follower, a new leader still
// applying), the view is taken again once the member has applied up to it.
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
