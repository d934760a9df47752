// End-to-end: the playground as a whole, used as a person would, by role and accessible name.
//
// 1. Share links: load "group-commit" with seed 5, play, pause, write a key in the past (a
//    branch), copy the share link; a second tab opening it lands on the same position with
//    the identical trace hash.
// 2. Session: reloading the first tab resumes the run where it was (same position, same hash).
// 3. Export and import: the run exported as a JSON file and imported again is replayed and
//    verified against its trace hash; a damaged file is refused with a message.
// 4. A malformed link shows a clear message and the default scenario loads instead.
// 5. Keyboard only: "?" opens the shortcut list and Escape closes it (focus returns); "t"
//    switches the theme (and the choice survives a reload); the scenario section's number key
//    moves focus to it; a section collapses and expands from the section bar; Tab walks
//    through the first 60 controls, every one with an accessible name.
// 6. Screenshots of the whole page at 1280 px and 375 px (which must not scroll sideways).
//
// Run: node --test tests/e2e/playground.test.mjs   (after bash scripts/build-site.sh)
// Env: LOGSPINE_DIST (default: <repo>/dist), CHROMIUM_PATH (default: /usr/bin/chromium).

import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, waitFor, withSite } from './harness.mjs';

const SCN = '[data-testid="scenario"]';

/**
 * A page opened from a share link shows the scenario panel, whichever sections come
 * before it: its section expanded, focus on its heading, the heading on screen below the
 * section bar.
 */
async function assertLinkLanded(page, what) {
  await page.waitForFunction(() => document.activeElement?.id === 'scenario-heading', null, { timeout: 20_000 });
  // Settled: the sections above may still be growing as they start.
  await page.waitForTimeout(500);
  const box = await page.evaluate(() => {
    const r = document.getElementById('scenario-heading').getBoundingClientRect();
    const bar = document.querySelector('.shell-bar').getBoundingClientRect();
    return { top: r.top, bottom: r.bottom, below: getComputedStyle(document.querySelector('.shell-bar')).position === 'sticky' ? bar.bottom : 0, height: innerHeight };
  });
  assert.ok(box.top >= box.below - 1 && box.bottom <= box.height, `${what}: the scenario panel's heading is on screen (${JSON.stringify(box)})`);
  assert.equal(await page.locator('#fold-scenarios').isHidden(), false, `${what}: the scenarios section is expanded`);
}

test('share links, session, export/import, keyboard and themes', { timeout: 240_000 }, async (t) => {
  await withSite('playground', async ({ page, origin }) => {
    const scn = page.locator(SCN);
    await page.goto(`${origin}/`);
    await waitFor(page, `${SCN}[data-name="log-is-the-truth"]`, 'the scenario panel loaded');

    // --- 1. a run with a branch, shared ---
    const loads = Number(await scn.getAttribute('data-loads'));
    await scn.getByLabel('Scenario', { exact: true }).selectOption('group-commit');
    await scn.getByLabel('Seed', { exact: true }).fill('5');
    await scn.getByRole('button', { name: 'Load scenario', exact: true }).click();
    await page.waitForFunction(
      ([sel, n]) => Number(document.querySelector(sel)?.dataset.loads) > n,
      [SCN, loads],
    );
    assert.equal(await scn.getAttribute('data-name'), 'group-commit');
    await scn.getByRole('radio', { name: '16×', exact: true }).check();
    await scn.getByRole('button', { name: 'Play', exact: true }).click();
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.traceLen) > 300, SCN);
    await scn.getByRole('button', { name: 'Pause', exact: true }).click();
    // Back into the past, then change history there.
    for (let i = 0; i < 5; i++) await scn.getByRole('button', { name: 'Step back', exact: true }).click();
    await scn.getByLabel('Key to write into the run', { exact: true }).fill('shared-key');
    await scn.getByLabel('Value to write into the run', { exact: true }).fill('from a link');
    await scn.getByRole('button', { name: 'Write a key', exact: true }).click();
    await scn.getByRole('button', { name: 'Step forward', exact: true }).click();
    await scn.getByRole('button', { name: 'Step forward', exact: true }).click();
    const position = await scn.getAttribute('data-position');
    const hash = await scn.getAttribute('data-trace-hash');
    assert.match(hash, /^[0-9a-f]{16}$/, 'the panel shows the trace hash');

    await scn.getByRole('button', { name: 'Copy share link', exact: true }).click();
    const link = await scn.getByLabel('Share link', { exact: true }).inputValue();
    assert.match(link, /#run=1\.[A-Za-z0-9_-]+$/, `a run link: ${link}`);
    t.diagnostic(`share link: ${link.length} characters for position ${position}`);

    // The person who gets the link had collapsed the scenarios (the settings are the
    // origin's, shared with the second tab); the link opens the panel anyway, in view.
    const scenariosToggleFirst = page.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: /Scenarios/ });
    await scenariosToggleFirst.click();
    assert.equal(await scenariosToggleFirst.getAttribute('aria-expanded'), 'false');
    const second = await page.context().newPage();
    await second.goto(link);
    await second.waitForFunction(
      ([sel, p]) => document.querySelector(sel)?.dataset.position === p,
      [SCN, position],
      { timeout: 60_000 },
    );
    const other = second.locator(SCN);
    assert.equal(await other.getAttribute('data-name'), 'group-commit');
    assert.equal(await other.getAttribute('data-trace-hash'), hash, 'the link reproduces the identical trace');
    assert.ok(!second.url().includes('#run='), 'the link leaves the address bar once opened');
    await assertLinkLanded(second, 'a shared run');
    await second.close();
    await scenariosToggleFirst.click();
    assert.equal(await scenariosToggleFirst.getAttribute('aria-expanded'), 'true');

    // --- 2. a reload resumes the session ---
    await page.reload();
    await page.waitForFunction(
      ([sel, p]) => document.querySelector(sel)?.dataset.position === p,
      [SCN, position],
      { timeout: 60_000 },
    );
    assert.equal(await scn.getAttribute('data-name'), 'group-commit');
    assert.equal(await scn.getAttribute('data-trace-hash'), hash, 'the reload resumed the same run');
    const keyRow = scn.locator('table[data-testid="scenario-keys"] tr[data-key="shared-key"]');
    await scn.getByRole('button', { name: 'Step forward', exact: true }).click();
    await scn.getByRole('button', { name: 'Pause', exact: true }).click().catch(() => {});

    // --- 3. export and import ---
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      scn.getByRole('button', { name: 'Export run (JSON)', exact: true }).click(),
    ]);
    const file = path.join(ARTIFACTS, 'playground-run.json');
    await download.saveAs(file);
    const exported = JSON.parse(await fsp.readFile(file, 'utf8'));
    assert.equal(exported.logspine_run, 1);
    assert.equal(exported.scenario, 'group-commit');
    assert.equal(exported.actions.length, 1, 'the one hand-applied write');
    const exportedPosition = String(exported.position);
    const exportedHash = await scn.getAttribute('data-trace-hash');
    // Elsewhere first, then import: the run comes back where it was exported.
    await scn.getByRole('button', { name: 'Back to the start', exact: true }).click();
    await scn.getByLabel('Import a run file (JSON)').setInputFiles(file);
    await page.waitForFunction(
      ([sel, p]) => document.querySelector(sel)?.dataset.position === p,
      [SCN, exportedPosition],
      { timeout: 60_000 },
    );
    assert.equal(await scn.getAttribute('data-trace-hash'), exportedHash);
    assert.match(await page.getByTestId('scenario-share-status').innerText(), /trace hash matches/);
    await keyRow.waitFor({ state: 'attached' }).catch(() => {});
    // A file whose trace was edited is refused, and says why.
    const edited = path.join(ARTIFACTS, 'playground-run-edited.json');
    await fsp.writeFile(edited, JSON.stringify({ ...exported, trace_hash: '0000000000000000' }));
    await scn.getByLabel('Import a run file (JSON)').setInputFiles(edited);
    const alert = scn.locator('[role="alert"]');
    await alert.waitFor();
    assert.match(await alert.innerText(), /trace hash .* but the file records 0000000000000000/);
    await scn.getByRole('button', { name: 'Dismiss the scenario error' }).click();

    // --- 4. a malformed link ---
    await page.goto(`${origin}/#run=1.this-is-not-a-run`);
    await page.reload();
    await waitFor(page, `${SCN} [role="alert"]`, 'the malformed link is reported');
    await assertLinkLanded(page, 'a damaged link');
    const said = await scn.locator('[role="alert"]').innerText();
    assert.match(said, /This link is damaged or cut short.*default scenario is loaded instead/s, said);
    assert.ok(await scn.locator('[role="alert"]').isVisible(), 'the damaged link\'s message is on screen');
    await waitFor(page, `${SCN}[data-name="log-is-the-truth"]`, 'the default scenario loaded instead');

    // --- 5. keyboard only ---
    await page.locator('body').click({ position: { x: 2, y: 2 } });
    await page.keyboard.press('?');
    const dialog = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await dialog.waitFor();
    assert.equal(
      await page.evaluate(() => document.activeElement?.textContent),
      'Close',
      'focus moves into the shortcut list',
    );
    // Modal: Tab stays on its one control.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Close', 'focus stays in the list');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    const theme = () => page.evaluate(() => document.documentElement.dataset.theme ?? 'system');
    assert.equal(await theme(), 'system');
    await page.keyboard.press('t');
    assert.equal(await theme(), 'light');
    await page.keyboard.press('t');
    assert.equal(await theme(), 'dark');
    const dark = path.join(ARTIFACTS, 'playground-dark-1280.png');
    await page.screenshot({ path: dark });
    // A panel expanded to its detailed view stays expanded across a reload.
    const raftPanel = page.locator('[data-testid="pipeline-raft"]');
    await raftPanel.getByRole('button', { name: "Show each node's log", exact: true }).click();
    await page.reload();
    await waitFor(page, `${SCN}[data-name]`, 'reloaded');
    assert.equal(await theme(), 'dark', 'the theme survives a reload');
    const hideLogs = raftPanel.getByRole('button', { name: "Hide the nodes' logs", exact: true });
    await hideLogs.waitFor({ timeout: 20_000 });
    assert.equal(await hideLogs.getAttribute('aria-expanded'), 'true', 'the Raft panel stayed expanded');
    await hideLogs.click();
    await page.keyboard.press('t');
    assert.equal(await theme(), 'system');
    // The section bar names each section's key ("Hide Scenarios (key 3)").
    const scenariosToggle = page.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: /Scenarios/ });
    const key = (await scenariosToggle.getAttribute('aria-label')).match(/\(key (\d)\)/)[1];
    await page.keyboard.press(key);
    await page.waitForFunction(() => document.activeElement?.id === 'scenario-heading');
    // Collapse and expand a section from the section bar, by keyboard.
    const toggle = page.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: /Raft/ });
    await toggle.focus();
    await page.keyboard.press('Enter');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.locator('#fold-raft').isHidden(), true);
    await page.keyboard.press('Enter');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');

    // Tab through the page from the top: every control reached has an accessible name.
    await page.evaluate(() => document.activeElement?.blur());
    await page.locator('h1').click();
    const unnamed = [];
    const seen = new Set();
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press('Tab');
      const info = await page.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body) return null;
        const byLabels = el.labels?.length ? [...el.labels].map((l) => l.textContent).join(' ') : '';
        const labelledBy = el.getAttribute('aria-labelledby');
        const byRef = labelledBy
          ? labelledBy.split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? '').join(' ')
          : '';
        const name = (el.getAttribute('aria-label') || byRef || byLabels || el.textContent || el.getAttribute('title') || '').trim();
        return { tag: el.tagName.toLowerCase(), id: el.id, name };
      });
      if (!info) continue;
      seen.add(`${info.tag}#${info.id}:${info.name}`);
      if (!info.name) unnamed.push(`${info.tag}#${info.id}`);
    }
    assert.deepEqual(unnamed, [], 'every focused control has an accessible name');
    assert.ok(seen.size >= 20, `Tab reaches the controls (${seen.size} distinct)`);

    // --- 6. screenshots ---
    const wide = path.join(ARTIFACTS, 'playground-1280.png');
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: wide, fullPage: true });
    await page.setViewportSize({ width: 375, height: 800 });
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 375, `at 375 px the page must not scroll sideways (scrollWidth ${scrollWidth})`);
    const narrow = path.join(ARTIFACTS, 'playground-375.png');
    await page.screenshot({ path: narrow, fullPage: true });
    t.diagnostic(`screenshots: ${[wide, narrow, dark].map((p) => path.relative(process.cwd(), p)).join(', ')}`);
  });
});
