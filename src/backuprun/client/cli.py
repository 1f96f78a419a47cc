"""``backuprun portal``: the portal's client commands (docs/client.md).

- ``login URL --email E`` / ``logout``: the session file (:mod:`.session`).
- ``services``, ``points SERVICE_ID``, ``ls SERVICE_ID POINT_ID [PATH]``: tables, or JSON.
- ``backup SERVICE_ID``, ``restore SERVICE_ID POINT_ID PATH...``: start a task and wait for
  it (:mod:`.tasks`), with a progress bar on a terminal; ``download ...``: an archive
  streamed to a file or stdout (:mod:`.transfer`).

Errors and exit codes: :mod:`.exitcodes` (every command is wrapped in ``exits``). Heavy
imports (httpx, rich) wait until a command runs, so ``--help`` stays quick.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from backuprun.clihelp import PlainHelp
from backuprun.client.exitcodes import NotLoggedIn, UserError, USAGE, exits

PASSWORD_ENV = "BACKUPRUN_PASSWORD"

app = typer.Typer(help="Use a BackupRun portal: log in, list services and recovery points, "
                       "back up, restore, download.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_show_locals=False)

Session = typer.Option(None, "--session", envvar="BACKUPRUN_SESSION", metavar="FILE",
                       help="The session file (env BACKUPRUN_SESSION; default "
                            "~/.config/backuprun/session.json).")
Json = typer.Option(False, "--json", help="Print JSON on stdout (shapes: docs/client.md); "
                                          "no table, no progress bar.")
Quiet = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary line.")
NoWait = typer.Option(False, "--no-wait", help="Print the task's id and return at once.")
ServiceArg = typer.Argument(..., metavar="SERVICE_ID", help="The service, as getStatus names "
                                                            "it (S12, V13).")
PointArg = typer.Argument(..., metavar="POINT_ID", help="A recovery point: its id, a unique "
                                                        "prefix of it, or 'latest'.")


def command(name: Optional[str] = None):
    """Register a command: plain help layout, errors as one line and an exit code."""
    def register(fn):
        return app.command(name, cls=PlainHelp)(exits(fn))
    return register


def connect(session_file: Optional[Path]):
    """The portal of the saved session, logged in as it was."""
    from backuprun.client import session
    from backuprun.client.api import Portal

    saved = session.load(session.resolve(session_file))
    if saved is None:
        raise NotLoggedIn("not logged in; run: backuprun portal login URL --email E")
    return Portal(saved.url, saved.cookies)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise UserError("--password-stdin: stdin gave no password", USAGE)
        return line
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise UserError(f"a password is needed: use --password-stdin or set {PASSWORD_ENV}",
                        USAGE)
    import getpass

    try:
        value = getpass.getpass("Password: ")
    except EOFError:
        value = ""
    if not value:
        raise UserError("no password given", USAGE)
    return value


@command()
def login(url: str = typer.Argument(..., metavar="URL",
                                    help="The portal, http(s)://HOST[:PORT] (or its api.php)."),
          email: str = typer.Option(..., "--email", metavar="E", help="The account's e-mail."),
          password_stdin: bool = typer.Option(False, "--password-stdin",
                                              help="Read the password from stdin's first line "
                                                   f"(else ${PASSWORD_ENV}, else a prompt)."),
          remember: bool = typer.Option(False, "--remember",
                                        help="A long session (30 days) instead of 12 hours."),
          session_file: Optional[Path] = Session) -> None:
    """Log in and keep the session in the session file."""
    from backuprun.client import session
    from backuprun.client.api import Portal, api_url

    try:
        url = api_url(url)
    except ValueError as exc:
        raise UserError(str(exc), USAGE) from None
    password = _password(password_stdin)
    path = session.resolve(session_file)
    with Portal(url) as portal:
        portal.login(email, password, remember)
        session.save(path, session.Session(portal.url, email, portal.cookies))
    typer.echo(f"logged in to {url} as {email} (session in {path})")


@command()
def logout(session_file: Optional[Path] = Session) -> None:
    """End the session on the portal and remove the session file."""
    from backuprun.client import session
    from backuprun.client.api import ApiError, Portal, Unreachable

    path = session.resolve(session_file)
    saved = session.load(path)
    if saved is None:
        typer.echo("not logged in", err=True)
        return
    try:
        with Portal(saved.url, saved.cookies) as portal:
            portal.call("logout")
    except (ApiError, Unreachable) as exc:
        typer.echo(f"warning: the portal could not end the session ({exc}); it ends when it "
                   "expires", err=True)
    session.remove(path)
    typer.echo(f"logged out of {saved.url}")


@command()
def services(json_out: bool = Json, session_file: Optional[Path] = Session) -> None:
    """List the services (getStatus): setup, status, last task, disk usage."""
    from backuprun.client import output

    with connect(session_file) as portal:
        account = portal.call("getStatus").find("account")
    agents = list(account.iter("agent")) if account is not None else []
    if json_out:
        output.emit_json([output.service_json(a) for a in agents])
    elif not agents:
        typer.echo("no services", err=True)
    else:
        output.table(output.SERVICE_HEADERS, [output.service_row(a) for a in agents])


def recovery_points(portal, service_id: str) -> list:
    return portal.call("getRecoveryPoints", service_id=service_id,
                       timezoneOffset=0).findall("recoverypoint")


def resolve_point(portal, service_id: str, given: str) -> str:
    """The id of recovery point ``given`` (an id, a unique prefix, or ``latest``); an id
    that matches none is left for the portal to refuse."""
    ids = [p.get("id", "") for p in recovery_points(portal, service_id)]
    if given == "latest":
        if not ids:
            raise UserError(f"the service {service_id} has no recovery point yet", USAGE)
        return ids[0]  # newest first
    if given in ids:
        return given
    matches = [i for i in ids if i.startswith(given)] if given else []
    if len(matches) > 1:
        raise UserError(f"{given!r} is the start of {len(matches)} recovery points' ids: "
                        "give more of it", USAGE)
    return matches[0] if matches else given


@command()
def points(service_id: str = ServiceArg, json_out: bool = Json,
           session_file: Optional[Path] = Session) -> None:
    """List a service's recovery points, newest first (getRecoveryPoints)."""
    from backuprun.client import output

    with connect(session_file) as portal:
        found = recovery_points(portal, service_id)
    if json_out:
        output.emit_json([output.point_json(p) for p in found])
    elif not found:
        typer.echo(f"{service_id} has no recovery points yet", err=True)
    else:
        output.table(output.POINT_HEADERS, [output.point_row(p) for p in found])


@command()
def ls(service_id: str = ServiceArg, point_id: str = PointArg,
       path: str = typer.Argument("/", metavar="PATH", help="A folder in the recovery point "
                                                            "(default /)."),
       json_out: bool = Json, session_file: Optional[Path] = Session) -> None:
    """List a folder of a recovery point (browseRecoveryPoint)."""
    from backuprun.client import output

    with connect(session_file) as portal:
        point = resolve_point(portal, service_id, point_id)
        entries = portal.call("browseRecoveryPoint", service_id=service_id,
                              recoverypoint_id=point, path=path,
                              timezoneOffset=0).findall("entry")
    if json_out:
        output.emit_json([output.entry_json(e) for e in entries])
        return
    for entry in entries:
        sys.stdout.write(output.entry_line(entry) + "\n")


@command()
def backup(service_id: str = ServiceArg, no_wait: bool = NoWait, json_out: bool = Json,
           quiet: bool = Quiet, session_file: Optional[Path] = Session) -> None:
    """Back up now (runPolicy) and wait for the backup to end, showing its progress."""
    from backuprun.client.waiting import start_and_wait

    with connect(session_file) as portal:
        start_and_wait(portal, service_id, "backup", "runPolicy", {}, no_wait, json_out, quiet)


@command()
def restore(service_id: str = ServiceArg, point_id: str = PointArg,
            paths: list[str] = typer.Argument(..., metavar="PATH",
                                              help="Files or folders of the recovery point."),
            target: Optional[str] = typer.Option(None, "--target", metavar="DIR",
                                                 help="Restore under DIR on the service's "
                                                      "server (default: where they were)."),
            overwrite: bool = typer.Option(False, "--overwrite",
                                           help="Replace files that are in the way."),
            no_wait: bool = NoWait, json_out: bool = Json, quiet: bool = Quiet,
            session_file: Optional[Path] = Session) -> None:
    """Restore files to the service's server through its agent (restoreFiles), and wait."""
    from backuprun.client.waiting import start_and_wait

    with connect(session_file) as portal:
        point = resolve_point(portal, service_id, point_id)
        fields = {"recoverypoint_id": point, "path": paths, "target": target,
                  "overwrite": overwrite}
        start_and_wait(portal, service_id, "restore", "restoreFiles", fields, no_wait,
                       json_out, quiet)


@command()
def download(service_id: str = ServiceArg, point_id: str = PointArg,
             paths: list[str] = typer.Argument(..., metavar="PATH",
                                               help="Files or folders of the recovery point."),
             fmt: str = typer.Option("tar", "--format", metavar="tar|zip",
                                     help="The archive's format."),
             output_file: Optional[str] = typer.Option(
                 None, "--output", "-o", metavar="FILE",
                 help="Write to FILE (- for stdout; a folder: the default name in it; "
                      "default recoverypoint-<id>.<format>)."),
             quiet: bool = Quiet, session_file: Optional[Path] = Session) -> None:
    """Download files of a recovery point as one tar or zip archive (downloadFiles)."""
    from backuprun.client.transfer import download_archive

    if fmt not in ("tar", "zip"):
        raise UserError(f"--format {fmt!r}: tar or zip", USAGE)
    with connect(session_file) as portal:
        point = resolve_point(portal, service_id, point_id)
        download_archive(portal, service_id, point, paths, fmt, output_file, quiet)
