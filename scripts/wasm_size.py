#!/usr/bin/env python3
"""What takes the space in a wasm module: code bytes per Rust module.

Reads a module that still has its name section (cargo's output before wasm-bindgen and
wasm-opt, e.g. target/wasm32-unknown-unknown/release/logspine-web.wasm after
`scripts/build-site.sh`), attributes each function body to the first crate module its
demangled name mentions (`logspine_web::pipeline_view`, `logspine_core::db`, ...; generic
library code instantiated for our types counts as `alloc`, `core`, `yew`, ...), and prints
a markdown table: bytes, share of all code, and the module. Sizes are before wasm-opt and
gzip, so read them as proportions. Usage: python3 scripts/wasm_size.py FILE [ROWS]
"""

import collections
import re
import sys


def leb(data, i):
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def read(path):
    data = open(path, "rb").read()
    if data[:4] != b"\0asm":
        sys.exit(f"{path}: not a wasm module")
    i, imported, names, bodies, sections = 8, 0, {}, [], collections.Counter()
    while i < len(data):
        sid = data[i]
        size, i = leb(data, i + 1)
        end = i + size
        sections[sid] += size
        if sid == 2:  # imports: functions imported shift the function index space
            n, j = leb(data, i)
            for _ in range(n):
                for _ in range(2):
                    length, j = leb(data, j)
                    j += length
                kind = data[j]
                j += 1
                if kind == 0:
                    _, j = leb(data, j)
                    imported += 1
                elif kind == 1:
                    j += 1
                    flags, j = leb(data, j)
                    _, j = leb(data, j)
                    if flags & 1:
                        _, j = leb(data, j)
                elif kind == 2:
                    flags, j = leb(data, j)
                    _, j = leb(data, j)
                    if flags & 1:
                        _, j = leb(data, j)
                elif kind == 3:
                    j += 2
        elif sid == 10:  # code
            n, j = leb(data, i)
            for _ in range(n):
                body, k = leb(data, j)
                bodies.append(k - j + body)
                j = k + body
        elif sid == 0:  # custom: the name section
            length, j = leb(data, i)
            if data[j : j + length] == b"name":
                j += length
                while j < end:
                    sub = data[j]
                    sub_size, j = leb(data, j + 1)
                    sub_end = j + sub_size
                    if sub == 1:
                        n, k = leb(data, j)
                        for _ in range(n):
                            idx, k = leb(data, k)
                            length, k = leb(data, k)
                            names[idx] = data[k : k + length].decode("utf8", "replace")
                            k += length
                    j = sub_end
        i = end
    return imported, names, bodies, sections


def demangle(name):
    if name.startswith("_ZN"):
        i, parts = 3, []
        while i < len(name) and name[i].isdigit():
            j = i
            while name[j].isdigit():
                j += 1
            n = int(name[i:j])
            parts.append(name[j : j + n])
            i = j + n
        name = "::".join(parts)
    for a, b in (("$LT$", "<"), ("$GT$", ">"), ("..", "::"), ("$u20$", " "), ("$RF$", "&"), ("$C$", ",")):
        name = name.replace(a, b)
    return name


LIBS = r"yew|alloc|core|serde_json|serde|wasm_bindgen|web_sys|js_sys|hashbrown|std|dlmalloc|implicit_clone|gloo\w*|prokio|futures\w*|slab"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    imported, names, bodies, sections = read(sys.argv[1])
    if not names:
        sys.exit(f"{sys.argv[1]}: no name section (use cargo's output, before wasm-bindgen)")
    by = collections.Counter()
    for k, size in enumerate(bodies):
        d = demangle(names.get(k + imported, "?"))
        m = re.search(r"(logspine_\w+::\w+)", d)
        if m:
            key = m.group(1)
        else:
            m = re.search(rf"(?:^|<|_)({LIBS})(?:::|\b)", d)
            key = m.group(1) if m else "(other: closures, v0-mangled names)"
        by[key] += size
    total = sum(bodies)
    print(f"code {total:,} bytes in {len(bodies):,} functions; data {sections[11]:,} bytes\n")
    print("| code bytes | share | module |\n|---:|---:|---|")
    for key, size in by.most_common(rows):
        print(f"| {size:,} | {100 * size / total:.1f} % | `{key}` |")


if __name__ == "__main__":
    main()
