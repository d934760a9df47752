#!/usr/bin/env python3
"""List the imports of a WebAssembly module, and fail if it imports from a denied module.

Usage: wasm_imports.py FILE.wasm [--deny-module NAME]... [--deny-any]

Prints one line per import ("module.field: kind"), then a count. Exits 1 if any import
comes from a module named with --deny-module (or, with --deny-any, if there is any import
at all), 2 if the file is not a well-formed wasm binary.

Logspine uses it as the core's portability check: a wasm32-unknown-unknown build of
logspine-core imports nothing from `env`, which is where unresolved C symbols, libc calls
and other host assumptions end up.

Pure Python, no dependencies: it reads the section headers and decodes only the import
section (id 2), following the binary format of the WebAssembly core specification
(section 5, "Binary Format"), including 64-bit and shared limits, custom page sizes,
GC reference types, exception-handling tags and the compact import section proposal.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

MAGIC = b"\0asm"
IMPORT_SECTION = 2
KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
# Value types that are a single byte: i32 i64 f32 f64 v128 and the abbreviated reference types.
SIMPLE_VALTYPES = set(range(0x69, 0x80))
# (ref ht) and (ref null ht) are followed by a heap type (a signed LEB128 s33).
REF_WITH_HEAPTYPE = (0x63, 0x64)


class WasmError(Exception):
    """The bytes are not a wasm module this parser understands."""


@dataclass
class Import:
    module: str
    field: str
    kind: str
    detail: str


class Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise WasmError(f"unexpected end of data at offset {self.pos}")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self, max_bits: int = 64) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift >= max_bits + 7:
                raise WasmError(f"LEB128 too long at offset {self.pos}")
        return result

    def sleb(self, max_bits: int = 64) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if b & 0x40:
                    result -= 1 << shift
                break
            if shift >= max_bits + 7:
                raise WasmError(f"LEB128 too long at offset {self.pos}")
        return result

    def name(self) -> str:
        n = self.uleb(32)
        if self.pos + n > self.end:
            raise WasmError(f"name runs past the end of its section at offset {self.pos}")
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise WasmError(f"name is not UTF-8 at offset {self.pos - n}: {e}") from None


def read_reftype(r: Reader) -> str:
    b = r.byte()
    if b in REF_WITH_HEAPTYPE:
        heap = r.sleb(33)
        return f"(ref{' null' if b == 0x64 else ''} {heap})"
    if b in SIMPLE_VALTYPES:
        return f"0x{b:02x}"
    raise WasmError(f"unknown reference type 0x{b:02x} at offset {r.pos - 1}")


def read_limits(r: Reader) -> str:
    flags = r.byte()
    if flags & ~0x0F:
        raise WasmError(f"unknown limits flags 0x{flags:02x} at offset {r.pos - 1}")
    minimum = r.uleb()
    text = f"min {minimum}"
    if flags & 0x01:
        text += f" max {r.uleb()}"
    if flags & 0x02:
        text += " shared"
    if flags & 0x04:
        text += " 64-bit"
    if flags & 0x08:
        text += f" page 2^{r.uleb(32)}"
    return text


def read_imports(r: Reader) -> list[Import]:
    """One entry of the import section: a single import, or a compact group of them."""
    module = r.name()
    field = r.name()
    if field == "" and r.pos < r.end and r.data[r.pos] in (0x7E, 0x7F):
        # Compact import section proposal: an empty field name, then 0x7F and a vector of
        # (name, externtype) pairs, or 0x7E, one externtype and a vector of names.
        marker = r.byte()
        if marker == 0x7F:
            return [read_externtype(r, module, r.name()) for _ in range(r.uleb(32))]
        template = read_externtype(r, module, "")
        names = [r.name() for _ in range(r.uleb(32))]
        return [Import(module, name, template.kind, template.detail) for name in names]
    return [read_externtype(r, module, field)]


def read_externtype(r: Reader, module: str, field: str) -> Import:
    kind = r.byte()
    if kind == 0:
        detail = f"type {r.uleb(32)}"
    elif kind == 1:
        detail = f"{read_reftype(r)} {read_limits(r)}"
    elif kind == 2:
        detail = read_limits(r)
    elif kind == 3:
        valtype = r.byte()
        if valtype in REF_WITH_HEAPTYPE:
            r.sleb(33)
        elif valtype not in SIMPLE_VALTYPES:
            raise WasmError(f"unknown value type 0x{valtype:02x} at offset {r.pos - 1}")
        mutability = r.byte()
        detail = f"0x{valtype:02x}{' mut' if mutability else ''}"
    elif kind == 4:
        r.byte()  # attribute, always 0 (exception)
        detail = f"type {r.uleb(32)}"
    else:
        raise WasmError(f"unknown import kind 0x{kind:02x} at offset {r.pos - 1}")
    return Import(module, field, KINDS[kind], detail)


def imports(data: bytes) -> list[Import]:
    if data[:4] != MAGIC:
        raise WasmError("not a wasm binary (bad magic number)")
    if data[4:8] != b"\x01\0\0\0":
        raise WasmError(f"unsupported wasm version {data[4:8].hex()} (a component, not a core module?)")
    r = Reader(data, 8)
    found: list[Import] = []
    while r.pos < r.end:
        section_id = r.byte()
        size = r.uleb(32)
        start = r.pos
        if start + size > r.end:
            raise WasmError(f"section {section_id} at offset {start} runs past the end of the file")
        if section_id == IMPORT_SECTION:
            s = Reader(data, start, start + size)
            for _ in range(s.uleb(32)):
                found.extend(read_imports(s))
            if s.pos != s.end:
                raise WasmError(f"import section has {s.end - s.pos} trailing bytes")
        r.pos = start + size
    return found


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("wasm", help="path to a .wasm file")
    p.add_argument("--deny-module", action="append", default=[], metavar="NAME",
                   help="fail if anything is imported from this module (repeatable)")
    p.add_argument("--deny-any", action="store_true", help="fail if the module imports anything")
    args = p.parse_args(argv)

    try:
        with open(args.wasm, "rb") as f:
            data = f.read()
        found = imports(data)
    except (OSError, WasmError) as e:
        print(f"wasm_imports: {args.wasm}: {e}", file=sys.stderr)
        return 2

    print(f"{args.wasm}: {len(found)} import(s)")
    for imp in found:
        print(f"  {imp.module}.{imp.field}: {imp.kind} ({imp.detail})")

    denied = [i for i in found if args.deny_any or i.module in args.deny_module]
    if denied:
        what = "any module" if args.deny_any else ", ".join(repr(m) for m in args.deny_module)
        print(f"FAIL: {len(denied)} import(s) from {what}:", file=sys.stderr)
        for imp in denied:
            print(f"  {imp.module}.{imp.field}", file=sys.stderr)
        return 1
    if args.deny_module or args.deny_any:
        what = "anything" if args.deny_any else "from " + ", ".join(repr(m) for m in args.deny_module)
        print(f"ok: imports nothing {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
