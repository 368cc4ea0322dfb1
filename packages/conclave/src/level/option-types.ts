// ConclaveLevel's per-call options in abstract-level's own option types, so that TypeScript
// callers can write db.get(key, { consistency: 'none' }) or db.put(k, v, { durability }).
// (Optional fields only: other abstract-level databases ignore them, as they do at run time.)
import type { Consistency, Durability } from '../options.js';

declare module 'abstract-level/types/interfaces.js' {
  interface AbstractReadOptions {
    /** ConclaveLevel: this read's consistency (default: the database's). */
    consistency?: Consistency | undefined;
    /** ConclaveLevel: how long this read may wait for its consistency, in ms. */
    readTimeoutMs?: number | undefined;
  }
}

interface ConclaveWriteFields {
  /** ConclaveLevel: this write's durability (default: the node's). */
  durability?: Partial<Durability> | undefined;
}

declare module 'abstract-level/types/abstract-level.js' {
  interface AbstractPutOptions<K, V> extends ConclaveWriteFields {}
  interface AbstractDelOptions<K> extends ConclaveWriteFields {}
  interface AbstractBatchOptions<K, V> extends ConclaveWriteFields {}
  interface AbstractClearOptions<K> extends ConclaveWriteFields {}
}
