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
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, STEP_TIMEOUT_MS, waitFor, waitForCount, withSite } from './harness.mjs';

// The database view's test hooks (web/src/db_view.rs renders these).
const DB_READY = '[data-testid="db"][data-db-ready="true"][data-recovery="done"]';
const ACKED = 'ol[aria-label="Your transactions"] li[data-state="acked"]';
const OPEN_TXN = '[data-testid="open-txn"]';
const KEY_ROWS = 'table[aria-label="Stored keys"] tbody tr';
const REPORT = '[data-testid="db-recovery-report"]';
const UNDO_STEPS = 'ol[aria-label="Recovery steps"] li[data-phase="undo"]';
const BATCHES = 'ol[aria-label="WAL sync batches"] li[data-status]';

test('acknowledged commits survive a reload; an open transaction is undone', { timeout: 180_000 }, async (t) => {
  await withSite('db-recovery', async ({ page, origin }) => {
    const keyRows = async () =>
      page.locator(KEY_ROWS).evaluateAll((rows) =>
        rows.map((r) => [r.dataset.key, r.querySelectorAll('td')[1]?.textContent ?? '']),
      );
    const fillKeyValue = async (key, value) => {
      await page.getByLabel('Key', { exact: true }).fill(key);
      await page.getByLabel('Value', { exact: true }).fill(value);
    };

    await page.goto(`${origin}/`);
    await waitFor(page, DB_READY, 'first load: the database opened and recovered');
    await waitForCount(page, KEY_ROWS, 0, 'a fresh profile starts with an empty database');

    // Three transactions through the form, each acknowledged (its commit record's sync done).
    const committed = [['apple', 'red'], ['banana', 'yellow'], ['cherry', 'dark red']];
    for (const [i, [key, value]] of committed.entries()) {
      await fillKeyValue(key, value);
      await page.getByRole('button', { name: 'Commit put', exact: true }).click();
      await waitForCount(page, ACKED, i + 1, `after committing ${key}, ${i + 1} transactions are acknowledged`);
    }
    await waitForCount(page, KEY_ROWS, 3, 'the three acknowledged keys are stored');

    // A fourth key in a transaction left open. Its update record becomes durable with the
    // background WAL writer's sync (the page shows it); its commit record never exists.
    await fillKeyValue('durian', 'uncommitted');
    await page.getByRole('button', { name: 'Put in open transaction', exact: true }).click();
    await waitFor(page, `${OPEN_TXN}[data-durable="true"]`, "the open transaction's update reached IndexedDB");
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
    await waitFor(page, DB_READY, 'after the reload: the database recovered and every recovery step was shown');

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
    await waitFor(page, '[data-testid="workload-stats"][data-running="false"]', 'the workload stopped');
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

  });
});
