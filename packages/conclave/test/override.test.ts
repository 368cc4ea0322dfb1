// OverrideControl on its own (manual clock, stand-in core and storage): stored before it is
// applied, put back if the core refuses, where it came from, and its warnings.
import test from 'ava';
import { ConfChangeError } from '../src/errors.js';
import { OverrideControl } from '../src/override.js';
import { roomContext } from './rooms.js';

function control(options = {}, refuse = false) {
  const calls: string[] = [];
  const state = { override: 0 };
  const warnings: string[] = [];
  const room = roomContext({
    options: { ...options, logger: { info: () => {}, warn: (m: string) => warnings.push(m), error: () => {} } },
    raft: {
      get electableGroupSizeOverride() {
        return state.override;
      },
      electableCount: 3,
      overrideSpan: null,
      overrideSpanAfter: (n: number) => (n > 0 ? { from: 5, to: 4 } : null),
      setElectableGroupSizeOverride: (n: number) => {
        calls.push(`core ${n}`);
        if (refuse) throw new Error('E changed');
        const previous = state.override;
        state.override = n;
        return { previous, current: n, electableGroupSize: 3 };
      },
      status: () => ({ electableGroupSize: 3 }),
    } as never,
    storage: {
      setSettings: async (s: { electableGroupSizeOverride?: number }) => void calls.push(`store ${s.electableGroupSizeOverride ?? 'span'}`),
    } as never,
  });
  const events: unknown[] = [];
  room.ctx.emitEvent = (_e, ...args) => void events.push(args[0]);
  return { ...room, o: new OverrideControl(room.ctx, async () => null), calls, state, warnings, events };
}

test('set: stored first, then applied; the event and the origin say so', async (t) => {
  const c = control();
  t.deepEqual(c.o.origin(), { overrideSource: 'none', overrideUntilMajority: false });
  const r = await c.o.set(2);
  t.deepEqual(r, { previous: 0, current: 2, electableGroupSize: 3 });
  t.deepEqual(c.calls.slice(0, 2), ['store 2', 'core 2']);
  t.deepEqual(c.events, [r]);
  t.is(c.o.origin().overrideSource, 'runtime');
});

test('a refusal of the core puts the stored setting back', async (t) => {
  const c = control({}, true);
  await t.throwsAsync(c.o.set(2), { message: 'E changed' });
  t.deepEqual(c.calls, ['store 2', 'core 2', 'store 0']);
});

test('an override from the start option reads as option; warnings repeat while it is on and stop when cleared', async (t) => {
  const c = control({ electableGroupSizeOverride: 2 });
  c.state.override = 2;
  t.is(c.o.origin().overrideSource, 'option');
  c.o.startWarnings();
  await c.clock.advance(30_000);
  t.true(c.warnings.some((w) => /running with electable group size override 2/.test(w)));
  await c.o.set(0);
  const before = c.clock.pending;
  t.is(before, 0, 'no warning timer left');
  c.o.close();
});

test('checkAllows: adding an electable member under an override is refused unless forced', (t) => {
  const c = control();
  c.state.override = 2;
  t.throws(() => c.o.checkAllows({ op: 'addElectable', id: 'n4', address: '127.0.0.1:4' }, false), { instanceOf: ConfChangeError });
  t.notThrows(() => c.o.checkAllows({ op: 'addElectable', id: 'n4', address: '127.0.0.1:4' }, true));
});
