// End-to-end: the embed widget (dist/embed/, www/embed.html) and its postMessage API, in a
// real Chromium. Three origins on 127.0.0.1: the built site (the widgets' origin), a host
// page on another port that embeds two widgets and allows its own origin in their links, and
// a foreign page on a third port, framed by the host, that tries to drive them.
//
// It checks that: both widgets report `ready` with their state, and their `resize` messages
// size their iframes to their content (and again when the content grows); the host drives
// one widget (load, play, pause, step, seek, get_state) and reads back its state; the trace
// hash at the end of a run equals what the native runner prints for the same scenario and
// seed (`cargo run -p logspine-native --bin logspine -- run <scenario> --seed N
// --summary-only`), for a library scenario and for one loaded as JSON; the other widget,
// seeked to the same point of the same run, reports the same position and hash, and was
// untouched while the first one was driven; a message from the foreign origin is ignored
// (no reply, nothing moves); malformed messages get error replies and the widget keeps
// working; the widgets open no IndexedDB database (the playground's are left as they were);
// link parameters are shown as text (no markup injected) and fall back to defaults.
//
// Run: node --test tests/e2e/embed.test.mjs   (after bash scripts/build-site.sh)
// Env: LOGSPINE_DIST (default: <repo>/dist), CHROMIUM_PATH (default: /usr/bin/chromium).
// Screenshot: tests/e2e/artifacts/embed-host.png.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ARTIFACTS, STEP_TIMEOUT_MS, waitFor, withSite } from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Serves `page(pathname)` (HTML, or undefined for a 404) on 127.0.0.1 and a free port. */
async function servePages(page) {
  const server = http.createServer((req, res) => {
    const body = page(new URL(req.url, 'http://127.0.0.1').pathname);
    res.writeHead(body === undefined ? 404 : 200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(body ?? 'not found');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

async function closeServer(server) {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** The native runner's summary for `what` (a library name or a JSON file) and `seed`. */
function nativeSummary(what, seed) {
  const out = execFileSync(
    'cargo',
    ['run', '-q', '-p', 'logspine-native', '--bin', 'logspine', '--', 'run', what, '--seed', String(seed), '--summary-only'],
    { cwd: ROOT, encoding: 'utf8', timeout: 900_000, maxBuffer: 64 << 20 },
  );
  return JSON.parse(out).summary;
}

// The host page: two widgets from the site's origin, one foreign frame. It records every
// message it receives (with the frame it came from) and sizes each widget's iframe from its
// `resize` messages.
function hostPage(site, self, foreign) {
  const src = (id, extra) =>
    `${site}/embed/?scenario=log-is-the-truth&id=${id}&origins=${encodeURIComponent(self)}${extra}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Embed host</title></head>
<body>
<h1>A host page</h1>
<iframe id="w1" title="widget one" src="${src('w1', '')}" style="display:block;width:640px;height:150px;border:0"></iframe>
<iframe id="w2" title="widget two" src="${src('w2', '&panel=narration&controls=off')}" style="display:block;width:640px;height:150px;border:0"></iframe>
<iframe id="foreign" title="a foreign frame" src="${foreign}/foreign.html" style="width:300px;height:60px"></iframe>
<script>
  window.received = [];
  const frames = { w1: document.getElementById('w1'), w2: document.getElementById('w2'),
                   foreign: document.getElementById('foreign') };
  addEventListener('message', (e) => {
    const which = Object.keys(frames).find((k) => frames[k].contentWindow === e.source) ?? 'other';
    window.received.push({ which, origin: e.origin, data: e.data });
    if (e.data && e.data.type === 'resize' && (which === 'w1' || which === 'w2')) {
      frames[which].style.height = e.data.height + 'px';
    }
  });
  window.send = (which, message) => frames[which].contentWindow.postMessage(message, ${JSON.stringify(site)});
</script>
</body></html>`;
}

// The foreign frame: posts whatever it is asked to to the host's frames, and records any
// message it receives (a widget must send it none).
const FOREIGN = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Foreign</title></head>
<body><p>foreign</p>
<script>
  window.got = [];
  addEventListener('message', (e) => window.got.push({ origin: e.origin, data: e.data }));
  window.attack = (index, message) => parent.frames[index].postMessage(message, '*');
</script></body></html>`;

test('the embed widget: postMessage API, sizing, origins, isolation', { timeout: 900_000 }, async (t) => {
  // The expected hashes first (this may build the native runner).
  const native = nativeSummary('group-commit', 5);
  const tornJsonPath = path.join(ROOT, 'core', 'scenarios', 'torn-write.json');
  const nativeJson = nativeSummary(tornJsonPath, 11);
  t.diagnostic(`native: group-commit seed 5 → ${native.trace_hash} (${native.events} events); torn-write.json seed 11 → ${nativeJson.trace_hash}`);

  await withSite('embed', async ({ page, origin: site }) => {
    const foreign = await servePages((p) => (p === '/foreign.html' ? FOREIGN : undefined));
    const host = await servePages((p) => (p === '/host.html' ? hostPage(site, host.origin, foreign.origin) : undefined));
    try {

      // The playground first, on the widgets' origin: its IndexedDB databases exist before
      // any widget runs.
      await page.goto(`${site}/`);
      await waitFor(page, 'section[data-ready="true"]', 'the playground opened its storage');
      const dbNames = async (frameOrPage) =>
        (await frameOrPage.evaluate(async () => (await indexedDB.databases()).map((d) => d.name))).sort();
      const before = await dbNames(page);
      assert.ok(before.length > 0, 'the playground keeps its session in IndexedDB');

      await page.goto(`${host.origin}/host.html`);
      const received = () => page.evaluate(() => window.received);
      const waitMessage = async (pred, what, timeout = STEP_TIMEOUT_MS) => {
        const fn = new Function('m', `return (${pred})(m)`);
        try {
          const handle = await page.waitForFunction(
            (src) => window.received.find((m) => new Function('m', `return (${src})(m)`)(m)) ?? false,
            pred.toString(),
            { timeout },
          );
          return await handle.jsonValue();
        } catch {
          const got = (await received()).filter((m) => fn(m)).length;
          throw new Error(`${what}: no such message within ${timeout} ms (matching: ${got}); got: ${JSON.stringify((await received()).slice(-8))}`);
        }
      };
      let nextId = 1;
      const request = async (which, message, timeout = STEP_TIMEOUT_MS) => {
        const id = `r${nextId++}`;
        await page.evaluate(([w, m]) => window.send(w, m), [which, { logspine: 1, id, ...message }]);
        const m = await waitMessage(
          `(m) => m.which === ${JSON.stringify(which)} && m.data && m.data.id === ${JSON.stringify(id)} && (m.data.type === 'reply' || m.data.type === 'error')`,
          `the reply to ${JSON.stringify(message)} from ${which}`,
          timeout,
        );
        assert.equal(m.origin, site, 'replies come from the widget origin');
        return m.data;
      };
      const ok = async (which, message, timeout) => {
        const r = await request(which, message, timeout);
        assert.equal(r.type, 'reply', `${JSON.stringify(message)}: ${JSON.stringify(r)}`);
        assert.equal(r.logspine, 1);
        assert.equal(r.widget, which);
        return r.state;
      };

      // Both widgets are ready, with their state (the host's origin is allowed).
      const ready1 = await waitMessage("(m) => m.which === 'w1' && m.data.type === 'ready'", 'w1 ready');
      const ready2 = await waitMessage("(m) => m.which === 'w2' && m.data.type === 'ready'", 'w2 ready');
      for (const r of [ready1, ready2]) {
        assert.equal(r.data.version, 1);
        assert.equal(r.data.state.scenario, 'log-is-the-truth');
        assert.equal(r.data.state.seed, '1');
        assert.equal(r.data.state.playing, false);
      }
      const start2 = ready2.data.state.position;

      // The reported height sizes each iframe to its content.
      const frameFor = (id) => page.frames().find((f) => f.url().includes(`id=${id}&`));
      const contentHeight = (frame) =>
        frame.evaluate(() => Math.ceil(document.querySelector('main[data-testid="embed"]').getBoundingClientRect().height));
      const iframeHeight = (id) => page.evaluate((id) => document.getElementById(id).getBoundingClientRect().height, id);
      const lastResize = async (which) =>
        (await received()).filter((m) => m.which === which && m.data.type === 'resize').at(-1)?.data.height;
      const sized = async (which, what) => {
        try {
          await page.waitForFunction(
            (w) => {
              const r = window.received.filter((m) => m.which === w && m.data.type === 'resize').at(-1);
              return r && Math.abs(document.getElementById(w).getBoundingClientRect().height - r.data.height) < 1;
            },
            which,
            { timeout: STEP_TIMEOUT_MS },
          );
        } catch {
          throw new Error(`${what}: iframe ${which} is ${await iframeHeight(which)} px, last resize ${await lastResize(which)}`);
        }
        const frame = frameFor(which);
        const h = await iframeHeight(which);
        // The last resize may lag a frame behind a layout in progress: settle, then compare.
        await page.waitForTimeout(300);
        assert.equal(await iframeHeight(which), await lastResize(which), `${what}: the iframe follows the last resize`);
        assert.ok(Math.abs((await contentHeight(frame)) - (await iframeHeight(which))) <= 1,
          `${what}: content ${await contentHeight(frame)} px, iframe ${await iframeHeight(which)} px`);
        return h;
      };
      const h1 = await sized('w1', 'widget one, at first');
      const h2 = await sized('w2', 'widget two, at first');
      assert.ok(h1 > 150 && h2 > 150, `both iframes grew from 150 px: ${h1}, ${h2}`);
      t.diagnostic(`heights: w1 ${h1} px (everything), w2 ${h2} px (narration only)`);

      // Drive widget one: load, play, pause, step, seek, read the state.
      let s = await ok('w1', { type: 'load', scenario: 'group-commit', seed: 5 });
      assert.equal(s.scenario, 'group-commit');
      assert.equal(s.seed, '5');
      assert.equal(s.playing, false);
      assert.equal(s.finished, false);
      const start1 = s.position;
      const loaded = s;
      await waitMessage("(m) => m.which === 'w1' && m.data.type === 'event' && m.data.name === 'loaded'", 'a loaded event');
      s = await ok('w1', { type: 'play', speed: 64 });
      assert.equal(s.playing, true);
      const narration = await waitMessage(
        "(m) => m.which === 'w1' && m.data.type === 'event' && m.data.name === 'narration' && m.data.state.scenario === 'group-commit'",
        'a narration event while playing',
      );
      // The next step after those reached at the start, with the scenario's own text.
      const steps = JSON.parse(fs.readFileSync(path.join(ROOT, 'core', 'scenarios', 'group-commit.json'), 'utf8')).narration;
      assert.equal(narration.data.step, loaded.narration_reached + 1);
      assert.equal(narration.data.text, steps[narration.data.step - 1].text);
      s = await ok('w1', { type: 'pause' });
      assert.equal(s.playing, false);
      assert.ok(s.position > start1, `playing moved the run: ${start1} → ${s.position}`);
      const paused = s.position;
      await page.waitForTimeout(300);
      s = await ok('w1', { type: 'get_state' });
      assert.equal(s.position, paused, 'paused means paused');
      s = await ok('w1', { type: 'step' });
      assert.ok(s.position > paused, 'a step moves to the next event');
      s = await ok('w1', { type: 'seek', position: 300 });
      assert.ok(s.position >= 300 && s.position < 400, `seek 300 landed at ${s.position}`);
      const at300 = s;
      const w1frame = frameFor('w1');
      await w1frame.waitForSelector(`main[data-name="group-commit"][data-position="${at300.position}"]`);

      // Widget two was untouched meanwhile.
      let s2 = await ok('w2', { type: 'get_state' });
      assert.equal(s2.scenario, 'log-is-the-truth');
      assert.equal(s2.position, start2);
      assert.equal(s2.playing, false);
      assert.ok(!(await received()).some((m) => m.which === 'w2' && m.data.type === 'event'), 'no events from widget two');

      // The same run in widget two, seeked to the same point: the same state.
      s2 = await ok('w2', { type: 'load', scenario: 'group-commit', seed: '5' });
      s2 = await ok('w2', { type: 'seek', position: 300 });
      assert.equal(s2.position, at300.position);
      assert.equal(s2.trace_hash, at300.trace_hash);
      assert.equal(s2.time, at300.time);
      // The narration-only widget grew (group-commit has 3 steps; the layout changed):
      // whatever its height now, the iframe follows it.
      await sized('w2', 'widget two, after loading group-commit');

      // To the end: the hash is the native runner's.
      s = await ok('w1', { type: 'seek', position: 'end' }, 60_000);
      assert.equal(s.finished, true);
      assert.equal(s.position, native.events);
      assert.equal(s.trace_length, native.events);
      assert.equal(s.trace_hash, native.trace_hash, 'the widget ran the same run as the native runner');
      assert.equal(s.invariants, 'ok');
      assert.equal(s.narration_reached, s.narration_steps);
      await waitMessage("(m) => m.which === 'w1' && m.data.type === 'event' && m.data.name === 'finished'", 'a finished event');
      await w1frame.waitForSelector('main[data-finished="true"]');
      // Widget two still sits where it was sought.
      assert.equal((await ok('w2', { type: 'get_state' })).position, at300.position);

      // A scenario loaded as JSON (the format of core/scenarios/), with a seed.
      const torn = JSON.parse(fs.readFileSync(tornJsonPath, 'utf8'));
      s = await ok('w1', { type: 'load', scenario: torn, seed: 11 });
      assert.equal(s.scenario, 'torn-write');
      s = await ok('w1', { type: 'seek', position: 'end' }, 60_000);
      assert.equal(s.trace_hash, nativeJson.trace_hash, 'a JSON scenario runs as natively');

      // A message from a foreign origin is ignored: no reply, nothing moves.
      const foreignFrame = page.frames().find((f) => f.url().startsWith(foreign.origin));
      assert.ok(foreignFrame, 'the foreign frame loaded');
      const beforeAttack = await ok('w1', { type: 'seek', position: 'start' });
      const countBefore = (await received()).length;
      await foreignFrame.evaluate(() => {
        window.attack(0, { logspine: 1, type: 'play', id: 'evil-1', speed: 64 });
        window.attack(0, { logspine: 1, type: 'load', id: 'evil-2', scenario: 'raft-election' });
        window.attack(1, { logspine: 1, type: 'get_state', id: 'evil-3' });
        window.attack(0, 'not even an object');
      });
      await page.waitForTimeout(1500);
      assert.deepEqual(await foreignFrame.evaluate(() => window.got), [], 'the widgets said nothing to the foreign frame');
      const afterAttack = await ok('w1', { type: 'get_state' });
      assert.equal(afterAttack.scenario, 'torn-write');
      assert.equal(afterAttack.position, beforeAttack.position);
      assert.equal(afterAttack.playing, false);
      assert.ok(
        !(await received()).slice(countBefore).some((m) => String(m.data?.id ?? '').startsWith('evil')),
        'no reply to the foreign messages reached the host either',
      );

      // Malformed messages get error replies; the widget keeps working.
      const errors = [
        [{ type: 'seek', position: 'soon' }, 'bad_field', /position/],
        [{ type: 'rewind' }, 'unknown_type', /rewind/],
        [{ type: 'play', speed: 5 }, 'bad_field', /speed/],
        [{ type: 'load', scenario: { version: 1, name: 'x' } }, 'load_failed', /title|missing field/],
        [{ type: 'load', scenario: 'no-such-scenario' }, 'load_failed', /no scenario called/],
        [{ type: 'load' }, 'malformed', /needs a scenario/],
      ];
      for (const [message, code, pattern] of errors) {
        const r = await request('w1', message);
        assert.equal(r.type, 'error', JSON.stringify(message));
        assert.equal(r.code, code, `${JSON.stringify(message)}: ${r.message}`);
        assert.match(r.message, pattern);
      }
      await page.evaluate(() => window.send('w1', { logspine: 2, type: 'play', id: 'v2' }));
      const v2 = await waitMessage("(m) => m.which === 'w1' && m.data.id === 'v2'", 'the reply to version 2');
      assert.equal(v2.data.code, 'unsupported_version');
      await page.evaluate(() => window.send('w1', 'play'));
      await waitMessage(
        `(m) => m.which === 'w1' && m.data.type === 'error' && m.data.code === 'malformed' && m.data.id === null && /not a string/.test(m.data.message)`,
        'the error reply to a message that is a string',
      );
      s = await ok('w1', { type: 'get_state' });
      assert.equal(s.scenario, 'torn-write', 'a failed load keeps the scenario that was there');
      assert.equal(s.playing, false);

      // The widgets opened no IndexedDB database; the playground's are as they were.
      assert.deepEqual(await dbNames(w1frame), before, 'widget one opened no database');
      assert.deepEqual(await dbNames(frameFor('w2')), before, 'widget two opened no database');

      await page.screenshot({ path: path.join(ARTIFACTS, 'embed-host.png'), fullPage: true });

      // Link parameters are text, never markup; bad ones are reported and defaulted.
      await page.goto(`${site}/embed/?scenario=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E&seed=12x&theme=dark&panel=keys&bogus=%3Cb%3Ehi%3C%2Fb%3E`);
      await waitFor(page, 'main[data-testid="embed"][data-name="log-is-the-truth"]', 'the widget fell back to the first scenario');
      assert.equal(await page.locator('img').count(), 0, 'no element from the link');
      assert.equal(await page.locator('main b').count(), 0, 'no element from the link');
      const problems = await page.locator('[data-testid="embed-problems"] li').allInnerTexts();
      assert.equal(problems.length, 3, JSON.stringify(problems));
      assert.match(problems.join('\n'), /no scenario called “<img src=x onerror=alert\(1\)>”/);
      assert.match(problems.join('\n'), /seed “12x”/);
      assert.match(problems.join('\n'), /Unknown parameter “bogus”/);
      assert.equal(await page.locator('html').getAttribute('data-theme'), 'dark');
      assert.equal(await page.locator('main[data-panel="keys"] section.scenario-keys').count(), 1);
      assert.equal(await page.locator('section.scenario-narration, section.scenario-world').count(), 0, 'only the keys panel');
      await page.getByRole('button', { name: 'Play', exact: true }).click();
      await waitFor(page, 'main[data-playing="true"]', 'the widget plays from its own button');
      await page.keyboard.press('k');
      await waitFor(page, 'main[data-playing="false"]', 'K pauses it');
    } finally {
      await closeServer(host.server);
      await closeServer(foreign.server);
    }
  });
});
