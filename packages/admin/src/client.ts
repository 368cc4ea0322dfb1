// AdminClient: what admin scripts import. Talks to a node's /admin endpoint; the node
// forwards writes to the leader. Endpoints are tried in order until one answers.
import { ConclaveError, InvalidArgumentError, parseAddress } from '@conclave/core';
import { AdminRpcClient } from '@conclave/transport';
import { reviveError, type CommitToken, type Consistency, type Durability, type NodeStatus } from 'conclave';

export interface AdminClientOptions {
  /** One or more HOST:PORT of members. */
  readonly endpoints: readonly string[];
  /** The nodes' admin secret. */
  readonly secret?: string;
  readonly timeoutMs?: number;
  readonly tls?: { readonly caFile: string };
}

/** None of the endpoints answered. */
export class NoEndpointError extends ConclaveError {
  constructor(readonly attempts: readonly { endpoint: string; error: string }[]) {
    super('NO_ENDPOINT', `no endpoint answered: ${attempts.map((a) => `${a.endpoint} (${a.error})`).join('; ')}`);
  }
}

export class AdminClient {
  private client: AdminRpcClient | null = null;
  readonly timeoutMs: number;

  constructor(private readonly opts: AdminClientOptions) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0) throw new InvalidArgumentError('at least one --endpoint HOST:PORT is needed');
    for (const e of opts.endpoints) parseAddress(e, 'endpoint');
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** Connects to `endpoint` alone (for per-member queries). */
  static connectOne(endpoint: string, opts: Omit<AdminClientOptions, 'endpoints'>): Promise<AdminRpcClient> {
    return AdminRpcClient.connect(endpoint, {
      ...(opts.secret !== undefined ? { credential: opts.secret } : {}),
      ...(opts.tls ? { tls: { caFile: opts.tls.caFile } } : {}),
      connectTimeoutMs: opts.timeoutMs ?? 5000,
    });
  }

  private async connection(): Promise<AdminRpcClient> {
    if (this.client) return this.client;
    const attempts: { endpoint: string; error: string }[] = [];
    for (const endpoint of this.opts.endpoints) {
      try {
        this.client = await AdminClient.connectOne(endpoint, this.opts);
        return this.client;
      } catch (err) {
        // A wrong secret is not a reason to try elsewhere: say so at once.
        if ((err as { code?: string }).code === 'ADMIN_AUTH_FAILED') throw err;
        attempts.push({ endpoint, error: (err as Error).message });
      }
    }
    throw new NoEndpointError(attempts);
  }

  async call<T>(method: string, params: unknown = {}): Promise<T> {
    const c = await this.connection();
    try {
      return (await c.request(method, params, { timeoutMs: this.timeoutMs })) as T;
    } catch (err) {
      throw reviveError(err);
    }
  }

  put(key: string, value: unknown, durability?: Partial<Durability>): Promise<{ token: CommitToken }> {
    return this.call('kv.put', { key, value, ...(durability ? { durability } : {}) });
  }

  async get(key: string, consistency: Consistency = 'linearizable'): Promise<{ found: boolean; value: unknown }> {
    return this.call('kv.get', { key, consistency });
  }

  delete(key: string, durability?: Partial<Durability>): Promise<{ token: CommitToken }> {
    return this.call('kv.delete', { key, ...(durability ? { durability } : {}) });
  }

  status(): Promise<NodeStatus> {
    return this.call('node.status');
  }

  async close(): Promise<void> {
    await this.client?.close().catch(() => {});
    this.client = null;
  }
}
