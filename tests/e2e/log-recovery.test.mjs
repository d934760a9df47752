// End-to-end: a real Chromium drives the built site (dist/) the way a person would, and
// reloads the page to crash it. Records synced before the reload must come back, in order
// and durable; records appended after the last sync must not.
//
// Run: node --test tests/e2e/log-recovery.test.mjs   (after `trunk build --release`)
// Env: LOGSPINE_DIST (default: <repo>/dist), CHROMIUM_PATH (default: /usr/bin/chromium).
// A screenshot of the page after recovery is saved in tests/e2e/artifacts/.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, STEP_TIMEOUT_MS, waitFor, waitForCount, withSite } from './harness.mjs';

// The page's test hooks (the web crate renders these).
const READY = '[data-ready="true"]';
const RECORDS = 'ol[aria-label="Log records"] li';
const DURABLE = 'ol[aria-label="Log records"] li[data-state="durable"]';
const VOLATILE = 'ol[aria-label="Log records"] li[data-state="volatile"]';
const REPORT = '[data-testid="recovery-report"]';

test('records synced before a reload survive it; unsynced ones do not', { timeout: 180_000 }, async (t) => {
  await withSite('log-recovery', async ({ page, origin }) => {
    const append = async (payload, countAfter) => {
      await page.getByLabel('Record payload', { exact: true }).fill(payload);
      await page.getByRole('button', { name: 'Append record', exact: true }).click();
      await waitForCount(page, RECORDS, countAfter, `after appending ${payload}`);
    };

    await page.goto(`${origin}/`);
    await waitFor(page, READY, 'first load: the page never marked itself ready');
    await waitForCount(page, RECORDS, 0, 'a fresh profile starts with an empty log');

    for (let i = 0; i < 5; i++) await append(`rec-${i}`, i + 1);
    await page.getByRole('button', { name: 'Sync', exact: true }).click();
    await waitForCount(page, DURABLE, 5, 'after Sync, every appended record is durable');

    await append('rec-5', 6);
    await append('rec-6', 7);
    await waitForCount(page, VOLATILE, 2, 'records appended after the sync are volatile');
    await waitForCount(page, DURABLE, 5, 'the synced records stay durable');

    // The crash: a reload drops everything that was not covered by a completed sync.
    await page.reload();
    await waitFor(page, READY, 'after the reload: the page never marked itself ready');
    await waitForCount(page, RECORDS, 5, 'after the reload, exactly the 5 synced records are recovered');

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

    // The timeline: step back before the last appends and the log shows fewer records,
    // read-only (the disk is durable); Back to live shows them again.
    const TL = '[data-testid="log-timeline"]';
    await append('rec-7', 6);
    await append('rec-8', 7);
    const log = page.locator('section.playground');
    const end = Number(await page.locator(TL).getAttribute('data-end'));
    await log.getByRole('button', { name: 'Step back', exact: true }).click();
    await waitFor(page, `${TL}[data-past="true"]`, 'a step back shows the past');
    assert.equal(Number(await page.locator(TL).getAttribute('data-position')), end - 1);
    await waitForCount(page, RECORDS, 6, 'one append back, the log shows one record fewer');
    await waitFor(page, '[data-testid="log-past-reason"]', 'the past says why nothing acts');
    assert.equal(await page.getByRole('button', { name: 'Append record', exact: true }).getAttribute('aria-disabled'), 'true');
    assert.equal(await page.getByRole('button', { name: 'Crash', exact: true }).getAttribute('aria-disabled'), 'true');
    // The slider from the keyboard: Home goes to the start of the recording (an empty screen).
    await log.getByRole('slider', { name: 'Position in the log timeline', exact: true }).focus();
    await page.keyboard.press('Home');
    await waitForCount(page, RECORDS, 0, 'at the start of the recording nothing was opened yet');
    await log.getByRole('button', { name: 'Back to live', exact: true }).click();
    await waitFor(page, `${TL}[data-past="false"]`, 'back to live');
    await waitForCount(page, RECORDS, 7, 'live again: every record');
    assert.match(await page.locator('[data-testid="log-timeline-status"]').innerText(), /Markers: .*\brecovery\b/);

    const shot = path.join(ARTIFACTS, 'log-recovery.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${path.relative(process.cwd(), shot)}`);

  });
});
