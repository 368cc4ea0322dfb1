// A child process for level-lifetime.test.ts: opens a ConclaveLevel, writes, and never
// closes it. Mode `alone`: a group of one, and a last write not awaited (it must still
// complete before the process exits). Mode `member`: a member of a 2-member group whose
// other member never starts. Prints what it did on stdout, one line each.
// Usage: node --conditions=conclave-source --import=tsx lifetime-child.ts alone|member DIR [PORT PORT2]
import { ConclaveLevel } from '../../src/index.js';
import { quietLogger } from '../helpers.js';

const [mode, dir, port, port2] = process.argv.slice(2);
if (mode === 'alone') {
  const db = new ConclaveLevel(dir!, { conclave: { logger: quietLogger } });
  await db.put('first', 'a');
  console.log('first written');
  // Not awaited: the process must not exit before it completes.
  void db.put('last', 'b').then(() => console.log('last written'));
} else if (mode === 'member') {
  const peers = { n1: `127.0.0.1:${port}`, n2: `127.0.0.1:${port2}` };
  const db = new ConclaveLevel(dir!, { conclave: { id: 'n1', listen: peers.n1, peers, logger: quietLogger } });
  await db.open();
  console.log('member open');
} else {
  throw new Error('usage: lifetime-child.ts alone|member DIR [PORT PORT2]');
}
