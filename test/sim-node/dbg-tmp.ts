import { runSeed } from './schedule.js';
import { checkKey } from '../nemesis/linearizability.js';
const r = await runSeed({ seed: 1 });
const ops = r.history.filter((o) => o.key === 'r0');
for (const o of ops) if (o.invokeMs > 3000 && o.invokeMs < 4200) console.log(JSON.stringify(o));
console.log(checkKey('r0', ops).message);
