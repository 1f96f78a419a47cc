"""``backuprun agent``: run the agent, and manage the backup servers it trusts.

- ``backuprun agent run [--listen 0.0.0.0:1167] [--data-dir DIR] [--root /]`` runs in the
  foreground (a systemd unit runs exactly this).
- ``backuprun agent trust URL`` / ``--key-file F`` / ``--list``; ``backuprun agent untrust
  FINGERPRINT``.

Errors are one line on stderr (``error: ...``), no traceback, and an exit code of their own
(the ``EXIT_`` constants below; docs/agent.md lists them). Heavy imports wait until a
command runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import typer

EXIT_USAGE = 2            # bad arguments: a URL that is not https://HOST:PORT, --listen, --root
EXIT_UNREACHABLE = 3      # nothing answers TLS at the URL
EXIT_NOT_A_SERVER = 4     # the URL answers, but is not a backup server's public page
EXIT_BAD_CERTIFICATE = 5  # a file (or trust-store entry) that is not one usable certificate
EXIT_UNKNOWN = 6          # untrust: no trusted server (or more than one) has that fingerprint
EXIT_NOT_TRUSTING = 7     # run: no backup server is trusted yet
EXIT_CANNOT_LISTEN = 8    # run: the address is taken or not this host's
EXIT_DATA_DIR = 9         # the data folder or the agent's identity cannot be used

DATA_DIR = typer.Option(None, "--data-dir", metavar="DIR",
                        help="The agent's data folder (default /var/lib/backuprun-agent as "
                             "root, else ~/.local/share/backuprun-agent).")

app = typer.Typer(help="The agent on a customer's server, and the backup servers it trusts.",
                  no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False)


def _fail(message: str, code: int):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _data_dir(data_dir: Path | None) -> Path:
    from backuprun.agent.datadir import default_data_dir

    return data_dir if data_dir is not None else default_data_dir()


def _store(data_dir: Path | None):
    from backuprun.agent.trust import TrustStore

    return TrustStore(_data_dir(data_dir))


@app.command()
def run(
    listen: str = typer.Option("0.0.0.0:1167", "--listen", metavar="HOST:PORT",
                               help="Address to serve on (port 0: any free one)."),
    data_dir: Path = DATA_DIR,
    root: Path = typer.Option(Path("/"), "--root", metavar="DIR",
                              help="Serve the files under DIR, and nothing outside it."),
) -> None:
    """Run the agent in the foreground until Ctrl-C or SIGTERM (SIGHUP re-reads trust)."""
    from backuprun.agent import datadir, server
    from backuprun.agent.trust import TrustError
    from backuprun.transport.tls import IdentityError

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        _fail(f"--listen {listen!r}: give HOST:PORT, e.g. 0.0.0.0:1167", EXIT_USAGE)
    try:
        if not root.is_dir():
            _fail(f"--root {root}: not a folder", EXIT_USAGE)
        os.listdir(root)
    except OSError as exc:
        _fail(f"--root {root}: this user cannot read it ({exc.strerror}); run the agent as a "
              "user who can, or pick another --root", EXIT_USAGE)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    folder = _data_dir(data_dir)
    store = _store(folder)
    try:
        server.require_trusted(store)
        identity = datadir.load_identity(folder)
        sock = server.listen(host.strip("[]"), int(port))
    except server.NoTrustedServer as exc:
        _fail(str(exc), EXIT_NOT_TRUSTING)
    except TrustError as exc:
        _fail(str(exc), EXIT_BAD_CERTIFICATE)
    except server.CannotListen as exc:
        _fail(f"{exc}; free the port or pick another with --listen", EXIT_CANNOT_LISTEN)
    except (IdentityError, OSError, ValueError) as exc:
        _fail(f"the data folder {folder} cannot be used: {exc}", EXIT_DATA_DIR)
    signal.signal(signal.SIGTERM, _stop)  # uvicorn's handler takes over while serving,
    try:                                     # and re-raises the signal to this one after
        asyncio.run(server.run(identity, store, root.absolute(), sock))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        sock.close()


def _stop(signum, frame) -> None:
    raise SystemExit(0)  # SIGTERM (systemd's stop) is a normal end


@app.command()
def trust(
    url: str = typer.Argument(None, metavar="[URL]",
                              help="The backup server's address, https://SERVERIP:HTTPS_PORT."),
    key_file: Path = typer.Option(None, "--key-file", metavar="F",
                                  help="Trust the certificate (PEM or DER) in file F instead."),
    list_: bool = typer.Option(False, "--list", help="List the trusted backup servers."),
    data_dir: Path = DATA_DIR,
) -> None:
    """Trust a backup server (print its fingerprint), or list those trusted."""
    from backuprun.agent import trust as trusting

    if sum((url is not None, key_file is not None, list_)) != 1:
        _fail("give one of URL, --key-file F or --list", EXIT_USAGE)
    store = _store(data_dir)
    try:
        if list_:
            _print_list(store.servers())
            return
        entry, added = store.add_url(url) if url is not None else store.add_file(key_file)
    except trusting.BadUrl as exc:
        _fail(str(exc), EXIT_USAGE)
    except trusting.ServerUnreachable as exc:
        _fail(str(exc), EXIT_UNREACHABLE)
    except trusting.NotABackupServer as exc:
        _fail(str(exc), EXIT_NOT_A_SERVER)
    except trusting.NotACertificate as exc:
        _fail(str(exc), EXIT_BAD_CERTIFICATE)
    except OSError as exc:
        _fail(f"the data folder cannot be used: {exc}", EXIT_DATA_DIR)
    typer.echo(f"{'trusted' if added else 'already trusted'} {entry.fingerprint} "
               f"({entry.name})")


def _print_list(servers) -> None:
    if not servers:
        typer.echo("no backup server is trusted (add one with: backuprun agent trust URL)",
                   err=True)
    for server in servers:
        typer.echo(f"{server.fingerprint}\t{server.name}")


@app.command()
def untrust(
    fingerprint: str = typer.Argument(..., help="SHA256:<hex> as --list prints it, or a "
                                                "unique prefix."),
    data_dir: Path = DATA_DIR,
) -> None:
    """Stop trusting a backup server: its next connection is refused."""
    from backuprun.agent.trust import NotACertificate, UnknownServer

    try:
        entry = _store(data_dir).remove(fingerprint)
    except UnknownServer as exc:
        _fail(str(exc), EXIT_UNKNOWN)
    except NotACertificate as exc:
        _fail(str(exc), EXIT_BAD_CERTIFICATE)
    except OSError as exc:
        _fail(f"the data folder cannot be used: {exc}", EXIT_DATA_DIR)
    typer.echo(f"untrusted {entry.fingerprint} ({entry.name})")
