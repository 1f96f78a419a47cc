#!/usr/bin/env python3
"""Deterministic benchmark tree for the disk safe (and its peers).

    python bench/gen_tree.py DEST [--size-mb 1024] [--seed 1]     # generate (DEST must not exist)
    python bench/gen_tree.py DEST --mutate                         # change ~5% of the files, once

The tree imitates a server's data, scaled by --size-mb (shares of the total):

* ~30 000 (at 1 GB) small source-like files, 18%: lines drawn from per-language pools of
  synthetic code (compresses like code, ~3-4x with zstd-3); ~8% of them are exact copies of
  others (vendored folders).
* medium files, 30%: logs (very compressible), binaries (half compressible), and
  incompressible media/archives; a few copied to a second place.
* large files: a VM image (27%) of 1 MiB extents that are zeros, copies of earlier extents,
  text, binary or random; a database-like file of 4 KiB pages (9%); a random archive (13%);
  a sparse file with a few written blocks.
* odd names (spaces, unicode, emoji, leading dash, quotes, a 200-character name, and a name
  that is not valid UTF-8), symlinks (file, folder, dangling, absolute), a hard link, empty
  files and folders, a few executables.

Everything comes from one seeded random.Random, files are written in a fixed order and get
fixed mtimes, so the same seed and size give the same bytes and names. The mutation (seed+1)
modifies ~4% of the small files (edits and appends), rewrites a region in the middle of a few
medium files in place, adds ~0.5% new files plus one new medium file, moves one medium file,
and deletes ~0.5% of the files. A state file DEST/../<name>.state.json records what was done so
a tree is never mutated twice.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import sys
import time

MiB = 1 << 20
BASE_MTIME = 1767225600  # 2026-01-01T00:00:00Z
STATE_VERSION = 3

# --------------------------------------------------------------------------- text pools

_SYLL = ["ba", "ko", "ri", "ne", "to", "sa", "mu", "li", "de", "po", "qua", "zen", "th", "ex",
         "st", "or", "al", "in", "co", "re", "ma", "fi", "ge", "va", "lo", "us", "ch", "pr"]
_KW_WORDS = ["data", "buffer", "index", "count", "value", "result", "item", "node", "path", "size",
             "name", "config", "client", "server", "handler", "request", "response", "error",
             "state", "cache", "key", "entry", "offset", "length", "block", "chunk", "file",
             "stream", "reader", "writer", "token", "user", "session", "queue", "task", "job"]


def _ident(r: random.Random) -> str:
    if r.random() < 0.6:
        a = r.choice(_KW_WORDS)
        if r.random() < 0.5:
            a += "_" + r.choice(_KW_WORDS)
        return a
    return "".join(r.choice(_SYLL) for _ in range(r.randint(2, 4)))


def _make_pools(r: random.Random) -> dict[str, list[str]]:
    idents = [_ident(r) for _ in range(2500)]
    words = [w for w in (_ident(r) for _ in range(800))]
    I = lambda: r.choice(idents)  # noqa: E731
    N = lambda: str(r.choice([0, 1, 2, 8, 16, 42, 64, 100, 255, 1024, r.randint(0, 99999)]))  # noqa: E731
    W = lambda k: " ".join(r.choice(words) for _ in range(k))  # noqa: E731
    py = [
        lambda: f"def {I()}({I()}, {I()}=None):",
        lambda: f"    {I()} = {I()}.{I()}({I()}, {N()})",
        lambda: f"    if {I()} is not None and {I()} > {N()}:",
        lambda: f"        return {I()}[{N()}:]",
        lambda: f"    # {W(r.randint(3, 10))}",
        lambda: f"from {I()}.{I()} import {I()}, {I()}",
        lambda: f"class {I().title().replace('_', '')}({I().title().replace('_', '')}):",
        lambda: f'        raise ValueError("{W(r.randint(2, 6))}: %r" % {I()})',
        lambda: f"        for {I()} in self.{I()}:",
        lambda: f"            self.{I()}.append({I()})",
        lambda: "",
        lambda: f'    """{W(r.randint(4, 12)).capitalize()}."""',
    ]
    c = [
        lambda: f"static int {I()}(struct {I()} *{I()}, size_t {I()})",
        lambda: "{",
        lambda: "}",
        lambda: f"\t{I()} = {I()}->{I()} + {N()};",
        lambda: f"\tif ({I()} < {N()}) {{",
        lambda: f"\t\treturn -E{r.choice(['INVAL', 'NOMEM', 'IO', 'AGAIN'])};",
        lambda: f"\tmemcpy({I()}, {I()}, sizeof(*{I()}));",
        lambda: f"/* {W(r.randint(3, 10))} */",
        lambda: f"#include <{I()}/{I()}.h>",
        lambda: f"#define {I().upper()} {N()}",
        lambda: "",
        lambda: f"\tfor (i = 0; i < {I()}; i++)",
    ]
    js = [
        lambda: f"export function {I()}({I()}, {I()}) {{",
        lambda: f"  const {I()} = await {I()}.{I()}({I()});",
        lambda: f"  if (!{I()}) return {N()};",
        lambda: f"  // {W(r.randint(3, 10))}",
        lambda: f"import {{ {I()}, {I()} }} from './{I()}';",
        lambda: "};",
        lambda: f"  {I()}.{I()} = {I()} || {{}};",
        lambda: f"  throw new Error(`{W(r.randint(2, 6))} ${{{I()}}}`);",
        lambda: "",
    ]
    md = [
        lambda: f"## {W(r.randint(1, 4)).title()}",
        lambda: W(r.randint(8, 20)) + ".",
        lambda: f"- {W(r.randint(3, 9))}",
        lambda: f"`{I()}` {W(r.randint(3, 8))}.",
        lambda: "",
    ]
    pools = {}
    for name, gens, n in (("py", py, 9000), ("c", c, 9000), ("js", js, 7000), ("md", md, 3000)):
        pools[name] = [r.choice(gens)() for _ in range(n)]
    return pools


EXTS = {"py": [".py"], "c": [".c", ".h"], "js": [".js", ".ts"], "md": [".md", ".txt", ".rst"]}


def _text(r: random.Random, pool: list[str], size: int) -> bytes:
    out, n = [], 0
    while n < size:
        lines = r.choices(pool, k=64)
        out.extend(lines)
        n += sum(len(x) + 1 for x in lines)
    b = "\n".join(out).encode()
    return b[:size] if len(b) > size else b


def _log(r: random.Random, size: int, start: int) -> bytes:
    levels = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]
    comps = ["api", "db", "worker", "auth", "cache", "scheduler", "http"]
    msgs = ["request served in %d ms", "connection from 10.0.%d.%d", "job %d finished",
            "cache miss for key %x", "retrying after %d s", "user %d logged in", "slow query %d ms"]
    out, n, t = [], 0, start
    while n < size:
        t += r.randint(0, 3)
        m = r.choice(msgs)
        args = tuple(r.randint(0, 9999) for _ in range(m.count("%")))
        line = "%s %s [%s] %s" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)),
                                   r.choice(levels), r.choice(comps), m % args)
        out.append(line)
        n += len(line) + 1
    return ("\n".join(out) + "\n").encode()[:size]


def _binary(r: random.Random, size: int, pool: list[str]) -> bytes:
    """Executable-like: random code, zero padding, string tables, counters. ~50% compressible."""
    parts, n = [], 0
    while n < size:
        k = r.random()
        ln = r.randint(256, 8192)
        if k < 0.45:
            p = r.randbytes(ln)
        elif k < 0.6:
            p = bytes(ln)
        elif k < 0.8:
            p = "\0".join(r.choices(pool, k=ln // 24 + 1)).encode()[:ln]
        else:
            base = r.randint(0, 1 << 30)
            p = b"".join(struct.pack("<IHH", base + 16 * i, i & 0xFFFF, r.randint(0, 3))
                         for i in range(ln // 8))
        parts.append(p)
        n += len(p)
    return b"".join(parts)[:size]


def _dbfile(r: random.Random, size: int, pool: list[str]) -> bytes:
    pages = []
    for pg in range(size // 4096):
        recs, n = [struct.pack("<IIH", 0x44425047, pg, 0)], 10
        fill = r.randint(1500, 4000)
        while n < fill:
            s = r.choice(pool)[:60].encode()
            rec = struct.pack("<QdI", r.randint(0, 1 << 40), r.random() * 1000, len(s)) + s
            recs.append(rec)
            n += len(rec)
        page = b"".join(recs)[:4096]
        pages.append(page + bytes(4096 - len(page)))
    return b"".join(pages)


# --------------------------------------------------------------------------- writing

class Writer:
    def __init__(self, root: str):
        self.root = root.encode() if isinstance(root, str) else root
        self.n = 0
        self.bytes = 0
        self.made: set[bytes] = set()

    def path(self, rel) -> bytes:
        rel = rel.encode() if isinstance(rel, str) else rel
        return os.path.join(self.root, rel)

    def _dir(self, p: bytes):
        d = os.path.dirname(p)
        if d not in self.made:
            os.makedirs(d, exist_ok=True)
            self.made.add(d)

    def file(self, rel, data: bytes, mode=0o644):
        p = self.path(rel)
        self._dir(p)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        self.n += 1
        self.bytes += len(data)
        os.utime(p, (BASE_MTIME + self.n, BASE_MTIME + self.n))
        return p

    def big(self, rel, parts, mode=0o644):
        """Write an iterator of byte strings (large files, without holding them)."""
        p = self.path(rel)
        self._dir(p)
        with open(p, "wb") as f:
            for b in parts:
                f.write(b)
                self.bytes += len(b)
        os.chmod(p, mode)
        self.n += 1
        os.utime(p, (BASE_MTIME + self.n, BASE_MTIME + self.n))
        return p


def _sizes_small(r: random.Random, count: int, total: int) -> list[int]:
    raw = [r.lognormvariate(0, 1.0) for _ in range(count)]
    s = sum(raw)
    return [max(40, int(x / s * total)) for x in raw]


# What a tree is made of, as shares of its size. "default" is the tree the benchmarks were
# tuned on; "other" checks them on a second kind of server: twice the small files, more and
# more compressible medium files (logs and binaries rather than media), a smaller VM image
# and archive.
PROFILES = {
    "default": {"small_per_gb": 30000, "small": 0.18, "medium": 0.30, "logs": 0.2,
                "binaries": 0.55, "vm": 0.27, "db": 0.09, "archive": 0.13},
    "other": {"small_per_gb": 60000, "small": 0.30, "medium": 0.40, "logs": 0.35,
              "binaries": 0.75, "vm": 0.15, "db": 0.08, "archive": 0.05},
}


def generate(dest: str, size_mb: int, seed: int = 1, profile: str = "default") -> dict:
    p = PROFILES[profile]
    if size_mb < 1:
        raise SystemExit(f"--size-mb is the tree's size in MB, 1 or more (not {size_mb})")
    if os.path.lexists(dest):
        raise SystemExit(f"{dest} exists; remove it first")
    r = random.Random(seed)
    total = size_mb * MiB
    w = Writer(dest)
    os.makedirs(dest)
    pools = _make_pools(r)
    langs = ["py", "c", "js", "md"]
    allpool = pools["py"] + pools["c"]

    # -- small source-like files in project folders
    n_small = max(60, round(p["small_per_gb"] * size_mb / 1024))
    sizes = _sizes_small(r, n_small, int(total * p["small"]))
    small_paths: list[tuple[str, bytes]] = []
    projects = max(2, n_small // 1500)
    i = 0
    for proj in range(projects):
        pname = f"srv/projects/{_ident(r)}-{proj}"
        per = n_small // projects + (1 if proj < n_small % projects else 0)
        d = 0
        while per > 0:
            depth = r.randint(1, 4)
            folder = "/".join([pname] + [_ident(r) for _ in range(depth)])
            k = min(per, r.randint(5, 40))
            lang = r.choice(langs)
            for _ in range(k):
                ext = r.choice(EXTS[lang])
                rel = f"{folder}/{_ident(r)}_{i}{ext}"
                if small_paths and r.random() < 0.08:
                    data = r.choice(small_paths)[1]  # duplicate of an earlier file
                else:
                    data = _text(r, pools[lang], sizes[i])
                mode = 0o755 if r.random() < 0.03 else 0o644
                w.file(rel, data, mode)
                if len(small_paths) < 4000:
                    small_paths.append((rel, data))
                i += 1
            per -= k
            d += 1
        # a vendored copy of one folder, 8% of projects
        if r.random() < 0.3 and small_paths:
            src_rel, data = r.choice(small_paths)
            w.file(f"{pname}/vendor/{os.path.basename(src_rel)}", data)

    # -- medium files (30%)
    med_total = int(total * p["medium"])
    med_paths = []
    n = 0
    mi = 0
    while n < med_total:
        kind = r.random()
        sz = min(int(r.lognormvariate(13.5, 1.2)), 8 * MiB, max(64 << 10, med_total - n))
        sz = max(sz, 16 << 10)
        if kind < p["logs"]:
            rel, data = f"var/log/{_ident(r)}/{_ident(r)}.{mi}.log", _log(r, sz, BASE_MTIME + mi * 3600)
        elif kind < p["binaries"]:
            rel, data = f"usr/lib/{_ident(r)}/lib{_ident(r)}.so.{mi}", _binary(r, sz, allpool)
        else:
            ext = r.choice([".jpg", ".gz", ".zip", ".png", ".mp3"])
            rel, data = f"home/{_ident(r)}/media/{_ident(r)}_{mi}{ext}", r.randbytes(sz)
        w.file(rel, data, 0o755 if ".so." in rel else 0o644)
        med_paths.append(rel)
        n += len(data)
        mi += 1
    for rel in r.sample(med_paths, min(3, len(med_paths))):  # copies elsewhere (dedup)
        with open(w.path(rel), "rb") as f:
            w.file("home/backup-copies/" + os.path.basename(rel), f.read())

    # -- VM image (27%), 1 MiB extents
    vm_extents = max(2, int(total * p["vm"]) // MiB)
    earlier: list[int] = []

    def vm_parts():
        written = []
        for e in range(vm_extents):
            k = r.random()
            if k < 0.18:
                yield bytes(MiB)
                continue
            if k < 0.28 and written:
                yield written[r.randrange(len(written))]
                continue
            if k < 0.40:
                b = _text(r, allpool, MiB)
            elif k < 0.60:
                b = _binary(r, MiB, allpool)
            else:
                b = r.randbytes(MiB)
            if len(written) < 32:
                written.append(b)
            else:
                written[r.randrange(32)] = b
            yield b
    w.big("var/lib/libvirt/images/vm disk.qcow2.raw", vm_parts())

    # -- database-like file (9%) and a random archive (13%)
    db_pages = max(1, int(total * p["db"]) // 4096)
    w.big("var/lib/db/main.db", (_dbfile(r, 256 * 4096, allpool) if k + 256 <= db_pages
                                  else _dbfile(r, (db_pages - k) * 4096, allpool)
                                  for k in range(0, db_pages, 256)))
    arch = int(total * p["archive"])
    w.big("srv/releases/release-1.0.tar.gz",
          (r.randbytes(min(MiB, arch - k)) for k in range(0, arch, MiB)))

    # -- sparse file: 8 MiB logical (scaled), a few blocks written
    sp = w.path("var/lib/sparse.img")
    splen = max(1, size_mb // 128) * MiB
    with open(sp, "wb") as f:
        f.truncate(splen)
        for _ in range(4):
            f.seek(r.randrange(0, splen - 4096) & ~4095)
            f.write(r.randbytes(4096))
    w.n += 1
    w.bytes += splen
    os.utime(sp, (BASE_MTIME, BASE_MTIME))

    # -- odd names, links, empties
    odd = [
        "odd/name with spaces.txt", "odd/ünïcödé-日本語-файл.md", "odd/emoji 🎉 party.txt",
        "odd/-leading-dash.txt", "odd/quote's \"double\".txt", "odd/#hash & amp;.txt",
        "odd/" + "long" * 50 + ".txt", "odd/tab\there.txt",
        "odd/" + "/".join(f"d{k}" for k in range(20)) + "/deep.txt",
    ]
    for rel in odd:
        w.file(rel, _text(r, pools["md"], r.randint(10, 4000)))
    w.file(b"odd/latin1-caf\xe9-\xff\xfe.bin", r.randbytes(3000))
    os.makedirs(w.path(b"odd/not-utf8-dir-\xe9\xe8"), exist_ok=True)
    w.file(b"odd/not-utf8-dir-\xe9\xe8/inside.txt", b"hello from a latin-1 folder\n")
    w.file("odd/empty-file", b"")
    os.makedirs(w.path("odd/empty-dir"), exist_ok=True)
    os.makedirs(w.path("odd/empty dir with space"), exist_ok=True)
    tgt = small_paths[0][0]
    os.symlink(os.path.relpath(tgt, "odd"), w.path("odd/link-to-file"))
    os.symlink("../srv", w.path("odd/link-to-dir"))
    os.symlink("does/not/exist", w.path("odd/dangling-link"))
    os.symlink("/etc/hostname", w.path("odd/absolute-link"))
    os.symlink("ünïcödé-日本語-файл.md", w.path("odd/unicode-link"))
    os.link(w.path(med_paths[0]), w.path("odd/hardlink-to-" + os.path.basename(med_paths[0])))
    for name in ("link-to-file", "link-to-dir", "dangling-link", "absolute-link", "unicode-link"):
        os.utime(w.path("odd/" + name), (BASE_MTIME, BASE_MTIME), follow_symlinks=False)

    # fixed mtimes on folders, deepest first
    for dirpath, dirnames, _ in os.walk(dest.encode(), topdown=False):
        os.utime(dirpath, (BASE_MTIME, BASE_MTIME))
    state = {"version": STATE_VERSION, "seed": seed, "size_mb": size_mb, "mutated": False,
             "files": w.n, "bytes_written": w.bytes}
    _write_state(dest, state)
    return state


def _state_path(dest: str) -> str:
    dest = os.path.abspath(dest)
    return os.path.join(os.path.dirname(dest), os.path.basename(dest) + ".state.json")


def _write_state(dest: str, state: dict):
    with open(_state_path(dest), "w") as f:
        json.dump(state, f)


def read_state(dest: str) -> dict | None:
    try:
        with open(_state_path(dest)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def remove_tree(dest: str):
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    try:
        os.unlink(_state_path(dest))
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------------- mutation

def _regular_files(dest: bytes) -> list[bytes]:
    out = []
    for dirpath, dirnames, filenames in os.walk(dest):
        dirnames.sort()
        for fn in sorted(filenames):
            p = os.path.join(dirpath, fn)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    out.sort()
    return out


def mutate(dest: str) -> dict:
    state = read_state(dest)
    if state is None:
        raise SystemExit(f"{dest}: no state file; generate it with this script first")
    if state.get("mutated"):
        raise SystemExit(f"{dest} was already mutated; regenerate it")
    r = random.Random(state["seed"] + 1)
    root = os.path.abspath(dest).encode()
    files = _regular_files(root)
    pools = _make_pools(random.Random(state["seed"] + 2))
    small = [p for p in files if os.path.getsize(p) < 64 << 10 and b"/srv/projects/" in p]
    medium = [p for p in files if (64 << 10) <= os.path.getsize(p) <= 8 * MiB
              and (b"/var/log/" in p or b"/usr/lib/" in p)]
    nf = len(files)
    changes = {"modified": 0, "added": 0, "deleted": 0, "moved": 0, "bytes_added": 0}
    t = BASE_MTIME + 10_000_000

    # modify ~4% of all files, from the small ones: edit a few lines, sometimes append
    mod = r.sample(small, min(len(small), max(1, round(nf * 0.04))))
    for p in mod:
        with open(p, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        for _ in range(r.randint(1, 3)):
            lines[r.randrange(len(lines))] = r.choice(pools["py"]).encode()
        if r.random() < 0.4:
            lines.extend(x.encode() for x in r.choices(pools["py"], k=r.randint(1, 30)))
        new = b"\n".join(lines)
        with open(p, "wb") as f:
            f.write(new)
        os.utime(p, (t, t))
        changes["modified"] += 1
    # a region in the middle of a few medium files, in place
    for p in r.sample(medium, min(3, len(medium))):
        sz = os.path.getsize(p)
        with open(p, "r+b") as f:
            f.seek(sz // 2)
            f.write(r.randbytes(min(16 << 10, sz // 4)))
        os.utime(p, (t, t))
        changes["modified"] += 1
    # delete ~0.5%
    gone = set(mod)
    dels = [p for p in small if p not in gone]
    for p in r.sample(dels, min(len(dels), max(1, round(nf * 0.005)))):
        os.unlink(p)
        changes["deleted"] += 1
    # add ~0.5% small files, one medium file, move one medium file
    newdir = os.path.join(root, b"srv/projects/new-feature")
    os.makedirs(newdir, exist_ok=True)
    for k in range(max(1, round(nf * 0.005))):
        data = _text(r, pools["py"], r.randint(200, 20000))
        p = os.path.join(newdir, f"module_{k}.py".encode())
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (t, t))
        changes["added"] += 1
        changes["bytes_added"] += len(data)
    data = _log(r, min(4 * MiB, max(64 << 10, state["size_mb"] * MiB // 256)), t)
    os.makedirs(os.path.join(root, b"var/log"), exist_ok=True)
    p = os.path.join(root, b"var/log/new-service.log")
    with open(p, "wb") as f:
        f.write(data)
    changes["added"] += 1
    changes["bytes_added"] += len(data)
    if medium:
        src = r.choice([m for m in medium if os.path.exists(m)])
        os.makedirs(os.path.join(root, b"srv/moved"), exist_ok=True)
        os.rename(src, os.path.join(root, b"srv/moved", os.path.basename(src)))
        changes["moved"] += 1
    state["mutated"] = True
    state["changes"] = changes
    state["files_before"] = nf
    _write_state(dest, state)
    return state


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest")
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", default="default", choices=sorted(PROFILES),
                    help="what the tree is made of (see PROFILES)")
    ap.add_argument("--mutate", action="store_true", help="change ~5%% of the files of DEST")
    ap.add_argument("--force", action="store_true", help="remove DEST first if it exists")
    a = ap.parse_args(argv)
    t0 = time.time()
    if a.mutate:
        st = mutate(a.dest)
    else:
        if a.force:
            remove_tree(a.dest)
        st = generate(a.dest, a.size_mb, a.seed, a.profile)
    st["seconds"] = round(time.time() - t0, 2)
    json.dump(st, sys.stdout)
    print()


if __name__ == "__main__":
    main()
