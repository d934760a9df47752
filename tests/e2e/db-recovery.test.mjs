// End-to-end: the database view on IndexedDB, driven through the built site (dist/) in a
// real Chromium the way a person would, with a page reload as the crash. Transactions
// acknowledged before the reload must come back; a transaction left open (its update made
// durable by the WAL writer, its commit never written) must be undone by recovery, and the
// recovery report must say so.
//
// Run: node --test tests/e2e/db-recovery.test.mjs   (after `trunk build --release`)
// Env: LOGSPINE_DIST (default: <repo>/dist), CHROMIUM_PATH (default: /usr/bin/chromium).
// Screenshots of the database view at 1280 and 375 px wide are saved in tests/e2e/artifacts/.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.resolve(process.env.LOGSPINE_DIST ?? path.join(HERE, '..', '..', 'dist'));
const ARTIFACTS = path.join(HERE, 'artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 20_000;

const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// The database view's test hooks (web/src/db_view.rs renders these).
const DB_READY = '[data-testid="db"][data-db-ready="true"][data-recovery="done"]';
const ACKED = 'ol[aria-label="Your transactions"] li[data-state="acked"]';
const OPEN_TXN = '[data-testid="open-txn"]';
const KEY_ROWS = 'table[aria-label="Stored keys"] tbody tr';
const REPORT = '[data-testid="db-recovery-report"]';
const UNDO_STEPS = 'ol[aria-label="Recovery steps"] li[data-phase="undo"]';
const BATCHES = 'ol[aria-label="WAL sync batches"] li[data-status]';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** A static file server for `root` on 127.0.0.1 and a free port. */
async function serveStatic(root) {
  const server = http.createServer(async (req, res) => {
    let status = 200;
    let body;
    let type = 'text/plain; charset=utf-8';
    try {
      let rel = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
      if (rel.endsWith('/')) rel += 'index.html';
      const file = path.resolve(root, `.${rel}`);
      if (!file.startsWith(root + path.sep)) {
        status = 403;
        body = 'forbidden';
      } else {
        body = await fsp.readFile(file);
        type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
      }
    } catch {
      status = 404;
      body = 'not found';
    }
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

function isLocal(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === 'data:' || u.protocol === 'blob:' || u.protocol === 'about:') return true;
  return ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}

test('acknowledged commits survive a reload; an open transaction is undone', { timeout: 180_000 }, async (t) => {
  assert.ok(
    fs.existsSync(path.join(DIST, 'index.html')),
    `${DIST}/index.html does not exist: build the site first (trunk build --release)`,
  );
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (bash scripts/tools.sh installs it)`);
  await fsp.mkdir(ARTIFACTS, { recursive: true });

  const { server, origin } = await serveStatic(DIST);
  const userDataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logspine-e2e-db-'));
  const problems = [];
  let context;
  let page;
  try {
    // A persistent profile, so that IndexedDB outlives the reload exactly as it would for a person.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
    // Nothing may leave this machine: record and block any request to another origin.
    await context.route('**/*', (route) => {
      const request = route.request();
      if (isLocal(request.url())) return route.continue();
      problems.push(`request to a non-localhost origin: ${request.method()} ${request.url()}`);
      return route.abort('blockedbyclient');
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const where = msg.location()?.url ? ` at ${msg.location().url}:${msg.location().lineNumber}` : '';
      problems.push(`console error: ${msg.text()}${where}`);
    });
    page.on('pageerror', (err) => problems.push(`uncaught exception in the page: ${err.stack ?? err}`));
    page.on('websocket', (ws) => {
      if (!isLocal(ws.url())) problems.push(`websocket to a non-localhost origin: ${ws.url()}`);
    });

    const waitForCount = async (selector, n, what) => {
      try {
        await page.waitForFunction(
          ([sel, want]) => document.querySelectorAll(sel).length === want,
          [selector, n],
          { timeout: STEP_TIMEOUT_MS },
        );
      } catch {
        const found = await page.locator(selector).count();
        throw new Error(`${what}: expected exactly ${n} × ${selector}, found ${found} after ${STEP_TIMEOUT_MS} ms`);
      }
    };
    const waitFor = async (selector, what) => {
      try {
        await page.locator(selector).first().waitFor({ state: 'attached' });
      } catch {
        const alert = await page.locator('[role="alert"]').allInnerTexts().catch(() => []);
        throw new Error(`${what}: ${selector} did not appear within ${STEP_TIMEOUT_MS} ms${alert.length ? `; alerts: ${alert.join(' | ')}` : ''}`);
      }
    };
    const keyRows = async () =>
      page.locator(KEY_ROWS).evaluateAll((rows) =>
        rows.map((r) => [r.dataset.key, r.querySelectorAll('td')[1]?.textContent ?? '']),
      );
    const fillKeyValue = async (key, value) => {
      await page.getByLabel('Key', { exact: true }).fill(key);
      await page.getByLabel('Value', { exact: true }).fill(value);
    };

    await page.goto(`${origin}/`);
    await waitFor(DB_READY, 'first load: the database opened and recovered');
    await waitForCount(KEY_ROWS, 0, 'a fresh profile starts with an empty database');

    // Three transactions through the form, each acknowledged (its commit record's sync done).
    const committed = [['apple', 'red'], ['banana', 'yellow'], ['cherry', 'dark red']];
    for (const [i, [key, value]] of committed.entries()) {
      await fillKeyValue(key, value);
      await page.getByRole('button', { name: 'Commit put', exact: true }).click();
      await waitForCount(ACKED, i + 1, `after committing ${key}, ${i + 1} transactions are acknowledged`);
    }
    await waitForCount(KEY_ROWS, 3, 'the three acknowledged keys are stored');

    // A fourth key in a transaction left open. Its update record becomes durable with the
    // background WAL writer's sync (the page shows it); its commit record never exists.
    await fillKeyValue('durian', 'uncommitted');
    await page.getByRole('button', { name: 'Put in open transaction', exact: true }).click();
    await waitFor(`${OPEN_TXN}[data-durable="true"]`, "the open transaction's update reached IndexedDB");
    const openTxn = await page.locator(OPEN_TXN).getAttribute('data-txn');
    assert.match(openTxn ?? '', /^\d+$/, `the open transaction has an id, got ${JSON.stringify(openTxn)}`);
    assert.deepEqual(
      (await keyRows()).map(([k]) => k),
      ['apple', 'banana', 'cherry'],
      'an uncommitted write is not visible outside its transaction',
    );
    // A second writer of the open transaction's key is refused, in an alert, not a panic.
    await fillKeyValue('durian', 'other');
    await page.getByRole('button', { name: 'Commit put', exact: true }).click();
    const alert = page.locator('[data-testid="db"] [role="alert"]');
    await alert.waitFor();
    const alertText = await alert.innerText();
    assert.match(alertText, new RegExp(`locked by txn ${openTxn}`), `the conflict alert names the holder: ${JSON.stringify(alertText)}`);
    await page.getByRole('button', { name: 'Dismiss the database error', exact: true }).click();
    await alert.waitFor({ state: 'detached' });

    const batches = await page.locator(BATCHES).count();
    assert.ok(batches >= 3, `the WAL strip shows the syncs (at least one per commit), found ${batches}`);

    // The crash: a reload drops the page's memory; IndexedDB keeps what syncs made durable.
    await page.reload();
    await waitFor(DB_READY, 'after the reload: the database recovered and every recovery step was shown');

    assert.deepEqual(
      await keyRows(),
      committed,
      'after the reload, exactly the three acknowledged keys are stored, with their values',
    );
    const report = ((await page.locator(REPORT).first().innerText()) ?? '').replace(/\s+/g, ' ').trim();
    t.diagnostic(`recovery report: ${report}`);
    assert.ok(report.includes('1 to roll back'), `analysis should find one loser, but the report reads ${JSON.stringify(report)}`);
    const undone = [...report.matchAll(/rolled back txn (\d+)/g)].map((m) => m[1]);
    assert.deepEqual(undone, [openTxn], `the report should name the open transaction (txn ${openTxn}) as rolled back: ${JSON.stringify(report)}`);
    const undoSteps = await page.locator(UNDO_STEPS).evaluateAll((lis) => lis.map((li) => li.dataset.case));
    assert.ok(undoSteps.includes('U1') && undoSteps.includes('U3'), `undo steps U1 and U3 are shown, got ${JSON.stringify(undoSteps)}`);

    // The workload generator: real transactions from 16 clients; commits share syncs.
    await page.getByLabel('Clients', { exact: true }).fill('16');
    await page.getByLabel('Transactions per second', { exact: true }).fill('1000');
    await page.getByRole('button', { name: 'Start workload', exact: true }).click();
    await page.waitForFunction(
      () => {
        const text = document.querySelector('[data-testid="workload-stats"]')?.textContent ?? '';
        const m = text.match(/acknowledged (\d+)/);
        return m && Number(m[1]) >= 100;
      },
      null,
      { timeout: STEP_TIMEOUT_MS },
    );
    await page.getByRole('button', { name: 'Stop workload', exact: true }).click();
    await waitFor('[data-testid="workload-stats"][data-running="false"]', 'the workload stopped');
    const groupCommit = (await page.locator('[data-testid="group-commit-stats"]').innerText()).trim();
    t.diagnostic(`group commit: ${groupCommit}`);
    const perSync = Number(groupCommit.match(/\(([\d.]+) per sync\)/)?.[1]);
    assert.ok(perSync > 1, `with 16 clients, commits should share syncs: ${JSON.stringify(groupCommit)}`);

    // Screenshots of the database view, wide and narrow (after the last entrance animations).
    await page.waitForTimeout(400);
    const db = page.locator('[data-testid="db"]');
    const wide = path.join(ARTIFACTS, 'db-view-1280.png');
    await db.screenshot({ path: wide });
    await page.setViewportSize({ width: 375, height: 800 });
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 375, `at 375 px the page must not scroll sideways (scrollWidth ${scrollWidth})`);
    const narrow = path.join(ARTIFACTS, 'db-view-375.png');
    await db.screenshot({ path: narrow });
    t.diagnostic(`screenshots: ${path.relative(process.cwd(), wide)}, ${path.relative(process.cwd(), narrow)}`);

    if (problems.length > 0) throw new Error(`the page misbehaved:\n  ${problems.join('\n  ')}`);
  } catch (err) {
    if (page) {
      await page.screenshot({ path: path.join(ARTIFACTS, 'db-recovery-failure.png'), fullPage: true }).catch(() => {});
    }
    if (problems.length > 0 && !String(err.message).includes('the page misbehaved')) {
      err.message += `\nwhat the page did wrong on the way:\n  ${problems.join('\n  ')}`;
    }
    throw err;
  } finally {
    await context?.close().catch(() => {});
    await fsp.rm(userDataDir, { recursive: true, force: true }).catch(() => {});
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
