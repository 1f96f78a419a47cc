#!/usr/bin/env python3
"""Disk safe benchmark: BackupRun against restic and BorgBackup on one generated tree.

    python bench/run.py [--size-mb 1024] [--only backuprun,restic,borg-lz4,borg-zstd3]
                        [--work DIR] [--shm DIR] [--seed N] [--keep]

Per tool, on the same tree in the same run (see docs/benchmarks.md):
  full backup, unchanged re-run, re-run after ~5% of the files changed (gen_tree --mutate),
  full restore of the latest point into tmpfs twice, cold (page cache dropped before it, for
  every tool alike: the usual case after a disaster, and what the targets use) and warm (the
  repository read first), size of the repository on disk, and the peak
  RSS of each step (ru_maxrss from wait4() of that step's own child: per step, and it covers
  the child's waited-for descendants).
The tree and the repositories live under --work (one filesystem for everyone); restores go
to --shm (tmpfs), which is emptied before and after each restore, and filled once and
emptied again just before it (see touch_memory). The tree and repository
are read once before each timed backup step (page cache warm) and os.sync() runs after each step
so one tool's write-back does not land in the next one's time. Each restore is compared
with the source (types, bytes, symlink targets, permission bits), untimed.

Results: a table on stdout (figures, the best peer of each row, BackupRun / best peer, the
target of issue 12 and pass/miss) and JSON under bench/out/.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_tree  # noqa: E402

MB = 1_000_000  # figures are decimal MB (as MB/s usually are)
ALL_TOOLS = ["backuprun", "restic", "borg-lz4", "borg-zstd3"]
INSTALL_HINT = "apt-get update && apt-get install -y restic borgbackup"
PASSWORD = "bench-password-not-secret"


# --------------------------------------------------------------------------- tools

class Tool:
    name = ""
    note = ""
    warning_rcs: tuple = ()  # exit codes meaning "finished, with warnings"

    def __init__(self, work: str):
        self.repo = os.path.join(work, "repos", self.name)
        self.home = os.path.join(work, "home", self.name)  # caches/config of the tool

    def env(self) -> dict:
        e = dict(os.environ)
        e["HOME"] = self.home
        e["XDG_CACHE_HOME"] = os.path.join(self.home, ".cache")
        e["XDG_CONFIG_HOME"] = os.path.join(self.home, ".config")
        return e

    def clean(self):
        for d in (self.repo, self.home):
            if os.path.lexists(d):
                shutil.rmtree(d)
        os.makedirs(self.home)
        os.makedirs(os.path.dirname(self.repo), exist_ok=True)

    def warm_paths(self) -> list[str]:
        return [self.repo, self.home]

    def version(self) -> str:
        return ""

    def available(self) -> str | None:
        """None when usable, else why not."""
        return None


class BackupRun(Tool):
    name = "backuprun"

    def __init__(self, work, exe):
        super().__init__(work)
        self.exe = exe

    def available(self):
        if not self.exe or not os.access(self.exe, os.X_OK):
            return "backuprun command not found (pip install -e . into .venv, or --backuprun PATH)"
        r = subprocess.run([self.exe, "disksafe", "--help"], capture_output=True)
        if r.returncode != 0:
            return "`backuprun disksafe` does not run: " + r.stderr.decode(errors="replace")[-300:]
        return None

    def version(self):
        try:
            r = subprocess.run(["git", "-C", REPO_ROOT, "log", "-1", "--format=%h %cI"],
                               capture_output=True, text=True)
            d = subprocess.run(["git", "-C", REPO_ROOT, "status", "--porcelain", "--",
                                "src/backuprun/disksafe"], capture_output=True, text=True)
            return "git " + r.stdout.strip() + (" + uncommitted disksafe changes"
                                                if d.stdout.strip() else "")
        except OSError:
            return ""

    def env(self):
        e = super().env()
        e["BACKUPRUN_DISKSAFE_PASSWORD"] = PASSWORD
        return e

    def init(self):
        return [self.exe, "disksafe", "init", self.repo], None

    def backup(self, src, label):
        return [self.exe, "disksafe", "backup", "--quiet", self.repo, src], None

    def restore(self, target):
        return [self.exe, "disksafe", "restore", "--quiet", self.repo, "latest", target], None

    def restored_root(self, target, src):
        return target


class Restic(Tool):
    name = "restic"

    def __init__(self, work):
        super().__init__(work)
        self.compression = None

    def available(self):
        if not shutil.which("restic"):
            return f"restic not installed ({INSTALL_HINT})"
        h = subprocess.run(["restic", "--help"], capture_output=True, text=True).stdout
        self.compression = "--compression" in h
        if not self.compression:
            self.note = "this restic has no compression support (needs >= 0.14): ran uncompressed"
        return None

    def version(self):
        return subprocess.run(["restic", "version"], capture_output=True, text=True).stdout.strip()

    def env(self):
        e = super().env()
        e["RESTIC_PASSWORD"] = PASSWORD
        e["RESTIC_CACHE_DIR"] = os.path.join(self.home, "cache")
        return e

    def _g(self):
        g = ["restic", "-r", self.repo, "--quiet"]
        if self.compression:
            g += ["--compression", "auto"]
        return g

    def init(self):
        return self._g() + ["init"], None

    def backup(self, src, label):
        return self._g() + ["backup", "--tag", label, src], None

    def restore(self, target):
        return self._g() + ["restore", "latest", "--target", target], None

    def restored_root(self, target, src):
        return os.path.join(target, os.path.abspath(src).lstrip("/"))


class Borg(Tool):
    warning_rcs = (1,)  # Borg 1.x: 1 = warning (the operation reached its normal end)

    def __init__(self, work, compression):
        self.name = "borg-" + compression.replace(",", "")
        self.compression = compression
        super().__init__(work)

    def available(self):
        if not shutil.which("borg"):
            return f"borg not installed ({INSTALL_HINT})"
        return None

    def version(self):
        return subprocess.run(["borg", "--version"], capture_output=True, text=True).stdout.strip()

    def env(self):
        e = super().env()
        e["BORG_PASSPHRASE"] = PASSWORD
        e["BORG_BASE_DIR"] = self.home
        e["BORG_RELOCATED_REPO_ACCESS_IS_OK"] = "yes"
        e["BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK"] = "yes"
        return e

    def init(self):
        return ["borg", "init", "--encryption", "repokey", self.repo], None

    def backup(self, src, label):
        # run inside the tree so the archive holds relative paths
        return ["borg", "create", "--compression", self.compression,
                f"{self.repo}::{label}", "."], src

    def restore(self, target):
        r = subprocess.run(["borg", "list", "--last", "1", "--short", self.repo],
                           env=self.env(), capture_output=True, text=True, check=True)
        return ["borg", "extract", f"{self.repo}::{r.stdout.strip()}"], target

    def restored_root(self, target, src):
        return target


# --------------------------------------------------------------------------- measuring

def _cpu_busy_jiffies() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


GNU_TIME = "/usr/bin/time"


class _HwmPoller:
    """Fallback without GNU time: poll VmHWM (reset by exec) of the process and its
    children every 20 ms. Misses growth in the last few ms of a process' life."""

    def __init__(self, pid: int):
        self.pid, self.kb, self._stop = pid, 0, threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _tree(self, pid):
        out = [pid]
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    for c in f.read().split():
                        out += self._tree(int(c))
        except OSError:
            pass
        return out

    def _loop(self):
        while not self._stop.is_set():
            for pid in self._tree(self.pid):
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                self.kb = max(self.kb, int(line.split()[1]))
                except OSError:
                    pass
            self._stop.wait(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        return self.kb


def run_step(argv, cwd, env, log_path) -> dict:
    """Run one step as its own child; wall time, CPU, peak RSS, other load.

    Peak RSS comes from GNU time's %M (wait4 of a child that /usr/bin/time forked: a small
    parent). wait4 on our own child would not do: Linux carries the RSS high-water mark of
    the process that forked (vforked) across exec, so it would report at least this
    harness's own size.
    """
    busy0, _ = _cpu_busy_jiffies()
    load0 = os.getloadavg()[0]
    rss_file = log_path + ".rss"
    gnu_time = os.access(GNU_TIME, os.X_OK)
    wrapped = ([GNU_TIME, "-f", "%M", "-o", rss_file] if gnu_time else []) + list(argv)
    with open(log_path, "ab") as log:
        log.write(("\n$ " + " ".join(argv) + (f"   (cwd {cwd})" if cwd else "") + "\n").encode())
        log.flush()
        t0 = time.perf_counter()
        p = subprocess.Popen(wrapped, cwd=cwd, env=env, stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL)
        poller = None if gnu_time else _HwmPoller(p.pid)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting
    busy1, _ = _cpu_busy_jiffies()
    if gnu_time:
        with open(rss_file) as f:
            rss_kb = int(f.read().split()[-1])
        os.unlink(rss_file)
    else:
        rss_kb = poller.stop()
    hz = os.sysconf("SC_CLK_TCK")
    cpu = ru.ru_utime + ru.ru_stime
    return {"seconds": wall, "user": ru.ru_utime, "sys": ru.ru_stime, "cpu": cpu,
            "max_rss_mb": rss_kb * 1024 / MB, "rc": p.returncode,
            # CPU seconds used on the machine by anything else during the step (noise)
            "other_cpu": max(0.0, (busy1 - busy0) / hz - cpu), "load1_before": load0}


def _read_all(paths: list[str]) -> int:
    files = []
    for top in paths:
        top = os.fsencode(top)
        if not os.path.isdir(top):
            continue
        for dp, _, fns in os.walk(top):
            for fn in fns:
                files.append(os.path.join(dp, fn))
    total = [0]

    def worker(chunk):
        buf = bytearray(1 << 20)
        n = 0
        for p in chunk:
            try:
                fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            with open(fd, "rb", buffering=0) as f:
                while True:
                    k = f.readinto(buf)
                    if not k:
                        break
                    n += k
        total[0] += n

    ts = [threading.Thread(target=worker, args=(files[i::2],)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return total[0]


COLD = "cold"  # a step's warm_paths: drop the page cache before it instead


def drop_caches() -> bool:
    """Write back and drop the page cache (root only); False when not allowed."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def touch_memory(folder: str, size: int) -> None:
    """Write ``size`` bytes into ``folder`` (the restores' tmpfs) and remove them. On a
    virtual machine whose host takes freed memory back, a page the guest touches for the
    first time costs a trip to the host: measured here, a tmpfs takes 1 GB at ~450 MB/s into
    such memory and at ~2 GB/s into memory touched before. Done before every tool's restore
    alike, so that each writes into touched memory and none pays for the others' order."""
    path = os.path.join(folder, ".touch-memory")
    block = bytes(4 << 20)
    with open(path, "wb") as f:
        for _ in range(0, size, len(block)):
            f.write(block)
    os.unlink(path)


def warm(paths):
    """Put the tree / repository in the page cache (and flush pending writes first)."""
    os.sync()
    _read_all(paths)


def tree_stats(root: str) -> dict:
    n = b = 0
    for dp, dns, fns in os.walk(os.fsencode(root)):
        for fn in fns:
            st = os.lstat(os.path.join(dp, fn))
            if stat.S_ISREG(st.st_mode):
                n += 1
                b += st.st_size
    return {"files": n, "bytes": b}


def dir_size(root: str) -> dict:
    apparent = alloc = 0
    for dp, dns, fns in os.walk(os.fsencode(root)):
        for fn in fns + dns:
            st = os.lstat(os.path.join(dp, fn))
            apparent += st.st_size if not stat.S_ISDIR(st.st_mode) else 0
            alloc += st.st_blocks * 512
    return {"apparent_mb": apparent / MB, "disk_mb": alloc / MB}


def compare_trees(src: str, dst: str, limit: int = 20) -> dict:
    """Restored tree == source: same names, types, file bytes, symlink targets, mode bits."""
    diffs: list[str] = []
    checked = [0, 0]

    def add(msg):
        if len(diffs) < limit:
            diffs.append(msg)
        checked[1] += 1

    def cmp_files(a, b):
        with open(a, "rb", buffering=0) as fa, open(b, "rb", buffering=0) as fb:
            while True:
                x = fa.read(1 << 20)
                y = fb.read(1 << 20)
                if x != y:
                    return False
                if not x:
                    return True

    def walk(a, b, rel):
        try:
            ea = {e.name: e for e in os.scandir(a)}
            eb = {e.name: e for e in os.scandir(b)}
        except OSError as ex:
            add(f"{rel!r}: {ex}")
            return
        for name in sorted(set(ea) | set(eb)):
            r = os.path.join(rel, name) if rel else name
            if name not in eb:
                add(f"missing in restore: {r!r}")
                continue
            if name not in ea:
                add(f"extra in restore: {r!r}")
                continue
            sa, sb = ea[name].stat(follow_symlinks=False), eb[name].stat(follow_symlinks=False)
            if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
                add(f"type differs: {r!r}")
                continue
            checked[0] += 1
            if stat.S_ISLNK(sa.st_mode):
                if os.readlink(ea[name].path) != os.readlink(eb[name].path):
                    add(f"symlink target differs: {r!r}")
                continue
            if stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
                add(f"mode differs: {r!r} {oct(sa.st_mode)} {oct(sb.st_mode)}")
            if stat.S_ISDIR(sa.st_mode):
                walk(ea[name].path, eb[name].path, r)
            elif stat.S_ISREG(sa.st_mode):
                if sa.st_size != sb.st_size:
                    add(f"size differs: {r!r} {sa.st_size} {sb.st_size}")
                elif not cmp_files(ea[name].path, eb[name].path):
                    add(f"content differs: {r!r}")

    walk(os.fsencode(src), os.fsencode(dst), b"")
    return {"ok": checked[1] == 0, "entries": checked[0], "differences": checked[1],
            "first": [d if isinstance(d, str) else repr(d) for d in diffs]}


# --------------------------------------------------------------------------- the run

def fail_step(tool, step, res, log_path, what="failed"):
    with open(log_path, "rb") as f:
        tail = f.read()[-1500:].decode(errors="replace")
    print(f"!! {tool.name} {step} {what} (exit {res['rc']}); log {log_path}:\n{tail}",
          file=sys.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--only", default=",".join(ALL_TOOLS),
                    help="comma-separated subset of " + ",".join(ALL_TOOLS))
    ap.add_argument("--work", default="/tmp/backuprun-bench",
                    help="tree, repositories and tool caches (one filesystem)")
    ap.add_argument("--shm", default="/dev/shm/backuprun-bench-restore",
                    help="restore target (tmpfs)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", default="default", choices=sorted(gen_tree.PROFILES),
                    help="what the tree is made of (bench/gen_tree.py)")
    ap.add_argument("--backuprun", default=os.path.join(REPO_ROOT, ".venv", "bin", "backuprun"))
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat everything N times (fresh tree and repositories each time, "
                         "tool order rotated); times are medians, memory the maximum")
    ap.add_argument("--keep", action="store_true",
                    help="keep the last round's repositories and (mutated) tree")
    a = ap.parse_args(argv)

    names = [n.strip() for n in a.only.split(",") if n.strip()]
    bad = [n for n in names if n not in ALL_TOOLS]
    if bad:
        ap.error(f"unknown tool(s) {bad}; choose from {ALL_TOOLS}")
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    os.makedirs(a.out, exist_ok=True)
    make = {"backuprun": lambda: BackupRun(work, a.backuprun), "restic": lambda: Restic(work),
            "borg-lz4": lambda: Borg(work, "lz4"), "borg-zstd3": lambda: Borg(work, "zstd,3")}
    tools, skipped = [], {}
    for n in names:
        t = make[n]()
        why = t.available()
        if why:
            print(f"-- skipping {n}: {why}", file=sys.stderr)
            skipped[n] = why
        else:
            tools.append(t)
    if not tools:
        print("nothing to run", file=sys.stderr)
        return 2
    if not os.access(GNU_TIME, os.X_OK):
        print(f"-- {GNU_TIME} (GNU time) missing: peak memory is polled from /proc instead "
              "(may miss short peaks); apt-get install -y time", file=sys.stderr)
    if any(n in skipped for n in ("restic", "borg-lz4", "borg-zstd3")):
        print(f"-- to install the peers: {INSTALL_HINT}", file=sys.stderr)

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    logdir = os.path.join(work, "logs", stamp)
    os.makedirs(logdir)
    tree = os.path.join(work, "tree")
    shm = os.path.abspath(a.shm)

    def say(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def fresh_tree():
        """A pristine tree of this size and seed (regenerated when mutated or different)."""
        st = gen_tree.read_state(tree)
        if not (st and not st.get("mutated") and st.get("size_mb") == a.size_mb
                and st.get("seed") == a.seed and st.get("version") == gen_tree.STATE_VERSION
                and os.path.isdir(tree)):
            say(f"generating a {a.size_mb} MB tree (seed {a.seed}) in {tree}")
            gen_tree.remove_tree(tree)
            gen_tree.generate(tree, a.size_mb, a.seed, a.profile)
            time.sleep(1.5)  # no file's ctime in the same second as a backup's start

    def one_round(rnd: int, order: list[Tool]) -> tuple[dict, dict]:
        res = {t.name: {"steps": {}} for t in order}

        def step(t, name, argv_cwd, warm_paths):
            argv, cwd = argv_cwd
            if warm_paths == COLD:
                drop_caches()
            elif warm_paths:
                warm(warm_paths)
            say(f"round {rnd + 1}: {t.name}: {name}")
            log = os.path.join(logdir, t.name + ".log")
            r = run_step(argv, cwd, t.env(), log)
            os.sync()
            res[t.name]["steps"][name] = r
            if r["rc"] in t.warning_rcs:  # finished, with warnings: keep the figures
                fail_step(t, name, r, log, "finished with warnings")
                res[t.name].setdefault("warnings", []).append(name)
                return True
            if r["rc"] != 0:
                fail_step(t, name, r, log)
                res[t.name]["failed"] = name
            return r["rc"] == 0

        live = list(order)
        # phase 1: init, full backup, unchanged re-run
        for t in list(live):
            t.clean()
            ok = (step(t, "init", t.init(), None)
                  and step(t, "full", t.backup(tree, "full"), [tree] + t.warm_paths()))
            if ok:
                res[t.name]["size_full"] = dir_size(t.repo)
                ok = step(t, "unchanged", t.backup(tree, "unchanged"), [tree] + t.warm_paths())
            if not ok:
                live.remove(t)

        # phase 2: change ~5% of the files, re-run
        say("changing ~5% of the files")
        mst = gen_tree.mutate(tree)
        time.sleep(1.5)
        tstats = {"after": tree_stats(tree), "mutation": mst.get("changes")}
        for t in list(live):
            if step(t, "changed", t.backup(tree, "changed"), [tree] + t.warm_paths()):
                res[t.name]["size_after"] = dir_size(t.repo)
            else:
                live.remove(t)

        # phase 3: full restore of the latest point into tmpfs, compare (untimed); every
        # tool alike, first with the page cache dropped (cold), then with its repository
        # read first (warm)
        for cache in ("cold", "warm"):
            for t in list(live):
                if os.path.lexists(shm):
                    shutil.rmtree(shm)
                os.makedirs(shm)
                touch_memory(shm, int(tstats["after"]["bytes"] * 1.2))
                ok = step(t, f"restore_{cache}", t.restore(shm),
                          COLD if cache == "cold" else t.warm_paths())
                if ok:
                    say(f"{t.name}: comparing the restore with the source")
                    cmp = compare_trees(tree, t.restored_root(shm, tree))
                    if not cmp["ok"] or "verify" not in res[t.name]:
                        res[t.name]["verify"] = cmp
                    if not cmp["ok"]:
                        print(f"!! {t.name}: restore differs from the source in "
                              f"{cmp['differences']} entries, e.g. {cmp['first'][:5]}",
                              file=sys.stderr)
                shutil.rmtree(shm)
        for t in list(live):
            if not (a.keep and rnd == a.rounds - 1):
                shutil.rmtree(t.repo, ignore_errors=True)
                shutil.rmtree(t.home, ignore_errors=True)
        return res, tstats

    versions = {t.name: t.version() for t in tools}  # before: the code may change meanwhile
    rounds = []
    for rnd in range(a.rounds):
        fresh_tree()
        if rnd == 0:
            before = tree_stats(tree)
            say(f"tree: {before['files']} files, {before['bytes'] / MB:.1f} MB")
        k = rnd % len(tools)  # rotate the order so no tool always runs first
        try:
            res, tstats = one_round(rnd, tools[k:] + tools[:k])
        finally:
            shutil.rmtree(shm, ignore_errors=True)  # never leave a restore in tmpfs
        rounds.append(res)
        if not (a.keep and rnd == a.rounds - 1):
            gen_tree.remove_tree(tree)  # it is mutated; the next run regenerates it
    after, mst = tstats["after"], {"changes": tstats["mutation"]}
    results = {t.name: aggregate([r[t.name] for r in rounds]) for t in tools}
    for t in tools:
        results[t.name].update({"version": versions[t.name], "note": t.note})

    report = {
        "when": stamp, "host": platform.node(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "size_mb_arg": a.size_mb, "seed": a.seed,
        "profile": a.profile,
        "rounds": a.rounds, "rss_method": "GNU time %M" if os.access(GNU_TIME, os.X_OK)
        else "VmHWM polled every 20 ms",
        "command": " ".join([os.path.basename(sys.executable), "bench/run.py"] + (argv or sys.argv[1:])),
        "tree_before": before, "tree_after": after, "mutation": mst.get("changes"),
        "work": work, "shm": shm, "logs": logdir, "skipped": skipped, "tools": results,
    }
    report["table"] = table(report)
    path = os.path.join(a.out, f"bench-{stamp}.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(format_table(report))
    print(f"\nJSON: {path}\nlogs: {logdir}")
    failed = [n for n, r in results.items()
              if r.get("failed") or not r.get("verify", {}).get("ok", False)]
    return 1 if any(n == "backuprun" for n in failed) else 0


def aggregate(runs: list[dict]) -> dict:
    """Rounds of one tool -> one result: median times, maximum memory, all must verify."""
    def med(xs):
        xs = sorted(xs)
        n = len(xs)
        return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2

    out: dict = {"rounds": runs, "steps": {}}
    names = [n for n in ("init", "full", "unchanged", "changed", "restore_cold", "restore_warm")
             if all(n in r["steps"] for r in runs)]
    for n in names:
        rs = [r["steps"][n] for r in runs]
        agg = {k: med([x[k] for x in rs]) for k in rs[0] if k not in ("rc", "max_rss_mb")}
        agg["max_rss_mb"] = max(x["max_rss_mb"] for x in rs)
        agg["rc"] = max((x["rc"] for x in rs), key=abs)
        agg["seconds_all"] = [x["seconds"] for x in rs]
        out["steps"][n] = agg
    for key in ("size_full", "size_after"):
        if all(key in r for r in runs):
            out[key] = {k: med([r[key][k] for r in runs]) for k in runs[0][key]}
    warned = sorted({w for r in runs for w in r.get("warnings", [])})
    if warned:
        out["warnings"] = warned
    failed = [r["failed"] for r in runs if r.get("failed")]
    if failed:
        out["failed"] = failed[0]
    vs = [r.get("verify") for r in runs]
    if all(vs):
        bad = [v for v in vs if not v["ok"]]
        out["verify"] = bad[0] if bad else vs[0]
    return out


# --------------------------------------------------------------------------- the table

PEERS = ("restic", "borg-lz4", "borg-zstd3")


def table(rep: dict) -> list[dict]:
    tb = rep["tree_before"]["bytes"]
    ta = rep["tree_after"]["bytes"]
    tools = rep["tools"]

    def val(name, key):
        r = tools.get(name)
        if not r:
            return None
        s = r["steps"]
        try:
            if key == "full_s":
                return s["full"]["seconds"]
            if key == "full_mbs":
                return tb / MB / s["full"]["seconds"]
            if key == "full_cpu":
                return s["full"]["cpu"]
            if key == "unchanged_s":
                return s["unchanged"]["seconds"]
            if key == "changed_s":
                return s["changed"]["seconds"]
            for cache in ("cold", "warm"):
                if key == f"restore_{cache}_s":
                    return s[f"restore_{cache}"]["seconds"]
                if key == f"restore_{cache}_mbs":
                    return ta / MB / s[f"restore_{cache}"]["seconds"]
                if key == f"restore_{cache}_cpu":
                    return s[f"restore_{cache}"]["cpu"]
            if key == "size_full":
                return r["size_full"]["disk_mb"]
            if key == "size_after":
                return r["size_after"]["disk_mb"]
            if key == "rss_max":
                return max(v["max_rss_mb"] for k, v in s.items() if k != "init")
            if key.startswith("rss_"):
                return s[key[4:]]["max_rss_mb"]
            if key == "verified":
                return r["verify"]["ok"]
        except (KeyError, ValueError, ZeroDivisionError):
            return None
        raise KeyError(key)

    # (key, label, unit, better, target kind, target value)
    rows = [
        ("full_s", "full backup", "s", "low", None, None),
        ("full_mbs", "full backup throughput", "MB/s", "high", "ratio>=", 2.5),
        ("full_cpu", "full backup CPU (user+sys)", "s", "low", None, None),
        ("unchanged_s", "unchanged re-run", "s", "low", "ratio<=", 0.25),
        ("changed_s", "re-run after ~5% changed", "s", "low", "ratio<=", 0.35),
        ("restore_cold_s", "full restore to tmpfs, cold", "s", "low", None, None),
        ("restore_cold_mbs", "restore throughput, cold", "MB/s", "high", "ratio>=", 3.0),
        ("restore_cold_cpu", "restore CPU, cold (user+sys)", "s", "low", None, None),
        ("restore_warm_s", "full restore to tmpfs, warm", "s", "low", None, None),
        ("restore_warm_mbs", "restore throughput, warm", "MB/s", "high", "ratio>=", 1.5),
        ("restore_warm_cpu", "restore CPU, warm (user+sys)", "s", "low", None, None),
        ("size_full", "repo size after full", "MB", "low", "ratio<=", 1.0),
        ("size_after", "repo size after 3 runs", "MB", "low", "ratio<=", 1.0),
        ("rss_full", "peak RSS full backup", "MB", "low", "abs<=", 120),
        ("rss_unchanged", "peak RSS unchanged", "MB", "low", "abs<=", 120),
        ("rss_changed", "peak RSS changed", "MB", "low", "abs<=", 120),
        ("rss_restore_cold", "peak RSS restore", "MB", "low", "abs<=", 120),
        ("rss_max", "peak memory (any step)", "MB", "low", "abs<=", 120),
    ]
    out = []
    for key, label, unit, better, kind, tval in rows:
        row = {"key": key, "label": label, "unit": unit, "values": {}}
        for n in ALL_TOOLS:
            row["values"][n] = val(n, key)
        peers = {n: v for n, v in row["values"].items() if n in PEERS and v is not None}
        br = row["values"].get("backuprun")
        if peers:
            best = (max if better == "high" else min)(peers, key=peers.get)
            row["best_peer"], row["best_value"] = best, peers[best]
            if br is not None and peers[best]:
                row["ratio"] = br / peers[best]
        if kind:
            row["target"] = {"ratio>=": f">= {tval}x best", "ratio<=": f"<= {tval}x best",
                             "abs<=": f"<= {tval} MB"}[kind]
            if kind == "abs<=" and br is not None:
                row["pass"] = br <= tval
            elif "ratio" in row:
                row["pass"] = row["ratio"] >= tval if kind == "ratio>=" else row["ratio"] <= tval
        out.append(row)
    ver = {"key": "verified", "label": "restore == source", "unit": "",
           "values": {n: val(n, "verified") for n in ALL_TOOLS}}
    out.append(ver)
    return out


def format_table(rep: dict) -> str:
    names = [n for n in ALL_TOOLS if n in rep["tools"]]
    w0 = 30
    hdr = f"{'':{w0}} {'unit':>5} " + " ".join(f"{n:>11}" for n in names)
    hdr += f" {'best peer':>11} {'BR/best':>8}  {'target':<14} {'':4}"
    lines = []
    tb, ta = rep["tree_before"], rep["tree_after"]
    lines.append(f"tree: {tb['files']} files, {tb['bytes'] / MB:.1f} MB "
                 f"(profile {rep.get('profile', 'default')}; after changes: {ta['files']} files, {ta['bytes'] / MB:.1f} MB); "
                 f"changes {rep['mutation']}")
    for n in names:
        r = rep["tools"][n]
        extra = f"  NOTE: {r['note']}" if r.get("note") else ""
        extra += f"  FAILED at {r['failed']}" if r.get("failed") else ""
        extra += (f"  exit code 'warning' at {', '.join(r['warnings'])} (see its log)"
                  if r.get("warnings") else "")
        v = r.get("verify")
        if v and not v["ok"]:
            extra += f"  restore differs in {v['differences']} entries, e.g. {v['first'][:3]}"
        lines.append(f"{n}: {r['version'].splitlines()[0] if r['version'] else ''}{extra}")
    for n, why in rep["skipped"].items():
        lines.append(f"{n}: skipped ({why})")
    lines.append("")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for row in rep["table"]:
        def f(v):
            if v is None:
                return f"{'-':>11}"
            if isinstance(v, bool):
                return f"{'yes' if v else 'NO':>11}"
            return f"{v:>11.2f}" if abs(v) < 100 else f"{v:>11.0f}"
        line = f"{row['label']:<{w0}} {row['unit']:>5} " + " ".join(f(row['values'].get(n)) for n in names)
        if "best_peer" in row:
            line += f" {row['best_peer']:>11}"
        else:
            line += f" {'':>11}"
        line += f" {row['ratio']:>7.2f}x" if "ratio" in row else f" {'':>8}"
        if "target" in row:
            line += f"  {row['target']:<14} " + ({True: "pass", False: "MISS"}.get(row.get("pass"), "-"))
        lines.append(line)
    # noise: CPU used by other processes during each tool's timed steps
    lines.append("")
    lines.append("noise: CPU-seconds used by other processes during each step "
                 "(2 cores = 2 CPU-s per second; medians over rounds"
                 + (", [each round's seconds]" if rep.get("rounds", 1) > 1 else "") + "):")
    for n in names:
        s = rep["tools"][n]["steps"]
        lines.append(f"  {n:<11} " + ", ".join(
            f"{k} {v['other_cpu']:.1f} (load {v['load1_before']:.1f})"
            + (" [s: " + "/".join(f"{x:.2f}" for x in v["seconds_all"]) + "]"
               if len(v.get("seconds_all", [])) > 1 else "")
            for k, v in s.items() if k != "init"))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
