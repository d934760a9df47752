// Starts the Logspine playground.
//
// The page's Content-Security-Policy allows scripts from this origin only (no inline
// scripts), so Trunk's default inline loader cannot run; Trunk.toml's `pattern_script`
// replaces it and this file loads the app instead. It finds the hashed module and wasm
// names in the preload links Trunk writes into <head> (which carry SRI digests).
const js = document.querySelector('link[rel="modulepreload"][href$=".js"]');
const wasm = document.querySelector('link[rel="preload"][type="application/wasm"]');

function fail(message) {
  const p = document.createElement("p");
  p.setAttribute("role", "alert");
  p.textContent = message;
  document.body.append(p);
}

if (!js || !wasm) {
  fail("Logspine could not start: the page is missing its module preload links.");
} else {
  try {
    const bindings = await import(js.href);
    const instance = await bindings.default({ module_or_path: wasm.href });
    window.wasmBindings = bindings;
    dispatchEvent(new CustomEvent("TrunkApplicationStarted", { detail: { wasm: instance } }));
  } catch (error) {
    fail(`Logspine could not start: ${error}`);
    throw error;
  }
}
