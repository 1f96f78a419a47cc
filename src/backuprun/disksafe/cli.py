"""``backuprun disksafe``: operate a disk safe directly (path or ``s3://bucket/prefix``).

Exit codes: 0 done; 1 error (wrong password, missing or locked safe, damaged data, a prune
that stopped) with the safe left as it was; 2 bad arguments; 3 done, but some files could
not be read (backup), were damaged (restore), damage was found (verify), or some packs
could not be read (rebuild-index).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from backuprun.disksafe.errors import DiskSafeError, SafeNotFound
from backuprun.storage import StorageError, open_storage

app = typer.Typer(help="Operate a disk safe directly (a folder or s3://bucket/prefix).",
                  no_args_is_help=True, add_completion=False)

PASSWORD_ENV = "BACKUPRUN_DISKSAFE_PASSWORD"
NEW_PASSWORD_ENV = "BACKUPRUN_DISKSAFE_NEW_PASSWORD"

Location = typer.Argument(..., help="Folder or s3://bucket/prefix.")
PasswordFile = typer.Option(None, "--password-file", help="Read the password from this file.")
Quiet = typer.Option(False, "--quiet", "-q", help="No progress, only the summary line.")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _read_password(file: Optional[Path], env: str, prompt: str, confirm: bool) -> bytes:
    if file is not None:
        return file.read_bytes().rstrip(b"\r\n")
    value = os.environ.get(env)
    if value is not None:
        return os.fsencode(value)
    if not sys.stdin.isatty():
        _fail(f"a password is needed: set {env} or use a password file")
    return os.fsencode(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except DiskSafeError as exc:
        _fail(str(exc))
    except StorageError as exc:
        _fail(f"storage: {exc}")
    except OSError as exc:  # a missing source or target, a full disk
        _fail(str(exc))


def _open(location: str, password_file: Optional[Path], tuning: str = "BACKUP",
          load_index: bool = True):
    from backuprun.disksafe import memory
    from backuprun.disksafe.repository import Repository

    memory.tune_malloc(**getattr(memory, tuning))
    storage = open_storage(location)
    try:
        needs = Repository.needs_password(storage)
    except SafeNotFound:
        raise SafeNotFound(f"no disk safe at {location}") from None
    password = _read_password(password_file, PASSWORD_ENV, "Disk safe password", False) if needs else None
    return Repository.open(storage, password, load_index=load_index)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@contextmanager
def _progress(quiet: bool, label: str, poll: Callable[[], str]) -> Iterator[None]:
    """Rich progress on stderr while the block runs (only when stderr is a terminal)."""
    if quiet or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    stop = threading.Event()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label)

        def loop() -> None:
            while not stop.wait(0.2):
                bar.update(task, description=f"{label}: {poll()}")

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()


@app.command()
def init(location: str = Location,
         no_encrypt: bool = typer.Option(False, "--no-encrypt", help="Authenticate only, no encryption."),
         password_file: Optional[Path] = PasswordFile) -> None:
    """Create a new, empty disk safe (encrypted unless --no-encrypt)."""
    from backuprun.disksafe.repository import Repository

    with _errors():
        password = None if no_encrypt else _read_password(password_file, PASSWORD_ENV,
                                                          "New disk safe password", True)
        repo = Repository.init(open_storage(location), password, encrypted=not no_encrypt)
    kind = "unencrypted" if no_encrypt else "encrypted"
    typer.echo(f"created {kind} disk safe {repo.config['safe_id']} at {location}")


@app.command()
def backup(location: str = Location,
           source: Path = typer.Argument(..., help="Directory to back up."),
           parent: Optional[str] = typer.Option(None, "--parent", help="Parent recovery point id (default: latest of the same source)."),
           password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet) -> None:
    """Back up SOURCE as a new recovery point (incremental against its parent)."""
    from backuprun.disksafe.archiver import backup as run_backup, latest_point_for

    started = time.monotonic()
    src = os.fsencode(os.path.abspath(source))
    holder: list = []

    def poll() -> str:
        if not holder:
            return "starting"
        s = holder[0].stats
        return f"{s.files} files, {_mb(s.bytes_read)} read"

    with _errors():
        repo = _open(location, password_file, load_index=False)  # read under the lock
        base = repo.find_point(parent) if parent else latest_point_for(repo, src)
        with _progress(quiet, "backup", poll):
            point, stats = run_backup(repo, src, base, on_archiver=holder.append)
    for message in stats.errors:
        typer.echo(f"warning: {message}", err=True)
    s = point.stats
    typer.echo(f"recovery point {point.id} of {os.fsdecode(src)}: {s['files']} files, "
               f"{s['dirs']} dirs, {_mb(s['bytes_read'])} read, {_mb(s['bytes_added'])} added, "
               f"{time.monotonic() - started:.2f} s")
    if stats.errors:
        raise typer.Exit(3)


@app.command("list")
def list_points(location: str = Location,
                password_file: Optional[Path] = PasswordFile) -> None:
    """List the recovery points, oldest first."""
    with _errors():
        repo = _open(location, password_file, load_index=False)
        with repo.lock(False, "list"):
            points = repo.points()
    for p in points:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(p.time))
        s = p.stats
        typer.echo(f"{p.id}  {when}  {p.host}  {os.fsdecode(p.source)}  "
                   f"{s.get('files', 0)} files  {_mb(s.get('bytes_total', 0))}")


@app.command()
def ls(location: str = Location,
       point: str = typer.Argument(..., help="Recovery point id, id prefix, or 'latest'."),
       path: Optional[str] = typer.Argument(None, help="Only this path (relative to the source)."),
       password_file: Optional[Path] = PasswordFile) -> None:
    """List the files of a recovery point (or under PATH in it)."""
    from backuprun.disksafe.listing import list_entries

    with _errors():
        repo = _open(location, password_file)
        with repo.lock(False, "ls"):
            rp = repo.find_point(point)
            out = sys.stdout.buffer
            for line in list_entries(repo, rp, os.fsencode(path) if path else None):
                out.write(line + b"\n")
            out.flush()


@app.command()
def restore(location: str = Location,
            point: str = typer.Argument(..., help="Recovery point id, id prefix, or 'latest'."),
            target: Path = typer.Argument(..., help="Folder to restore into."),
            paths: Optional[list[str]] = typer.Option(None, "--path", help="Restore only this path (repeatable)."),
            password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet) -> None:
    """Restore a recovery point (or chosen paths of it) into TARGET."""
    from backuprun.disksafe.restorer import Restorer

    started = time.monotonic()
    holder: list = []

    def poll() -> str:
        if not holder:
            return "starting"
        s = holder[0].stats
        return f"{s.files} files, {_mb(s.bytes_written)} written"

    with _errors():
        repo = _open(location, password_file, "RESTORE")
        with repo.lock(False, "restore"):
            rp = repo.find_point(point)
            r = Restorer(repo, rp, os.fsencode(os.path.abspath(target)),
                         [os.fsencode(p) for p in paths] if paths else None, own_process=True)
            holder.append(r)
            with _progress(quiet, "restore", poll):
                stats = r.run()
    for message in stats.warnings:
        typer.echo(f"warning: {message}", err=True)
    for message in stats.damaged:
        typer.echo(f"damaged: {message}", err=True)
    typer.echo(f"restored {rp.id} to {target}: {stats.files} files, {stats.dirs} dirs, "
               f"{_mb(stats.bytes_written)} written, {time.monotonic() - started:.2f} s")
    if stats.damaged:
        raise typer.Exit(3)


@app.command()
def passwd(location: str = Location,
           password_file: Optional[Path] = PasswordFile,
           new_password_file: Optional[Path] = typer.Option(None, "--new-password-file", help="Read the new password from this file.")) -> None:
    """Change the password: rewraps the key, touches no data."""
    with _errors():
        repo = _open(location, password_file, load_index=False)
        if not repo.keys.encrypted:
            _fail("this disk safe is not encrypted; it has no password")
        new = _read_password(new_password_file, NEW_PASSWORD_ENV, "New password", True)
        with repo.lock(True, "passwd"):
            repo.change_password(new)
    typer.echo("password changed")


class _Status:
    """The latest progress message of a long step, for :func:`_progress`."""

    def __init__(self) -> None:
        self.message = "starting"

    def __call__(self, message: str) -> None:
        self.message = message

    def poll(self) -> str:
        return self.message


def _fraction(text: str, zero_ok: bool = False) -> float:
    """``"10%"`` or ``"10"`` (percent) -> 0.1."""
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        value = -1.0
    if not (0 <= value if zero_ok else 0 < value) or value > 100:
        raise typer.BadParameter(f"{text!r} is not a percentage between 0 and 100")
    return value / 100


@app.command()
def verify(location: str = Location,
           read_data: bool = typer.Option(False, "--read-data", help="Also read and check every stored blob."),
           read_data_subset: Optional[str] = typer.Option(None, "--read-data-subset", metavar="PCT", help="Read and check a random PCT% of the packs (e.g. 10%)."),
           password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet) -> None:
    """Check the safe's structure (and with --read-data its data); name damaged files."""
    from backuprun.disksafe.check import verify as run_verify

    fraction = 1.0 if read_data else _fraction(read_data_subset) if read_data_subset else 0.0
    started = time.monotonic()
    status = _Status()
    with _errors():
        repo = _open(location, password_file, load_index=False)
        with _progress(quiet, "verify", status.poll):
            report = run_verify(repo, fraction, progress=status)
    for message in report.errors:
        typer.echo(f"error: {message}", err=True)
    for damage in report.damaged:
        typer.echo(f"damaged: {damage}", err=True)
    if report.unindexed_packs:
        typer.echo(f"note: {len(report.unindexed_packs)} packs are in no index (left by an "
                   "interrupted backup or a lost index object): prune removes what no "
                   "recovery point needs, rebuild-index indexes them", err=True)
    read = (f", {report.packs_read} packs ({_mb(report.bytes_read)}) read" if fraction else
            ", data not read (--read-data)")
    verdict = "no damage found" if report.clean else (
        f"{len(report.damaged)} damaged files or directories, {len(report.errors)} errors")
    typer.echo(f"verified {report.points} recovery points, {report.packs} packs, "
               f"{report.blobs} blobs, {report.trees} directories{read}: {verdict}, "
               f"{time.monotonic() - started:.2f} s")
    if not report.clean:
        raise typer.Exit(3)


@app.command()
def forget(location: str = Location,
           points: Optional[list[str]] = typer.Argument(None, help="Recovery point ids (or unique prefixes) to forget."),
           keep_last: int = typer.Option(0, "--keep-last", help="Keep the N newest points."),
           keep_hourly: int = typer.Option(0, "--keep-hourly", help="Keep the newest point of each of the last N hours with points."),
           keep_daily: int = typer.Option(0, "--keep-daily", help="... of each of the last N days."),
           keep_weekly: int = typer.Option(0, "--keep-weekly", help="... of each of the last N weeks."),
           keep_monthly: int = typer.Option(0, "--keep-monthly", help="... of each of the last N months."),
           keep_yearly: int = typer.Option(0, "--keep-yearly", help="... of each of the last N years."),
           keep_within: Optional[str] = typer.Option(None, "--keep-within", help="Keep every point younger than this before the newest (e.g. 30d, 2w, 36h)."),
           dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Only say what would be forgotten."),
           prune_after: bool = typer.Option(False, "--prune", help="Prune afterwards (reclaim the space)."),
           password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet) -> None:
    """Forget recovery points by id or by a --keep-* policy (per host and source)."""
    from backuprun.disksafe.forget import Policy, forget as run_forget, parse_duration

    try:
        policy = Policy(keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly,
                        keep_yearly, parse_duration(keep_within) if keep_within else 0.0)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if not points and policy.empty:
        raise typer.BadParameter("name the recovery points to forget, or give a --keep-* policy")
    with _errors():
        repo = _open(location, password_file, load_index=False)
        decisions = run_forget(repo, points or [], policy, dry_run=dry_run)
    gone = [d for d in decisions if not d.keep]
    if not quiet:
        for d in decisions:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.point.time))
            why = ", ".join(d.reasons)
            typer.echo(f"{'keep  ' if d.keep else 'forget'} {d.point.id}  {when}  "
                       f"{os.fsdecode(d.point.source)}{f'  ({why})' if why else ''}")
    verb = "would forget" if dry_run else "forgot"
    typer.echo(f"{verb} {len(gone)} of {len(decisions)} recovery points")
    if prune_after and not dry_run:
        _run_prune(location, password_file, None, False, quiet)


@app.command()
def prune(location: str = Location,
          max_unused: Optional[str] = typer.Option(None, "--max-unused", metavar="PCT", help="Repack a pack when more than PCT of it is garbage (default 20%)."),
          dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Only say what would be removed."),
          password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet) -> None:
    """Remove the data no recovery point needs (garbage collection)."""
    _run_prune(location, password_file,
               None if max_unused is None else _fraction(max_unused, zero_ok=True), dry_run, quiet)


def _run_prune(location: str, password_file: Optional[Path], max_unused: Optional[float],
               dry_run: bool, quiet: bool) -> None:
    from backuprun.disksafe.prune import MAX_UNUSED, prune as run_prune

    started = time.monotonic()
    status = _Status()
    with _errors():
        repo = _open(location, password_file, load_index=False)
        with _progress(quiet, "prune", status.poll):
            s = run_prune(repo, MAX_UNUSED if max_unused is None else max_unused,
                          dry_run=dry_run, progress=status)
    for note in s.notes:
        typer.echo(f"note: {note}", err=True)
    verb = "would free" if dry_run else "freed"
    typer.echo(f"{s.points} recovery points need {s.blobs_needed} blobs; {s.packs} packs "
               f"({_mb(s.bytes)}), {s.stray_packs} in no index: {s.packs_removed} removed, "
               f"{s.packs_repacked} repacked into {s.packs_written}; {verb} "
               f"{_mb(s.bytes_freed)}, {time.monotonic() - started:.2f} s")


@app.command("rebuild-index")
def rebuild_index(location: str = Location,
                  password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet) -> None:
    """Rebuild the index from the packs (after a lost or damaged index object)."""
    from backuprun.disksafe.reindex import rebuild_index as run_rebuild

    started = time.monotonic()
    status = _Status()
    with _errors():
        repo = _open(location, password_file, load_index=False)
        with _progress(quiet, "rebuild-index", status.poll):
            s = run_rebuild(repo, progress=status)
    for message in s.walked:
        typer.echo(f"note: {message}", err=True)
    for message in s.unreadable:
        typer.echo(f"error: {message}", err=True)
    typer.echo(f"indexed {s.blobs} blobs in {s.packs} packs: {s.index_objects_written} index "
               f"objects replace {s.index_objects_removed}, {time.monotonic() - started:.2f} s")
    if s.unreadable:
        raise typer.Exit(3)
