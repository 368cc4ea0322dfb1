// writeBufferBytes: LevelDB's memtable size, validated and passed through at open.
import test from 'ava';
import { NodeStorage } from '@conclave/storage';
import { removeDir, tempDir } from './helpers.js';

test('writeBufferBytes is passed to LevelDB; a bad value is refused naming it', async (t) => {
  const dir = tempDir('write-buffer');
  try {
    const s = await NodeStorage.open({ path: dir, writeBufferBytes: 1024 * 1024 });
    await s.writeReady({ hardState: { term: 1, vote: '', commit: 0 } });
    await s.close();
    for (const bad of [0, -1, 1.5, 2 * 1024 * 1024 * 1024]) {
      await t.throwsAsync(() => NodeStorage.open({ path: dir, writeBufferBytes: bad }), { message: /writeBufferBytes must be/ }, String(bad));
    }
  } finally {
    removeDir(dir);
  }
});
