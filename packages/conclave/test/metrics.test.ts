// GET /metrics: scraped over HTTP from a running group, parsed with a Prometheus text parser;
// the admin secret as a bearer token; `metrics: false`; structured logs through a pino-compatible logger.
import test from 'ava';
import { createRequire } from 'node:module';
import { openNode } from '../src/index.js';
import { freePorts, startGroup, tempDir, waitFor } from './helpers.js';

interface PromFamily {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}
const parsePrometheusTextFormat = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => PromFamily[];

async function scrape(address: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; contentType: string | null }> {
  const res = await fetch(`http://${address}/metrics`, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text(), contentType: res.headers.get('content-type') };
}

function family(families: PromFamily[], name: string): PromFamily {
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`metric ${name} missing from the scrape (have: ${families.map((x) => x.name).join(', ')})`);
  return f;
}

function value(families: PromFamily[], name: string, labels: Record<string, string> = {}): number {
  const f = family(families, name);
  const m = f.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  if (!m) throw new Error(`${name}${JSON.stringify(labels)} has no sample`);
  return Number(m.value);
}

const REQUIRED = [
  'conclave_has_leader',
  'conclave_is_leader',
  'conclave_term',
  'conclave_commit_index',
  'conclave_applied_index',
  'conclave_leader_changes_total',
  'conclave_elections_total',
  'conclave_proposals_committed_total',
  'conclave_proposals_failed_total',
  'conclave_electable_group_size',
  'conclave_electable_group_size_override',
  'conclave_peer_lag_entries',
  'conclave_peer_active',
  'conclave_commit_ack_seconds',
  'conclave_storage_sync_seconds',
  'conclave_snapshot_installs_total',
  'conclave_rollbacks_total',
  'conclave_transport_frames_refused_total',
  'process_cpu_user_seconds_total',
  'nodejs_eventloop_lag_seconds',
];

test('GET /metrics on a leader and a follower: every listed metric, in the Prometheus text format, with the values of the group', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader(10_000);
    for (let i = 0; i < 20; i++) await leader.put(`k${i}`, i);
    await t.throwsAsync(leader.compareAndSet('k0', 'not-this', 1, { durability: { replicaAck: 'bogus' as never } }), { code: 'INVALID_ARGUMENT' });
    const res = await scrape(leader.address);
    t.is(res.status, 200);
    t.regex(res.contentType ?? '', /^text\/plain; version=0\.0\.4/);
    const fams = parsePrometheusTextFormat(res.text);
    for (const name of REQUIRED) t.truthy(fams.find((f) => f.name === name), `${name} is served`);
    const st = leader.status();
    t.is(value(fams, 'conclave_is_leader'), 1);
    t.is(value(fams, 'conclave_has_leader'), 1);
    t.is(value(fams, 'conclave_term'), st.term);
    t.true(value(fams, 'conclave_commit_index') >= 20);
    t.true(value(fams, 'conclave_applied_index') >= 20);
    t.is(value(fams, 'conclave_electable_group_size'), 3);
    t.is(value(fams, 'conclave_electable_group_size_override'), 0);
    t.is(value(fams, 'conclave_proposals_committed_total'), 20);
    t.is(value(fams, 'conclave_elections_total', { result: 'won' }), st.counters.electionsWon);
    t.true(value(fams, 'conclave_elections_total', { result: 'won' }) >= 1);
    t.is(value(fams, 'conclave_leader_changes_total'), st.counters.leaderChanges);
    const ack = family(fams, 'conclave_commit_ack_seconds');
    t.is(ack.type, 'HISTOGRAM');
    t.is(Number(ack.metrics[0]!.count), 20);
    t.true(Number(ack.metrics[0]!.sum) > 0);
    t.true(Number(family(fams, 'conclave_storage_sync_seconds').metrics[0]!.count) > 0);
    const followers = Object.keys(g.peers).filter((id) => id !== leader.id);
    for (const id of followers) {
      t.is(value(fams, 'conclave_peer_active', { peer: id }), 1);
      t.true(value(fams, 'conclave_peer_lag_entries', { peer: id }) >= 0);
    }

    const follower = g.nodes.get(followers[0]!)!;
    const ff = parsePrometheusTextFormat((await scrape(follower.address)).text);
    t.is(value(ff, 'conclave_is_leader'), 0);
    t.is(value(ff, 'conclave_has_leader'), 1);
    t.is(value(ff, 'conclave_proposals_committed_total'), 0, 'a follower proposed nothing itself');
    t.deepEqual(family(ff, 'conclave_peer_lag_entries').metrics, [], 'lag is the leader\'s view');

    // The override shows as set on the member that has it.
    await follower.setElectableGroupSizeOverride(2);
    t.is(value(parsePrometheusTextFormat((await scrape(follower.address)).text), 'conclave_electable_group_size_override'), 2);
  } finally {
    await g.close();
  }
});

test('a failed write on the leader counts in conclave_proposals_failed_total under its error code', async (t) => {
  const g = await startGroup(3, { insufficientReplicasTimeoutMs: 200 });
  try {
    const leader = await g.waitForLeader(10_000);
    await leader.put('a', 1);
    for (const n of g.nodes.values()) if (n !== leader) await n.close();
    // Refused up front (INSUFFICIENT_REPLICAS) or proposed and not acknowledged in time: either way one failure under its code.
    const err = await t.throwsAsync(leader.put('b', 2, { durability: { ackTimeoutMs: 300 } }));
    const code = (err as { code?: string }).code!;
    t.true(['INSUFFICIENT_REPLICAS', 'INSUFFICIENT_ACKS', 'WRITE_OUTCOME_UNKNOWN', 'NOT_LEADER'].includes(code), code);
    const fams = parsePrometheusTextFormat((await scrape(leader.address)).text);
    t.is(value(fams, 'conclave_proposals_failed_total', { code }), 1);
    t.is(value(fams, 'conclave_proposals_committed_total'), 1);
  } finally {
    await g.close();
  }
});

test('with an admin secret /metrics needs it as a bearer token; metrics: false serves none; other paths still answer 426', async (t) => {
  const adminSecret = 'metrics-admin-secret-0123456789';
  const [port, port2] = await freePorts(2);
  const dir = tempDir('metrics-auth');
  const dir2 = tempDir('metrics-off');
  const node = await openNode({ id: 'm1', dataDir: dir.path, listen: `127.0.0.1:${port}`, peers: { m1: `127.0.0.1:${port}` }, adminSecret, tickMs: 20, logger: { info() {}, warn() {}, error() {} } });
  const off = await openNode({ id: 'm2', dataDir: dir2.path, listen: `127.0.0.1:${port2}`, peers: { m2: `127.0.0.1:${port2}` }, metrics: false, tickMs: 20, logger: { info() {}, warn() {}, error() {} } });
  try {
    const none = await scrape(node.address);
    t.is(none.status, 401);
    t.regex(none.text, /Authorization: Bearer/);
    t.is((await scrape(node.address, { Authorization: 'Bearer wrong-secret-wrong-secret-xx' })).status, 401);
    const ok = await scrape(node.address, { Authorization: `Bearer ${adminSecret}` });
    t.is(ok.status, 200);
    t.truthy(parsePrometheusTextFormat(ok.text).find((f) => f.name === 'conclave_term'));
    const post = await fetch(`http://${node.address}/metrics`, { method: 'POST', headers: { Authorization: `Bearer ${adminSecret}` }, signal: AbortSignal.timeout(10_000) });
    t.is(post.status, 405);
    t.is((await fetch(`http://${node.address}/other`, { signal: AbortSignal.timeout(10_000) })).status, 426);
    t.is((await scrape(off.address)).status, 426, 'metrics: false: no /metrics route');
    await t.throwsAsync(openNode({ id: 'm3', dataDir: dir2.path, listen: '127.0.0.1:1', metrics: 'yes' as never }), { code: 'INVALID_ARGUMENT', message: /metrics must be a boolean/ });
  } finally {
    await node.close();
    await off.close();
    dir.remove();
    dir2.remove();
  }
});

test('a pino-compatible logger gets structured lines: nodeId, term, role and a stable event name', async (t) => {
  const lines: { level: string; fields: Record<string, unknown>; msg: string | undefined }[] = [];
  const logger = {
    info: (fields: Record<string, unknown>, msg?: string) => lines.push({ level: 'info', fields, msg }),
    warn: (fields: Record<string, unknown>, msg?: string) => lines.push({ level: 'warn', fields, msg }),
    error: (fields: Record<string, unknown>, msg?: string) => lines.push({ level: 'error', fields, msg }),
  };
  const [port] = await freePorts(1);
  const dir = tempDir('log-events');
  const node = await openNode({ id: 'l1', dataDir: dir.path, listen: `127.0.0.1:${port}`, peers: { l1: `127.0.0.1:${port}` }, tickMs: 20, logger });
  try {
    await waitFor(() => node.isLeader, 10_000, 'l1 to lead');
    await node.setElectableGroupSizeOverride(1, { force: true }).catch(() => node.setElectableGroupSizeOverride(1));
    await node.setElectableGroupSizeOverride(0);
    const byEvent = (e: string) => lines.find((l) => l.fields.event === e);
    t.truthy(byEvent('node_started'));
    const elected = await waitFor(() => byEvent('leader_elected'), 10_000, 'a leader_elected line');
    t.like(elected.fields, { nodeId: 'l1', role: 'leader', leader: 'l1' });
    t.true((elected.fields.term as number) >= 1);
    t.is(elected.level, 'info');
    t.like(byEvent('override_set'), { level: 'warn', fields: { nodeId: 'l1', event: 'override_set' } });
    t.truthy(byEvent('override_cleared'));
    for (const l of lines) {
      t.is(typeof l.fields.event, 'string');
      t.is(l.fields.nodeId, 'l1');
      t.is(typeof l.msg, 'string');
    }
    await t.throwsAsync(openNode({ id: 'l2', dataDir: dir.path, listen: '127.0.0.1:1', logger: { info() {} } as never }), { code: 'INVALID_ARGUMENT', message: /logger must have info, warn and error/ });
  } finally {
    await node.close();
    dir.remove();
  }
  t.truthy(lines.find((l) => l.fields.event === 'node_stopped'));
});
