// End-to-end: the database view on IndexedDB, driven through the built site (dist/) in a
// real Chromium the way a person would, with a page reload as the crash. Transactions
// acknowledged before the reload must come back; a transaction left open (its update made
// durable by the WAL writer, its commit never written) must be undone by recovery, and the
// recovery report must say so.
//
// A second test replays the view's own recording: writes, a checkpoint, the crash button
// and recovery, then the timeline steps back to before the crash and shows that state
// (read-only: the engine's controls say why they are unavailable), and back to live.
//
// A third fills the storage quota (Chromium's, made small through the DevTools protocol):
// the failed sync is named for what it is, the alert keeps its words while the syncs after
// it fail too, space again clears it with the next sync, and a reload brings back the
// commits made through the form before the quota filled and after space returned.
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

test('the timeline replays the view from before a crash, read-only, and returns to live', { timeout: 180_000 }, async (t) => {
  await withSite('db-timeline', async ({ page, origin }) => {
    const db = page.locator('[data-testid="db"]');
    const timeline = db.getByRole('group', { name: 'Database timeline', exact: true });
    const button = (name) => db.getByRole('button', { name, exact: true });
    const position = async () => Number(await db.getAttribute('data-position'));
    const batches = () =>
      page.locator(BATCHES).evaluateAll((lis) => lis.map((li) => `${li.dataset.sync}:${li.dataset.status}`));
    const txns = () =>
      page
        .locator('ol[aria-label="Your transactions"] li[data-txn]')
        .evaluateAll((lis) => lis.map((li) => `${li.dataset.txn}:${li.dataset.state}:${li.querySelector('.txn-ops')?.textContent}`));
    const checkpointText = async () => (await page.locator('[data-testid="checkpoint-state"]').innerText()).trim();
    const status = async () => (await page.locator('[data-testid="db-tl-status"]').innerText()).replace(/\s+/g, ' ').trim();

    await page.goto(`${origin}/`);
    await waitFor(page, DB_READY, 'first load: the database opened and recovered');
    await waitFor(page, '[data-testid="db"][data-timeline="live"]', 'the view starts live');

    // Two acknowledged writes, then a checkpoint.
    for (const [i, [key, value]] of [['apple', 'red'], ['banana', 'yellow']].entries()) {
      await page.getByLabel('Key', { exact: true }).fill(key);
      await page.getByLabel('Value', { exact: true }).fill(value);
      await button('Commit put').click();
      await waitForCount(page, ACKED, i + 1, `after committing ${key}, ${i + 1} transactions are acknowledged`);
    }
    await button('Checkpoint now').click();
    await page.waitForFunction(
      () => (document.querySelector('[data-testid="checkpoint-state"]')?.textContent ?? '').startsWith('Idle. Last checkpoint'),
      null,
      { timeout: STEP_TIMEOUT_MS },
    );
    await waitForCount(page, KEY_ROWS, 2, 'the two acknowledged keys are stored');
    // Let the engine go idle (an idle engine sends the view nothing), then note what the
    // view shows just before the crash and where the recording's live end is.
    await page.waitForTimeout(600);
    const before = { batches: await batches(), txns: await txns(), checkpoint: await checkpointText() };
    const crashAt = await position();
    t.diagnostic(`before the crash, at position ${crashAt}: ${JSON.stringify(before)}`);
    assert.ok(before.batches.length >= 2, `the WAL strip shows the syncs: ${JSON.stringify(before.batches)}`);
    assert.ok(crashAt > 0, `the recording has payloads: position ${crashAt}`);

    // The crash button (IndexedDB: drop everything volatile, reopen, recover).
    // The reopen resets the checkpointer's panel (no checkpoint since this open) at once,
    // so that text, unlike the ready flag, proves the crash happened.
    await button('Crash the database').click();
    await page.waitForFunction(
      () => (document.querySelector('[data-testid="checkpoint-state"]')?.textContent ?? '').startsWith('Idle. No checkpoint'),
      null,
      { timeout: STEP_TIMEOUT_MS },
    );
    await waitFor(page, DB_READY, 'after the crash: recovered, every step shown');
    const after = { batches: await batches(), txns: await txns(), checkpoint: await checkpointText() };
    t.diagnostic(`after the crash: ${JSON.stringify(after)}`);
    const liveStatus = await status();
    t.diagnostic(`timeline status: ${liveStatus}`);
    assert.match(liveStatus, /^Live:/, 'the timeline is live');
    assert.match(liveStatus, /\b1 crash\b/, `one crash marker: ${liveStatus}`);
    assert.match(liveStatus, /\b2 recovery\b/, `a recovery marker for the load and one for the crash: ${liveStatus}`);
    assert.match(liveStatus, /\b\d+ checkpoint\b/, `a checkpoint marker: ${liveStatus}`);

    // Step back until the position is before the crash.
    const stepBack = timeline.getByRole('button', { name: 'Step back', exact: true });
    for (let i = 0; (await position()) > crashAt; i++) {
      assert.ok(i < 400, `400 steps back did not reach position ${crashAt} (at ${await position()})`);
      await stepBack.click();
    }
    await waitFor(page, '[data-testid="db"][data-timeline="past"]', 'the view shows the past');
    const past = { batches: await batches(), txns: await txns(), checkpoint: await checkpointText() };
    t.diagnostic(`replayed at position ${await position()}: ${JSON.stringify(past)}`);
    assert.deepEqual(past, before, 'the replayed view before the crash is what the view showed before the crash');
    assert.match(await status(), /^Replaying: position \d+ of \d+/, 'the status says where the replay is');

    // The engine's controls are unavailable, visibly and to assistive technology.
    const reason = page.locator('#db-past-reason');
    await reason.waitFor({ state: 'visible' });
    assert.match(
      await reason.innerText(),
      /In the past: the disk is durable, so history cannot be rewritten here \u2014 Back to live to act/,
      'the reason is on screen',
    );
    for (const name of ['Commit put', 'Put in open transaction', 'Checkpoint now', 'Crash the database', 'Start workload']) {
      const b = button(name);
      assert.equal(await b.getAttribute('aria-disabled'), 'true', `${name} is unavailable in the past`);
      const describedBy = (await b.getAttribute('aria-describedby')) ?? '';
      assert.ok(describedBy.split(/\s+/).includes('db-past-reason'), `${name} is described by the reason (${describedBy})`);
    }
    // Pressing one anyway does nothing: no crash, still the same past.
    const pastAt = await position();
    await button('Crash the database').click({ force: true });
    await page.waitForTimeout(300);
    assert.equal(await db.getAttribute('data-timeline'), 'past', 'still in the past');
    assert.equal(await position(), pastAt, 'at the same position');
    assert.equal(await db.getAttribute('data-db-phase'), 'ready', 'nothing reopened');

    // One step forward moves on; Back to live returns to the recovered database.
    await timeline.getByRole('button', { name: 'Step forward', exact: true }).click();
    assert.ok((await position()) > pastAt, 'a step forward moves the position on');
    await timeline.getByRole('button', { name: 'Back to live', exact: true }).click();
    await waitFor(page, '[data-testid="db"][data-timeline="live"]', 'back to live');
    await reason.waitFor({ state: 'detached' });
    assert.equal(await checkpointText(), after.checkpoint, 'live again: the recovered database, no checkpoint since it opened');
    assert.deepEqual(await txns(), after.txns, 'live again: the transactions as after the crash');
    assert.equal(await button('Crash the database').getAttribute('aria-disabled'), 'false', 'the crash button acts again');
    await waitForCount(page, KEY_ROWS, 2, 'the acknowledged keys survived the crash');
  });
});

test('a full storage quota: a clear alert, nothing durable lost, and the next sync that fits clears it', { timeout: 180_000 }, async () => {
  await withSite('db-quota', async ({ page, origin }) => {
    const db = page.locator('[data-testid="db"]');
    const alert = db.locator('[role="alert"]');
    const value = (key) => page.locator(`${KEY_ROWS}[data-key="${key}"] td`).nth(1).textContent();
    // Chromium's quota for this origin, set to 600 kB through the DevTools protocol before
    // the page first opens IndexedDB (an override made later is not applied to a database
    // already open). The database's first pages take under 20 kB.
    await page.goto(`${origin}/docs/index.html`);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 600_000 });
    await page.goto(`${origin}/`);
    await waitFor(page, DB_READY, 'the database opened under the small quota');
    await page.getByLabel('Key', { exact: true }).fill('before');
    await page.getByLabel('Value', { exact: true }).fill('durable');
    await page.getByRole('button', { name: 'Commit put', exact: true }).click();
    await waitForCount(page, ACKED, 1, 'the first commit is acknowledged');

    // The workload fills the quota: a sync fails with QuotaExceededError, and the page says so.
    await db.getByRole('button', { name: 'Start workload', exact: true }).click();
    await alert.filter({ hasText: "storage quota is full" }).waitFor({ timeout: STEP_TIMEOUT_MS });
    const said = await alert.innerText();
    assert.match(said, /^sync#\d+ failed: this site's storage quota is full.*Nothing durable was lost/s, said);
    assert.ok(
      (await page.locator(`${BATCHES}[data-status="failed"]`).count()) > 0,
      'the failed sync is marked in the WAL sync batches',
    );
    // Every sync after it fails too, many a second: the alert keeps its words rather than be
    // read out again by a screen reader each time.
    await page.waitForTimeout(1_000);
    assert.equal(await alert.innerText(), said, 'the alert does not change while the syncs keep failing');
    await db.getByRole('button', { name: 'Stop workload', exact: true }).click();

    // Space again (the override removed): the next sync succeeds, the alert goes, and a new
    // commit is acknowledged.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    await page.getByLabel('Key', { exact: true }).fill('after');
    await page.getByLabel('Value', { exact: true }).fill('space');
    await page.getByRole('button', { name: 'Commit put', exact: true }).click();
    await page.locator('ol[aria-label="Your transactions"] li[data-state="acked"]', { hasText: 'after' }).waitFor();
    await alert.waitFor({ state: 'detached' });

    // A reload (the crash) brings back both acknowledged commits.
    await page.reload();
    await waitFor(page, DB_READY, 'recovered after the reload');
    assert.equal(await value('before'), 'durable', 'the commit from before the quota filled survived');
    assert.equal(await value('after'), 'space', 'the commit after space returned survived');
  });
});
