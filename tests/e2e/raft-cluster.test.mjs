// End-to-end: the Raft cluster view, driven through the built site (dist/) in a real
// Chromium by role and accessible name. Five nodes elect a leader; a write commits on a
// majority; the leader and one follower are cut off (a minority) and the majority elects a
// new leader while the old one steps down; healing brings every log to the same commit and
// state; a crashed follower misses writes, restarts and catches up to the leader's commit.
// Then time travel on the cluster timeline: the leader crashes and a new one is elected;
// paused, the view jumps to the election marker and steps back past the election and the
// crash to see the old leader again; the slider scrubs forward to the new leader; step
// forward and the slider's arrow keys move one event or one tick; play resumes.
//
// Run: node --test tests/e2e/raft-cluster.test.mjs   (after `trunk build --release`)
// Env: LOGSPINE_DIST (default: <repo>/dist), CHROMIUM_PATH (default: /usr/bin/chromium).
// Screenshots: tests/e2e/artifacts/raft-cluster-1280.png and raft-cluster-375.png.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, waitFor, withSite } from './harness.mjs';

// The cluster view's test hooks (web/src/raft_view.rs renders these).
const RAFT = '[data-testid="raft"]';

test('the Raft cluster elects, commits, survives a partition and a crash, and converges', { timeout: 240_000 }, async (t) => {
  await withSite('raft-cluster', async ({ page, origin }) => {
    const raft = page.locator(RAFT);
    const nodes = async () =>
      page.locator(`${RAFT} li[data-node]`).evaluateAll((lis) =>
        lis.map((li) => ({
          id: Number(li.dataset.node),
          up: li.dataset.up === 'true',
          role: li.dataset.role,
          term: Number(li.dataset.term),
          commit: Number(li.dataset.commit),
          last: Number(li.dataset.last),
          state: li.dataset.state,
        })),
      );
    const waitUntil = async (fn, arg, what, timeout = 60_000) => {
      try {
        await page.waitForFunction(fn, arg, { timeout, polling: 100 });
      } catch {
        const alerts = await page.locator(`${RAFT} [role="alert"]`).allInnerTexts().catch(() => []);
        throw new Error(
          `${what}: not within ${timeout} ms; nodes ${JSON.stringify(await nodes())}${alerts.length ? `; alerts: ${alerts.join(' | ')}` : ''}`,
        );
      }
    };
    const leaderId = async () => Number(await raft.getAttribute('data-leader'));
    // Every up node (or those listed) agrees on commit, last index and state.
    const converged = (ids) => {
      const lis = [...document.querySelectorAll('[data-testid="raft"] li[data-node]')].filter((li) =>
        ids ? ids.includes(Number(li.dataset.node)) : true,
      );
      const first = lis[0]?.dataset;
      return (
        lis.length > 0 &&
        lis.every(
          (li) =>
            li.dataset.up === 'true' &&
            li.dataset.commit === first.commit &&
            li.dataset.applied === first.commit &&
            li.dataset.last === first.last &&
            li.dataset.state === first.state,
        )
      );
    };

    await page.goto(`${origin}/`);
    await waitFor(page, `${RAFT}[data-raft-phase="running"]`, 'the cluster started');
    await raft.scrollIntoViewIfNeeded();
    // Real time, from the keyboard: the timeline's speed radios.
    const timeline = raft.getByRole('group', { name: 'Cluster timeline', exact: true });
    const realTime = timeline.getByRole('radio', { name: '1× (real time)', exact: true });
    await realTime.focus();
    await page.keyboard.press('Space');
    assert.ok(await realTime.isChecked(), 'the real-time speed is chosen');

    // A leader.
    await waitUntil((sel) => Number(document.querySelector(sel)?.dataset.leader) > 0, RAFT, 'a leader was elected');
    const first = await leaderId();
    t.diagnostic(`leader: node ${first}`);
    await waitUntil(
      () => /leader in term/.test(document.querySelector('[data-testid="raft-announce"]')?.textContent ?? ''),
      null,
      'the live region announced the leader',
      5_000,
    );

    // A write commits on a majority.
    await raft.getByLabel('Key to write to the cluster', { exact: true }).fill('colour');
    await raft.getByLabel('Value to write to the cluster', { exact: true }).fill('blue');
    await raft.getByRole('button', { name: 'Write to the cluster', exact: true }).click();
    await waitUntil(
      () => {
        const w = document.querySelector('[data-testid="raft-write"]')?.dataset;
        return w?.status === 'acked' && Number(w.holders) >= 3;
      },
      null,
      'the write was acknowledged and is held by a majority',
    );
    const index = Number(await page.locator('[data-testid="raft-write"]').getAttribute('data-index'));
    const committed = (await nodes()).filter((n) => n.commit >= index);
    assert.ok(index > 0, `the write has a log index (${index})`);
    t.diagnostic(`write at index ${index}: ${await page.locator('[data-testid="raft-write"]').innerText()}`);
    assert.ok(
      (await raft.locator(`li[data-node="${first}"] li[data-index="${index}"][data-committed="true"]`).count()) === 1,
      'the leader shows the entry committed',
    );
    assert.ok(committed.length >= 1, 'the leader committed it');

    // Partition the leader and one follower away (a minority of two).
    const buddy = (first % 5) + 1;
    for (const id of [first, buddy]) {
      await raft.getByLabel(`Node ${id} on side B`, { exact: true }).check();
    }
    await raft.getByRole('button', { name: 'Apply partition', exact: true }).click();
    await waitFor(page, `${RAFT} li[data-node="${first}"][data-side="b"]`, 'the partition applied');
    const majority = [1, 2, 3, 4, 5].filter((id) => id !== first && id !== buddy);
    await waitUntil(
      ([sel, ids]) => ids.includes(Number(document.querySelector(sel)?.dataset.leader)),
      [RAFT, majority],
      'the majority elected a new leader',
    );
    const second = await leaderId();
    const newTerm = Number(await raft.getAttribute('data-leader-term'));
    t.diagnostic(`new leader: node ${second} in term ${newTerm}`);
    // The old leader steps down (check-quorum) or stays a stale leader of an older term.
    await waitUntil(
      ([id, term]) => {
        const li = document.querySelector(`[data-testid="raft"] li[data-node="${id}"]`);
        return li && (li.dataset.role !== 'leader' || Number(li.dataset.term) < term);
      },
      [first, newTerm],
      'the old leader stepped down or is stale',
      30_000,
    );
    // A write through the majority.
    await raft.getByLabel('Key to write to the cluster', { exact: true }).fill('side');
    await raft.getByLabel('Value to write to the cluster', { exact: true }).fill('a');
    await raft.getByRole('button', { name: 'Write to the cluster', exact: true }).click();
    await waitUntil(
      () => /^side=a/.test(document.querySelector('[data-testid="raft-write"]')?.textContent ?? '') &&
        document.querySelector('[data-testid="raft-write"]')?.dataset.status === 'acked',
      null,
      'a write committed in the majority',
    );

    // Heal: every log converges.
    await raft.getByRole('button', { name: 'Heal the partition', exact: true }).click();
    await waitUntil(converged, null, 'all five nodes converged after healing');
    const healed = await nodes();
    t.diagnostic(`healed: ${JSON.stringify(healed)}`);
    assert.equal(new Set(healed.map((n) => n.state)).size, 1, 'one state machine state everywhere');

    // Crash a follower, write keys, restart it: it catches up to the leader's commit.
    const leader3 = await leaderId();
    const follower = [1, 2, 3, 4, 5].find((id) => id !== leader3);
    const crashButton = raft.getByRole('button', { name: `Crash node ${follower}`, exact: true });
    await crashButton.focus();
    await page.keyboard.press('Enter');
    await waitFor(page, `${RAFT} li[data-node="${follower}"][data-up="false"]`, 'the follower crashed');
    const before = (await nodes()).find((n) => n.id === follower).last;
    for (let i = 0; i < 14; i++) {
      await raft.getByLabel('Key to write to the cluster', { exact: true }).fill(`k${i}`);
      await raft.getByLabel('Value to write to the cluster', { exact: true }).fill(`${i}`);
      await raft.getByRole('button', { name: 'Write to the cluster', exact: true }).click();
    }
    await waitUntil(
      () => {
        const w = document.querySelector('[data-testid="raft-write"]');
        return /^k13=13/.test(w?.textContent ?? '') && w.dataset.status === 'acked';
      },
      null,
      'the writes committed without the crashed follower',
    );
    await raft.getByRole('button', { name: `Restart node ${follower}`, exact: true }).click();
    await waitUntil(converged, null, 'the restarted follower caught up');
    const after = await nodes();
    const lead = after.find((n) => n.role === 'leader');
    const caught = after.find((n) => n.id === follower);
    t.diagnostic(`follower ${follower}: last ${before} before, ${caught.last} after; leader commit ${lead.commit}`);
    assert.equal(caught.commit, lead.commit, 'the follower has the leader commit index');
    assert.ok(caught.last >= before + 14, 'its log holds the writes it missed');
    const kinds = await raft.locator('ol[aria-label="Cluster events"] li').evaluateAll((lis) => lis.map((li) => li.dataset.kind));
    t.diagnostic(`events: ${JSON.stringify(kinds)}`);
    assert.ok(kinds.length > 0, 'the event log lists events');

    // Time travel. The position and the recorded end are on the section.
    const position = async () => Number(await raft.getAttribute('data-position'));
    const end = async () => Number(await raft.getAttribute('data-end'));
    const markerAt = async (kind) => {
      const li = raft.locator(`ol[aria-label="Timeline markers"] li[data-kind="${kind}"]`).first();
      return (await li.count()) ? Number(await li.getAttribute('data-at')) : -1;
    };
    assert.equal(await raft.getAttribute('data-playing'), 'true', 'the cluster plays');
    const [pos, fin] = await raft.evaluate((el) => [Number(el.dataset.position), Number(el.dataset.end)]);
    assert.equal(pos, fin, 'playing at the end records new time');
    const oldLeader = await leaderId();
    const oldTerm = Number(await raft.getAttribute('data-leader-term'));
    const crashBefore = await markerAt('crash');
    await raft.getByRole('button', { name: `Crash node ${oldLeader}`, exact: true }).click();
    await waitUntil(
      ([sel, before]) => {
        const li = document.querySelector(`${sel} ol[aria-label="Timeline markers"] li[data-kind="crash"]`);
        return Number(li?.dataset.at ?? -1) > before;
      },
      [RAFT, crashBefore],
      'a crash marker for the leader',
      10_000,
    );
    const crashAt = await markerAt('crash');
    await waitUntil(
      ([sel, old]) => {
        const l = Number(document.querySelector(sel)?.dataset.leader);
        return l > 0 && l !== old;
      },
      [RAFT, oldLeader],
      'a new leader after the leader crashed',
    );
    const newLeader = await leaderId();
    assert.notEqual(newLeader, oldLeader);
    await waitUntil(
      ([sel, after]) => {
        const li = document.querySelector(`${sel} ol[aria-label="Timeline markers"] li[data-kind="election"]`);
        return Number(li?.dataset.at ?? -1) > after;
      },
      [RAFT, crashAt],
      'an election marker after the crash',
      10_000,
    );
    const electedAt = await markerAt('election');
    t.diagnostic(`leader ${oldLeader} crashed at tick ${crashAt}; node ${newLeader} elected at tick ${electedAt}`);
    assert.ok(electedAt > crashAt);

    // Pause: the position stays.
    await timeline.getByRole('button', { name: 'Pause', exact: true }).click();
    await waitFor(page, `${RAFT}[data-playing="false"]`, 'paused');
    const pausedAt = await position();
    await page.waitForTimeout(300);
    assert.equal(await position(), pausedAt, 'paused: the position does not move');
    const recordedEnd = await end();

    // Jump to the election marker, then step back past the election and the crash.
    await raft
      .locator(`ol[aria-label="Timeline markers"] li[data-kind="election"][data-at="${electedAt}"]`)
      .getByRole('button')
      .click();
    await waitUntil(([sel, at]) => Number(document.querySelector(sel)?.dataset.position) === at, [RAFT, electedAt], 'at the election');
    const elected = await leaderId();
    assert.ok(elected > 0 && elected !== oldLeader, `a new leader at the election (node ${elected})`);
    assert.equal(await end(), recordedEnd, 'seeking keeps the recording');
    const stepBack = timeline.getByRole('button', { name: 'Step back', exact: true });
    let steps = 0;
    while ((await position()) >= crashAt) {
      const p = await position();
      await stepBack.click();
      await waitUntil(([sel, q]) => Number(document.querySelector(sel)?.dataset.position) < q, [RAFT, p], 'stepped back');
      steps += 1;
      assert.ok(steps < 400, 'back before the crash within 400 steps');
    }
    t.diagnostic(`${steps} steps back from the election to tick ${await position()}`);
    assert.equal(await leaderId(), oldLeader, 'before the crash the old leader leads again');
    assert.equal(Number(await raft.getAttribute('data-leader-term')), oldTerm);
    assert.equal(await raft.locator(`li[data-node="${oldLeader}"]`).getAttribute('data-up'), 'true');
    assert.equal(await raft.getAttribute('data-playing'), 'false', 'stepping pauses');
    const help = raft.locator('[data-testid="raft-branch-help"]');
    assert.equal(await help.getAttribute('data-in-past'), 'true');
    assert.match(await help.innerText(), /in the past: an action here branches/);
    const slider = timeline.getByRole('slider', { name: 'Position in the cluster timeline', exact: true });
    assert.match(await slider.getAttribute('aria-valuetext'), new RegExp(`^tick \\d+ of ${recordedEnd}: node ${oldLeader} leads$`));

    // Scrub forward past the election: the new leader.
    const target = Math.min(recordedEnd, electedAt + 20);
    await slider.evaluate((el, v) => {
      el.value = String(v);
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }, target);
    await waitUntil(([sel, at]) => Number(document.querySelector(sel)?.dataset.position) === at, [RAFT, target], 'scrubbed forward');
    assert.equal(await leaderId(), elected, 'after the election the new leader leads');
    assert.equal(await raft.locator(`li[data-node="${oldLeader}"]`).getAttribute('data-up'), 'false');

    // Step forward (to the next tick where something happened), then one tick by keyboard.
    await timeline.getByRole('button', { name: 'Step forward', exact: true }).click();
    await waitUntil(([sel, at]) => Number(document.querySelector(sel)?.dataset.position) > at, [RAFT, target], 'stepped forward');
    const stepped = await position();
    await slider.focus();
    await page.keyboard.press('ArrowRight');
    await waitUntil(([sel, at]) => Number(document.querySelector(sel)?.dataset.position) === at + 1, [RAFT, stepped], 'one tick on with the arrow key');
    assert.equal(await end(), recordedEnd, 'moving around the recording records nothing');

    // Play again: it replays the recording and goes on recording past its end.
    await timeline.getByRole('button', { name: 'Play', exact: true }).click();
    await waitUntil(([sel, e]) => Number(document.querySelector(sel)?.dataset.end) > e, [RAFT, recordedEnd], 'recording again past the old end');
    await raft.getByRole('button', { name: `Restart node ${oldLeader}`, exact: true }).click();
    await waitFor(page, `${RAFT} li[data-node="${oldLeader}"][data-up="true"]`, 'the old leader restarted');

    // Screenshots, wide and at 375 px (which must not scroll sideways).
    await timeline.getByRole('radio', { name: '0.1×', exact: true }).check();
    await raft.getByRole('button', { name: 'Start the client workload', exact: true }).click();
    await page.waitForTimeout(1500);
    const wide = path.join(ARTIFACTS, 'raft-cluster-1280.png');
    await raft.screenshot({ path: wide });
    await page.setViewportSize({ width: 375, height: 800 });
    await page.waitForTimeout(300);
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 375, `at 375 px the page must not scroll sideways (scrollWidth ${scrollWidth})`);
    const narrow = path.join(ARTIFACTS, 'raft-cluster-375.png');
    await raft.screenshot({ path: narrow });
    t.diagnostic(`screenshots: ${path.relative(process.cwd(), wide)}, ${path.relative(process.cwd(), narrow)}`);
  });
});
