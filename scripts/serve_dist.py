#!/usr/bin/env python3
"""Serves the built site (dist/) on 127.0.0.1 with the headers a page cannot set itself.

    python3 scripts/serve_dist.py [--dir dist] [--port 8080]

`trunk serve` serves one Trunk target; the site has two (the playground with the docs, and
the embed widget in dist/embed/), so scripts/serve.sh builds both with
scripts/build-site.sh and serves the result with this. Headers:

* Content-Security-Policy `frame-ancestors 'self'` and X-Frame-Options SAMEORIGIN on every
  page except /embed/ (the playground and the docs cannot be framed by other sites; a meta
  tag cannot say this). /embed/ gets no frame-ancestors limit: a widget is meant to be
  framed by any page, and its postMessage allow-list decides who may drive it.
* X-Content-Type-Options nosniff, Referrer-Policy strict-origin-when-cross-origin (the
  widget reads its parent's origin from the referrer when `location.ancestorOrigins` is
  missing), Cache-Control no-cache (every reload sees a new build).
* application/wasm for .wasm, so streaming compilation works.
"""

import argparse
import functools
import http.server
import os
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".css": "text/css",
        ".svg": "image/svg+xml",
        ".html": "text/html; charset=utf-8",
    }

    def end_headers(self):
        path = self.path.split("?", 1)[0]
        if not (path == "/embed" or path.startswith("/embed/")):
            self.send_header("Content-Security-Policy", "frame-ancestors 'self'")
            self.send_header("X-Frame-Options", "SAMEORIGIN")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "strict-origin-when-cross-origin")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("serve: %s %s\n" % (self.address_string(), fmt % args))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="dist")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args()
    root = os.path.abspath(args.dir)
    if not os.path.isfile(os.path.join(root, "index.html")):
        sys.exit(f"serve: {root}/index.html does not exist: run bash scripts/build-site.sh first")
    handler = functools.partial(Handler, directory=root)
    with http.server.ThreadingHTTPServer((args.address, args.port), handler) as server:
        print(f"serve: http://{args.address}:{args.port}/ (docs: /docs/, widget: /embed/); Ctrl-C stops")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
