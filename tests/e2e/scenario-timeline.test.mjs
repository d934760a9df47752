// End-to-end: the scenario panel, driven through the built site (dist/) in a real Chromium
// by role and accessible name. Loads "log-is-the-truth", plays it to the end at 64×, sees
// every narration step reached and every invariant held; scrubs back to just before the
// crash marker and sees the keys as they were (apple and banana committed, no crash yet);
// steps forward from the keyboard over the crash and its recovery; writes a key there,
// which branches (the recorded future is discarded: the trace gets shorter), and plays on
// to see the new key in the database at the end with every invariant held.
//
// Run: node --test tests/e2e/scenario-timeline.test.mjs   (after `trunk build --release`)
// Env: LOGSPINE_DIST (default: <repo>/dist), CHROMIUM_PATH (default: /usr/bin/chromium).
// Screenshots: tests/e2e/artifacts/scenario-timeline-1280.png and scenario-timeline-375.png.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, STEP_TIMEOUT_MS, waitFor, withSite } from './harness.mjs';

// The scenario panel's test hooks (web/src/scenario_view.rs renders these).
const SCN = '[data-testid="scenario"]';

test('the scenario panel plays, scrubs, steps and branches a run', { timeout: 120_000 }, async (t) => {
  await withSite('scenario-timeline', async ({ page, origin }) => {
    const scn = page.locator(SCN);
    const data = async (name) => scn.getAttribute(`data-${name}`);
    const num = async (name) => Number(await data(name));
    const waitUntil = async (fn, arg, what, timeout = STEP_TIMEOUT_MS) => {
      try {
        await page.waitForFunction(fn, arg, { timeout });
      } catch {
        const alerts = await page.locator(`${SCN} [role="alert"]`).allInnerTexts().catch(() => []);
        const status = await page.locator('[data-testid="scenario-status"]').innerText().catch(() => '?');
        throw new Error(`${what}: not within ${timeout} ms (status: ${status})${alerts.length ? `; alerts: ${alerts.join(' | ')}` : ''}`);
      }
    };
    const keys = async () =>
      scn.locator('table[data-testid="scenario-keys"] tbody tr').evaluateAll((rows) =>
        rows.map((r) => [r.dataset.key, r.cells[1].textContent]),
      );
    const counter = async (name) =>
      Number(await scn.locator(`[data-testid="scenario-counters"] [data-counter="${name}"]`).getAttribute('data-value'));

    await page.goto(`${origin}/`);
    await waitFor(page, `${SCN}[data-name="log-is-the-truth"]`, 'the scenario panel loaded its first scenario');
    await scn.scrollIntoViewIfNeeded();

    // Pick the scenario and its seed, load it.
    const loads = await num('loads');
    await scn.getByLabel('Scenario', { exact: true }).selectOption('log-is-the-truth');
    assert.equal(await scn.getByLabel('Seed', { exact: true }).inputValue(), '1', 'the scenario\'s own seed');
    await scn.getByRole('button', { name: 'Load scenario', exact: true }).click();
    await waitUntil(([sel, n]) => Number(document.querySelector(sel)?.dataset.loads) > n, [SCN, loads], 'the scenario loaded');
    assert.equal(await data('reached'), '0');
    assert.equal(await data('steps'), '5');

    // Play to the end at the highest speed.
    await scn.getByRole('radio', { name: '64×', exact: true }).check();
    await scn.getByRole('button', { name: 'Play', exact: true }).click();
    await waitFor(page, `${SCN}[data-finished="true"]`, 'the run played to its end');
    assert.equal(await data('playing'), 'false', 'playing stops at the end');
    assert.equal(await data('reached'), '5', 'every narration step reached');
    assert.equal(await scn.locator('ol[aria-label="Narration steps"] li[data-reached="true"]').count(), 5);
    assert.equal(await data('invariants'), 'ok', 'every invariant held');
    const checks = await scn.locator('ul[aria-label="Invariant checks"] li').evaluateAll((lis) => lis.map((li) => li.dataset.ok));
    assert.ok(checks.length >= 3 && checks.every((ok) => ok === 'true'), `invariant checks: ${JSON.stringify(checks)}`);
    const live = page.locator('[data-testid="scenario-narration"]');
    assert.equal(await live.getAttribute('aria-live'), 'polite');
    assert.match(await live.innerText(), /Step 5 of 5: The two acknowledged writes are there/);
    assert.deepEqual(await keys(), [['apple', 'red'], ['banana', 'yellow']], 'cherry was never acknowledged');
    const fullLength = await num('trace-len');
    assert.equal(await num('position'), fullLength);
    t.diagnostic(`played: ${await page.locator('[data-testid="scenario-status"]').innerText()}`);

    // The crash marker, and the slider scrubbed back to just before it.
    const crash = scn.locator('ol[aria-label="Markers"] li[data-kind="crash"]');
    assert.equal(await crash.count(), 1, 'one crash marker');
    assert.equal(await scn.locator('ol[aria-label="Markers"] li[data-kind="recovery"]').count(), 1, 'one recovery marker');
    const crashSeq = Number(await crash.getAttribute('data-seq'));
    assert.equal(await crash.getAttribute('data-time'), '82', 'the crash is at tick 82');
    const slider = scn.getByRole('slider', { name: 'Position in the run', exact: true });
    await slider.evaluate((el, v) => {
      el.value = String(v);
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }, crashSeq);
    await waitUntil(([sel, s]) => Number(document.querySelector(sel)?.dataset.position) <= s, [SCN, crashSeq], 'scrubbed back before the crash');
    assert.equal(await num('trace-len'), fullLength, 'scrubbing does not change the trace');
    assert.equal(await counter('crashes'), 0, 'before the crash');
    assert.equal(await counter('commits'), 2, 'apple and banana acknowledged');
    assert.deepEqual(await keys(), [['apple', 'red'], ['banana', 'yellow']], 'the keys as they were before the crash');
    const valueText = await slider.getAttribute('aria-valuetext');
    assert.match(valueText, /^tick \d+ of \d+, event \d+ of \d+: /, `aria-valuetext: ${valueText}`);
    t.diagnostic(`before the crash: ${valueText}`);

    // Step forward from the keyboard: the crash and its recovery.
    const before = await num('position');
    await slider.focus();
    await page.keyboard.press('ArrowRight');
    await waitUntil(([sel, p]) => Number(document.querySelector(sel)?.dataset.position) > p, [SCN, before], 'stepped forward');
    assert.ok((await num('position')) > crashSeq, 'past the crash');
    assert.equal(await counter('crashes'), 1);
    const kinds = await scn.locator('ol[aria-label="Recent events"] li').evaluateAll((lis) => lis.map((li) => li.dataset.kind));
    assert.ok(kinds.includes('crash') || kinds.includes('reopened'), `recent events show the crash: ${JSON.stringify(kinds)}`);

    // Write a key here: a branch. The recorded future is discarded.
    const branchAt = await num('position');
    await scn.getByLabel('Key to write into the run', { exact: true }).fill('fig');
    await scn.getByLabel('Value to write into the run', { exact: true }).fill('purple');
    await scn.getByRole('button', { name: 'Write a key', exact: true }).click();
    await waitUntil(([sel, n]) => Number(document.querySelector(sel)?.dataset.traceLen) !== n, [SCN, fullLength], 'the branch changed the trace');
    const branched = await num('trace-len');
    assert.ok(branched < fullLength, `the future was discarded (${fullLength} → ${branched} events)`);
    assert.ok(branched > branchAt, 'the action was applied');
    assert.equal(await num('position'), branched, 'at the new frontier');
    const newest = await scn.locator('ol[aria-label="Recent events"] li').allInnerTexts();
    assert.ok(newest.some((s) => s.includes('write fig = purple')), `the write is in the trace: ${JSON.stringify(newest)}`);

    // Play on (Space on the slider) to the end: the new key is there, invariants hold.
    await slider.focus();
    await page.keyboard.press('Space');
    await waitFor(page, `${SCN}[data-finished="true"]`, 'the branch played to its end');
    assert.equal(await data('invariants'), 'ok', 'every invariant held in the branch');
    assert.equal(await data('reached'), '5');
    const final = await keys();
    assert.deepEqual(final.find(([k]) => k === 'fig'), ['fig', 'purple'], `fig is in the database: ${JSON.stringify(final)}`);
    assert.ok((await num('trace-len')) !== fullLength, 'a different history');
    t.diagnostic(`branch: ${JSON.stringify(final)}; ${await page.locator('[data-testid="scenario-status"]').innerText()}`);

    // Screenshots, wide and at 375 px (which must not scroll sideways).
    await scn.locator('details.scenario-markers summary').click();
    await page.waitForTimeout(200);
    const wide = path.join(ARTIFACTS, 'scenario-timeline-1280.png');
    await scn.screenshot({ path: wide });
    await page.setViewportSize({ width: 375, height: 800 });
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 375, `at 375 px the page must not scroll sideways (scrollWidth ${scrollWidth})`);
    const narrow = path.join(ARTIFACTS, 'scenario-timeline-375.png');
    await scn.screenshot({ path: narrow });
    t.diagnostic(`screenshots: ${path.relative(process.cwd(), wide)}, ${path.relative(process.cwd(), narrow)}`);
  });
});

test('the LSM scenario plays to its end in the page with flush and compaction markers', { timeout: 120_000 }, async (t) => {
  await withSite('scenario-lsm', async ({ page, origin }) => {
    const scn = page.locator(SCN);
    await page.goto(`${origin}/`);
    await waitFor(page, `${SCN}[data-name="log-is-the-truth"]`, 'the scenario panel loaded its first scenario');
    await scn.getByLabel('Scenario', { exact: true }).selectOption('lsm-flush-compaction');
    await scn.getByRole('button', { name: 'Load scenario', exact: true }).click();
    await waitFor(page, `${SCN}[data-name="lsm-flush-compaction"]`, 'the LSM scenario loaded');
    await scn.getByRole('radio', { name: '64×', exact: true }).check();
    const started = Date.now();
    // Play from the keyboard: K anywhere in the panel but a text field.
    await scn.getByRole('button', { name: 'Step forward', exact: true }).focus();
    await page.keyboard.press('k');
    try {
      await page.locator(`${SCN}[data-finished="true"]`).waitFor({ state: 'attached', timeout: 60_000 });
    } catch {
      throw new Error(`the LSM scenario did not finish within 60 s: ${await page.locator('[data-testid="scenario-status"]').innerText()}`);
    }
    t.diagnostic(`played in ${Date.now() - started} ms: ${await page.locator('[data-testid="scenario-status"]').innerText()}`);
    assert.equal(await scn.getAttribute('data-reached'), await scn.getAttribute('data-steps'), 'every narration step reached');
    assert.equal(await scn.getAttribute('data-invariants'), 'ok');
    const marks = await scn.locator('ol[aria-label="Markers"] li').evaluateAll((lis) => lis.map((li) => li.dataset.kind));
    for (const kind of ['flush', 'compaction', 'crash', 'recovery']) {
      assert.ok(marks.includes(kind), `a ${kind} marker: ${JSON.stringify([...new Set(marks)])}`);
    }
    assert.ok(Number(await scn.locator('[data-counter="flushes"]').getAttribute('data-value')) >= 1);
    assert.ok(Number(await scn.locator('[data-counter="compactions"]').getAttribute('data-value')) >= 1);
    // Back to the start with the button: nothing reached, the trace kept.
    const len = await scn.getAttribute('data-trace-len');
    await scn.getByRole('button', { name: 'Back to the start', exact: true }).click();
    await waitFor(page, `${SCN}[data-reached="0"]`, 'back at the start');
    assert.equal(await scn.getAttribute('data-trace-len'), len);
  });
});
