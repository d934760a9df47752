// Logspine docs: sizes every embedded widget to its content.
//
// Each widget posts { logspine: 1, type: "resize", widget, height } to its parent whenever
// its height changes. This listener finds the iframe the message came from (by comparing
// event.source with each iframe's window), checks the message comes from the widget's own
// origin, and sets the iframe's height. It is the whole of what a page needs to size
// widgets; copy it as it is. (No inline script: the docs' CSP allows scripts from this
// origin only.)
const frames = () => Array.from(document.querySelectorAll("iframe[data-logspine]"));

addEventListener("message", (event) => {
  const m = event.data;
  if (!m || typeof m !== "object" || m.logspine !== 1 || m.type !== "resize") return;
  const frame = frames().find((f) => f.contentWindow === event.source);
  if (!frame || new URL(frame.src, location.href).origin !== event.origin) return;
  const height = Number(m.height);
  if (Number.isFinite(height) && height > 0 && height < 20000) {
    frame.style.height = `${Math.ceil(height) + 2}px`; // + the iframe's 1px borders
  }
});
