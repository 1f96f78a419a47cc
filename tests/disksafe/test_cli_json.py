"""``--json`` output (stable shapes, docs/disksafe.md) and the help texts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from backuprun.disksafe.cli import app

ENV = {"BACKUPRUN_DISKSAFE_PASSWORD": "pw", "COLUMNS": "100"}


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env=ENV)
    assert result.exit_code == code, (result.output, result.exception)
    return result.stdout


def test_json_shapes(tmp_path: Path) -> None:
    safe, src = str(tmp_path / "safe"), tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"hello")
    os.symlink("d/f", src / "link")
    run("init", safe)
    b = json.loads(run("backup", safe, str(src), "--json"))
    assert set(b) >= {"id", "time", "host", "source", "parent", "files", "dirs", "bytes_total",
                      "bytes_added", "bytes_read", "seconds", "warnings"}
    assert (b["files"], b["dirs"], b["bytes_total"], b["warnings"]) == (1, 1, 5, [])
    points = json.loads(run("list", safe, "--json"))
    assert [p["id"] for p in points] == [b["id"]] and points[0]["time"].endswith("+00:00")
    rows = [json.loads(line) for line in run("ls", safe, "latest", "--json").splitlines()]
    by_path = {r["path"]: r for r in rows}
    assert by_path["/d/f"]["type"] == "file" and by_path["/d/f"]["size"] == 5
    assert by_path["/d"]["type"] == "dir" and by_path["/link"]["target"] == "d/f"
    r = json.loads(run("restore", safe, "latest", str(tmp_path / "out"), "--json"))
    assert (r["point"], r["files"], r["bytes_written"], r["damaged"]) == (b["id"], 1, 5, [])
    v = json.loads(run("verify", safe, "--read-data", "--json"))
    assert v["clean"] is True and v["points"] == 1 and v["damaged"] == [] and v["errors"] == []


COMMANDS = typer.main.get_command(app).commands


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_reads_like_the_ecosystem(name: str) -> None:
    text = run(name, "--help")
    assert f" {name} [OPTIONS] LOCATION" in text.splitlines()[0]
    for bad in ("<bool>", "<str>", "<path>", "<int>", "{", "}"):
        assert bad not in text, (name, bad)
    assert "BACKUPRUN_DISKSAFE_PASSWORD" in text
    assert "AWS_ENDPOINT_URL" in text and "AWS_ACCESS_KEY_ID" in text
    if "--password-file" in text:
        assert "--password-file PATH" in text
    if name == "passwd":
        assert "BACKUPRUN_DISKSAFE_NEW_PASSWORD" in text and "--new-password-file PATH" in text
    if name == "forget":
        assert "--keep-last N" in text and "--keep-within DURATION" in text
    if name == "prune":
        assert "--max-unused PCT" in text
        assert "removed" in text and "rewritten" in text


def test_prune_dry_run_names_what_it_would_remove_and_rewrite(tmp_path: Path) -> None:
    safe, src = str(tmp_path / "safe"), tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(os.urandom(300_000))
    run("init", safe)
    run("backup", safe, str(src))
    (src / "a").write_bytes(os.urandom(300_000))
    run("backup", safe, str(src))
    run("forget", safe, "--keep-last", "1")
    out = run("prune", safe, "--dry-run")
    assert "would remove  " in out and "nothing needed" in out and "would free" in out
    before = sorted(p.name for p in (tmp_path / "safe").rglob("*"))
    assert sorted(p.name for p in (tmp_path / "safe").rglob("*")) == before
