"""Imports flow one way between the package's folders (docs: ARCHITECTURE's "Where the code
lives"): each folder imports only those below it, never one above or beside it that would
close a circle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "src" / "backuprun"
SHARED = {"config", "sqlutil", "lanes", "clihelp", "netaddr"}
ALLOWED = {
    "portal": {"backupserver", "tasks", "schema", "transport", "disksafe", "storage"},
    "backupserver": {"disksafe", "transport", "tasks", "storage", "schema"},
    "agent": {"transport", "disksafe"},
    "client": set(),  # speaks only the public wire (api.php)
    "tasks": set(),
    "schema": set(),
    "transport": set(),
    "disksafe": {"storage"},
    "storage": set(),
}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "backuprun" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_folders_import_only_downward():
    wrong = []
    for folder, allowed in ALLOWED.items():
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            for target in imports_of(path) - allowed - SHARED - {folder}:
                wrong.append(f"{path.relative_to(PACKAGE)} imports backuprun.{target}")
    assert wrong == []


def test_shared_modules_import_nothing_of_ours():
    for name in SHARED:
        assert imports_of(PACKAGE / f"{name}.py") <= {"config"} - {name}, name
