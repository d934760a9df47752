// End-to-end: the LSM view (B-tree and LSM tree side by side), driven through the built
// site (dist/) in a real Chromium by role and accessible name. The workload runs on both
// databases until the LSM tree has flushed into L0 and compacted; a lookup lights up the
// tables it probed or skipped; both sets of amplification meters show numbers, the LSM
// tree's write amplification below the B-tree's; a crash of the LSM database recovers
// (manifest replay R6, redo R7/R8) with the same acknowledged keys. Then time travel on
// the timeline under the view: pause, a compaction marker, step back to just before the
// last compaction (the earlier tables are back), step forward onto it, scrub to the end
// (replay gives exactly the tables the live run had), and an action in the past branches.
//
// Run: node --test tests/e2e/lsm-view.test.mjs   (after `trunk build --release`)
// Env: LOGSPINE_DIST (default: <repo>/dist), CHROMIUM_PATH (default: /usr/bin/chromium).
// Screenshots: tests/e2e/artifacts/lsm-view-1280.png and lsm-view-375.png.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, STEP_TIMEOUT_MS, waitFor, withSite } from './harness.mjs';

// The LSM view's test hooks (web/src/lsm_view.rs renders these).
const LSM = '[data-testid="lsm"]';
const READY = `${LSM}[data-lsm-phase="ready"]`;

test('the LSM view flushes, compacts, explains a lookup, compares meters and recovers', { timeout: 180_000 }, async (t) => {
  await withSite('lsm-view', async ({ page, origin }) => {
    const lsm = page.locator(LSM);
    const num = async (selector, attr) => Number(await page.locator(selector).first().getAttribute(attr));
    const waitUntil = async (fn, arg, what, timeout = 60_000) => {
      try {
        await page.waitForFunction(fn, arg, { timeout });
      } catch {
        const alerts = await page.locator(`${LSM} [role="alert"]`).allInnerTexts().catch(() => []);
        throw new Error(`${what}: not within ${timeout} ms${alerts.length ? `; alerts: ${alerts.join(' | ')}` : ''}`);
      }
    };

    await page.goto(`${origin}/`);
    await waitFor(page, READY, 'the LSM view opened both databases');
    await lsm.scrollIntoViewIfNeeded();

    // The workload on both databases, from the keyboard: fill the fields, press the button.
    await lsm.getByLabel('Workload clients', { exact: true }).fill('16');
    await lsm.getByLabel('Workload transactions per second', { exact: true }).fill('1000');
    const start = lsm.getByRole('button', { name: 'Start the workload on both databases', exact: true });
    await start.focus();
    await page.keyboard.press('Enter');
    await waitFor(page, `${LSM} [data-testid="lsm-workload"][data-running="true"]`, 'the workload started');

    // A flush into L0 and a compaction, read from the DOM.
    await waitUntil(
      (sel) => {
        const el = document.querySelector(sel);
        return Number(el?.dataset.flushes) >= 1 && Number(el?.dataset.compactions) >= 1;
      },
      LSM,
      'a flush into L0 and a compaction happened',
    );
    const kinds = await lsm.locator('ol[aria-label="LSM events"] li').evaluateAll((lis) => lis.map((li) => li.dataset.kind));
    assert.ok(kinds.includes('flush'), `the event log lists a flush: ${JSON.stringify(kinds)}`);
    const compactionText = await lsm
      .locator('ol[aria-label="LSM events"] li[data-kind="compaction"], ol[aria-label="LSM events"] li[data-kind="move"]')
      .first()
      .innerText()
      .catch(() => '');
    t.diagnostic(`compaction: ${compactionText}`);
    const deeper = await lsm.locator('ol[aria-label="LSM levels"] > li:not([data-level="0"]) li[data-table]').count();
    assert.ok(deeper >= 1, `a compaction put tables below L0 (found ${deeper})`);
    const announce = (await page.locator('[data-testid="lsm-announce"]').innerText()).trim();
    assert.match(announce, /Flushed|Compaction|Trivial move/, `the live region narrates: ${JSON.stringify(announce)}`);

    // A lookup lights up the tables it probed or skipped.
    await lsm.getByLabel('Key to look up', { exact: true }).fill('k123');
    await lsm.getByRole('button', { name: 'Look up', exact: true }).click();
    await waitFor(page, '[data-testid="lsm-lookup"]', 'the lookup result');
    const probed = await num('[data-testid="lsm-lookup"]', 'data-tables-probed');
    const lit = await lsm.locator('li[data-table][data-probe]').evaluateAll((lis) => lis.map((li) => li.dataset.probe));
    t.diagnostic(`lookup: ${(await page.locator('[data-testid="lsm-lookup"]').innerText()).replace(/\s+/g, ' ')}`);
    t.diagnostic(`workload: ${await page.locator('[data-testid="lsm-workload"]').innerText()}`);
    assert.ok(lit.length >= 1, 'at least one table box is lit by the lookup');
    assert.ok(
      probed >= 1 || lit.some((p) => p === 'range' || p === 'not-reached'),
      `at least one table was probed or skipped (probed ${probed}, lit ${JSON.stringify(lit)})`,
    );
    const agrees = await page.locator('[data-testid="lsm-lookup"]').getAttribute('data-agrees');
    assert.ok(agrees === 'true' || agrees === 'n/a', `the get's counters agree with the explained path (${agrees})`);

    // Both meter sets show numbers; the LSM tree writes less per byte than the B-tree.
    await waitUntil(
      () => Number(document.querySelector('[data-testid="amp-lsm"] [data-meter="write"]')?.dataset.value) > 0,
      null,
      'the meters were computed',
      STEP_TIMEOUT_MS,
    );
    const meters = async (id) =>
      page.locator(`[data-testid="${id}"] [data-meter]`).evaluateAll((els) =>
        Object.fromEntries(els.map((e) => [e.dataset.meter, Number(e.dataset.value)])),
      );
    const bt = await meters('amp-btree');
    const ls = await meters('amp-lsm');
    t.diagnostic(`B-tree ${JSON.stringify(bt)}; LSM ${JSON.stringify(ls)}`);
    for (const [name, m] of [['B-tree', bt], ['LSM', ls]]) {
      for (const k of ['write', 'read', 'space']) {
        assert.ok(Number.isFinite(m[k]), `${name} ${k} amplification is a number: ${m[k]}`);
      }
      assert.ok(m.write > 0, `${name} write amplification is positive`);
    }
    assert.ok(ls.write < bt.write, `LSM write amplification ${ls.write} is below the B-tree's ${bt.write}`);

    // Stop, let every commit reach both databases, then crash the LSM database.
    await lsm.getByRole('button', { name: 'Stop the workload on both databases', exact: true }).click();
    await waitFor(page, `${LSM}[data-settled="true"]`, 'both databases settled');
    await lsm.getByRole('button', { name: 'Crash the LSM database', exact: true }).click();
    await waitFor(page, `${LSM}[data-recovery="done"]`, 'the LSM database recovered');
    const rec = page.locator('[data-testid="lsm-recovery"]');
    const before = Number(await rec.getAttribute('data-keys-before'));
    const after = Number(await rec.getAttribute('data-keys-after'));
    assert.equal(await rec.getAttribute('data-keys-match'), 'true', 'every acknowledged key came back with its value');
    assert.ok(before > 100, `the workload wrote keys (${before})`);
    assert.equal(after, before, 'the same keys after recovery');
    const cases = await rec.locator('ol[aria-label="LSM recovery steps"] li').evaluateAll((lis) => lis.map((li) => li.dataset.case));
    assert.ok(cases.includes('R6'), `recovery replayed the manifest (R6): ${JSON.stringify(cases)}`);
    assert.ok(cases.some((c) => c === 'R7' || c === 'R8'), `recovery redid the WAL above the last flushed LSN: ${JSON.stringify(cases)}`);
    t.diagnostic(`recovery: ${(await page.locator('[data-testid="lsm-key-check"]').innerText()).trim()}`);

    // Time travel: the timeline under the view (web/src/transport.rs, driven by
    // web/src/lsm_run.rs). Pause at the live end and remember what is drawn there.
    const timeline = lsm.getByRole('group', { name: 'Timeline of both databases', exact: true });
    const status = page.locator('[data-testid="lsm-time-status"]');
    await waitUntil(
      () => /\d+ compaction/.test(document.querySelector('[data-testid="lsm-time-status"]')?.textContent ?? ''),
      null,
      'the timeline shows a compaction marker',
      STEP_TIMEOUT_MS,
    );
    assert.ok((await timeline.locator('svg rect.mark.compaction').count()) >= 1, 'a compaction marker is drawn on the track');
    await timeline.getByRole('button', { name: 'Pause', exact: true }).click();
    await timeline.getByRole('button', { name: 'Play', exact: true }).waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    const sectionNum = async (attr) => Number(await lsm.getAttribute(attr));
    // The tables as "level:id", so that a trivial move (same table, next level) counts too.
    const tableIds = async () =>
      (
        await lsm
          .locator('ol[aria-label="LSM levels"] li[data-table]')
          .evaluateAll((lis) => lis.map((li) => `${li.parentElement.closest('li[data-level]')?.dataset.level}:${li.dataset.table}`))
      )
        .sort()
        .join(',');
    const endMs = await sectionNum('data-end-ms');
    assert.equal(await sectionNum('data-position-ms'), endMs, 'paused at the live end');
    const endCompactions = await sectionNum('data-compactions');
    const endTables = await tableIds();
    assert.ok(endCompactions >= 1 && endTables.length > 0, `compactions ${endCompactions}, tables ${endTables}`);

    // Step back, one moment at a time, until the last compaction has not finished yet
    // (CompactionDone), then on until its inputs are back (before its manifest edit).
    const stepBack = timeline.getByRole('button', { name: 'Step back', exact: true });
    let backs = 0;
    let position = endMs;
    const back = async () => {
      assert.ok(backs < 400, `stepped back ${backs} times without getting before the last compaction`);
      await stepBack.click();
      backs += 1;
      await page.waitForFunction(
        ([sel, was]) => Number(document.querySelector(sel)?.dataset.positionMs) < was,
        [LSM, position],
        { timeout: STEP_TIMEOUT_MS },
      );
      position = await sectionNum('data-position-ms');
    };
    let doneTables = endTables;
    while ((await sectionNum('data-compactions')) >= endCompactions) {
      doneTables = await tableIds();
      await back();
    }
    assert.equal(await sectionNum('data-compactions'), endCompactions - 1, 'just before the last compaction finished');
    while ((await tableIds()) === doneTables) {
      await back();
    }
    const beforeTables = await tableIds();
    t.diagnostic(`stepped back ${backs} times to ${position} ms (end ${endMs} ms): tables ${beforeTables}; after the compaction: ${doneTables}`);
    assert.equal(await sectionNum('data-compactions'), endCompactions - 1, 'the earlier tables are those before the compaction');
    assert.ok(
      beforeTables.split(',').some((id) => !doneTables.split(',').includes(id)),
      'before the compaction the LSM tree had tables the compaction consumed or moved',
    );
    assert.equal(await sectionNum('data-end-ms'), endMs, 'stepping back discards nothing');
    assert.match(await status.innerText(), /in the past/, 'the status says where we are');
    await waitFor(page, `${LSM} [data-testid="lsm-history"][data-past="true"]`, 'the form says an action here branches');

    // Stepping forward lands on the compaction's end, with its tables.
    const stepForward = timeline.getByRole('button', { name: 'Step forward', exact: true });
    for (let i = 0; (await sectionNum('data-compactions')) < endCompactions; i += 1) {
      assert.ok(i < 20, 'a few steps forward reach the end of the compaction');
      await stepForward.click();
      await page.waitForFunction(
        ([sel, was]) => Number(document.querySelector(sel)?.dataset.positionMs) > was,
        [LSM, position],
        { timeout: STEP_TIMEOUT_MS },
      );
      position = await sectionNum('data-position-ms');
    }
    assert.equal(await tableIds(), doneTables, 'the compaction\'s outputs, as the live run had them');

    // Scrub: back to the start with the slider, then to the end from the keyboard.
    const slider = timeline.getByRole('slider', { name: 'Position in the timeline of both databases', exact: true });
    await slider.fill('0');
    await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.positionMs === '0', LSM, { timeout: STEP_TIMEOUT_MS });
    assert.equal(await sectionNum('data-compactions'), 0, 'nothing compacted at the start');
    await slider.focus();
    await page.keyboard.press('End');
    await page.waitForFunction(
      ([sel, want]) => Number(document.querySelector(sel)?.dataset.positionMs) === want,
      [LSM, endMs],
      { timeout: STEP_TIMEOUT_MS },
    );
    assert.equal(await sectionNum('data-compactions'), endCompactions, 'the same compactions at the end');
    assert.equal(await tableIds(), endTables, 'replay from the seed gives exactly the tables the live run had');
    await waitFor(page, `${LSM}[data-recovery="done"]`, 'the recovery is back at the end');

    // An action in the past branches: the recorded future is discarded.
    await stepBack.click();
    await page.waitForFunction(
      ([sel, was]) => Number(document.querySelector(sel)?.dataset.positionMs) < was,
      [LSM, endMs],
      { timeout: STEP_TIMEOUT_MS },
    );
    const branchAt = await sectionNum('data-position-ms');
    await lsm.getByLabel('Key to write', { exact: true }).fill('branch');
    await lsm.getByLabel('Value to write', { exact: true }).fill('here');
    await lsm.getByRole('button', { name: 'Write to both databases', exact: true }).click();
    await page.waitForFunction(
      ([sel, want]) => Number(document.querySelector(sel)?.dataset.endMs) === want,
      [LSM, branchAt],
      { timeout: STEP_TIMEOUT_MS },
    );
    assert.equal(await lsm.locator('[data-testid="lsm-history"]').getAttribute('data-past'), 'false', 'at the live end after the branch');
    await timeline.getByRole('button', { name: 'Play', exact: true }).click();
    await page.waitForFunction(
      ([sel, was]) => Number(document.querySelector(sel)?.dataset.endMs) > was,
      [LSM, branchAt],
      { timeout: STEP_TIMEOUT_MS },
    );

    // Screenshots, wide and at 375 px (which must not scroll sideways).
    await page.waitForTimeout(300);
    const wide = path.join(ARTIFACTS, 'lsm-view-1280.png');
    await lsm.screenshot({ path: wide });
    await page.setViewportSize({ width: 375, height: 800 });
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 375, `at 375 px the page must not scroll sideways (scrollWidth ${scrollWidth})`);
    const narrow = path.join(ARTIFACTS, 'lsm-view-375.png');
    await lsm.screenshot({ path: narrow });
    t.diagnostic(`screenshots: ${path.relative(process.cwd(), wide)}, ${path.relative(process.cwd(), narrow)}`);
  });
});
