"""What the commands print: aligned tables for people, JSON for scripts.

JSON shapes (docs/client.md) are the answer's attributes under their wire names, numbers as
numbers, times as ISO 8601 in UTC (``2026-01-02T03:04:05+00:00``); fields are only ever
added. Tables show times in the local time zone and sizes in decimal units (kB, MB).
"""

from __future__ import annotations

import json
import stat
import sys
from datetime import datetime, timezone
from xml.etree.ElementTree import Element

WIRE_TIME = "%Y-%m-%d %H:%M:%S"
CREATE_STATUS = {-4: "terminating", -1: "changing", 0: "configured", 1: "volume", 2: "user",
                 3: "server", 4: "disk safe", 5: "policy", 10: "ready"}
STATUS = {0: "pending", 1: "active", 2: "warning", 3: "error"}
_AGENT_INTS = {"id", "readonly", "port", "type", "status", "disk_usage", "cpanel_startup",
               "mysql_instances", "mysql_startup", "mssql_startup", "exchange_startup",
               "running", "n_alerts", "create_status", "status_min_ok", "startup_ok",
               "location_id", "first_backup_try", "service_configured", "restricted",
               "maintenance"}
_SERVER_INTS = {"http_port", "https_port"}
_POINT_INTS = {"files", "bytes"}
_ENTRY_INTS = {"size"}
_TASK_INTS = {"files", "bytes", "bytes_read"}
_KIND_CHAR = {"dir": "d", "symlink": "l", "chardev": "c", "blockdev": "b", "fifo": "p",
              "socket": "s"}


def size(n: int) -> str:
    """Bytes in decimal units, as rich and most tools show them (``3.1 MB``)."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if value < 1000 or unit == "PB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def iso(wire: str) -> str | None:
    """A wire time (``YYYY-MM-DD HH:MM:SS``, UTC) as ISO 8601; empty is ``None``."""
    if not wire:
        return None
    return datetime.strptime(wire, WIRE_TIME).replace(tzinfo=timezone.utc).isoformat()


def local(wire: str) -> str:
    """A wire time (UTC) in the local time zone, for tables."""
    if not wire:
        return "-"
    at = datetime.strptime(wire, WIRE_TIME).replace(tzinfo=timezone.utc)
    return at.astimezone().strftime(WIRE_TIME)


def typed(attributes: dict[str, str], ints: set[str]) -> dict:
    """Attributes with the numeric ones as numbers (a value that is not one stays text)."""
    out: dict = {}
    for name, value in attributes.items():
        out[name] = value
        if name in ints:
            try:
                out[name] = int(value)
            except ValueError:
                pass
    return out


def emit_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def table(headers: list[str], rows: list[list[str]]) -> None:
    """Columns aligned on two spaces; the last one unpadded."""
    lines = [headers, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line[:-1], widths)] + [line[-1]]
        sys.stdout.write("  ".join(cells).rstrip() + "\n")


# -- services (getStatus) ----------------------------------------------------------------

def history(agent: Element) -> list[dict]:
    try:
        entries = json.loads(agent.get("alert_history") or "[]")
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def service_json(agent: Element) -> dict:
    out = typed(dict(agent.attrib), _AGENT_INTS)
    tasks = history(agent)
    for task in tasks:
        for name in ("created", "started", "finished"):
            if isinstance(task.get(name), str):
                task[name] = iso(task[name])
    out["alert_history"] = tasks
    server = agent.find("server")
    out["server"] = typed(dict(server.attrib), _SERVER_INTS) if server is not None else {}
    return out


def _labelled(value: str, names: dict[int, str]) -> str:
    try:
        return f"{value} {names[int(value)]}"
    except (KeyError, ValueError):
        return value


def service_row(agent: Element) -> list[str]:
    host = agent.get("host", "")
    host = f"[{host}]" if ":" in host else host
    tasks = history(agent)
    last = f"{tasks[0].get('type', '')} {tasks[0].get('state', '')}" if tasks else "-"
    try:
        usage = size(int(agent.get("disk_usage") or 0))
    except ValueError:
        usage = agent.get("disk_usage", "")
    return [agent.get("service_id", ""), agent.get("name", ""), f"{host}:{agent.get('port')}",
            agent.get("location", ""), _labelled(agent.get("create_status", ""), CREATE_STATUS),
            _labelled(agent.get("status", ""), STATUS), last, usage]


SERVICE_HEADERS = ["SERVICE", "NAME", "AGENT", "LOCATION", "CREATE_STATUS", "STATUS",
                   "LAST TASK", "DISK USAGE"]


# -- recovery points and their folders ---------------------------------------------------

def point_json(point: Element) -> dict:
    out = typed(dict(point.attrib), _POINT_INTS)
    out["created"] = iso(point.get("created", ""))
    return out


def point_row(point: Element) -> list[str]:
    return [point.get("id", ""), local(point.get("created", "")), point.get("files", ""),
            size(int(point.get("bytes") or 0)), point.get("taskexecutioncontextid") or "-"]


POINT_HEADERS = ["RECOVERY POINT", "CREATED", "FILES", "SIZE", "TASK"]


def entry_json(entry: Element) -> dict:
    out = typed(dict(entry.attrib), _ENTRY_INTS)
    out["mtime"] = iso(entry.get("mtime", ""))
    return out


def entry_line(entry: Element) -> str:
    kind = entry.get("type", "")
    try:
        perms = stat.filemode(int(entry.get("mode") or "0", 8) & 0o7777)[1:]
    except ValueError:
        perms = "?????????"
    name = entry.get("name", "") + ("/" if kind == "dir" else "")
    return (f"{_KIND_CHAR.get(kind, '-')}{perms} {entry.get('size', ''):>12} "
            f"{local(entry.get('mtime', ''))} {name}")


def task_json(attributes: dict[str, str]) -> dict:
    return typed(attributes, _TASK_INTS)
