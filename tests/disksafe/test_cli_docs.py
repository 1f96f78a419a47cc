"""Every ``backuprun disksafe`` command and option is documented (they are contracts)."""

from __future__ import annotations

from pathlib import Path

import typer.main

from backuprun.disksafe.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_every_command_and_option_is_in_the_docs() -> None:
    doc = (ROOT / "docs" / "disksafe.md").read_text()
    readme = (ROOT / "README.md").read_text()
    group = typer.main.get_command(app)
    assert len(group.commands) >= 10
    for name, command in group.commands.items():
        assert f"backuprun disksafe {name} " in doc, name
        assert f"backuprun disksafe {name} " in readme, name
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in doc, f"{name} {opt}"
