"""The HTML of a backup server's public pages (see :mod:`public`).

Rules:
- Every value shown is escaped here, once, with :func:`html.escape` (quotes included);
  nothing else builds HTML.
- Pages load nothing from elsewhere: one inline style block, allowed by its hash in the
  Content-Security-Policy (:data:`CSP`); no scripts at all.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

STYLE = ("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em}"
         "table{border-collapse:collapse;margin-bottom:1.5em}"
         "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
         "label{display:block;margin-top:.8em}.error{color:#a00}code{word-break:break-all}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

SECTIONS = (("service", "Service"), ("volume", "Volume"), ("disksafe", "Disk safe"),
            ("policy", "Policy"), ("recovery_points", "Recovery points"), ("tasks", "Tasks"),
            ("provisioning", "Provisioning"))


def page(title: str, body: str) -> str:
    """A whole document; ``body`` is HTML already escaped by this module."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>\n")


def index(location_name: str, fingerprint: str, pem_path: str) -> str:
    title = f"BackupRun backup server: {location_name}"
    return page(title, (
        f"<h1>{escape(title)}</h1>"
        f"<p>This backup server's certificate: <a href=\"{escape(pem_path)}\">"
        f"{escape(pem_path)}</a>, fingerprint <code>{escape(fingerprint)}</code>.</p>"
        "<p><a href=\"/login\">Log in</a> to see a service kept here.</p>"))


def login(location_name: str, error: str = "", username: str = "") -> str:
    message = f"<p class=\"error\" role=\"alert\">{escape(error)}</p>" if error else ""
    return page(f"Log in: {location_name}", (
        f"<h1>Log in to {escape(location_name)}</h1>{message}"
        "<form method=\"post\" action=\"/login\">"
        "<label for=\"username\">Username</label>"
        "<input id=\"username\" name=\"username\" autocomplete=\"username\" required "
        f"value=\"{escape(username)}\">"
        "<label for=\"password\">Password</label>"
        "<input id=\"password\" name=\"password\" type=\"password\" "
        "autocomplete=\"current-password\" required>"
        "<p><button type=\"submit\">Log in</button></p></form>"))


def service(location_name: str, view: dict) -> str:
    """The read-only view: each section of ``view`` as a table, in :data:`SECTIONS` order,
    then any section this page does not know by name."""
    known = dict(SECTIONS)
    names = [name for name, _ in SECTIONS if name in view]
    names += [name for name in view if name not in known]
    parts = [f"<h2>{escape(known.get(name, name))}</h2>{_section(view[name])}"
             for name in names]
    return page(f"Service: {location_name}", (
        f"<h1>Service on {escape(location_name)}</h1>"
        "<form method=\"post\" action=\"/logout\"><button type=\"submit\">Log out</button>"
        f"</form>{''.join(parts)}"))


def message(title: str, text: str) -> str:
    return page(title, f"<h1>{escape(title)}</h1><p>{escape(text)}</p>")


def _section(value) -> str:
    if isinstance(value, dict):
        rows = "".join(f"<tr><th scope=\"row\">{escape(str(k))}</th><td>{_cell(v)}</td></tr>"
                       for k, v in value.items())
        return f"<table>{rows}</table>"
    if isinstance(value, list):
        if not value:
            return "<p>None yet.</p>"
        columns = list(dict.fromkeys(k for row in value if isinstance(row, dict) for k in row))
        head = "".join(f"<th scope=\"col\">{escape(str(c))}</th>" for c in columns)
        rows = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c, ''))}</td>" for c in columns)
                       + "</tr>" for row in value if isinstance(row, dict))
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return f"<p>{_cell(value)}</p>"


def _cell(value) -> str:
    return escape("" if value is None else str(value))
