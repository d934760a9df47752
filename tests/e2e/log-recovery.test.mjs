// End-to-end: a real Chromium drives the built site (dist/) the way a person would, and
// reloads the page to crash it. Records synced before the reload must come back, in order
// and durable; records appended after the last sync must not.
//
// Run: node --test tests/e2e/log-recovery.test.mjs   (after `trunk build --release`)
// Env: LOGSPINE_DIST (default: <repo>/dist), CHROMIUM_PATH (default: /usr/bin/chromium).
// A screenshot of the page after recovery is saved in tests/e2e/artifacts/.

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

// The page's test hooks (the web crate renders these).
const READY = '[data-ready="true"]';
const RECORDS = 'ol[aria-label="Log records"] li';
const DURABLE = 'ol[aria-label="Log records"] li[data-state="durable"]';
const VOLATILE = 'ol[aria-label="Log records"] li[data-state="volatile"]';
const REPORT = '[data-testid="recovery-report"]';

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

test('records synced before a reload survive it; unsynced ones do not', { timeout: 180_000 }, async (t) => {
  assert.ok(
    fs.existsSync(path.join(DIST, 'index.html')),
    `${DIST}/index.html does not exist: build the site first (trunk build --release)`,
  );
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (bash scripts/tools.sh installs it)`);
  await fsp.mkdir(ARTIFACTS, { recursive: true });

  const { server, origin } = await serveStatic(DIST);
  const userDataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logspine-e2e-'));
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
    const waitReady = async (what) => {
      try {
        await page.locator(READY).first().waitFor({ state: 'attached' });
      } catch {
        throw new Error(`${what}: the page never marked itself ready (${READY}) within ${STEP_TIMEOUT_MS} ms`);
      }
    };
    const append = async (payload, countAfter) => {
      await page.getByLabel('Record payload', { exact: true }).fill(payload);
      await page.getByRole('button', { name: 'Append record', exact: true }).click();
      await waitForCount(RECORDS, countAfter, `after appending ${payload}`);
    };

    await page.goto(`${origin}/`);
    await waitReady('first load');
    await waitForCount(RECORDS, 0, 'a fresh profile starts with an empty log');

    for (let i = 0; i < 5; i++) await append(`rec-${i}`, i + 1);
    await page.getByRole('button', { name: 'Sync', exact: true }).click();
    await waitForCount(DURABLE, 5, 'after Sync, every appended record is durable');

    await append('rec-5', 6);
    await append('rec-6', 7);
    await waitForCount(VOLATILE, 2, 'records appended after the sync are volatile');
    await waitForCount(DURABLE, 5, 'the synced records stay durable');

    // The crash: a reload drops everything that was not covered by a completed sync.
    await page.reload();
    await waitReady('after the reload');
    await waitForCount(RECORDS, 5, 'after the reload, exactly the 5 synced records are recovered');

    const states = await page.locator(RECORDS).evaluateAll((lis) => lis.map((li) => li.dataset.state));
    assert.deepEqual(states, Array(5).fill('durable'), `every recovered record must be durable, got ${JSON.stringify(states)}`);
    const texts = await page.locator(RECORDS).allTextContents();
    texts.forEach((text, i) =>
      assert.ok(text.includes(`rec-${i}`), `recovered record ${i} should contain "rec-${i}" but reads ${JSON.stringify(text)}`),
    );
    const report = ((await page.locator(REPORT).first().innerText({ timeout: STEP_TIMEOUT_MS })) ?? '').trim();
    assert.ok(report.length > 0, `${REPORT} is empty after recovery`);
    assert.ok(
      report.includes('Recovered 5 records'),
      `the recovery report should say it recovered the 5 synced records, but reads ${JSON.stringify(report)}`,
    );
    t.diagnostic(`recovery report: ${report.replace(/\s+/g, ' ')}`);

    const shot = path.join(ARTIFACTS, 'log-recovery.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${path.relative(process.cwd(), shot)}`);

    if (problems.length > 0) throw new Error(`the page misbehaved:\n  ${problems.join('\n  ')}`);
  } catch (err) {
    if (page) {
      await page.screenshot({ path: path.join(ARTIFACTS, 'log-recovery-failure.png'), fullPage: true }).catch(() => {});
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
