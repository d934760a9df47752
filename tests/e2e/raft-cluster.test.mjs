// End-to-end: the Raft cluster view, driven through the built site (dist/) in a real
// Chromium by role and accessible name. Five nodes elect a leader; a write commits on a
// majority; the leader and one follower are cut off (a minority) and the majority elects a
// new leader while the old one steps down; healing brings every log to the same commit and
// state; a crashed follower misses writes, restarts and catches up to the leader's commit.
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
    // Real time, from the keyboard: the speed select.
    const speed = raft.getByLabel('Simulation speed', { exact: true });
    await speed.focus();
    await speed.selectOption('1000');

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

    // Screenshots, wide and at 375 px (which must not scroll sideways).
    await speed.selectOption('100');
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
