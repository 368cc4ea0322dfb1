// A separate client process: the load comes from outside the group, either to a conclave
// follower over the admin RPC (the follower forwards each write to the leader) or to an
// etcd member through the etcd3 client.
import { AdminRpcClient } from '@conclave/transport';
import { serveIpc } from './ipc.js';
import { runLoad, type LoadSpec, type WriteFn } from './load.js';

export type ClientTarget = { readonly kind: 'conclave'; readonly endpoint: string } | { readonly kind: 'etcd'; readonly endpoint: string };

/** The admin RPC serves at most this many requests in flight per connection (transport DEFAULTS). */
const ADMIN_INFLIGHT_PER_CONNECTION = 64;
const WRITE_TIMEOUT_MS = 10_000;

const closers: (() => Promise<unknown>)[] = [];

/** `inflight` requests spread over enough admin connections that none passes the server's limit. */
async function conclaveRequests(endpoint: string, inflight: number, method: string, params: (key: string, value: Uint8Array) => object): Promise<WriteFn> {
  const count = Math.ceil(inflight / ADMIN_INFLIGHT_PER_CONNECTION);
  const clients = await Promise.all(Array.from({ length: count }, () => AdminRpcClient.connect(endpoint, { connectTimeoutMs: 5000 })));
  closers.push(() => Promise.all(clients.map((c) => c.close())));
  const inflightPerClient = clients.map(() => 0);
  return async (key, value) => {
    // The least busy connection: with `inflight` workers there is always one below the server's limit.
    let k = 0;
    for (let i = 1; i < count; i++) if (inflightPerClient[i]! < inflightPerClient[k]!) k = i;
    inflightPerClient[k]!++;
    try {
      return await clients[k]!.request(method, params(key, value), { timeoutMs: WRITE_TIMEOUT_MS });
    } finally {
      inflightPerClient[k]!--;
    }
  };
}

const conclaveWriter = (endpoint: string, inflight: number): Promise<WriteFn> => conclaveRequests(endpoint, inflight, 'kv.put', (key, value) => ({ key, value }));

/** Reads of conclave over the admin RPC (bench/read.ts): the like-for-like of the etcd3 client's reads. */
async function conclaveReader(endpoint: string, inflight: number, consistency: ConclaveRead): Promise<WriteFn> {
  const get = await conclaveRequests(endpoint, inflight, 'kv.get', (key) => ({ key, consistency }));
  return async (key, value) => {
    const r = (await get(key, value)) as { found: boolean };
    if (!r.found) throw new Error(`key ${key} is missing`);
    return r;
  };
}

async function etcdWriter(endpoint: string): Promise<WriteFn> {
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: `http://${endpoint}` });
  closers.push(async () => client.close());
  return (key, value) => client.put(key).value(value).exec();
}

/** Reads of etcd (bench/read.ts): linearizable (etcd's default, ReadIndex) or serializable (member-local). */
async function etcdReader(endpoint: string, read: EtcdRead): Promise<WriteFn> {
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: `http://${endpoint}` });
  closers.push(async () => client.close());
  return async (key) => {
    const v = await client.get(key).serializable(read === 'serializable').buffer();
    if (v === null) throw new Error(`key ${key} is missing`);
    return v;
  };
}

export type EtcdRead = 'linearizable' | 'serializable';
export type ConclaveRead = 'linearizable' | 'lease' | 'none';

serveIpc(
  {
    load: async (args) => {
      const { target, spec, read } = args as { target: ClientTarget; spec: LoadSpec; read?: EtcdRead | ConclaveRead };
      let write: WriteFn;
      if (target.kind === 'conclave') write = read ? await conclaveReader(target.endpoint, spec.inflight, read as ConclaveRead) : await conclaveWriter(target.endpoint, spec.inflight);
      else if (read === 'lease' || read === 'none') throw new Error(`etcd has no '${read}' read`);
      else write = read ? await etcdReader(target.endpoint, read) : await etcdWriter(target.endpoint);
      try {
        return await runLoad(write, spec);
      } finally {
        for (const close of closers.splice(0)) await close().catch(() => {});
      }
    },
  },
  async () => {
    for (const close of closers.splice(0)) await close().catch(() => {});
  },
);
