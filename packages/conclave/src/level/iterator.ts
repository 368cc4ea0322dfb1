// ConclaveLevel's iterator: entries of a read view (see read-view.ts), merged from LevelDB
// and the writes still queued in memory by the storage's KvViewIterator.
import { AbstractIterator, type AbstractIteratorOptions } from 'abstract-level';
import type { KvViewIterator } from '@conclave/storage';
import { levelKey, levelValue, nodeKey, nodeRange, type LevelRange } from './keys.js';
import type { ReadView } from './read-view.js';

export interface IteratorSource {
  readonly view: ReadView;
  /** The iterator closes the view (an implicit snapshot), or leaves it to its owner (an explicit one). */
  readonly ownsView: boolean;
}

export class ConclaveIterator<TDatabase> extends AbstractIterator<TDatabase, Buffer, Buffer> {
  private it: KvViewIterator | null = null;
  private seekTarget: string | null = null;
  private readonly range: LevelRange;
  private readonly values: boolean;

  constructor(
    db: TDatabase,
    options: AbstractIteratorOptions<Buffer, Buffer> & LevelRange,
    private readonly source: IteratorSource,
  ) {
    super(db, options);
    this.range = options;
    this.values = options.values !== false;
  }

  async _next(): Promise<[Buffer, Buffer | undefined] | undefined> {
    const e = await (await this.open()).next();
    return e === null ? undefined : this.entry(e);
  }

  async _nextv(size: number): Promise<[Buffer, Buffer | undefined][]> {
    const entries = await (await this.open()).nextv(size);
    return entries.map((e) => this.entry(e));
  }

  _seek(target: Buffer): void {
    const t = nodeKey(target);
    if (this.it) this.it.seek(t);
    else this.seekTarget = t;
  }

  async _close(): Promise<void> {
    await this.it?.close();
    if (this.source.ownsView) await this.source.view.close();
  }

  private async open(): Promise<KvViewIterator> {
    if (this.it) return this.it;
    const view = await this.source.view.get();
    this.it = view.iterator(nodeRange(this.range));
    if (this.seekTarget !== null) this.it.seek(this.seekTarget);
    this.seekTarget = null;
    return this.it;
  }

  private entry([key, stored]: [string, Buffer]): [Buffer, Buffer | undefined] {
    return [levelKey(key), this.values ? levelValue(stored, key) : undefined];
  }
}
