"""``backuprun disksafe``: operate a disk safe directly (path or ``s3://bucket/prefix``).

Exit codes and error lines: :mod:`backuprun.disksafe.exitcodes` (every command is wrapped
in ``exits``); progress on a terminal: :mod:`backuprun.disksafe.progressbar`; the
``--json`` shapes: :mod:`backuprun.disksafe.jsonout`; help layout:
:mod:`backuprun.clihelp`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from backuprun.disksafe import progressbar
from backuprun.clihelp import PlainHelp
from backuprun.disksafe.errors import SafeNotFound
from backuprun.disksafe.exitcodes import LOCAL_PATH, PASSWORD, USAGE, WARNINGS, UserError, exits
from backuprun.storage import open_storage

app = typer.Typer(help="Operate a disk safe directly (a folder or s3://bucket/prefix).",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_show_locals=False)

PASSWORD_ENV = "BACKUPRUN_DISKSAFE_PASSWORD"
NEW_PASSWORD_ENV = "BACKUPRUN_DISKSAFE_NEW_PASSWORD"
S3_ENV = ("AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3), AWS_ACCESS_KEY_ID, "
          "AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION")

Location = typer.Argument(..., metavar="LOCATION", show_default=False,
                          help=f"A folder, or s3://BUCKET/PREFIX (S3 endpoint and credentials "
                               f"from {S3_ENV}).")
PointArg = typer.Argument(..., metavar="POINT", help="Recovery point id, id prefix, or 'latest'.")
PasswordFile = typer.Option(None, "--password-file", metavar="PATH",
                            help=f"Read the password from the first line of PATH; without it "
                                 f"from ${PASSWORD_ENV}, else a prompt on a terminal.")
Quiet = typer.Option(False, "--quiet", "-q", help="No progress display, only the summary line.")
Json = typer.Option(False, "--json", help="Print the result as JSON on stdout (shape: "
                                          "docs/disksafe.md); no progress display.")


def _read_password(file: Optional[Path], env: str, prompt: str, confirm: bool) -> bytes:
    if file is not None:
        try:
            return file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise UserError(f"cannot read the password file {file}: "
                            f"{(exc.strerror or str(exc)).lower()}", LOCAL_PATH) from None
    value = os.environ.get(env)
    if value is not None:
        return os.fsencode(value)
    if not sys.stdin.isatty():
        raise UserError(f"a password is needed: set {env} or use --password-file", PASSWORD)
    return os.fsencode(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def _storage(location: str):
    """The storage at ``location``, after the checks that need no network."""
    if location.startswith("s3://"):
        from urllib.parse import urlsplit

        parts = urlsplit(location)
        if not parts.netloc or parts.query or parts.fragment:
            raise UserError(f"{location!r} is not an s3://BUCKET/PREFIX location", USAGE)
    elif not location.startswith("memory://") and os.path.exists(location) \
            and not os.path.isdir(location):
        raise UserError(f"{location} is a file, not a folder: LOCATION is a folder (made if "
                        "missing) or s3://BUCKET/PREFIX", LOCAL_PATH)
    return open_storage(location)


def _open(location: str, password_file: Optional[Path], tuning: str = "BACKUP",
          load_index: bool = True):
    from backuprun.disksafe import memory
    from backuprun.disksafe.repository import Repository

    memory.tune_malloc(**getattr(memory, tuning))
    storage = _storage(location)
    try:
        needs = Repository.needs_password(storage)
    except SafeNotFound:
        raise SafeNotFound(f"no disk safe at {location}") from None
    password = _read_password(password_file, PASSWORD_ENV, "Disk safe password", False) if needs else None
    return Repository.open(storage, password, load_index=load_index)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _echo_all(prefix: str, messages) -> None:
    for message in messages:
        typer.echo(f"{prefix}: {message}", err=True)


def command(name: Optional[str] = None):
    """Register a disksafe command: plain help layout, errors as one line and an exit code."""
    def register(fn):
        return app.command(name, cls=PlainHelp)(exits(fn))
    return register


@command()
def init(location: str = Location,
         no_encrypt: bool = typer.Option(False, "--no-encrypt", help="Authenticate only, no encryption (no password)."),
         password_file: Optional[Path] = PasswordFile) -> None:
    """Create a new, empty disk safe (encrypted unless --no-encrypt)."""
    from backuprun.disksafe.repository import Repository

    storage = _storage(location)
    password = None if no_encrypt else _read_password(password_file, PASSWORD_ENV,
                                                      "New disk safe password", True)
    repo = Repository.init(storage, password, encrypted=not no_encrypt)
    kind = "unencrypted" if no_encrypt else "encrypted"
    typer.echo(f"created {kind} disk safe {repo.config['safe_id']} at {location}")


@command()
def backup(location: str = Location,
           source: Path = typer.Argument(..., metavar="SOURCE", help="Directory to back up."),
           parent: Optional[str] = typer.Option(None, "--parent", metavar="ID", help="Parent recovery point (default: the latest of the same source and host)."),
           password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet,
           json_out: bool = Json) -> None:
    """Back up SOURCE as a new recovery point (incremental against its parent)."""
    from backuprun.disksafe import jsonout
    from backuprun.disksafe.archiver import backup as run_backup, check_source, latest_point_for

    started = time.monotonic()
    src = os.fsencode(os.path.abspath(source))
    check_source(src)  # before a password is asked for or the safe is locked
    holder: list = []
    total = [0]
    show = progressbar.wanted(quiet or json_out)

    def poll() -> tuple[str, int, int]:
        if not holder:
            return "starting", 0, 0
        s = holder[0].stats
        return f"backup: {s.files} files", s.bytes_total, total[0]

    repo = _open(location, password_file, load_index=False)  # read under the lock
    base = repo.find_point(parent) if parent else latest_point_for(repo, src)
    if show:  # the total: the parent's, else a quick pre-scan beside the backup
        total[0] = base.stats.get("bytes_total", 0) if base else 0
        if not base:
            import threading

            threading.Thread(target=progressbar.tree_size, args=(src, total), daemon=True).start()
    with progressbar.shown(show, poll, in_bytes=True):
        point, stats = run_backup(repo, src, base, on_archiver=holder.append)
    s, seconds = point.stats, time.monotonic() - started
    if json_out:
        jsonout.emit({**jsonout.point(point), "bytes_read": s["bytes_read"],
                      "seconds": round(seconds, 3), "warnings": stats.errors})
    else:
        _echo_all("warning", stats.errors)
        typer.echo(f"recovery point {point.id} of {os.fsdecode(src)}: {s['files']} files, "
                   f"{s['dirs']} dirs, {_mb(s['bytes_read'])} read, {_mb(s['bytes_added'])} "
                   f"added, {seconds:.2f} s")
    if stats.errors:
        raise typer.Exit(WARNINGS)


@command("list")
def list_points(location: str = Location,
                password_file: Optional[Path] = PasswordFile, json_out: bool = Json) -> None:
    """List the recovery points, oldest first."""
    from backuprun.disksafe import jsonout

    repo = _open(location, password_file, load_index=False)
    with repo.lock(False, "list"):
        points = repo.points()
    if json_out:
        jsonout.emit([jsonout.point(p) for p in points])
        return
    for p in points:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(p.time))
        s = p.stats
        typer.echo(f"{p.id}  {when}  {p.host}  {os.fsdecode(p.source)}  "
                   f"{s.get('files', 0)} files  {_mb(s.get('bytes_total', 0))}")


@command()
def ls(location: str = Location, point: str = PointArg,
       path: Optional[str] = typer.Argument(None, metavar="PATH", help="Only this path (relative to the source)."),
       password_file: Optional[Path] = PasswordFile, json_out: bool = Json) -> None:
    """List the files of a recovery point (or under PATH in it)."""
    from backuprun.disksafe import jsonout
    from backuprun.disksafe.listing import entries, format_entry

    repo = _open(location, password_file)
    with repo.lock(False, "ls"):
        rp = repo.find_point(point)
        found = entries(repo, rp, os.fsencode(path) if path else None)
        if json_out:  # JSON Lines: one object per entry, streamed
            for p, e in found:
                jsonout.emit(jsonout.entry(p, e))
            sys.stdout.flush()
            return
        out = sys.stdout.buffer
        for p, e in found:
            out.write(format_entry(p, e) + b"\n")
        out.flush()


@command()
def restore(location: str = Location, point: str = PointArg,
            target: Path = typer.Argument(..., metavar="TARGET", help="Folder to restore into (made if missing)."),
            paths: Optional[list[str]] = typer.Option(None, "--path", metavar="PATH", help="Restore only PATH (relative to the source; repeatable)."),
            overwrite: bool = typer.Option(False, "--overwrite", help="Replace files that are in the way in TARGET (without it, restore refuses and names them)."),
            password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet,
            json_out: bool = Json) -> None:
    """Restore a recovery point (or chosen paths of it) into TARGET."""
    from backuprun.disksafe import jsonout
    from backuprun.disksafe.overwrite import would_replace
    from backuprun.disksafe.restorer import Restorer

    started = time.monotonic()
    holder: list = []
    dst = os.fsencode(os.path.abspath(target))
    chosen = [os.fsencode(p) for p in paths] if paths else None

    def poll() -> tuple[str, int, int]:
        if not holder:
            return "starting", 0, 0
        s = holder[0].stats
        return f"restore: {s.files} files", s.bytes_written, total

    repo = _open(location, password_file, "RESTORE")
    with repo.lock(False, "restore"):
        rp = repo.find_point(point)
        total = 0 if chosen else rp.stats.get("bytes_total", 0)
        r = Restorer(repo, rp, dst, chosen, own_process=True)
        if not overwrite:
            _refuse_to_replace(would_replace(repo, rp, dst, chosen), target)
        holder.append(r)
        with progressbar.shown(progressbar.wanted(quiet or json_out), poll, in_bytes=True):
            stats = r.run()
    seconds = time.monotonic() - started
    if json_out:
        jsonout.emit({"point": rp.id, "target": str(target), "files": stats.files,
                      "dirs": stats.dirs, "bytes_written": stats.bytes_written,
                      "seconds": round(seconds, 3), "warnings": stats.warnings,
                      "damaged": stats.damaged})
    else:
        _echo_all("warning", stats.warnings)
        _echo_all("damaged", stats.damaged)
        typer.echo(f"restored {rp.id} to {target}: {stats.files} files, {stats.dirs} dirs, "
                   f"{_mb(stats.bytes_written)} written, {seconds:.2f} s")
    if stats.damaged:
        raise typer.Exit(WARNINGS)


def _refuse_to_replace(replaced, target: Path) -> None:
    if replaced.count:
        more = f" and {replaced.count - len(replaced.first)} more" \
            if replaced.count > len(replaced.first) else ""
        raise UserError(f"{replaced.count} files in {target} would be overwritten "
                        f"({', '.join(replaced.first)}{more}): restore into an empty or new "
                        "folder, or give --overwrite to replace them", LOCAL_PATH)


@command()
def passwd(location: str = Location,
           password_file: Optional[Path] = PasswordFile,
           new_password_file: Optional[Path] = typer.Option(None, "--new-password-file", metavar="PATH", help=f"Read the new password from the first line of PATH; without it from ${NEW_PASSWORD_ENV}, else a prompt on a terminal.")) -> None:
    """Change the password: rewraps the key, touches no data."""
    repo = _open(location, password_file, load_index=False)
    if not repo.keys.encrypted:
        raise UserError("this disk safe is not encrypted; it has no password")
    new = _read_password(new_password_file, NEW_PASSWORD_ENV, "New password", True)
    with repo.lock(True, "passwd"):
        repo.change_password(new)
    typer.echo("password changed")


def _fraction(text: str, zero_ok: bool = False) -> float:
    """``"10%"`` or ``"10"`` (percent) -> 0.1."""
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        value = -1.0
    if not (0 <= value if zero_ok else 0 < value) or value > 100:
        raise typer.BadParameter(f"{text!r} is not a percentage between 0 and 100")
    return value / 100


@command()
def verify(location: str = Location,
           read_data: bool = typer.Option(False, "--read-data", help="Also read and check every stored blob."),
           read_data_subset: Optional[str] = typer.Option(None, "--read-data-subset", metavar="PCT", help="Read and check a random PCT% of the packs (e.g. 10%)."),
           password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet,
           json_out: bool = Json) -> None:
    """Check the safe's structure (and with --read-data its data); name damaged files."""
    from backuprun.disksafe import jsonout
    from backuprun.disksafe.check import verify as run_verify

    fraction = 1.0 if read_data else _fraction(read_data_subset) if read_data_subset else 0.0
    started = time.monotonic()
    steps = progressbar.Steps()
    repo = _open(location, password_file, load_index=False)
    with progressbar.shown(progressbar.wanted(quiet or json_out), steps.poll):
        report = run_verify(repo, fraction, progress=steps)
    seconds = time.monotonic() - started
    if json_out:
        jsonout.emit({"points": report.points, "packs": report.packs, "blobs": report.blobs,
                      "trees": report.trees, "packs_read": report.packs_read,
                      "bytes_read": report.bytes_read, "clean": report.clean,
                      "errors": report.errors,
                      "damaged": [{"point": d.point, "path": "/" + os.fsdecode(d.path),
                                   "reason": d.reason} for d in report.damaged],
                      "unindexed_packs": len(report.unindexed_packs),
                      "seconds": round(seconds, 3)})
    else:
        _print_verify(report, fraction, seconds)
    if not report.clean:
        raise typer.Exit(WARNINGS)


def _print_verify(report, fraction: float, seconds: float) -> None:
    _echo_all("error", report.errors)
    _echo_all("damaged", report.damaged)
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
               f"{seconds:.2f} s")


DryRunPrune = ("Change nothing: list each pack that would be removed (no recovery point "
               "needs anything in it) and each that would be rewritten (its needed blobs "
               "copied into a new pack), and the space that would be freed.")


@command()
def forget(location: str = Location,
           points: Optional[list[str]] = typer.Argument(None, metavar="POINT", help="Recovery point ids (or unique prefixes) to forget."),
           keep_last: int = typer.Option(0, "--keep-last", metavar="N", help="Keep the N newest points."),
           keep_hourly: int = typer.Option(0, "--keep-hourly", metavar="N", help="Keep the newest point of each of the last N hours with points."),
           keep_daily: int = typer.Option(0, "--keep-daily", metavar="N", help="... of each of the last N days."),
           keep_weekly: int = typer.Option(0, "--keep-weekly", metavar="N", help="... of each of the last N weeks."),
           keep_monthly: int = typer.Option(0, "--keep-monthly", metavar="N", help="... of each of the last N months."),
           keep_yearly: int = typer.Option(0, "--keep-yearly", metavar="N", help="... of each of the last N years."),
           keep_within: Optional[str] = typer.Option(None, "--keep-within", metavar="DURATION", help="Keep every point younger than DURATION before the newest (e.g. 30d, 2w, 36h)."),
           dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Change nothing: list which points would be kept and which forgotten, and why."),
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


@command()
def prune(location: str = Location,
          max_unused: Optional[str] = typer.Option(None, "--max-unused", metavar="PCT", help="Rewrite a pack when more than PCT% of it is garbage (default 20%)."),
          dry_run: bool = typer.Option(False, "--dry-run", "-n", help=DryRunPrune),
          password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet) -> None:
    """Remove the data no recovery point needs (garbage collection)."""
    _run_prune(location, password_file,
               None if max_unused is None else _fraction(max_unused, zero_ok=True), dry_run, quiet)


def _run_prune(location: str, password_file: Optional[Path], max_unused: Optional[float],
               dry_run: bool, quiet: bool) -> None:
    from backuprun.disksafe.prune import MAX_UNUSED, prune as run_prune

    started = time.monotonic()
    steps = progressbar.Steps()
    repo = _open(location, password_file, load_index=False)
    with progressbar.shown(progressbar.wanted(quiet), steps.poll):
        s = run_prune(repo, MAX_UNUSED if max_unused is None else max_unused,
                      dry_run=dry_run, progress=steps)
    _echo_all("note", s.notes)
    if dry_run:
        for plan in s.planned:
            what = (f"rewrite {plan.pack} ({_mb(plan.size)}, {plan.unused:.0%} unused)"
                    if plan.rewrite else f"remove  {plan.pack} ({_mb(plan.size)}, nothing needed)")
            typer.echo(f"would {what}")
    verb = "would free" if dry_run else "freed"
    typer.echo(f"{s.points} recovery points need {s.blobs_needed} blobs; {s.packs} packs "
               f"({_mb(s.bytes)}), {s.stray_packs} in no index: {s.packs_removed} removed, "
               f"{s.packs_repacked} repacked into {s.packs_written}; {verb} "
               f"{_mb(s.bytes_freed)}, {time.monotonic() - started:.2f} s")


@command("rebuild-index")
def rebuild_index(location: str = Location,
                  password_file: Optional[Path] = PasswordFile, quiet: bool = Quiet) -> None:
    """Rebuild the index from the packs (after a lost or damaged index object)."""
    from backuprun.disksafe.reindex import rebuild_index as run_rebuild

    started = time.monotonic()
    steps = progressbar.Steps()
    repo = _open(location, password_file, load_index=False)
    with progressbar.shown(progressbar.wanted(quiet), steps.poll):
        s = run_rebuild(repo, progress=steps)
    _echo_all("note", s.walked)
    _echo_all("error", s.unreadable)
    typer.echo(f"indexed {s.blobs} blobs in {s.packs} packs: {s.index_objects_written} index "
               f"objects replace {s.index_objects_removed}, {time.monotonic() - started:.2f} s")
    if s.unreadable:
        raise typer.Exit(WARNINGS)
