// The read lease's clock (issue 11): an ack renews the lease from the moment the heartbeat
// it answers was sent, never from the moment the ack arrived. Replies can sit in a paused
// leader's socket buffer while the rest of the group elects someone else; counted from
// their arrival, they would make a lease out of the past.

/** Send times of the leader's most recent heartbeat rounds, by round number. Bounded. */
export class HeartbeatRounds {
  private round = 0;
  private readonly rounds: number[];
  private readonly sentAtMs: number[];

  constructor(readonly capacity = 256) {
    this.rounds = new Array<number>(capacity).fill(0);
    this.sentAtMs = new Array<number>(capacity).fill(0);
  }

  /** Starts a round sent at `nowMs`; heartbeats carry its number and answers echo it. */
  next(nowMs: number): number {
    this.round++;
    const slot = this.round % this.capacity;
    this.rounds[slot] = this.round;
    this.sentAtMs[slot] = nowMs;
    return this.round;
  }

  /** When round `round` was sent; undefined if unknown or too old to remember (it then renews nothing). */
  sentAt(round: number): number | undefined {
    if (!Number.isSafeInteger(round) || round <= 0 || round > this.round) return undefined;
    const slot = round % this.capacity;
    return this.rounds[slot] === round ? this.sentAtMs[slot] : undefined;
  }
}
