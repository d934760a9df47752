// End-to-end: an accessibility audit of everything the site shows, with axe-core (npm, run
// inside the page; nothing is fetched) against WCAG 2.0, 2.1 and 2.2 levels A and AA and
// axe's best practices, in the states a person gets the page into, not only as it loads:
//
// 1. The playground at 1280 px: as it opens; the shortcut list open; the pipeline with a
//    followed write, the Raft nodes' logs and the B-tree's pages shown, the database crashed
//    and a view rebuilding; the scenario panel playing with its embed and share boxes open;
//    a Raft node crashed and a partition applied; the database view crashed and recovering;
//    then on the simulated disk, crashed mid-checkpoint with a transaction open; the B-tree
//    and LSM tree after a workload, a lookup and a crash; the raw log corrupted and crashed.
// 2. The same in the dark theme (the system's, as a reader's browser would ask), and at
//    375 px wide.
// 3. A damaged share link's page; the embed widget with a good and a malformed link; every
//    docs page, at 1280 and 375 px.
// 4. Focus is never hidden under the section bar (WCAG 2.4.11): walking the page backwards
//    with Shift+Tab, which scrolls each control to the top edge, no focused control is
//    covered by the bar while it stays at the top.
//
// Any violation fails the test, listed with its rule, the state, the element and axe's
// summary. Run: node --test tests/e2e/a11y.test.mjs   (after bash scripts/build-site.sh)
// Env: LOGSPINE_DIST (default: <repo>/dist), CHROMIUM_PATH (default: /usr/bin/chromium).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { waitFor, withSite } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const AXE = fs.readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa', 'best-practice'];
const DOCS = ['index', 'log', 'wal', 'btree-lsm', 'raft', 'topics', 'cdc', 'embedding'];

const PIPE = '[data-testid="pipeline"]';
const SCN = '[data-testid="scenario"]';
const RAFT = '[data-testid="raft"]';
const DB = '[data-testid="db"]';

/**
 * Runs axe on the page as it is now; returns one line per element that violates a rule,
 * prefixed with `state`. (`page.evaluate` is not subject to the page's CSP, which forbids
 * inline scripts, so axe goes in that way.)
 */
async function audit(page, state) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
  const violations = await page.evaluate(async (tags) => {
    // Audit the page at rest: an element fading in (opacity 0 to 1 over 180 ms) has less
    // contrast for those milliseconds, by design. Finished, every animation shows its end.
    for (const a of document.getAnimations()) {
      try {
        a.finish();
      } catch {
        // An endless animation cannot finish; none is faded.
      }
    }
    // From the top: scrolled, the sticky section bar lies over whatever is under it at that
    // moment, and axe would count those controls as obscured (target size).
    window.scrollTo(0, 0);
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
    return result.violations.flatMap((v) =>
      v.nodes.map((n) => ({
        rule: v.id,
        impact: v.impact,
        target: n.target.join(' '),
        html: n.html.slice(0, 160),
        summary: (n.failureSummary ?? '').replace(/\s+/g, ' ').slice(0, 300),
      })),
    );
  }, TAGS);
  return violations.map((v) => `[${state}] ${v.rule} (${v.impact}) at ${v.target}: ${v.summary} — ${v.html}`);
}

/** The playground with every section interactive. */
async function openPlayground(page, origin) {
  await page.goto(`${origin}/`);
  await waitFor(page, `${PIPE}[data-phase="running"]`, 'the pipeline started');
  await waitFor(page, `${SCN}[data-name]`, 'a scenario loaded');
  await waitFor(page, `${RAFT}[data-raft-phase="running"]`, 'the cluster started');
  await waitFor(page, `${DB}[data-db-ready="true"]`, 'the database opened');
  await waitFor(page, 'section[data-ready="true"]', 'the log demo recovered');
}

/** Puts each view into the states a person gets it into, auditing on the way. */
async function auditPlaygroundStates(page, origin, tag) {
  const found = [];
  await openPlayground(page, origin);
  found.push(...(await audit(page, `${tag}: as it opens`)));

  await page.getByRole('button', { name: 'Keyboard shortcuts', exact: true }).click();
  await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
  found.push(...(await audit(page, `${tag}: the shortcut list`)));
  await page.keyboard.press('Escape');

  const pipe = page.locator(PIPE);
  await pipe.getByRole('button', { name: 'Write and follow', exact: true }).click();
  await pipe.getByRole('button', { name: "Show each node's log", exact: true }).click();
  await pipe.getByRole('button', { name: "Show the B-tree's pages", exact: true }).click();
  await pipe.getByRole('button', { name: 'Crash the database', exact: true }).click();
  await pipe.getByRole('button', { name: 'Rebuild the replica view from offset 0', exact: true }).click();
  found.push(...(await audit(page, `${tag}: pipeline, details open, crashed, rebuilding`)));

  const scn = page.locator(SCN);
  await scn.getByRole('button', { name: 'Embed this', exact: true }).click();
  await scn.getByRole('button', { name: 'Copy share link', exact: true }).click();
  await scn.getByRole('radio', { name: '64×', exact: true }).check();
  await scn.getByRole('button', { name: 'Play', exact: true }).click();
  const raft = page.locator(RAFT);
  await raft.getByRole('button', { name: /^Crash node \d$/ }).first().click();
  await raft.getByRole('checkbox', { name: /^Node \d on side B$/ }).nth(1).check();
  await raft.getByRole('button', { name: 'Apply partition', exact: true }).click();
  const db = page.locator(DB);
  await db.getByRole('button', { name: 'Crash the database', exact: true }).click();
  await waitFor(page, `${DB}[data-recovery="running"], ${DB}[data-recovery="done"]`, 'the database recovers');
  found.push(...(await audit(page, `${tag}: scenario playing, Raft node down and partitioned, database recovering`)));
  await waitFor(page, `${DB}[data-db-ready="true"][data-recovery="done"]`, 'the database recovered');
  found.push(...(await audit(page, `${tag}: after the database's recovery`)));

  // The database on the simulated disk, crashed in the middle of a checkpoint with a
  // transaction open (interrupted transactions, a torn page repaired).
  await db.getByLabel('Key', { exact: true }).fill('x');
  await db.getByLabel('Value', { exact: true }).fill('y');
  await db.getByRole('button', { name: 'Put in open transaction', exact: true }).click();
  await db.getByRole('radio', { name: /^Simulated disk/ }).check();
  await waitFor(page, `${DB}[data-backend="simdisk"][data-db-ready="true"]`, 'the database on the simulated disk');
  await db.getByRole('button', { name: 'Crash during a checkpoint', exact: true }).click();
  await waitFor(page, `${DB}[data-backend="simdisk"][data-db-ready="true"][data-recovery="done"]`, 'recovered from the crash mid-checkpoint');
  // The B-tree and the LSM tree under the workload, a lookup, the LSM database crashed.
  const lsm = page.locator('[data-testid="lsm"]');
  await lsm.getByRole('button', { name: 'Start the workload on both databases', exact: true }).click();
  await page.waitForTimeout(2_000);
  await lsm.getByLabel('Key to look up', { exact: true }).fill('k1');
  await lsm.getByRole('button', { name: 'Look up', exact: true }).click();
  await lsm.getByRole('button', { name: 'Stop the workload on both databases', exact: true }).click();
  await lsm.getByRole('button', { name: 'Crash the LSM database', exact: true }).click();
  // The raw log: records appended and synced, the last durable one corrupted, a crash.
  for (const payload of ['one', 'two', 'three']) {
    await page.getByLabel('Record payload', { exact: true }).fill(payload);
    await page.getByRole('button', { name: 'Append record', exact: true }).click();
  }
  await page.getByRole('button', { name: 'Sync', exact: true }).click();
  await waitFor(page, 'ol[aria-label="Log records"] > li[data-state="durable"]', 'the records are durable');
  await page.getByRole('button', { name: 'Corrupt last durable record', exact: true }).click();
  await page.getByRole('button', { name: 'Crash', exact: true }).click();
  await waitFor(page, 'section[data-ready="true"], section[data-phase="failed"]', 'the log reopened');
  found.push(...(await audit(page, `${tag}: mid-checkpoint crash, LSM crashed, log corrupted`)));
  return found;
}

test('no accessibility violation in the playground, the widget or the docs', { timeout: 600_000 }, async (t) => {
  const found = [];
  await withSite('a11y-light', async ({ page, origin }) => {
    found.push(...(await auditPlaygroundStates(page, origin, '1280 light')));

    await page.goto(`${origin}/#run=1.this-is-not-a-run`);
    await page.reload();
    await waitFor(page, `${SCN} [role="alert"]`, 'the damaged link is reported');
    found.push(...(await audit(page, '1280: a damaged share link')));

    for (const link of ['/embed/?scenario=group-commit&seed=2', '/embed/?scenario=nope&seed=x&panel=zzz']) {
      await page.goto(`${origin}${link}`);
      await waitFor(page, '[data-testid="embed"][data-trace-len]:not([data-trace-len=""])', `the widget at ${link} ran`);
      found.push(...(await audit(page, `widget ${link}`)));
    }
    for (const width of [1280, 375]) {
      await page.setViewportSize({ width, height: 900 });
      for (const doc of DOCS) {
        await page.goto(`${origin}/docs/${doc}.html`);
        await page.waitForLoadState('load');
        found.push(...(await audit(page, `docs/${doc}.html at ${width}`)));
      }
    }
  });
  await withSite('a11y-dark', async ({ page, origin }) => {
    await page.emulateMedia({ colorScheme: 'dark' });
    found.push(...(await auditPlaygroundStates(page, origin, '1280 dark')));
  });
  await withSite('a11y-375', async ({ page, origin }) => {
    await page.setViewportSize({ width: 375, height: 800 });
    found.push(...(await auditPlaygroundStates(page, origin, '375 light')));
  });
  t.diagnostic(`axe-core ${JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'package.json'), 'utf8')).version}, rules tagged ${TAGS.join(', ')}`);
  assert.deepEqual(found, [], `accessibility violations:\n  ${found.join('\n  ')}`);
});

test('focus never lands under the section bar', { timeout: 180_000 }, async () => {
  await withSite('a11y-focus', async ({ page, origin }) => {
    await openPlayground(page, origin);
    // Start from the last control of the page and walk backwards: each Shift+Tab scrolls
    // the control it reaches up to the top edge of the window, where the bar is.
    await page.evaluate(() => {
      const controls = [...document.querySelectorAll('main button, main input, main select, main textarea, main a[href]')]
        .filter((el) => el.offsetParent !== null && !el.closest('.shell-bar'));
      controls.at(-1).focus();
    });
    const hidden = [];
    let checked = 0;
    for (let i = 0; i < 150; i++) {
      await page.keyboard.press('Shift+Tab');
      const seen = await page.evaluate(() => {
        const el = document.activeElement;
        const bar = document.querySelector('.shell-bar');
        if (!el || el === document.body || bar.contains(el)) return null;
        const r = el.getBoundingClientRect();
        const b = bar.getBoundingClientRect();
        const name = el.getAttribute('aria-label') || el.textContent?.trim().slice(0, 40) || el.id;
        return { name, top: r.top, bottom: r.bottom, barBottom: b.bottom, sticky: getComputedStyle(bar).position === 'sticky' };
      });
      if (!seen) continue;
      checked++;
      // Covered: the control's top is above the bar's bottom while the bar is on screen.
      if (seen.sticky && seen.barBottom > 0 && seen.top < seen.barBottom - 1) {
        hidden.push(`${seen.name}: top ${seen.top.toFixed(0)} px, the bar ends at ${seen.barBottom.toFixed(0)} px`);
      }
    }
    assert.ok(checked >= 100, `Shift+Tab reached ${checked} controls`);
    assert.deepEqual(hidden, [], `controls focused under the section bar:\n  ${hidden.join('\n  ')}`);
  });
});
