"""``backuprun disksafe``: operate a disk safe directly (path or ``s3://bucket/prefix``).

Exit codes: 0 done; 1 error (wrong password, missing or locked safe, damaged data) with the
safe left as it was; 3 done, but some files could not be read (backup) or were damaged
(restore).
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
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
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
def _progress(quiet: bool, label: str, poll: Callable[[], tuple[int, str]]) -> Iterator[None]:
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
                bar.update(task, description=f"{label}: {poll()[1]}")

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()


@app.command()
def init(location: str = typer.Argument(..., help="Folder or s3://bucket/prefix."),
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
def backup(location: str = typer.Argument(..., help="Folder or s3://bucket/prefix."),
           source: Path = typer.Argument(..., help="Directory to back up."),
           parent: Optional[str] = typer.Option(None, "--parent", help="Parent recovery point id (default: latest of the same source)."),
           password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet) -> None:
    """Back up SOURCE as a new recovery point (incremental against its parent)."""
    from backuprun.disksafe.archiver import backup as run_backup, latest_point_for

    started = time.monotonic()
    src = os.fsencode(os.path.abspath(source))
    holder: list = []

    def poll() -> tuple[int, str]:
        if not holder:
            return 0, "starting"
        s = holder[0].stats
        return s.bytes_read, f"{s.files} files, {_mb(s.bytes_read)} read"

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
def list_points(location: str = typer.Argument(..., help="Folder or s3://bucket/prefix."),
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
def ls(location: str = typer.Argument(..., help="Folder or s3://bucket/prefix."),
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
def restore(location: str = typer.Argument(..., help="Folder or s3://bucket/prefix."),
            point: str = typer.Argument(..., help="Recovery point id, id prefix, or 'latest'."),
            target: Path = typer.Argument(..., help="Folder to restore into."),
            paths: Optional[list[str]] = typer.Option(None, "--path", help="Restore only this path (repeatable)."),
            password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet) -> None:
    """Restore a recovery point (or chosen paths of it) into TARGET."""
    from backuprun.disksafe.restorer import Restorer

    started = time.monotonic()
    holder: list = []

    def poll() -> tuple[int, str]:
        if not holder:
            return 0, "starting"
        s = holder[0].stats
        return s.bytes_written, f"{s.files} files, {_mb(s.bytes_written)} written"

    with _errors():
        repo = _open(location, password_file, "RESTORE")
        with repo.lock(False, "restore"):
            rp = repo.find_point(point)
            r = Restorer(repo, rp, os.fsencode(os.path.abspath(target)),
                         [os.fsencode(p) for p in paths] if paths else None)
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
def passwd(location: str = typer.Argument(..., help="Folder or s3://bucket/prefix."),
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
