// Benchmark: how busy the playground keeps the main thread when nobody touches it, and
// when the storage quota is full. Headless Chromium, the built site (dist/) from a local
// server, fresh profiles; main-thread time from the DevTools protocol's
// `Performance.getMetrics` (TaskDuration: every task on the main thread, script, style,
// layout and paint), as a fraction of one core over a window of WINDOW_MS.
//
// 1. Idle: every view open and running (the database view ready, the Raft cluster
//    running), nothing clicked; then each section collapsed in turn (the others open);
//    then all collapsed. A collapsed section keeps running (web/src/shell.rs).
// 2. Full quota: the origin's quota set to 600 kB through the DevTools protocol before
//    the page opens IndexedDB (`Storage.overrideQuotaForOrigin`), the database view's
//    workload run until a sync fails, the workload stopped; then the syncs the database
//    view lists over WINDOW_MS (the newest `data-sync` in "WAL sync batches") and the
//    main-thread time, against the same page healthy (no quota, the same steps, the
//    workload stopped after 3 s).
// A benchmark, not a test: it prints figures and fails only if the page does not get there.
//
// Run: node tests/e2e/bench/main-thread.mjs   (after bash scripts/build-site.sh)
// Env: WINDOW_MS (default 3000), LOGSPINE_DIST, CHROMIUM_PATH (as for the e2e tests).

import { launchFreshProfile, serveDist } from '../harness.mjs';

const WINDOW_MS = Number(process.env.WINDOW_MS ?? 3000);
const DB = '[data-testid="db"]';

async function busy(page, cdp) {
  const total = async () =>
    (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
  const before = await total();
  await page.waitForTimeout(WINDOW_MS);
  return (await total()) - before;
}

const pct = (seconds) => `${((100 * seconds) / (WINDOW_MS / 1000)).toFixed(0)} %`;

async function open(origin, name, quota) {
  const b = await launchFreshProfile(name);
  const cdp = await b.context.newCDPSession(b.page);
  await cdp.send('Performance.enable');
  if (quota) {
    await b.page.goto(`${origin}/docs/index.html`);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: quota });
  }
  await b.page.goto(`${origin}/`);
  await b.page.locator(`${DB}[data-db-ready="true"]`).waitFor({ timeout: 30_000 });
  await b.page.locator('[data-testid="raft"][data-raft-phase="running"]').waitFor({ timeout: 30_000 });
  return { ...b, cdp };
}

const { origin, close } = await serveDist();
try {
  // 1. Idle.
  {
    const { page, cdp, close: done } = await open(origin, 'main-thread-idle');
    await page.waitForTimeout(2000);
    console.log(`| idle (window ${WINDOW_MS} ms) | main thread |`);
    console.log('|---|---:|');
    console.log(`| every section open | ${pct(await busy(page, cdp))} |`);
    const toggles = page.getByRole('navigation', { name: 'Sections' }).getByRole('button');
    const n = await toggles.count();
    for (let i = 0; i < n; i++) {
      const name = (await toggles.nth(i).getAttribute('aria-label')).replace(/^Hide (.*) \(key \d\)$/, '$1');
      await toggles.nth(i).click();
      await page.waitForTimeout(500);
      console.log(`| ${name} collapsed | ${pct(await busy(page, cdp))} |`);
      await toggles.nth(i).click();
    }
    for (let i = 0; i < n; i++) await toggles.nth(i).click();
    await page.waitForTimeout(500);
    console.log(`| every section collapsed | ${pct(await busy(page, cdp))} |`);
    await done();
  }

  // 2. Full quota against healthy.
  console.log(`\n| database view, workload stopped (window ${WINDOW_MS} ms) | syncs issued | main thread |`);
  console.log('|---|---:|---:|');
  for (const [label, quota] of [['healthy', 0], ['quota full (600 kB)', 600_000]]) {
    const { page, cdp, close: done } = await open(origin, `main-thread-${quota}`, quota);
    const db = page.locator(DB);
    await db.getByRole('button', { name: 'Start workload', exact: true }).click();
    if (quota) {
      await db.locator('[role="alert"]', { hasText: 'storage quota is full' }).waitFor({ timeout: 30_000 });
    } else {
      await page.waitForTimeout(3000);
    }
    await db.getByRole('button', { name: 'Stop workload', exact: true }).click();
    await page.waitForTimeout(1000);
    const newest = () =>
      db
        .locator('ol[aria-label="WAL sync batches"] li[data-sync]')
        .evaluateAll((ls) => Math.max(0, ...ls.map((l) => Number(l.dataset.sync))));
    const first = await newest();
    const seconds = await busy(page, cdp);
    console.log(`| ${label} | ${(await newest()) - first} | ${pct(seconds)} |`);
    await done();
  }
} finally {
  await close();
}
