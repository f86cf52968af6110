#!/usr/bin/env python3
"""Rewrites a committed cuda/<file>.cu into C++ for the CUDA kernel emulator.

Usage: cu_to_cpp.py cuda/<file>.cu build/emu/cuda/<file>.cpp

Only the two constructs a host compiler cannot take are rewritten; every
other character of the kernel source is compiled as written (emu_device.h
supplies the rest of the language). Line breaks are kept and a #line
directive names the .cu file, so compiler messages and sanitizer traces point
at the committed source.

1. A launch `k<<<grid, block[, smem[, stream]]>>>(args)` becomes
   `emu_launch("k", grid, block, smem, stream, emu_bind(k, args))`.
2. A `__shared__ T name[dims];` becomes a static with a registration, so that
   the scheduler can poison it before each block; `extern __shared__ T name[];`
   (dynamic shared memory) becomes a pointer to the launch's buffer.
Anything it does not recognise stops the build with the line number.
"""
import re
import sys


def fail(path, text, pos, why):
    line = text.count("\n", 0, pos) + 1
    sys.exit(f"{path}:{line}: cu_to_cpp: {why}")


def closing(text, start, open_ch, close_ch):
    """Index just past the bracket matching text[start] (== open_ch)."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_ch:
            depth += 1
        elif text[i] == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def kernel_start(text, end):
    """Start of the kernel expression ending at `end`: a name, maybe
    qualified (a::b) and with template arguments (k<32>)."""
    i = end
    while True:
        if i > 0 and text[i - 1] == ">":  # template arguments
            depth = 0
            while i > 0:
                i -= 1
                depth += {">": 1, "<": -1}.get(text[i], 0)
                if depth == 0:
                    break
        while i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"):
            i -= 1
        if text[i - 2:i] == "::":
            i -= 2
            continue
        return i


def split_top_level(s):
    """Splits at commas outside (), [], {}."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def rewrite_launches(path, text):
    out, pos = [], 0
    while True:
        lt = text.find("<<<", pos)
        if lt < 0:
            break
        start = kernel_start(text, lt)
        kernel = text[start:lt]
        if not re.fullmatch(r"[A-Za-z_][\w:]*(<[^;]*>)?", kernel):
            fail(path, text, lt, "cannot find the kernel name before <<<")
        gt = text.find(">>>", lt)
        if gt < 0:
            fail(path, text, lt, "<<< without >>>")
        config = split_top_level(text[lt + 3:gt])
        if not 2 <= len(config) <= 4:
            fail(path, text, lt, f"a launch needs 2 to 4 configuration values, found {len(config)}")
        config += ["0"] * (4 - len(config))
        paren = gt + 3
        while text[paren].isspace():
            paren += 1
        if text[paren] != "(":
            fail(path, text, gt, "no argument list after >>>")
        end = closing(text, paren, "(", ")")
        if end < 0:
            fail(path, text, paren, "unbalanced argument list")
        args = text[paren + 1:end - 1]
        bind_args = f"{kernel}, {args}" if args.strip() else kernel
        name = re.sub(r"\s+", "", kernel)
        out.append(text[pos:start])
        out.append(f'emu_launch("{name}", {", ".join(c for c in config)}, emu_bind({bind_args}))')
        pos = end
    out.append(text[pos:])
    return "".join(out)


SHARED = re.compile(r"\b(extern\s+)?__shared__\b")
STATIC_SHARED = re.compile(r"__shared__\s+(?P<type>[^;=]*?)\s*\b(?P<name>\w+)\s*(?P<dims>(\[[^\]]+\])*)\s*;")
DYNAMIC_SHARED = re.compile(r"extern\s+__shared__\s+(__align__\(\d+\)\s+)?(?P<type>[^;=]*?)\s*\b(?P<name>\w+)\s*\[\s*\]\s*;")


def rewrite_shared(path, text):
    out, pos = [], 0
    for m in SHARED.finditer(text):
        if m.group(1):  # extern: the launch's dynamic shared memory
            d = DYNAMIC_SHARED.match(text, m.start())
            if not d:
                fail(path, text, m.start(), "unrecognised extern __shared__ declaration (expected T name[];)")
            out.append(text[pos:m.start()])
            out.append(f"{d['type']} *{d['name']} = ({d['type']} *)emu_dynamic_shared();")
            pos = d.end()
            continue
        s = STATIC_SHARED.match(text, m.start())
        if not s or "," in s["type"]:
            fail(path, text, m.start(), "unrecognised __shared__ declaration (one variable per declaration)")
        name = s["name"]
        out.append(text[pos:m.start()])
        out.append(f"static {s['type']} {name}{s['dims']}; "
                   f"[[maybe_unused]] static const bool {name}_emu_registered_ = "
                   f'emu_shared_register((void *)&{name}, sizeof {name}, "{name}");')
        pos = s.end()
    out.append(text[pos:])
    return "".join(out)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    text = open(src).read()
    body = rewrite_shared(src, rewrite_launches(src, text))
    if body.count("\n") != text.count("\n"):
        sys.exit(f"{src}: cu_to_cpp: the rewrite changed the line count (a bug in the rewrite)")
    with open(dst, "w") as f:
        f.write(f'#line 1 "{src}"\n{body}')


if __name__ == "__main__":
    main()
