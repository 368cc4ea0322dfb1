// `conclave dashboard` in a real browser: Debian's Chromium, headless, driven by
// playwright-core (which downloads nothing). Three node processes; the page shows the
// members and the leader, follows a transfer asked through its own button, a killed leader,
// and an override set through the CLI (a red banner), cleared again through its button.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { ProcessGroup } from '../cluster/harness.js';
import { runCli } from '../admin/run-cli.js';

// The functions passed to waitFor and evaluate run in the page: the browser's globals, typed as
// little as they are used (this project's TypeScript has no DOM library).
interface PageElement {
  textContent: string | null;
  dataset: Record<string, string | undefined>;
}
declare const document: { getElementById(id: string): PageElement | null; querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): { length: number } };
declare function getComputedStyle(el: unknown): { backgroundColor: string };

const CLI = fileURLToPath(new URL('../../packages/admin/src/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
/** Where the test leaves its screenshot (ignored by git). */
export const OUTPUT_DIR = fileURLToPath(new URL('../.output/dashboard/', import.meta.url));
const STEP_MS = 60_000;

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p): p is string => !!p && existsSync(p)) ?? null;
const TITLE = 'the dashboard in headless Chromium: members and leader, a transfer by button, a killed leader, an override banner set by the CLI and cleared by button';

/** Starts `conclave dashboard` and resolves with its URL (the line it prints). */
function startDashboard(endpoints: readonly string[]): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', TSX, CLI, 'dashboard', '--port', '0', '--interval-ms', '300', ...endpoints.flatMap((e) => ['--endpoint', e])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (b: Buffer) => (out = (out + b.toString()).slice(-20_000));
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the dashboard printed no URL within ${STEP_MS} ms:\n${out}`)), STEP_MS);
    const check = () => {
      const m = /conclave dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, output: () => out });
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the dashboard exited (${code}) before printing its URL:\n${out}`));
    });
  });
}

async function leaderShown(page: Page): Promise<string> {
  return (await page.locator('#leader').getAttribute('data-leader')) ?? '';
}

async function confirmAction(page: Page, action: string, node: string): Promise<void> {
  await page.locator(`tr[data-member="${node}"] button[data-action="${action}"]`).click({ timeout: STEP_MS });
  await page.locator('#confirm-ok').click({ timeout: STEP_MS });
  await page.waitForFunction(() => /^(OK|FAILED)/.test(document.getElementById('result')?.textContent ?? ''), undefined, { timeout: STEP_MS });
}

if (!CHROMIUM && process.env.CI === 'true') {
  test(TITLE, (t) => t.fail('Chromium is missing under CI=true: .ci/run installs the Debian package chromium'));
} else if (!CHROMIUM) {
  console.log('dashboard browser test SKIPPED: no Chromium (apt-get install chromium, or set CHROMIUM_PATH)');
  test.skip(`${TITLE} (skipped: no Chromium; apt-get install chromium)`, () => {});
} else {
  test(TITLE, async (t) => {
    t.timeout(300_000);
    const g = await ProcessGroup.start({ nodes: 3 });
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    let dash: Awaited<ReturnType<typeof startDashboard>> | null = null;
    try {
      const first = await g.waitForLeader(STEP_MS);
      dash = await startDashboard(Object.values(g.peers));
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      await page.goto(dash.url, { timeout: STEP_MS });

      // Every member, and the leader the group agrees on.
      await page.waitForFunction(() => document.querySelectorAll('#members tbody tr[data-member]').length === 3, undefined, { timeout: STEP_MS });
      await page.waitForFunction((id) => document.getElementById('leader')?.dataset.leader === id, first, { timeout: STEP_MS });
      t.is(await page.locator(`tr[data-member="${first}"] td.role`).textContent(), 'leader');
      t.is(await page.locator('#e-size').textContent(), '3');
      t.is(await page.locator('.banner').count(), 0, 'no override, no banner');

      // An operator action, confirmed in the page: leadership moves to the member asked.
      const target = Object.keys(g.peers).find((id) => id !== first)!;
      await confirmAction(page, 'transfer-leader', target);
      t.regex((await page.locator('#result').textContent()) ?? '', /^OK/);
      await page.waitForFunction((id) => document.getElementById('leader')?.dataset.leader === id, target, { timeout: STEP_MS });

      // The leader dies: the page shows the one the survivors elect.
      await g.kill(target);
      const next = await g.waitForLeader(STEP_MS, target);
      await page.waitForFunction((id) => document.getElementById('leader')?.dataset.leader === id, next, { timeout: STEP_MS });
      await page.waitForFunction((id) => document.querySelector(`tr[data-member="${id}"] td.reach`)?.textContent?.startsWith('no'), target, { timeout: STEP_MS });
      t.not(await leaderShown(page), target);

      // An override set through the CLI shows as a red banner naming the member.
      const survivor = Object.keys(g.peers).find((id) => id !== target)!;
      const set = await runCli(['override', 'set', '2', '--node', survivor, '--force', ...Object.values(g.peers).flatMap((e) => ['--endpoint', e])]);
      t.is(set.code, 0, set.stdout + set.stderr);
      const banner = page.locator(`.banner[data-member="${survivor}"]`);
      await banner.waitFor({ state: 'visible', timeout: STEP_MS });
      t.regex((await banner.textContent()) ?? '', new RegExp(`${survivor} runs with electable group size override 2`));
      t.is(await banner.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(198, 40, 40)', 'the banner is red');

      mkdirSync(OUTPUT_DIR, { recursive: true });
      const shot = join(OUTPUT_DIR, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      t.true(existsSync(shot));
      t.log(`screenshot: ${shot}`);

      // Cleared through the page's button (with its confirmation): the banner goes.
      await confirmAction(page, 'clear-override', survivor);
      await banner.waitFor({ state: 'detached', timeout: STEP_MS });
      t.is(await page.locator('.banner').count(), 0);
    } catch (err) {
      t.log(dash?.output() ?? '(no dashboard output)');
      t.log(g.logs());
      throw err;
    } finally {
      await browser.close();
      dash?.child.kill('SIGTERM');
      await g.close();
    }
  });
}
