// End-to-end: the pipeline view (WAL → CDC → topic → views), driven through the built site
// (dist/) in a real Chromium by role and accessible name. A write is followed into the
// topic and every view; the database crashes in the middle of a workload and the views
// still equal it; a view is rebuilt from offset 0 with a progress bar that finishes; the
// dual-write switch (from the keyboard) starts a world where the application writes the
// topic itself, and a crash between the commit and that write leaves the two stores
// different — while CDC's views still equal the database.
//
// Run: node --test tests/e2e/pipeline.test.mjs   (after `trunk build --release`)
// Env: LOGSPINE_DIST (default: <repo>/dist), CHROMIUM_PATH (default: /usr/bin/chromium).
// Screenshots: tests/e2e/artifacts/pipeline-1280.png and pipeline-375.png.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, waitFor, withSite } from './harness.mjs';

// The pipeline view's test hooks (web/src/pipeline_view.rs renders these).
const PIPE = '[data-testid="pipeline"]';
const FOLLOW = '[data-testid="pipeline-follow"]';

test('the pipeline carries a write to every view, survives a crash, rebuilds, and shows dual writes drifting', { timeout: 240_000 }, async (t) => {
  await withSite('pipeline', async ({ page, origin }) => {
    const pipe = page.locator(PIPE);
    const state = async () =>
      page.evaluate(
        ([p, f]) => {
          const s = document.querySelector(p)?.dataset ?? {};
          const fo = document.querySelector(f)?.dataset ?? {};
          const views = [...document.querySelectorAll(`${p} li[data-view]`)].map((li) => ({ ...li.dataset }));
          return { ...s, follow: { ...fo }, views };
        },
        [PIPE, FOLLOW],
      );
    const waitUntil = async (fn, arg, what, timeout = 60_000) => {
      try {
        return await (await page.waitForFunction(fn, arg, { timeout, polling: 100 })).jsonValue();
      } catch {
        const alerts = await page.locator(`${PIPE} [role="alert"]`).allInnerTexts().catch(() => []);
        throw new Error(
          `${what}: not within ${timeout} ms; state ${JSON.stringify(await state())}${alerts.length ? `; alerts: ${alerts.join(' | ')}` : ''}`,
        );
      }
    };
    const data = (sel, key) => page.locator(sel).first().getAttribute(`data-${key}`);

    await page.goto(`${origin}/`);
    await waitFor(page, `${PIPE}[data-phase="running"]`, 'the pipeline started');
    await pipe.scrollIntoViewIfNeeded();
    // From the keyboard: the timeline's speed radios (arrow keys move the choice).
    const speed = pipe.getByRole('radio', { name: '4 ticks every 100 ms', exact: true });
    await speed.focus();
    await page.keyboard.press('ArrowRight');
    assert.ok(await pipe.getByRole('radio', { name: '16 ticks every 100 ms', exact: true }).isChecked(), 'ArrowRight chose 16 ticks');

    // 1. A write, followed from the WAL into the topic and every view.
    await pipe.getByLabel('Key to write to the pipeline', { exact: true }).fill('apple');
    await pipe.getByLabel('Value to write to the pipeline', { exact: true }).fill('red fruit');
    await pipe.getByRole('button', { name: 'Write and follow', exact: true }).click();
    await waitUntil(
      (f) => {
        const d = document.querySelector(f)?.dataset;
        return d?.stage === 'published' && d.viewsApplied === '3' && d.offset !== '';
      },
      FOLLOW,
      'the write reached the topic and all three views',
    );
    const offset = Number(await data(FOLLOW, 'offset'));
    const commit = Number(await data(FOLLOW, 'commit'));
    t.diagnostic(`apple: commit at lsn ${commit}, offset ${offset}: ${await page.locator(FOLLOW).locator('p').innerText()}`);
    assert.ok(commit > 0, 'the commit record has an LSN');
    assert.ok(
      (await pipe.locator(`ol[aria-label="Records of the topic changes"] li[data-offset="${offset}"][data-key="apple"]`).count()) === 1,
      'the topic window shows the change event at its offset',
    );
    await waitUntil(
      (sel) => document.querySelectorAll(sel).length === 6,
      `${FOLLOW} ol[aria-label="Stages of the write"] li[data-done="true"]`,
      'every stage of the write is done, the last: held by a majority of the Raft nodes',
    );
    const RAFT = '[data-testid="pipeline-raft"]';
    await waitUntil((r) => document.querySelector(r)?.dataset.holding === '3', RAFT, 'all three Raft nodes hold apple');
    assert.match(await pipe.locator(`${RAFT} li[data-node]`).first().innerText(), /apple = red/, 'a node shows the followed value');
    // The Raft panel expands to each node's log (index and term of its newest entries)
    // and collapses again.
    const showLogs = pipe.getByRole('button', { name: "Show each node's log", exact: true });
    assert.equal(await showLogs.getAttribute('aria-expanded'), 'false');
    // Every frame painted from here on: is the panel open, and how many log entries show.
    // Opening renders once with the old picture, then an effect makes one with the logs;
    // Yew runs both before the browser paints, so no frame shows an open, empty panel.
    await page.evaluate((r) => {
      window.raftFrames = [];
      const sample = () => {
        const open = document.querySelector(`${r} button.detail-toggle`)?.getAttribute('aria-expanded');
        window.raftFrames.push([open, document.querySelectorAll(`${r} ol.raft-log li[data-term]`).length]);
        if (window.raftFrames.length < 600) requestAnimationFrame(sample);
      };
      requestAnimationFrame(sample);
    }, RAFT);
    await showLogs.click();
    await waitUntil(
      (r) => [1, 2, 3].every((n) => document.querySelector(`${r} ol[aria-label="Log of n${n}"] li[data-term][data-committed="true"]`)),
      RAFT,
      "each node's log shows committed entries",
    );
    const frames = await page.evaluate(() => window.raftFrames);
    const open = frames.filter(([o]) => o === 'true');
    assert.ok(open.length > 0, `a painted frame showed the panel open (${frames.length} frames sampled)`);
    assert.equal(open.filter(([, n]) => n === 0).length, 0, `no painted frame showed the open panel without log entries: ${JSON.stringify(frames)}`);
    const hideLogs = pipe.getByRole('button', { name: "Hide the nodes' logs", exact: true });
    assert.equal(await hideLogs.getAttribute('aria-expanded'), 'true');
    await hideLogs.click();
    await waitUntil((r) => !document.querySelector(`${r} ol.raft-log`), RAFT, 'the logs are hidden again');
    await waitUntil((p) => document.querySelector(p)?.dataset.viewsEqual === 'true', PIPE, 'the views equal the database');
    const replica = pipe.locator('li[data-view="replica"]');
    assert.match(await replica.innerText(), /apple/, 'the replica view holds apple');

    // Each view reads at its own pace: pause one, then let it run fast.
    const searchPace = pipe.getByLabel('Pace of the search view', { exact: true });
    await searchPace.selectOption('0');
    await waitFor(page, `${PIPE} li[data-view="search"][data-pace="0"]`, 'the search view paused');

    // 2. A workload, the database crashes in the middle of it: the views still equal it.
    await pipe.getByLabel('Workload size', { exact: true }).selectOption('1000');
    await speed.check();
    await pipe.getByRole('button', { name: 'Run the workload', exact: true }).click();
    await waitUntil(
      (p) => Number(document.querySelector(p)?.dataset.hw) > 120,
      PIPE,
      'the workload published change events',
    );
    const paused = await state();
    const search = paused.views.find((v) => v.view === 'search');
    const replicaNow = paused.views.find((v) => v.view === 'replica');
    t.diagnostic(`paused search at ${search.position} (lag ${search.lag}); replica at ${replicaNow.position}`);
    assert.ok(Number(search.lag) > 0 && Number(replicaNow.position) > Number(search.position), 'the paused view lags');
    await searchPace.selectOption('50');
    await pipe.getByRole('button', { name: 'Crash the database', exact: true }).click();
    await waitUntil(
      () => document.querySelector('[data-testid="pipeline-counters"] [data-counter="db-crashes"]')?.dataset.value === '1',
      null,
      'the crash was counted',
    );
    await waitUntil(
      () => /recovered/.test(document.querySelector('[data-testid="pipeline-announce"]')?.textContent ?? '') ||
        /crashed/.test(document.querySelector('[data-testid="pipeline-announce"]')?.textContent ?? ''),
      null,
      'the live region told of the crash',
      5_000,
    );
    await pipe.getByRole('radio', { name: '64 ticks every 100 ms', exact: true }).check();
    await waitUntil(
      (p) => document.querySelector(p)?.dataset.viewsEqual === 'true',
      PIPE,
      'after the crash and the workload, every view equals the database',
      120_000,
    );
    const afterCrash = await state();
    t.diagnostic(`after the crash: hw ${afterCrash.hw}, views ${JSON.stringify(afterCrash.views.map((v) => [v.view, v.position, v.equal]))}`);
    assert.equal(afterCrash.failures, '0', 'no invariant failed');
    assert.ok(afterCrash.views.every((v) => v.equal === 'true' && v.lag === '0'), 'every view caught up and equal');
    // The index panel expands to the B-tree's pages by depth, with the followed key's
    // path from the root: one page at each depth.
    await pipe.getByRole('button', { name: "Show the B-tree's pages", exact: true }).click();
    const pages = await waitUntil(
      () => {
        const rows = [...document.querySelectorAll('#pipeline-index-detail > li')];
        const ok = rows.length >= 1 && /root/.test(rows[0].dataset.row) &&
          rows.every((r) => r.querySelectorAll('li.table-box[data-followed="true"]').length === 1);
        return ok && rows.map((r) => `${r.dataset.row}: ${r.querySelectorAll('li.table-box').length}`).join(', ');
      },
      null,
      "the B-tree's pages by depth, the followed key's path marked",
    );
    t.diagnostic(`B-tree pages: ${pages}`);
    assert.equal(await page.locator('[data-testid="pipeline-index"]').getAttribute('class').then((c) => /expanded/.test(c)), true);

    // 2b. Raft replicates the database: crash its leader and cut a follower off by their
    // buttons; another node leads; heal and restart; every node ends holding the rows.
    const raftNodes = () => pipe.locator(`${RAFT} li[data-node]`).evaluateAll((lis) => lis.map((li) => ({ ...li.dataset })));
    await waitUntil((r) => document.querySelectorAll(`${r} li[data-equal="true"]`).length === 3, RAFT, 'every Raft node equals the database');
    const oldLeader = await data(RAFT, 'leader');
    assert.ok(oldLeader !== '', 'the cluster has a leader');
    await pipe.getByRole('button', { name: 'Run the workload', exact: true }).click();
    await pipe.getByRole('button', { name: `Crash n${oldLeader}`, exact: true }).click();
    await waitUntil(([r, n]) => document.querySelector(`${r} li[data-node="${n}"]`)?.dataset.up === 'false', [RAFT, oldLeader], 'the leader is down');
    const follower = (await raftNodes()).find((n) => n.up === 'true').node;
    await pipe.getByRole('button', { name: `Cut n${follower} off`, exact: true }).click();
    await waitUntil(([r, n]) => document.querySelector(`${r} li[data-node="${n}"]`)?.dataset.cut === 'true', [RAFT, follower], 'a follower is cut off');
    // Lossy, slow links: the selects set the world's network, and the picture reads it back.
    await pipe.getByLabel('Raft messages dropped', { exact: true }).selectOption('30');
    await pipe.getByLabel('Raft message delay', { exact: true }).selectOption('10-30');
    await waitUntil(() => document.querySelector('#pipeline-raft-loss')?.value === '30' &&
      document.querySelector('#pipeline-raft-delay')?.value === '10-30', null, 'the network is lossy and slow');
    await pipe.getByLabel("Sync latency of the database's disk", { exact: true }).selectOption('50-100');
    await waitUntil(() => document.querySelector('#pipeline-disk')?.value === '50-100', null, 'the disk is slow');
    await page.waitForTimeout(500);
    await pipe.getByLabel('Raft messages dropped', { exact: true }).selectOption('0');
    await pipe.getByLabel('Raft message delay', { exact: true }).selectOption('1-5');
    await pipe.getByLabel("Sync latency of the database's disk", { exact: true }).selectOption('5-15');
    const stuck = await data(RAFT, 'replicated');
    t.diagnostic(`raft: n${oldLeader} crashed, n${follower} cut off; ${stuck} changes replicated so far`);
    await pipe.getByRole('button', { name: 'Heal the Raft network', exact: true }).click();
    await waitUntil(([r, n]) => { const l = document.querySelector(r)?.dataset.leader; return l !== '' && l !== n; }, [RAFT, oldLeader], 'another node leads once the network heals', 60_000);
    await pipe.getByRole('button', { name: 'Restart the crashed Raft nodes', exact: true }).click();
    await pipe.getByRole('radio', { name: '64 ticks every 100 ms', exact: true }).check();
    await waitUntil((r) => document.querySelectorAll(`${r} li[data-equal="true"][data-up="true"]`).length === 3, RAFT, 'every Raft node is up and holds the database\'s rows', 120_000);
    assert.ok(Number(await data(RAFT, 'replicated')) > Number(stuck), 'the feed went on');
    assert.equal(await data(PIPE, 'failures'), '0', 'no invariant failed');
    await speed.check();

    // 3. Rebuild a view from offset 0: the progress bar fills and finishes.
    await speed.check();
    await pipe.getByRole('button', { name: 'Rebuild the replica view from offset 0', exact: true }).click();
    const bar = pipe.getByRole('progressbar', { name: 'Rebuild of the replica view', exact: true });
    await bar.waitFor({ state: 'visible' });
    const seen = [];
    for (let i = 0; i < 600 && (await replica.getAttribute('data-rebuilding')) === 'true'; i++) {
      const v = await bar.getAttribute('value').catch(() => null);
      if (v !== null) seen.push(Number(v));
      await page.waitForTimeout(50);
    }
    await waitUntil(
      () => document.querySelector('[data-testid="pipeline"] li[data-view="replica"]')?.dataset.rebuilt === '1',
      null,
      'the replica view was rebuilt',
    );
    t.diagnostic(`rebuild progress seen (permille): ${JSON.stringify(seen.filter((_, i) => i % 4 === 0))}`);
    assert.ok(seen.some((v) => v > 0 && v < 1000), 'the bar showed the rebuild part-way');
    assert.ok(seen.every((v, i) => i === 0 || v >= seen[i - 1]), 'the bar only moved forward');
    assert.equal(await bar.count(), 0, 'the bar is gone once the view caught up');
    assert.match(await page.locator('[data-testid="pipeline-announce"]').innerText(), /rebuilt from offset 0/);
    await waitUntil((p) => document.querySelector(p)?.dataset.viewsEqual === 'true', PIPE, 'the rebuilt view equals the database');

    // 4. Dual write, switched on from the keyboard: a new world.
    const sw = pipe.getByRole('switch', { name: 'Dual write', exact: true });
    assert.equal(await sw.getAttribute('aria-checked'), 'false');
    await sw.focus();
    await page.keyboard.press('Space');
    await waitFor(page, `${PIPE}[data-dual-write="true"][data-worlds="2"][data-phase="running"]`, 'a dual-write world started');
    assert.equal(await sw.getAttribute('aria-checked'), 'true');
    await waitFor(page, '[data-testid="pipeline-dual"]', 'the dual-write panel is shown');
    // Pause, write, step one tick at a time until the commit is acknowledged, then crash
    // the database before the application's own write to the topic (a few ticks later).
    await pipe.getByRole('button', { name: 'Pause', exact: true }).click();
    await waitFor(page, `${PIPE}[data-playing="false"]`, 'paused');
    await pipe.getByLabel('Key to write to the pipeline', { exact: true }).fill('pear');
    await pipe.getByLabel('Value to write to the pipeline', { exact: true }).fill('green');
    await pipe.getByRole('button', { name: 'Write and follow', exact: true }).click();
    await waitFor(page, `${FOLLOW}[data-stage="appended"]`, 'the write is in the WAL');
    const stepButton = pipe.getByRole('button', { name: 'Step one tick', exact: true });
    let steps = 0;
    // (Acknowledged: durable, and in the same tick perhaps already captured by CDC.)
    while (['sent', 'appended'].includes(await data(FOLLOW, 'stage'))) {
      assert.ok(steps++ < 200, 'the commit was acknowledged within 200 ticks');
      await stepButton.click();
    }
    t.diagnostic(`pear acknowledged after ${steps} ticks; crashing before the application writes the topic`);
    await pipe.getByRole('button', { name: 'Crash the database', exact: true }).click();
    await waitUntil(
      () => document.querySelector('[data-testid="pipeline-dual"]')?.dataset.lost === '1',
      null,
      'the application lost its topic write in the crash',
      10_000,
    );
    await pipe.getByRole('button', { name: 'Play', exact: true }).click();
    await waitUntil(
      (p) => {
        const d = document.querySelector(p)?.dataset;
        return d?.diverged === '1' && d.divergence === '1' && d.viewsEqual === 'true';
      },
      PIPE,
      'the dual replica differs from the database by one key while CDC views equal it',
    );
    await waitUntil(
      (f) => document.querySelector(f)?.dataset.stage === 'published',
      FOLLOW,
      'CDC still published the acknowledged write',
    );
    const dual = page.locator('[data-testid="pipeline-dual"]');
    t.diagnostic(`dual write: ${await dual.innerText()}`);
    assert.match(await dual.innerText(), /differ on 1 key\b/);
    const kinds = await pipe.locator('ol[aria-label="Pipeline events"] li').evaluateAll((lis) => lis.map((li) => li.dataset.kind));
    t.diagnostic(`events: ${JSON.stringify(kinds)}`);
    assert.ok(kinds.includes('dual_write_lost'), 'the event list tells of the lost topic write');
    assert.ok(kinds.includes('dual_write_diverged'), 'the event list tells of the divergence');

    // 5. Time travel: the timeline marks the crash; back to the start the fold is the one
    // of that moment (no divergence yet); Step back/forward move by moments; Back to live
    // returns to the end of the recording, divergence and all.
    const status = page.locator('[data-testid="pipeline-timeline-status"]');
    await pipe.getByRole('button', { name: 'Pause', exact: true }).click();
    await waitFor(page, `${PIPE}[data-playing="false"]`, 'paused for time travel');
    assert.match(await status.innerText(), /Markers: 1 crash\b/, 'the crash is marked on the timeline');
    assert.match(await status.innerText(), /at live/);
    const liveTime = Number(await data(PIPE, 'time'));
    const live = Number(await data(PIPE, 'position'));
    const scrub = pipe.getByRole('slider', { name: 'Position in the pipeline timeline', exact: true });
    assert.equal(Number(await scrub.inputValue()), live);
    await pipe.getByRole('button', { name: 'Back to the start', exact: true }).click();
    await waitUntil((p) => document.querySelector(p)?.dataset.diverged === '' && Number(document.querySelector(p)?.dataset.time) < 5, PIPE, 'back at the start: nothing diverged yet');
    assert.match(await status.innerText(), /at the past/);
    await pipe.getByRole('button', { name: 'Step forward', exact: true }).click();
    await waitUntil((p) => Number(document.querySelector(p)?.dataset.position) > 0, PIPE, 'a step forward');
    const stepped = Number(await data(PIPE, 'position'));
    await pipe.getByRole('button', { name: 'Step back', exact: true }).click();
    await waitUntil(([p, n]) => Number(document.querySelector(p)?.dataset.position) < n, [PIPE, stepped], 'a step back');
    // The slider from the keyboard: End goes to the end of the recording.
    await scrub.focus();
    await page.keyboard.press('End');
    await waitUntil(([p, n]) => Number(document.querySelector(p)?.dataset.position) === n, [PIPE, live], 'End on the slider: the end of the recording');
    await pipe.getByRole('button', { name: 'Back to the start', exact: true }).click();
    await waitUntil((p) => document.querySelector(p)?.dataset.diverged === '', PIPE, 'at the start again');
    await pipe.getByRole('button', { name: 'Back to live', exact: true }).click();
    await waitUntil((p) => document.querySelector(p)?.dataset.diverged === '1', PIPE, 'back to live: the divergence again');
    assert.equal(Number(await data(PIPE, 'position')), live, 'live is where it was (quiet ticks after the last event are run again by Play)');
    assert.ok(Number(await data(PIPE, 'time')) <= liveTime);
    // The markers as buttons: go to the crash.
    await pipe.getByText(/^Go to a marker/).click();
    const crashButton = pipe.getByRole('button', { name: /^Go to the crash at \d+$/ });
    const crashAt = Number((await crashButton.innerText()).match(/\d+$/)[0]);
    await crashButton.click();
    await waitUntil(([p, n]) => Number(document.querySelector(p)?.dataset.position) >= n, [PIPE, crashAt], 'Go to the crash: just after it');
    assert.ok(Number(await data(PIPE, 'position')) < live, 'in the past');
    const kindsAtCrash = await pipe.locator('ol[aria-label="Pipeline events"] li').evaluateAll((lis) => lis.map((li) => li.dataset.kind));
    assert.ok(kindsAtCrash.includes('crash'), `the events at the crash marker include the crash: ${JSON.stringify(kindsAtCrash)}`);
    // The bar's keys on its buttons: Home to the start, → one step, End back to live.
    await pipe.getByRole('button', { name: 'Step back', exact: true }).focus();
    await page.keyboard.press('Home');
    await waitUntil((p) => document.querySelector(p)?.dataset.diverged === '' && Number(document.querySelector(p)?.dataset.time) < 5, PIPE, 'Home: back at the start');
    await page.keyboard.press('ArrowRight');
    await waitUntil((p) => Number(document.querySelector(p)?.dataset.position) > 0, PIPE, 'ArrowRight: a step forward');
    await page.keyboard.press('End');
    await waitUntil(([p, n]) => Number(document.querySelector(p)?.dataset.position) === n, [PIPE, live], 'End: back to live');

    // 5b. A reload resumes the run (the page's session), and since it was live, the reload
    // is a crash: at that tick every machine of the world crashes and restarts from its
    // disk. The same world and mode, still paused, the crashes marked and announced; played
    // on, the views equal the database again and no invariant failed.
    const kept = ['worlds', 'dual-write'];
    const before = Object.fromEntries(await Promise.all(kept.map(async (k) => [k, await data(PIPE, k)])));
    const [timeBefore, positionBefore] = [Number(await data(PIPE, 'time')), Number(await data(PIPE, 'position'))];
    const crashesBefore = Number((await status.innerText()).match(/(\d+) crash\b/)[1]);
    await page.reload();
    await waitFor(page, `${PIPE}[data-phase="running"]`, 'the pipeline is back after the reload');
    await waitUntil(([p, n]) => Number(document.querySelector(p)?.dataset.position) > n, [PIPE, positionBefore], 'the reload resumed the run and crashed it');
    const after = Object.fromEntries(await Promise.all(kept.map(async (k) => [k, await data(PIPE, k)])));
    assert.deepEqual(after, before, 'the resumed run is the one left');
    assert.equal(await data(PIPE, 'playing'), 'false', 'a paused run stays paused');
    const said = await page.locator('[data-testid="pipeline-announce"]').innerText();
    assert.ok(said.includes(`The page was reloaded, and that was a crash: at tick ${timeBefore} every machine`), said);
    const crashesAfter = Number((await status.innerText()).match(/(\d+) crash\b/)[1]);
    assert.ok(crashesAfter > crashesBefore, `the reload's crashes are marked (${crashesBefore} → ${crashesAfter})`);
    t.diagnostic(`reload at tick ${timeBefore}: position ${positionBefore} → ${await data(PIPE, 'position')}, crash markers ${crashesBefore} → ${crashesAfter}`);
    await pipe.getByRole('button', { name: 'Play', exact: true }).click();
    await waitUntil((p) => document.querySelector(p)?.dataset.viewsEqual === 'true', PIPE, 'after the reload\'s crash the views equal the database again', 60_000);
    assert.equal(await data(PIPE, 'failures'), '0', 'no invariant failed across the reload');

    // Screenshots, wide and at 375 px (which must not scroll sideways).
    await pipe.getByRole('button', { name: 'Run the workload', exact: true }).click();
    await page.waitForTimeout(1200);
    const wide = path.join(ARTIFACTS, 'pipeline-1280.png');
    await pipe.screenshot({ path: wide });
    await page.setViewportSize({ width: 375, height: 800 });
    await page.waitForTimeout(300);
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 375, `at 375 px the page must not scroll sideways (scrollWidth ${scrollWidth})`);
    const narrow = path.join(ARTIFACTS, 'pipeline-375.png');
    await pipe.screenshot({ path: narrow });
    t.diagnostic(`screenshots: ${path.relative(process.cwd(), wide)}, ${path.relative(process.cwd(), narrow)}`);
  });
});

test('retention eats old segments (no rebuild from zero), compaction keeps rebuilds possible; keys and reduced motion', { timeout: 240_000 }, async (t) => {
  await withSite('pipeline-cleanup', async ({ page, origin }) => {
    await page.emulateMedia({ reducedMotion: 'reduce' });
    const pipe = page.locator(PIPE);
    const partition = `${PIPE} [data-testid="pipeline-partition"][data-topic="changes"]`;
    const waitUntil = async (fn, arg, what, timeout = 60_000) => {
      try {
        await page.waitForFunction(fn, arg, { timeout, polling: 100 });
      } catch {
        const p = await page.locator(partition).evaluate((e) => ({ ...e.dataset })).catch(() => ({}));
        throw new Error(`${what}: not within ${timeout} ms; partition ${JSON.stringify(p)}`);
      }
    };
    await page.goto(`${origin}/`);
    await waitFor(page, `${PIPE}[data-phase="running"]`, 'the pipeline started');
    await pipe.scrollIntoViewIfNeeded();

    // Retention: a new world whose topic keeps 16 KiB.
    const cleanup = pipe.getByLabel('Cleanup of the topic changes', { exact: true });
    await cleanup.focus();
    await cleanup.selectOption('retention');
    await waitFor(page, `${PIPE}[data-worlds="2"][data-phase="running"]`, 'a world with retention started');
    await pipe.getByRole('radio', { name: '64 ticks every 100 ms', exact: true }).check();
    await pipe.getByLabel('Workload size', { exact: true }).selectOption('1000');
    await pipe.getByRole('button', { name: 'Run the workload', exact: true }).click();
    // Under reduced motion, a transaction chip appears without animation.
    await waitFor(page, `${PIPE} li.token`, 'transactions on their way');
    // (Read in one go in the page: a chip re-rendered between finding and reading it is
    // detached, and a detached element has no computed style.)
    const animation = await page.evaluate((sel) => {
      const chip = document.querySelector(`${sel} li.token`);
      return chip ? getComputedStyle(chip).animationName : 'no chip';
    }, PIPE);
    assert.equal(animation, 'none', 'no animation under prefers-reduced-motion');
    await waitUntil((sel) => Number(document.querySelector(sel)?.dataset.start) > 0, partition, 'retention dropped the oldest segments', 90_000);
    t.diagnostic(`retention: ${await page.locator(partition).locator('figcaption').innerText()}`);
    await pipe.getByRole('button', { name: 'Rebuild the replica view from offset 0', exact: true }).click();
    await waitUntil(
      () => /^Refused/.test(document.querySelector('[data-testid="pipeline-announce"]')?.textContent ?? ''),
      null,
      'the rebuild from offset 0 was refused',
      10_000,
    );
    t.diagnostic(`refusal: ${await page.locator('[data-testid="pipeline-announce"]').innerText()}`);

    // The keyboard: p pauses and plays (focus on a button inside the view).
    await pipe.getByRole('button', { name: 'Step one tick', exact: true }).focus();
    await page.keyboard.press('p');
    await waitFor(page, `${PIPE}[data-playing="false"]`, 'p paused');
    await page.keyboard.press('p');
    await waitFor(page, `${PIPE}[data-playing="true"]`, 'p played');

    // Compaction: a new world; the rebuild from offset 0 works and equals the database.
    await cleanup.selectOption('compacted');
    await waitFor(page, `${PIPE}[data-worlds="3"][data-phase="running"]`, 'a world with a compacted topic started');
    await pipe.getByRole('button', { name: 'Run the workload', exact: true }).click();
    await waitUntil((sel) => Number(document.querySelector(sel)?.dataset.generation) > 0, partition, 'the topic was compacted', 90_000);
    await waitUntil((p) => document.querySelector(p)?.dataset.viewsEqual === 'true', PIPE, 'the workload finished and the views caught up', 120_000);
    await pipe.getByRole('button', { name: 'Rebuild the aggregate view from offset 0', exact: true }).click();
    await waitUntil(
      () => document.querySelector('[data-testid="pipeline"] li[data-view="aggregate"]')?.dataset.rebuilt === '1',
      null,
      'the aggregate view was rebuilt from the compacted topic',
    );
    await waitUntil((p) => document.querySelector(p)?.dataset.viewsEqual === 'true', PIPE, 'the rebuilt view equals the database');
    t.diagnostic(`compacted: ${await page.locator(partition).locator('figcaption').innerText()}`);

    // The index switch, from the keyboard: the LSM tree; a followed write lands in its
    // memtable, and the workload's flushes put tables in L0 (marked on the timeline).
    const index = pipe.getByLabel('Index of the database', { exact: true });
    await index.focus();
    await index.selectOption('lsm');
    await waitFor(page, `${PIPE}[data-worlds="4"][data-phase="running"]`, 'a world over an LSM tree started');
    const idx = '[data-testid="pipeline-index"]';
    assert.equal(await page.locator(idx).getAttribute('data-kind'), 'lsm');
    await pipe.getByLabel('Key to write to the pipeline', { exact: true }).fill('plum');
    await pipe.getByRole('button', { name: 'Write and follow', exact: true }).click();
    await waitUntil((sel) => /^in the active memtable/.test(document.querySelector(sel)?.dataset.location ?? ''), idx, 'the followed key is in the memtable');
    await pipe.getByRole('button', { name: 'Run the workload', exact: true }).click();
    await waitUntil(() => /Markers: .*\bflush\b/.test(document.querySelector('[data-testid="pipeline-timeline-status"]')?.textContent ?? ''), null, 'a flush is marked on the timeline', 90_000);
    t.diagnostic(`index: ${await page.locator(idx).innerText()}`);
    // Expanded: the LSM tree's memtables and levels, the tables a lookup of the followed
    // key would probe marked.
    await pipe.getByRole('button', { name: 'Show the memtables and every table', exact: true }).click();
    await waitUntil(
      () => document.querySelector('#pipeline-index-detail > li[data-row="memtables"]') &&
        document.querySelectorAll('#pipeline-index-detail li[data-row^="L"] li.table-box').length > 0 &&
        document.querySelectorAll('#pipeline-index-detail li.table-box[data-followed="true"]').length > 0,
      null,
      "the LSM tree's memtables and tables are listed",
    );
    await pipe.getByRole('button', { name: 'Hide the memtables and tables', exact: true }).click();
    assert.equal(await page.locator('#pipeline-index-detail').isHidden(), true, 'collapsed again');
  });
});
