// Shared by the end-to-end tests: serves the built site (dist/) on 127.0.0.1, launches
// Debian's Chromium with a fresh persistent profile (so IndexedDB outlives a reload, as it
// would for a person), blocks and reports any request leaving this machine, and fails the
// test on a console error or an uncaught exception in the page. On failure it saves a
// screenshot in artifacts/.
//
// Env: LOGSPINE_DIST (default: <repo>/dist), CHROMIUM_PATH (default: /usr/bin/chromium).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.resolve(process.env.LOGSPINE_DIST ?? path.join(HERE, '..', '..', 'dist'));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(HERE, 'artifacts');
export const STEP_TIMEOUT_MS = 20_000;

const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

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

/** Waits until exactly `n` elements match `selector`; a clear error otherwise. */
export async function waitForCount(page, selector, n, what) {
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
}

/** Waits until `selector` is in the page; the error names any alert the page shows. */
export async function waitFor(page, selector, what) {
  try {
    await page.locator(selector).first().waitFor({ state: 'attached', timeout: STEP_TIMEOUT_MS });
  } catch {
    const alert = await page.locator('[role="alert"]').allInnerTexts().catch(() => []);
    throw new Error(
      `${what}: ${selector} did not appear within ${STEP_TIMEOUT_MS} ms${alert.length ? `; alerts: ${alert.join(' | ')}` : ''}`,
    );
  }
}

/**
 * Runs `scenario({ page, origin })` against the built site in a fresh Chromium profile.
 * `name` names the profile directory and the failure screenshot.
 */
export async function withSite(name, scenario) {
  assert.ok(
    fs.existsSync(path.join(DIST, 'index.html')),
    `${DIST}/index.html does not exist: build the site first (trunk build --release)`,
  );
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (bash scripts/tools.sh installs it)`);
  await fsp.mkdir(ARTIFACTS, { recursive: true });

  const { server, origin } = await serveStatic(DIST);
  const userDataDir = await fsp.mkdtemp(path.join(os.tmpdir(), `logspine-e2e-${name}-`));
  const problems = [];
  let context;
  let page;
  try {
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

    await scenario({ page, origin });

    if (problems.length > 0) throw new Error(`the page misbehaved:\n  ${problems.join('\n  ')}`);
  } catch (err) {
    if (page) {
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}-failure.png`), fullPage: true }).catch(() => {});
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
}

/**
 * For the benchmarks in bench/: serves the built site (dist/) on 127.0.0.1 and returns
 * `{ origin, close }`. Throws a clear error when the site was not built.
 */
export async function serveDist() {
  assert.ok(
    fs.existsSync(path.join(DIST, 'index.html')),
    `${DIST}/index.html does not exist: build the site first (trunk build --release)`,
  );
  const { server, origin } = await serveStatic(DIST);
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { origin, close };
}

/**
 * For the benchmarks in bench/: Debian's Chromium, headless with the tests' flags, on a
 * fresh profile in a new temporary directory (so nothing is cached and IndexedDB starts
 * empty, yet persists to disk as it would for a person). Requests are not intercepted
 * (routing every request through Playwright would slow the load being measured); any
 * request to another origin is recorded in `offsite` instead. `args`: more Chromium flags.
 * Returns `{ context, page, offsite, close }`; `close` also deletes the profile.
 */
export async function launchFreshProfile(name, { viewport = { width: 1280, height: 900 }, args = [] } = {}) {
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (bash scripts/tools.sh installs it)`);
  const userDataDir = await fsp.mkdtemp(path.join(os.tmpdir(), `logspine-bench-${name}-`));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
    viewport,
  });
  const offsite = [];
  context.on('request', (request) => {
    if (!isLocal(request.url())) offsite.push(`${request.method()} ${request.url()}`);
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const close = async () => {
    await context.close().catch(() => {});
    await fsp.rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  };
  return { context, page, offsite, close };
}
