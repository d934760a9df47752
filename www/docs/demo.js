// Logspine docs, "Embedding": the buttons drive the widget with id "demo" through its
// postMessage API, and the last reply (or error) is shown under them. An example to copy:
// requests carry { logspine: 1, type, id }, and replies echo the id.
const frame = document.querySelector('iframe[data-logspine][src*="id=demo"]');
const out = document.getElementById("demo-state");
let next = 1;

function show(text) {
  out.textContent = text; // text, never markup
}

addEventListener("message", (event) => {
  const m = event.data;
  if (!frame || event.source !== frame.contentWindow) return;
  if (new URL(frame.src, location.href).origin !== event.origin) return;
  if (!m || typeof m !== "object" || m.logspine !== 1) return;
  if (m.type === "reply") {
    const s = m.state;
    show(
      `reply to ${m.request} #${m.id}: ${s.scenario} seed ${s.seed}, ` +
        `position ${s.position} of ${s.trace_length} events, tick ${s.time}, ` +
        `${s.finished ? "finished" : s.playing ? "playing" : "paused"}, ` +
        `narration ${s.narration_reached}/${s.narration_steps}, trace hash ${s.trace_hash}`,
    );
  } else if (m.type === "error") {
    show(`error${m.id == null ? "" : ` in reply to #${m.id}`}: ${m.code}: ${m.message}`);
  }
});

for (const button of document.querySelectorAll("button[data-send]")) {
  button.addEventListener("click", () => {
    if (!frame?.contentWindow) return;
    const message = { logspine: 1, id: next++, ...JSON.parse(button.dataset.send) };
    frame.contentWindow.postMessage(message, new URL(frame.src, location.href).origin);
  });
}
