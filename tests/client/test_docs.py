"""Every ``backuprun portal`` command and option, and every exit code, is documented (they
are contracts)."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from backuprun.client import exitcodes
from backuprun.client.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_every_command_and_option_is_in_the_docs() -> None:
    doc = (ROOT / "docs" / "client.md").read_text()
    readme = (ROOT / "README.md").read_text()
    group = typer.main.get_command(app)
    assert len(group.commands) == 8
    for name, command in group.commands.items():
        assert f"backuprun portal {name} " in doc, name
        assert f"backuprun portal {name}" in readme, name
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("-") and opt != "--help":
                    assert opt in doc, f"{name} {opt}"


def test_the_exit_code_table_is_the_code() -> None:
    doc = (ROOT / "docs" / "client.md").read_text()
    table = doc[doc.index("## Errors and exit codes"):]
    documented = {int(n) for n in re.findall(r"^\| (\d+) \|", table, re.M)}
    defined = {value for name, value in vars(exitcodes).items()
               if name.isupper() and isinstance(value, int) and name != "LOGIN_CODES"}
    assert documented == defined
