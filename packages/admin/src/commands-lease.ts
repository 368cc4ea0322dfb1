// `conclave lease grant|keep-alive|revoke|list`, `conclave lock NAME [-- COMMAND...]` (like
// etcdctl lock: the command runs while the lock is held, its fencing token in its
// environment) and `conclave elect NAME [VALUE]` (campaign and hold, or observe the leaders).
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { InvalidArgumentError } from '@conclave/core';
import type { AdminClient } from './client.js';
import { clientOptions, openClient, type CommonFlags } from './common.js';
import { parseIntArg } from './parse.js';

const DEFAULT_TTL_MS = 10_000;
const DEFAULT_WAIT_MS = 60_000;

/**
 * Keeps a lease alive from the client until stop(): a keep-alive at once, then every
 * TTL / 3; calls `lost` when the lease ended (LEASE_NOT_FOUND) or could not be renewed
 * within its TTL. `confirmed` resolves when the first keep-alive succeeded: the holding's
 * window then runs from that keep-alive's send. Before it, the lease may have as little
 * as 2/3 of its TTL left (the member renewed it every TTL / 3 while the lock was awaited,
 * and does not say when it last did). Exported for the nemesis' lock holders
 * (test/nemesis/lock-holder.ts), which hold locks as this command does.
 */
export function keepAliveLoop(
  client: Pick<AdminClient, 'leaseKeepAlive'>,
  id: number,
  ttlMs: number,
  lost: (why: string) => void,
): { stop: () => void; confirmed: Promise<boolean> } {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let validUntil = Date.now() + (2 * ttlMs) / 3;
  let confirm: (ok: boolean) => void = () => {};
  const confirmed = new Promise<boolean>((resolve) => (confirm = resolve));
  const end = (why: string): void => {
    confirm(false);
    lost(why);
  };
  const step = async (): Promise<void> => {
    if (stopped) return;
    const sent = Date.now();
    try {
      await client.leaseKeepAlive(id);
      validUntil = sent + ttlMs;
      confirm(true);
    } catch (err) {
      if ((err as { code?: string }).code === 'LEASE_NOT_FOUND') return end(`lease ${id} ended`);
    }
    if (Date.now() >= validUntil) return end(`lease ${id} was not renewed within its ${ttlMs} ms TTL`);
    if (!stopped) timer = setTimeout(() => void step(), Math.max(1, Math.min(ttlMs / 3, validUntil - Date.now())));
  };
  void step();
  return {
    stop: () => {
      stopped = true;
      confirm(false);
      if (timer) clearTimeout(timer);
    },
    confirmed,
  };
}

/** Resolves on SIGINT or SIGTERM. */
function untilSignal(): { done: Promise<void>; off: () => void } {
  let off = (): void => {};
  const done = new Promise<void>((resolve) => {
    const on = (): void => resolve();
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
    off = () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    };
  });
  return { done, off };
}

function parseTtl(v: string | undefined): number {
  return v === undefined ? DEFAULT_TTL_MS : parseIntArg('--ttl-ms', v, 1);
}

export function registerLeaseCommands(program: Command, common: (c: Command) => Command): void {
  const lease = program.command('lease').description('leases: keys attached to one are deleted when it expires or is revoked');
  common(lease.command('grant <ttlMs>').description('grant a lease of TTLMS milliseconds; prints its id')).action(async (ttl: string, f: CommonFlags) => {
    const ttlMs = parseIntArg('TTLMS', ttl, 1);
    const client = await openClient(clientOptions(f));
    try {
      const r = await client.leaseGrant(ttlMs);
      console.log(f.json ? JSON.stringify({ ok: true, ...r }) : `lease ${r.id} granted with TTL ${r.ttlMs} ms`);
    } finally {
      await client.close();
    }
  });
  common(lease.command('keep-alive <id>').description('renew lease ID once for its TTL')).action(async (idArg: string, f: CommonFlags) => {
    const id = parseIntArg('ID', idArg, 1);
    const client = await openClient(clientOptions(f));
    try {
      const r = await client.leaseKeepAlive(id);
      console.log(f.json ? JSON.stringify({ ok: true, ...r }) : `lease ${r.id} renewed for ${r.ttlMs} ms`);
    } finally {
      await client.close();
    }
  });
  common(lease.command('revoke <id>').description('revoke lease ID; its keys are deleted in the same entry')).action(async (idArg: string, f: CommonFlags) => {
    const id = parseIntArg('ID', idArg, 1);
    const client = await openClient(clientOptions(f));
    try {
      const r = await client.leaseRevoke(id);
      console.log(f.json ? JSON.stringify({ ok: true, ...r }) : `lease ${id} revoked at revision ${r.revision}; ${r.deleted} keys deleted`);
    } finally {
      await client.close();
    }
  });
  common(lease.command('list').description('the leases alive, with their keys (remaining time when the endpoint leads)')).action(async (f: CommonFlags) => {
    const client = await openClient(clientOptions(f));
    try {
      const r = await client.leaseList();
      if (f.json) return void console.log(JSON.stringify({ ok: true, ...r }));
      console.log('ID\tTTL_MS\tREMAINING_MS\tKEYS');
      for (const l of r.leases) console.log(`${l.id}\t${l.ttlMs}\t${l.remainingMs ?? '-'}\t${l.keys.join(',')}`);
    } finally {
      await client.close();
    }
  });

  common(
    program
      .command('lock <name> [command...]')
      .description('wait for lock NAME, then run COMMAND while holding it (CONCLAVE_LOCK_KEY and CONCLAVE_FENCING_TOKEN in its environment), or hold it until interrupted')
      .option('--ttl-ms <ms>', `the lock's lease TTL (default ${DEFAULT_TTL_MS})`)
      .option('--wait-ms <ms>', `how long to wait for the lock (default ${DEFAULT_WAIT_MS})`),
  ).action(async (name: string, command: string[], f: CommonFlags & { ttlMs?: string; waitMs?: string }) => {
    const ttlMs = parseTtl(f.ttlMs);
    const waitMs = f.waitMs === undefined ? DEFAULT_WAIT_MS : parseIntArg('--wait-ms', f.waitMs, 1);
    const client = await openClient(clientOptions(f));
    const held = await client.lockAcquire(name, ttlMs, waitMs);
    let lostWhy: string | null = null;
    let child: ReturnType<typeof spawn> | null = null;
    const loop = keepAliveLoop(client, held.leaseId, ttlMs, (why) => {
      lostWhy = why;
      console.error(`lock '${name}' lost: ${why}`);
      child?.kill('SIGTERM');
    });
    const sig = untilSignal();
    let exitCode = 0;
    try {
      // The command starts only inside a window this client confirmed itself; when the
      // first keep-alive fails, the loop has reported the loss and the exit code says it.
      const confirmed = await loop.confirmed;
      if (confirmed && command.length === 0) {
        console.log(f.json ? JSON.stringify({ ok: true, ...held }) : `${held.key} (fencing token ${held.fencingToken}); holding until interrupted`);
        await sig.done;
      } else if (confirmed) {
        child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env: { ...process.env, CONCLAVE_LOCK_KEY: held.key, CONCLAVE_FENCING_TOKEN: String(held.fencingToken) } });
        const c = child;
        exitCode = await new Promise<number>((resolve) => {
          c.on('error', (err) => {
            console.error(`cannot run ${command[0]}: ${err.message}`);
            resolve(127);
          });
          c.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
          void sig.done.then(() => c.kill('SIGTERM'));
        });
      }
    } finally {
      sig.off();
      loop.stop();
      await client.leaseRevoke(held.leaseId).catch(() => {});
      await client.close();
    }
    if (lostWhy !== null) exitCode = 1;
    process.exitCode = exitCode;
  });

  common(
    program
      .command('elect <name> [value]')
      .description('campaign in election NAME with VALUE and hold leadership until interrupted; without VALUE, print each new leader')
      .option('--ttl-ms <ms>', `the campaign's lease TTL (default ${DEFAULT_TTL_MS})`)
      .option('--wait-ms <ms>', `how long to wait to lead (default ${DEFAULT_WAIT_MS})`),
  ).action(async (name: string, value: string | undefined, f: CommonFlags & { ttlMs?: string; waitMs?: string }) => {
    if (name.length === 0) throw new InvalidArgumentError('NAME must not be empty');
    const client = await openClient(clientOptions(f));
    const sig = untilSignal();
    try {
      if (value === undefined) {
        const prefix = name.endsWith('/') ? name : `${name}/`;
        const w = client.watch({ prefix });
        void sig.done.then(() => w.close());
        let last: string | null = null;
        const show = async (): Promise<void> => {
          const { leader } = await client.electionLeader(name);
          const id = leader ? `${leader.key}@${leader.revision}` : null;
          if (leader && id !== last) console.log(f.json ? JSON.stringify(leader) : `${typeof leader.value === 'string' ? leader.value : JSON.stringify(leader.value)} (${leader.key}, revision ${leader.revision})`);
          last = id;
        };
        await show();
        for await (const batch of w) if (batch.events.length > 0) await show();
        return;
      }
      const ttlMs = parseTtl(f.ttlMs);
      const waitMs = f.waitMs === undefined ? DEFAULT_WAIT_MS : parseIntArg('--wait-ms', f.waitMs, 1);
      const held = await client.electionCampaign(name, value, ttlMs, waitMs);
      let lost = false;
      const loop = keepAliveLoop(client, held.leaseId, ttlMs, (why) => {
        lost = true;
        console.error(`leadership of '${name}' lost: ${why}`);
        process.kill(process.pid, 'SIGTERM');
      });
      // Announced only once this client confirmed the lease itself, as `lock` does.
      if (await loop.confirmed) console.log(f.json ? JSON.stringify({ ok: true, ...held }) : `elected: ${held.key} (revision ${held.fencingToken}); resigning on interrupt`);
      await sig.done;
      loop.stop();
      await client.leaseRevoke(held.leaseId).catch(() => {});
      if (lost) process.exitCode = 1;
    } finally {
      sig.off();
      await client.close();
    }
  });
}
