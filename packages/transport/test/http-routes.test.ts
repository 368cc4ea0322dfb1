// Plain HTTP GETs on a node's port (GET /metrics): the admin endpoint's rule. The admin
// secret as a bearer token when set; open on loopback without one; refused beyond loopback
// without one; anything else on the port still answers 426 (use the WebSocket).
import test from 'ava';
import { createServer, type Server } from 'node:http';
import { HttpRoutes, type HttpAuth } from '../src/http.js';

async function serve(auth: HttpAuth, setup: (r: HttpRoutes) => void): Promise<{ url: string; server: Server }> {
  const routes = new HttpRoutes(auth);
  setup(routes);
  const server = createServer((req, res) => routes.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const a = server.address() as { port: number };
  return { url: `http://127.0.0.1:${a.port}`, server };
}

const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers, signal: AbortSignal.timeout(10_000) });

test('beyond loopback without an admin secret: 403 naming the fix; the handler never runs', async (t) => {
  let calls = 0;
  const { url, server } = await serve({ adminSecret: null, enabled: false, authFailed: () => {} }, (r) =>
    r.add('/metrics', () => {
      calls++;
      return { status: 200, contentType: 'text/plain', body: 'x' };
    }),
  );
  try {
    const res = await get(`${url}/metrics`);
    t.is(res.status, 403);
    t.regex(await res.text(), /beyond loopback without an admin secret/);
    t.is(calls, 0);
  } finally {
    server.close();
  }
});

test('with a secret: 401 and a counted failure without the right bearer token, 200 with it; 426, 405 and a handler error as such', async (t) => {
  let failures = 0;
  const secret = Buffer.from('0123456789abcdef-secret');
  const { url, server } = await serve({ adminSecret: secret, enabled: true, authFailed: () => failures++ }, (r) => {
    r.add('/metrics', () => ({ status: 200, contentType: 'text/plain; version=0.0.4', body: 'conclave_term 3\n' }));
    r.add('/broken', () => {
      throw new Error('collector failed');
    });
  });
  try {
    t.is((await get(`${url}/metrics`)).status, 401);
    t.is((await get(`${url}/metrics`, { Authorization: 'Bearer 0123456789abcdef-secreT' })).status, 401);
    t.is((await get(`${url}/metrics`, { Authorization: 'Basic abc' })).status, 401);
    t.is(failures, 3);
    const ok = await get(`${url}/metrics`, { Authorization: `Bearer ${secret.toString()}` });
    t.is(ok.status, 200);
    t.is(await ok.text(), 'conclave_term 3\n');
    t.is(ok.headers.get('content-type'), 'text/plain; version=0.0.4');
    const broken = await get(`${url}/broken`, { Authorization: `Bearer ${secret.toString()}` });
    t.is(broken.status, 500);
    t.regex(await broken.text(), /collector failed/);
    t.is((await get(`${url}/elsewhere`)).status, 426);
    t.is((await fetch(`${url}/metrics`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) })).status, 405);
  } finally {
    server.close();
  }
});

test('a route is a plain path, served once, never /peer or /admin', (t) => {
  const r = new HttpRoutes({ adminSecret: null, enabled: true, authFailed: () => {} });
  const h = () => ({ status: 200, contentType: 'text/plain', body: '' });
  r.add('/metrics', h);
  t.throws(() => r.add('/metrics', h), { code: 'INVALID_ARGUMENT', message: /already served/ });
  t.throws(() => r.add('/admin', h), { code: 'INVALID_ARGUMENT', message: /WebSocket endpoint/ });
  t.throws(() => r.add('metrics', h), { code: 'INVALID_ARGUMENT', message: /path like \/metrics/ });
});
