// Who may open a connection before proving anything. Unauthenticated sockets are cheap to
// open and used to share all connection slots (and a 16 MiB frame limit) with the peers:
// any host that reached the port could take every slot. Now:
// - unauthenticated connections are capped in total and per remote address;
// - a connection that names a known peer (`?from=ID` on /peer) goes to that peer's own
//   small reserved pool instead, where a newer claimant evicts the oldest pending one (a
//   real peer finishes its handshake in one round trip, an impostor just waits), so a
//   flood cannot keep a peer from reconnecting;
// - authenticated connections only count against maxConnections, of which the known
//   peers' share is kept free of unauthenticated ones;
// - every refusal and eviction has a counter.
// The frame limit before authentication is enforced by the server (MAX_HANDSHAKE_FRAME_BYTES).

export interface AdmissionLimits {
  readonly maxConnections: number;
  /** Unauthenticated connections at once, all addresses (peer-reserved pools excluded). */
  readonly maxUnauthenticated: number;
  /** Unauthenticated connections at once from one remote address. */
  readonly maxUnauthenticatedPerAddress: number;
}

/** Pending connections each known peer id may have in its reserved pool. */
export const RESERVED_PENDING_PER_PEER = 2;
/** Authenticated slots kept for each known peer (its inbound link, and one superseding it). */
const RESERVED_SLOTS_PER_PEER = 2;

export interface AdmissionCounters {
  /** Refused: the remote address already had maxUnauthenticatedPerAddress pending connections. */
  refusedPerAddress: number;
  /** Refused: maxUnauthenticated pending connections already. */
  refusedUnauthenticated: number;
  /** Refused: no slot left outside the known peers' share of maxConnections. */
  refusedNoSlot: number;
  /** Pending connections claiming a known peer id, closed for a newer claimant. */
  evictedClaimants: number;
}

export function newAdmissionCounters(): AdmissionCounters {
  return { refusedPerAddress: 0, refusedUnauthenticated: 0, refusedNoSlot: 0, evictedClaimants: 0 };
}

interface Pending<T> {
  readonly owner: T;
  readonly address: string;
  readonly claimedPeer: string | null;
}

export type Decision<T> = { readonly admit: true; readonly evict: T | null } | { readonly admit: false; readonly reason: string };

export class Admission<T> {
  /** Unauthenticated connections, oldest first (Map keeps insertion order). */
  private readonly pending = new Map<T, Pending<T>>();
  private readonly perAddress = new Map<string, number>();
  private unclaimed = 0;

  constructor(
    private readonly limits: AdmissionLimits,
    readonly counters: AdmissionCounters,
  ) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Whether a new connection from `address` may be accepted. `claimedPeer` is a known peer
   * id it claims (unverified), or null. `connections` counts every open connection;
   * `knownPeers` how many peers the node has.
   */
  decide(address: string, claimedPeer: string | null, connections: number, knownPeers: number): Decision<T> {
    if (claimedPeer !== null) {
      let count = 0;
      let oldest: T | null = null;
      for (const p of this.pending.values()) {
        if (p.claimedPeer !== claimedPeer) continue;
        count++;
        oldest ??= p.owner;
      }
      if (count < RESERVED_PENDING_PER_PEER) return { admit: true, evict: null };
      this.counters.evictedClaimants++;
      return { admit: true, evict: oldest };
    }
    if ((this.perAddress.get(address) ?? 0) >= this.limits.maxUnauthenticatedPerAddress) {
      this.counters.refusedPerAddress++;
      return { admit: false, reason: `${this.limits.maxUnauthenticatedPerAddress} unauthenticated connections from ${address} already` };
    }
    if (this.unclaimed >= this.limits.maxUnauthenticated) {
      this.counters.refusedUnauthenticated++;
      return { admit: false, reason: `${this.limits.maxUnauthenticated} unauthenticated connections already` };
    }
    if (connections >= this.limits.maxConnections - RESERVED_SLOTS_PER_PEER * knownPeers) {
      this.counters.refusedNoSlot++;
      return { admit: false, reason: 'no connection slot left outside those kept for known peers' };
    }
    return { admit: true, evict: null };
  }

  add(owner: T, address: string, claimedPeer: string | null): void {
    this.pending.set(owner, { owner, address, claimedPeer });
    if (claimedPeer === null) {
      this.unclaimed++;
      this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    }
  }

  /** The connection authenticated or closed: it no longer holds an unauthenticated place. */
  remove(owner: T): void {
    const p = this.pending.get(owner);
    if (!p) return;
    this.pending.delete(owner);
    if (p.claimedPeer !== null) return;
    this.unclaimed--;
    const n = (this.perAddress.get(p.address) ?? 1) - 1;
    if (n === 0) this.perAddress.delete(p.address);
    else this.perAddress.set(p.address, n);
  }
}
