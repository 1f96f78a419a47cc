"""``download``: an archive of a recovery point's files, streamed to a file or to stdout.

- The file is written under a temporary name beside it and renamed when the last byte is
  in: FILE is either the whole archive or untouched. On any failure (an error answer, a
  transfer broken off, Ctrl-C) the temporary file is removed.
- An error the portal finds before the first byte (``path_not_found``...) is its XML answer:
  nothing is created. With ``-o -`` the bytes go to stdout as they come; a failure then
  leaves what was written, and the exit code says it is not whole.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO

import typer

from backuprun.client import atomicfile, output, progress
from backuprun.client.api import Portal
from backuprun.client.exitcodes import LOCAL_FILE, USAGE, UserError


def default_name(point_id: str, fmt: str) -> str:
    return f"recoverypoint-{point_id[:16]}.{fmt}"


def destination(output_file: str | None, point_id: str, fmt: str) -> Path:
    if output_file is None:
        return Path(default_name(point_id, fmt))
    path = Path(output_file)
    return path / default_name(point_id, fmt) if path.is_dir() else path


def download_archive(portal: Portal, service_id: str, point_id: str, paths: list[str],
                     fmt: str, output_file: str | None, quiet: bool) -> None:
    fields = dict(service_id=service_id, recoverypoint_id=point_id, path=paths, format=fmt)
    if output_file == "-":
        if sys.stdout.isatty():
            raise UserError("will not write an archive to a terminal: redirect stdout, or "
                            "use -o FILE", USAGE)
        done = _stream(portal, fields, sys.stdout.buffer, "download", quiet)
        sys.stdout.buffer.flush()
        if not quiet:
            typer.echo(f"downloaded {output.size(done)} to stdout", err=True)
        return
    path = destination(output_file, point_id, fmt)
    done = _to_file(portal, fields, path, quiet)
    if not quiet:
        typer.echo(f"downloaded {path}: {output.size(done)}")


def _to_file(portal: Portal, fields: dict, path: Path, quiet: bool) -> int:
    try:
        # as any new file (the umask's mode), not a temporary file's 0600
        with atomicfile.replacing(path, 0o666 & ~_umask(), suffix=".part") as out:
            return _stream(portal, fields, out, f"download {path.name}", quiet)
    except atomicfile.CannotCreate as exc:
        raise UserError(f"cannot write {path}: {(exc.strerror or str(exc)).lower()}",
                        LOCAL_FILE) from None


def _stream(portal: Portal, fields: dict, out: BinaryIO, label: str, quiet: bool) -> int:
    done = 0
    with portal.download("downloadFiles", **fields) as answer, \
            progress.byte_bar(progress.wanted(quiet), label) as bar:
        for piece in answer.pieces:
            out.write(piece)
            done += len(piece)
            bar(done)
    return done


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
