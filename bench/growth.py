#!/usr/bin/env python3
"""Growth benchmark: how the cost of a backup through the agent grows with the number of files.

    python bench/growth.py [--files 10000,100000,1000000] [--per-folder 25] [--work DIR]

For each count, a fresh ``backuprun serve`` and agent (as bench/e2e.py starts them) back up a
tree of that many small files (0 to 1 KiB of text each, ``--per-folder`` files a folder), then
back it up again unchanged. For both: wall time, CPU seconds and peak memory (VmHWM over the
step) of the agent and of the backup server apart, and per-file costs, so the curve shows how
cost grows. Prints a table; JSON under bench/out/. A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2e import Ours, say  # noqa: E402

WORDS = [b"backup", b"server", b"agent", b"disk", b"safe", b"restore", b"chunk", b"tree",
         b"file", b"folder", b"config", b"value", b"true", b"false", b"null", b"=", b"#"]


def make_tree(root: str, files: int, per_folder: int, seed: int = 7) -> int:
    """``files`` small text files, ``per_folder`` to a folder, folders 30 to a parent."""
    rnd = random.Random(seed)
    total = 0
    for i in range(files):
        folder_no = i // per_folder
        folder = os.path.join(root, f"d{folder_no // 900:03d}", f"d{folder_no // 30 % 30:02d}",
                              f"d{folder_no % 30:02d}")
        if i % per_folder == 0:
            os.makedirs(folder, exist_ok=True)
        n = rnd.randrange(0, 1024)
        data = b" ".join(rnd.choice(WORDS) for _ in range(n // 6))[:n]
        with open(os.path.join(folder, f"f{i:07d}.txt"), "wb") as f:
            f.write(data)
        total += len(data)
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", default="10000,100000,1000000")
    ap.add_argument("--per-folder", type=int, default=25)
    ap.add_argument("--work", default="/tmp/backuprun-growth")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    a = ap.parse_args(argv)
    counts = [int(x) for x in a.files.split(",") if x.strip()]
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for count in counts:
        work = os.path.join(a.work, str(count))
        root = os.path.join(work, "root")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(root)
        try:
            say(f"{count} files: making the tree")
            size = make_tree(os.path.join(root, "tree"), count, a.per_folder)
            time.sleep(1.5)
            ours = Ours(work, root)
            try:
                row = {"files": count, "bytes": size}
                for step in ("full", "unchanged"):
                    say(f"{count} files: {step} backup")
                    r = ours.backup()
                    if r["state"] != "FINISHED":
                        raise SystemExit(f"the {step} backup of {count} files ended {r}")
                    row[step] = r
            finally:
                ours.stop()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rows.append(row)
    shutil.rmtree(a.work, ignore_errors=True)

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(a.out, f"growth-{stamp}.json")
    with open(path, "w") as f:
        json.dump({"when": stamp, "cpus": os.cpu_count(), "per_folder": a.per_folder,
                   "command": " ".join(["python", "bench/growth.py"] + (argv or sys.argv[1:])),
                   "rows": rows}, f, indent=1)
    print(f"{'files':>9} {'MB':>7} {'step':>10} {'wall s':>8} {'agent CPU':>10} "
          f"{'server CPU':>11} {'agent MB':>9} {'server MB':>10} {'us/file wall':>13}")
    for row in rows:
        for step in ("full", "unchanged"):
            r = row[step]
            print(f"{row['files']:>9} {row['bytes'] / 1e6:>7.1f} {step:>10} {r['seconds']:>8.2f} "
                  f"{r['agent_cpu']:>10.2f} {r['server_cpu']:>11.2f} {r['agent_peak_mb']:>9.0f} "
                  f"{r['server_peak_mb']:>10.0f} {r['seconds'] / row['files'] * 1e6:>13.1f}")
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
