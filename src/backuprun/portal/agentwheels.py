"""The agent's wheelhouse: BackupRun's own wheel and the wheels of every package the agent
needs (the base dependencies of pyproject.toml), which the portal serves at
``/agent/wheels/`` so that installing an agent needs no other site. ``backuprun admin
agent-wheels`` builds it (:func:`build`); ``install.sh`` installs from it with
``pip install --no-index --find-links PORTAL/agent/wheels/ backuprun``.

Rules:
- Wheels are made by this interpreter's pip, for its Python and platform; other Pythons and
  platforms are added as targets (``--python-version``, ``--platform``: binary wheels
  only, as ``pip download`` fetches them).
- Our wheel is built from a clean copy of the source tree: setuptools' ``build/`` folder in
  the tree could carry removed modules into it.
- Up to date (the same source, Python, platform and targets, and every file of the last
  build present): nothing is done. Otherwise the new set is made in a temporary folder
  beside the wheelhouse and moved in file by file (each a rename, so a wheel is never seen
  half-written); then the last build's files that are no longer wanted are removed. Files
  put there by hand are kept. ``.manifest.json`` names the last build's key and files.
- Only ``*.whl`` files directly in the folder are served, by a name that matches
  :data:`WHEEL_NAME`; the listing gives each one's SHA-256, which pip checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import backuprun

MANIFEST = ".manifest.json"
WHEEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+!-]*\.whl")
_SOURCE_FILES = ("pyproject.toml", "README.md", "setup.cfg", "setup.py", "MANIFEST.in")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


class WheelError(Exception):
    """The wheelhouse cannot be made: the source is not BackupRun's, or pip failed."""


@dataclass(frozen=True)
class Target:
    """Another Python version and/or platform to fetch binary wheels for."""
    python_version: str | None = None  # "3.12"
    platform: str | None = None  # "manylinux2014_aarch64"

    def pip_args(self) -> list[str]:
        args = ["--only-binary=:all:"]
        if self.python_version:
            args += ["--python-version", self.python_version]
        if self.platform:
            args += ["--platform", self.platform]
        return args


@dataclass(frozen=True)
class Built:
    folder: Path
    files: list[str]
    up_to_date: bool


def default_source() -> Path | None:
    """The source tree this ``backuprun`` runs from (an editable install), if it is one."""
    tree = Path(backuprun.__file__).resolve().parents[2]
    return tree if is_source(tree) else None


def is_source(tree: Path) -> bool:
    try:
        text = (tree / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return False
    return re.search(r'^name\s*=\s*"backuprun"\s*$', text, re.M) is not None and \
        (tree / "src" / "backuprun").is_dir()


def build(out: Path, source: Path, targets: list[Target] = (), force: bool = False,
          progress=lambda message: None) -> Built:
    """Make (or keep) the wheelhouse ``out`` for the source tree ``source``."""
    if not is_source(source):
        raise WheelError(f"{source} is not BackupRun's source tree (no pyproject.toml naming "
                         "backuprun beside src/backuprun)")
    key = _key(source, targets)
    last = _manifest(out)
    if not force and last.get("key") == key and \
            all((out / name).is_file() for name in last.get("files", ())):
        return Built(out, sorted(last["files"]), up_to_date=True)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".agent-wheels-", dir=out.parent))
    try:
        progress(f"building BackupRun's wheel from {source}")
        ours = _our_wheel(source, work)
        wheels = work / "wheels"
        progress("collecting the wheels of its dependencies (pip wheel)")
        _pip("wheel", "--quiet", "--wheel-dir", str(wheels), str(ours))
        for target in targets:
            progress(f"downloading binary wheels for {target.python_version or 'this Python'} "
                     f"on {target.platform or 'this platform'} (pip download)")
            _pip("download", "--quiet", "--dest", str(wheels), *target.pip_args(), str(ours))
        files = sorted(p.name for p in wheels.iterdir() if WHEEL_NAME.fullmatch(p.name))
        for name in files:
            os.replace(wheels / name, out / name)
        for name in set(last.get("files", ())) - set(files):
            if WHEEL_NAME.fullmatch(str(name)):
                (out / name).unlink(missing_ok=True)
        _write_manifest(out, {"key": key, "files": files})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Built(out, files, up_to_date=False)


def _our_wheel(source: Path, work: Path) -> Path:
    tree = work / "source"
    tree.mkdir()
    for name in _top_files(source):
        shutil.copy2(source / name, tree / name)
    shutil.copytree(source / "src", tree / "src", ignore=_SKIP)
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(work / "ours"), str(tree))
    found = sorted((work / "ours").glob("backuprun-*.whl"))
    if len(found) != 1:
        raise WheelError(f"pip wheel made {len(found)} wheels of BackupRun, not one")
    return found[0]


def _top_files(source: Path) -> list[str]:
    names = [n for n in _SOURCE_FILES if (source / n).is_file()]
    return names + sorted(p.name for p in source.iterdir() if p.is_file() and
                          p.name.upper().startswith(("LICEN", "COPYING", "NOTICE")))


def _key(source: Path, targets) -> str:
    """What the wheelhouse is made from: the source's files, this Python and platform, and
    the targets."""
    digest = hashlib.sha256()
    digest.update(json.dumps([sys.implementation.cache_tag, sysconfig.get_platform(),
                              [[t.python_version, t.platform] for t in targets]]).encode())
    files = [source / n for n in _top_files(source)]
    files += sorted(p for p in (source / "src").rglob("*") if p.is_file() and
                    "__pycache__" not in p.parts and not p.name.endswith(".pyc") and
                    not any(part.endswith(".egg-info") for part in p.parts))
    for path in files:
        digest.update(str(path.relative_to(source)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WheelError(f"pip {args[0]} could not run: {exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR:")] or lines[-1:]
        reason = errors[0].removeprefix("ERROR:").strip() if errors else "no message"
        raise WheelError(f"pip {args[0]} failed: {reason}")


def _manifest(out: Path) -> dict:
    try:
        value = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_manifest(out: Path, value: dict) -> None:
    temporary = out / f"{MANIFEST}.tmp"
    temporary.write_text(json.dumps(value, indent=1), encoding="utf-8")
    os.replace(temporary, out / MANIFEST)


# -- serving ----------------------------------------------------------------------------

_digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 hex


@dataclass(frozen=True)
class Wheel:
    name: str
    path: Path
    sha256: str


def wheels(folder: Path) -> list[Wheel]:
    """The wheels served from ``folder`` (none when it is missing), each with its SHA-256."""
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError:
        return []
    found, keys = [], set()
    for entry in entries:
        if WHEEL_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            stat = entry.stat(follow_symlinks=False)
            key = (entry.path, stat.st_size, stat.st_mtime_ns)
            keys.add(key)
            found.append(Wheel(entry.name, Path(entry.path), _sha256(key)))
    for stale in [k for k in _digests if Path(k[0]).parent == folder and k not in keys]:
        _digests.pop(stale, None)  # a replaced or removed file's
    return found


def wheel_file(folder: Path, name: str) -> Path | None:
    """The file of the wheel ``name`` in ``folder``, or None: a name that is not a wheel's
    (a path, ``..``), a link, or no such file."""
    if not WHEEL_NAME.fullmatch(name):
        return None
    try:
        with os.scandir(folder) as listing:
            entry = next((e for e in listing if e.name == name), None)
            if entry is None or not entry.is_file(follow_symlinks=False):
                return None
    except OSError:
        return None
    return folder / name


def _sha256(key: tuple[str, int, int]) -> str:
    digest = _digests.get(key)
    if digest is None:
        sha = hashlib.sha256()
        with open(key[0], "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
        digest = _digests[key] = sha.hexdigest()
    return digest
