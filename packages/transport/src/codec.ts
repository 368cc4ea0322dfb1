// Frame encoding. Every frame is a binary WebSocket message whose first byte is a FrameKind.
//
// Messages travel as msgpackr records against a fixed set of shared structures that both
// ends know in advance (Message, Entry, SnapshotMeta, ...), so a record header is one byte
// and no structure definition is ever sent for the common shapes. The encoder never adds
// shared structures (shouldShareStructure: () => false): any other shape is written with an
// inline definition, so each encoded message stands alone and can be encoded once, at
// send(), queued, batched with others into a frame, and decoded by any decoder.
// Entry `data` is msgpack bin: the decoder returns a view into the received frame, and the
// bytes are copied by neither the codec nor the core.
import { Packr, RESET_BUFFER_MODE, Unpackr } from 'msgpackr';
import type { Entry, Message } from '@conclave/core';
import { FrameKind } from './constants.js';

const MESSAGE_KEYS = ['type', 'from', 'to', 'term', 'logTerm', 'index', 'entries', 'commit', 'reject', 'rejectHint', 'context', 'snapshot'];
const ENTRY_KEYS = ['index', 'term', 'type', 'data'];
const CONF_ENTRY_KEYS = ['index', 'term', 'type', 'data', 'change'];
const SNAPSHOT_META_KEYS = ['index', 'term', 'group'];
const GROUP_KEYS = ['groupId', 'members'];
const MEMBER_KEYS = ['id', 'address', 'type', 'removed', 'priority'];

/** Must be identical, in the same order, on every node of a protocol version. */
function sharedStructures(): string[][] {
  return [MESSAGE_KEYS, ENTRY_KEYS, CONF_ENTRY_KEYS, SNAPSHOT_META_KEYS, GROUP_KEYS, MEMBER_KEYS].map((keys) => keys.slice());
}
const MAX_SHARED_STRUCTURES = 16;

function canonicalEntry(e: Entry): Entry {
  // Same key order every time so the shared Entry structure always matches.
  return e.change === undefined
    ? { index: e.index, term: e.term, type: e.type, data: e.data }
    : { index: e.index, term: e.term, type: e.type, data: e.data, change: e.change };
}

const NO_ENTRIES: Entry[] = [];

/** Encodes Messages; one per transport (encoding is synchronous, so sharing is safe). */
export class MessageEncoder {
  private readonly packr = new Packr({
    structures: sharedStructures(),
    maxSharedStructures: MAX_SHARED_STRUCTURES,
    shouldShareStructure: () => false,
    useRecords: true,
  });

  /**
   * The returned view is only valid until the next encode(): copy it out before then. Each
   * encode writes from the start of the same buffer (RESET_BUFFER_MODE), so appends of 16 KiB
   * entries do not leave msgpackr allocating a fresh buffer of 4x the message every few sends.
   */
  encode(m: Message): Uint8Array {
    const snapshot = m.snapshot === null ? null : { index: m.snapshot.index, term: m.snapshot.term, group: m.snapshot.group };
    return this.packr.pack(
      {
        type: m.type,
        from: m.from,
        to: m.to,
        term: m.term,
        logTerm: m.logTerm,
        index: m.index,
        entries: m.entries.length === 0 ? NO_ENTRIES : m.entries.map(canonicalEntry),
        commit: m.commit,
        reject: m.reject,
        rejectHint: m.rejectHint,
        context: m.context,
        snapshot,
      },
      RESET_BUFFER_MODE,
    );
  }
}

/**
 * Decodes the payload of a Messages frame. One per connection: a record definition in a
 * frame can update the decoder's structure table, and a hostile frame must not be able to
 * change how another connection's frames decode.
 */
export class MessageDecoder {
  private readonly unpackr = new Unpackr({ structures: sharedStructures(), maxSharedStructures: MAX_SHARED_STRUCTURES, useRecords: true });

  /** Throws on anything that is not a sequence of complete msgpack values. */
  decode(payload: Uint8Array): unknown[] {
    if (payload.length === 0) return [];
    return this.unpackr.unpackMultiple(payload) as unknown[];
  }
}

// Control frames are rare and small: plain msgpack maps, no records, decoded as plain objects.
const controlPackr = new Packr({ useRecords: false, variableMapSize: true });
const controlUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export type ControlFrame = Record<string, unknown> & { k: string };

export function encodeControl(frame: ControlFrame): Buffer {
  const body = controlPackr.pack(frame);
  const out = Buffer.allocUnsafe(1 + body.length);
  out[0] = FrameKind.Control;
  out.set(body, 1);
  return out;
}

/** Returns the control map, or a reason string when the frame is not a well-formed control frame. */
export function decodeControl(frame: Buffer): ControlFrame | string {
  if (frame.length < 2 || frame[0] !== FrameKind.Control) return 'expected a control frame';
  let value: unknown;
  try {
    value = controlUnpackr.unpack(frame.subarray(1));
  } catch {
    return 'undecodable control frame';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { k?: unknown }).k !== 'string') {
    return 'control frame is not a map with a kind';
  }
  return value as ControlFrame;
}

export const SNAPSHOT_CHUNK_HEADER_BYTES = 5;

export function encodeSnapshotChunk(streamId: number, chunk: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(SNAPSHOT_CHUNK_HEADER_BYTES + chunk.length);
  out[0] = FrameKind.SnapshotChunk;
  out.writeUInt32BE(streamId, 1);
  out.set(chunk, SNAPSHOT_CHUNK_HEADER_BYTES);
  return out;
}

/** Converts what `ws` hands to a 'message' listener (binaryType 'nodebuffer') into one Buffer. */
export function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
