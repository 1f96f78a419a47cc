#!/usr/bin/env python3
"""End-to-end benchmark: backups through a running agent by a running backup server, beside
restic and BorgBackup backing up the same tree to a local repository, in one run.

    python bench/e2e.py [--size-mb 1024] [--only backuprun,restic,borg-lz4,borg-zstd3]
                        [--work DIR] [--seed N] [--profile default|other] [--no-tmpfs] [--keep]

BackupRun runs as a user runs it: ``backuprun serve`` (portal, the four locations' backup
servers and their task workers, one process) and ``backuprun agent run`` (TLS between them),
driven through ``api.php``. The tree lives under the agent's root (``<work>/root/tree``), the
restore target is ``<work>/root/restore``, a tmpfs mounted there for the run (``--no-tmpfs``:
a plain folder). Before every tool's restore the tmpfs is filled once and emptied
(``run.touch_memory``), so nobody writes into memory the virtual machine touches first.
Steps, for every tool on the same tree states:

  full backup, unchanged re-run, re-run after ~5% of the files changed (page cache warm: the
  tree and repository are read first), then the full restore of the latest point and, for
  BackupRun, a download of the whole tree as a tar archive through ``downloadFiles``; each of
  those twice, cold (``echo 3 > /proc/sys/vm/drop_caches`` before it) and warm (the repository
  read first). Every restore is compared with the source, untimed.

For BackupRun the figures are the agent's and the backup server's (``serve``'s) CPU seconds,
read from /proc before and after the step, and each process's peak resident memory during the
step (VmHWM, reset through /proc/PID/clear_refs before it). Wall time runs from the
``runPolicy``/``restoreFiles`` request to the task's end as the backup server recorded it
(read from ``serve``'s database: the API shows whole seconds); the benchmark polls
``getBackupStatus`` four times a second, which ``serve``'s CPU includes (about 1 ms a call).
The peers' steps are measured as in bench/run.py (one child process each, GNU time for the
peak). Results: a table on stdout and JSON under bench/out/. docs/benchmarks.md explains it.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, REPO_ROOT, os.path.join(REPO_ROOT, "tests")]
import gen_tree  # noqa: E402
from run import (INSTALL_HINT, MB, Borg, Restic, compare_trees,  # noqa: E402
                 drop_caches, run_step, touch_memory, tree_stats, warm)

PEERS = ["restic", "borg-lz4", "borg-zstd3"]
ALL_TOOLS = ["backuprun"] + PEERS
HZ = os.sysconf("SC_CLK_TCK")
# production key derivation for logins and disk safes (the tests' harness makes it cheap)
PRODUCTION_ARGON2 = {"BACKUPRUN_ARGON2_MEMORY_KIB": str(64 * 1024),
                     "BACKUPRUN_ARGON2_TIME_COST": "3", "BACKUPRUN_ARGON2_PARALLELISM": "1"}


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- caches

# --------------------------------------------------------------------------- processes

def _tree_pids(pid: int) -> list[int]:
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for child in f.read().split():
                    out += _tree_pids(int(child))
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its living descendants (threads included)."""
    total = 0
    for p in _tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / HZ


def reset_peak(pid: int) -> None:
    for p in _tree_pids(pid):
        try:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
        except OSError:
            pass


def peak_mb(pid: int) -> float:
    """The largest VmHWM among the process and its descendants."""
    best = 0
    for p in _tree_pids(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        best = max(best, int(line.split()[1]))
        except OSError:
            pass
    return best * 1024 / MB


class Watched:
    """CPU and peak memory of the agent and the backup server over one step."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids

    def __enter__(self):
        for pid in self.pids.values():
            reset_peak(pid)
        self.cpu0 = {k: cpu_seconds(p) for k, p in self.pids.items()}
        self.result: dict = {}
        return self.result

    def __exit__(self, *exc):
        for k, pid in self.pids.items():
            self.result[f"{k}_cpu"] = cpu_seconds(pid) - self.cpu0[k]
            self.result[f"{k}_peak_mb"] = peak_mb(pid)
        return False


# --------------------------------------------------------------------------- BackupRun

class Ours:
    """A running portal + backup servers + one agent, an account and an encrypted service."""

    name = "backuprun"

    def __init__(self, work: str, root: str):
        from tests.e2e.conftest import start_system

        self.state = os.path.join(work, "backuprun")
        shutil.rmtree(self.state, ignore_errors=True)
        os.makedirs(self.state)
        from pathlib import Path

        self.system = start_system(Path(self.state), env=PRODUCTION_ARGON2)
        try:
            self.client = self.system.client()
            self.service = self.system.add_service(self.client, encrypt=True)
            self.agent = self.system.start_agent(self.service, Path(root))
        except BaseException:
            self.system.stop()
            raise
        self.pids = {"agent": self.agent.process.pid, "server": self.system.proc.pid}
        self.safe_dir = os.path.join(self.state, "data")

    def stop(self) -> None:
        self.system.stop()
        shutil.rmtree(self.state, ignore_errors=True)

    def version(self) -> str:
        r = subprocess.run(["git", "-C", REPO_ROOT, "log", "-1", "--format=%h %cI"],
                           capture_output=True, text=True)
        return "git " + r.stdout.strip()

    def _task(self, answer, t0: float) -> dict:
        task_id = answer.root.find("task").get("taskexecutioncontextid")
        while True:
            status = self.service.status()
            for task in json.loads(status["alert_history"]):
                if task["taskExecutionContextId"] == task_id and task["state"] in (
                        "FINISHED", "ERROR", "CANCELLED"):
                    return {"seconds": self._finished_at(task_id) - t0, "state": task["state"],
                            "task": task_id, "warnings": task["warnings"],
                            "errors": task["errors"]}
            time.sleep(0.25)

    def _finished_at(self, task_id: str) -> float:
        """When the task ended, to the microsecond (the API shows whole seconds), from the
        embedded database of ``serve``."""
        with contextlib.closing(sqlite3.connect(os.path.join(self.state, "data",
                                                              "backuprun.db"))) as db:
            (finished,) = db.execute("SELECT finished_at FROM bs_tasks WHERE id = ?",
                                     (task_id,)).fetchone()
        at = datetime.datetime.fromisoformat(finished)
        return at.replace(tzinfo=datetime.timezone.utc).timestamp()  # stored naive, in UTC

    def backup(self) -> dict:
        with Watched(self.pids) as r:
            t0 = time.time()
            r.update(self._task(self.client.call("runPolicy", service_id=self.service.wire_id)
                                .ok(), t0))
        self.last_backup = r["task"]
        return r

    def latest_point(self) -> str:
        """The recovery point the last backup made."""
        answer = self.client.call("getRecoveryPoints", service_id=self.service.wire_id).ok()
        return next(p.get("id") for p in answer.root.iter("recoverypoint")
                    if p.get("taskexecutioncontextid") == self.last_backup)

    def restore(self, target_rel: str) -> dict:
        point = self.latest_point()
        with Watched(self.pids) as r:
            t0 = time.time()
            r.update(self._task(self.client.call(
                "restoreFiles", service_id=self.service.wire_id, recoverypoint_id=point,
                **{"path[]": ["/tree"]}, target=target_rel, overwrite=1).ok(), t0))
        return r

    def download(self) -> dict:
        """The whole tree as one tar archive, read to the end (and thrown away)."""
        point = self.latest_point()
        fields = {"apiCALL": "downloadFiles", "service_id": self.service.wire_id,
                  "recoverypoint_id": point, "path[]": "/tree", "format": "tar"}
        with Watched(self.pids) as r:
            t0 = time.perf_counter()
            n = 0
            with self.client.http.stream("POST", self.client.url, data=fields) as resp:
                if resp.headers.get("content-type", "").startswith("text/xml"):
                    resp.read()
                    raise RuntimeError("downloadFiles answered " + resp.text[:300])
                for piece in resp.iter_raw(1 << 20):
                    n += len(piece)
            r.update({"seconds": time.perf_counter() - t0, "archive_bytes": n,
                      "state": "FINISHED"})
        return r


# --------------------------------------------------------------------------- the run

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--only", default=",".join(ALL_TOOLS))
    ap.add_argument("--work", default="/tmp/backuprun-e2e",
                    help="agent root (tree, restore target), repositories, server data")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", default="default", choices=sorted(gen_tree.PROFILES))
    ap.add_argument("--no-tmpfs", action="store_true",
                    help="restore into a plain folder instead of a tmpfs mounted for the run")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    a = ap.parse_args(argv)

    names = [n.strip() for n in a.only.split(",") if n.strip()]
    if bad := [n for n in names if n not in ALL_TOOLS]:
        ap.error(f"unknown tool(s) {bad}; choose from {ALL_TOOLS}")
    work = os.path.abspath(a.work)
    root = os.path.join(work, "root")
    tree = os.path.join(root, "tree")
    target = os.path.join(root, "restore")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(target)
    os.makedirs(a.out, exist_ok=True)
    mounted = False
    if not a.no_tmpfs:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "bench-restore",
                               target], capture_output=True, text=True)
        mounted = done.returncode == 0
        if not mounted:
            say(f"-- cannot mount a tmpfs at {target} ({done.stderr.strip()}): restoring to "
                "disk; --no-tmpfs says so explicitly")
    can_drop = drop_caches()
    if not can_drop:
        say("-- cannot drop the page cache (needs root): 'cold' figures are warm")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)

    peers, skipped, results_versions = [], {}, {}
    for n in names:
        if n == "backuprun":
            continue
        t = Restic(work) if n == "restic" else Borg(work, "lz4" if n == "borg-lz4" else "zstd,3")
        why = t.available()
        if why:
            say(f"-- skipping {n}: {why}")
            skipped[n] = why
        else:
            t.clean()
            peers.append(t)
            results_versions[n] = t.version()
    if skipped:
        say(f"-- to install the peers: {INSTALL_HINT}")

    results: dict = {n: {"steps": {}, "version": results_versions.get(n, "")}
                     for n in names if n not in skipped}
    ours = None
    try:
        say(f"generating a {a.size_mb} MB tree (seed {a.seed}, profile {a.profile}) in {tree}")
        gen_tree.generate(tree, a.size_mb, a.seed, a.profile)
        time.sleep(1.5)  # no file's ctime in the same second as a backup's start
        before = tree_stats(tree)
        say(f"tree: {before['files']} files, {before['bytes'] / MB:.1f} MB")

        if "backuprun" in names:
            say("starting serve and an agent")
            ours = Ours(work, root)
            results["backuprun"]["version"] = ours.version()

        def peer_step(t, step, argv_cwd, warm_paths):
            argv, cwd = argv_cwd
            if warm_paths is not None:
                warm(warm_paths)
            else:
                drop_caches()
            say(f"{t.name}: {step}")
            r = run_step(argv, cwd, t.env(), os.path.join(logdir, t.name + ".log"))
            os.sync()
            ok = r["rc"] == 0 or r["rc"] in t.warning_rcs
            r["state"] = "FINISHED" if ok else f"exit {r['rc']}"
            results[t.name]["steps"][step] = r
            return ok

        def our_step(step, fn, warm_paths):
            if warm_paths is not None:
                warm(warm_paths)
            else:
                drop_caches()
            say(f"backuprun: {step}")
            r = fn()
            os.sync()
            results["backuprun"]["steps"][step] = r
            if r["state"] != "FINISHED" or r.get("errors"):
                say(f"!! backuprun {step}: {r}")
                return False
            return True

        for t in peers:
            run_step(*t.init(), t.env(), os.path.join(logdir, t.name + ".log"))
        for step in ("full", "unchanged"):
            if ours:
                our_step(step, ours.backup, [tree])
            for t in peers:
                peer_step(t, step, t.backup(tree, step), [tree] + t.warm_paths())
        say("changing ~5% of the files")
        mutation = gen_tree.mutate(tree).get("changes")
        time.sleep(1.5)
        after = tree_stats(tree)
        if ours:
            our_step("changed", ours.backup, [tree])
        for t in peers:
            peer_step(t, "changed", t.backup(tree, "changed"), [tree] + t.warm_paths())

        def empty_target():
            for entry in os.listdir(target):
                p = os.path.join(target, entry)
                shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
            if mounted:
                touch_memory(target, int(after["bytes"] * 1.2))

        for cache in ("cold", "warm"):
            if ours:
                empty_target()
                if our_step(f"restore_{cache}", lambda: ours.restore("/restore"),
                            [ours.safe_dir] if cache == "warm" else None):
                    say("backuprun: comparing the restore with the source")
                    results["backuprun"][f"verify_{cache}"] = compare_trees(
                        tree, os.path.join(target, "tree"))
                empty_target()
                our_step(f"download_{cache}", ours.download,
                         [ours.safe_dir] if cache == "warm" else None)
            for t in peers:
                empty_target()
                if peer_step(t, f"restore_{cache}", t.restore(target),
                             t.warm_paths() if cache == "warm" else None):
                    results[t.name][f"verify_{cache}"] = compare_trees(
                        tree, t.restored_root(target, tree))
            empty_target()
    finally:
        if ours:
            ours.stop()
        if mounted:
            subprocess.run(["umount", target], check=False)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    report = {"when": stamp, "host": platform.node(), "cpus": os.cpu_count(),
              "python": platform.python_version(), "size_mb_arg": a.size_mb, "seed": a.seed,
              "profile": a.profile, "dropped_caches": can_drop, "restore_tmpfs": mounted,
              "command": " ".join(["python", "bench/e2e.py"] + (argv or sys.argv[1:])),
              "tree_before": before, "tree_after": after, "mutation": mutation,
              "skipped": skipped, "tools": results}
    report["table"] = table(report)
    path = os.path.join(a.out, f"e2e-{stamp}.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(format_table(report))
    print(f"\nJSON: {path}")
    ours_res = results.get("backuprun")
    if ours_res is None:
        return 0
    bad = [s for s, r in ours_res["steps"].items() if r["state"] != "FINISHED"]
    bad += [k for k, v in ours_res.items() if k.startswith("verify") and not v["ok"]]
    return 1 if bad else 0


# --------------------------------------------------------------------------- the table

def table(rep: dict) -> list[dict]:
    tb, ta = rep["tree_before"]["bytes"], rep["tree_after"]["bytes"]
    gb_before = tb / 1e9
    tools = rep["tools"]

    def step(name, s):
        return tools.get(name, {}).get("steps", {}).get(s)

    def seconds(s):
        return lambda n: (step(n, s) or {}).get("seconds")

    def mbs(s, size):
        return lambda n: size / MB / step(n, s)["seconds"] if step(n, s) else None

    def of(s, key):
        return lambda n: (step(n, s) or {}).get(key)

    rows = [  # key, label, unit, better, value(tool), target (kind, value) or None
        ("full_mbs", "full backup throughput", "MB/s", "high", mbs("full", tb), (">=", 1.5)),
        ("full_s", "full backup", "s", "low", seconds("full"), None),
        ("unchanged_s", "unchanged re-run", "s", "low", seconds("unchanged"), ("<=", 0.4)),
        ("changed_s", "re-run after ~5% changed", "s", "low", seconds("changed"), ("<=", 0.5)),
    ]
    for cache in ("cold", "warm"):
        rows += [(f"restore_{cache}_mbs", f"restore throughput, {cache}", "MB/s", "high",
                  mbs(f"restore_{cache}", ta), (">=", 2.0) if cache == "cold" else None),
                 (f"restore_{cache}_s", f"restore, {cache}", "s", "low",
                  seconds(f"restore_{cache}"), None)]
    for cache in ("cold", "warm"):
        rows.append((f"download_{cache}_mbs", f"download tar throughput, {cache}", "MB/s", "high",
                     lambda n, c=cache: (ta / MB / step(n, f"download_{c}")["seconds"]
                                         if step(n, f"download_{c}") else None),
                     ("peer_restore>=", 1.0) if cache == "cold" else None))
    for s in ("full", "unchanged", "changed", "restore_cold", "restore_warm"):
        rows.append((f"{s}_cpu", f"{s} CPU, all (user+sys)", "s", "low",
                     lambda n, s=s: ((step(n, s) or {}).get("cpu") if n != "backuprun" else
                                     (step(n, s)["agent_cpu"] + step(n, s)["server_cpu"]
                                      if step(n, s) else None)), None))
    rows += [("server_cpu_new", "server CPU per GB new data", "s/GB", "low",
              lambda n: (step(n, "full")["server_cpu"] / gb_before
                         if n == "backuprun" and step(n, "full") else None), ("abs<=", 1.5)),
             ("server_cpu_unchanged", "server CPU per GB unchanged", "s/GB", "low",
              lambda n: (step(n, "unchanged")["server_cpu"] / gb_before
                         if n == "backuprun" and step(n, "unchanged") else None),
              ("abs<=", 0.2))]
    for s in ("full", "unchanged", "changed", "restore_cold", "download_cold"):
        rows.append((f"{s}_agent_cpu", f"{s}: agent CPU", "s", "low", of(s, "agent_cpu"), None))
        rows.append((f"{s}_server_cpu", f"{s}: server CPU", "s", "low", of(s, "server_cpu"),
                     None))
    for s in ("full", "changed", "restore_cold"):
        rows.append((f"{s}_agent_mb", f"{s}: agent peak RSS", "MB", "low", of(s, "agent_peak_mb"),
                     None))
        rows.append((f"{s}_server_mb", f"{s}: server peak RSS", "MB", "low",
                     of(s, "server_peak_mb"), None))
        rows.append((f"{s}_peer_mb", f"{s}: peak RSS (peers)", "MB", "low",
                     of(s, "max_rss_mb"), None))

    out = []
    for key, label, unit, better, value, target in rows:
        row = {"key": key, "label": label, "unit": unit,
               "values": {n: _safe(value, n) for n in ALL_TOOLS if n in tools}}
        peers = {n: v for n, v in row["values"].items() if n in PEERS and v is not None}
        br = row["values"].get("backuprun")
        if peers:
            best = (max if better == "high" else min)(peers, key=peers.get)
            row["best_peer"], row["best_value"] = best, peers[best]
            if br is not None and peers[best]:
                row["ratio"] = br / peers[best]
        if target and br is not None:
            kind, tval = target
            if kind == "abs<=":
                row["target"], row["pass"] = f"<= {tval}", br <= tval
            elif kind == "peer_restore>=":
                cold = [r for r in out if r["key"] == "restore_cold_mbs"][0]
                if cold.get("best_value"):
                    row["ratio"] = br / cold["best_value"]
                    row["best_peer"] = cold["best_peer"] + " rst"
                    row["target"], row["pass"] = f">= {tval}x rst", row["ratio"] >= tval
            elif "ratio" in row:
                row["target"] = f"{kind} {tval}x best"
                row["pass"] = row["ratio"] >= tval if kind == ">=" else row["ratio"] <= tval
        out.append(row)
    for cache in ("cold", "warm"):
        out.append({"key": f"verify_{cache}", "label": f"restore == source, {cache}", "unit": "",
                    "values": {n: tools[n].get(f"verify_{cache}", {}).get("ok")
                               for n in ALL_TOOLS if n in tools}})
    return out


def _safe(fn, name):
    try:
        return fn(name)
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def format_table(rep: dict) -> str:
    names = [n for n in ALL_TOOLS if n in rep["tools"]]
    tb, ta = rep["tree_before"], rep["tree_after"]
    lines = [f"tree: {tb['files']} files, {tb['bytes'] / MB:.1f} MB (profile {rep['profile']}; "
             f"after changes: {ta['files']} files, {ta['bytes'] / MB:.1f} MB); "
             f"page cache dropped for 'cold': {'yes' if rep['dropped_caches'] else 'NO'}; "
             f"restore into tmpfs: {'yes' if rep['restore_tmpfs'] else 'no'}"]
    for n in names:
        lines.append(f"{n}: {rep['tools'][n].get('version', '')}")
    for n, why in rep["skipped"].items():
        lines.append(f"{n}: skipped ({why})")
    w0 = 34
    hdr = (f"{'':{w0}} {'unit':>5} " + " ".join(f"{n:>11}" for n in names)
           + f" {'best peer':>14} {'BR/best':>8}  {'target':<16}")
    lines += ["", hdr, "-" * len(hdr)]
    for row in rep["table"]:
        def f(v):
            if v is None:
                return f"{'-':>11}"
            if isinstance(v, bool):
                return f"{'yes' if v else 'NO':>11}"
            return f"{v:>11.2f}" if abs(v) < 100 else f"{v:>11.0f}"
        line = f"{row['label']:<{w0}} {row['unit']:>5} " + " ".join(
            f(row["values"].get(n)) for n in names)
        line += f" {row.get('best_peer', ''):>14}"
        line += f" {row['ratio']:>7.2f}x" if "ratio" in row else f" {'':>8}"
        if "target" in row:
            line += f"  {row['target']:<16} " + ("pass" if row.get("pass") else "MISS")
        lines.append(line)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
