"""Installing an agent: the steps the portal shows a service's owner for each activation
hint, the one-line command of the Linux hints, and the install script it downloads.

- :func:`install_steps` is what the install page (``GET /agent/install``) and the dashboard
  show: plain sentences, commands between backticks (a page renders them as code).
- :func:`one_liner` downloads ``PORTAL/agent/install.sh`` and runs it with the backup
  server's address and the agent's port as arguments; no secret is in it.
- :func:`install_script` is that script (``install.sh`` beside the pages), with the
  portal's address filled in. The script installs from the portal's wheelhouse
  (:mod:`backuprun.portal.agentwheels`) only.
- :func:`portal_url` is the address agents reach the portal at: the ``public_url`` setting
  when there is one (behind a proxy), else the address the request came to.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from importlib.resources import files
from urllib.parse import urlsplit

from backuprun.config import Settings
from backuprun.portal.services.rules import DEFAULT_AGENT_PORT, HINT_SPELLINGS

SCRIPT_PATH = "/agent/install.sh"
WHEELS_PATH = "/agent/wheels/"
_PLACEHOLDER = "@PORTAL_URL@"
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
                   r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")

_DEBIAN = "`apt-get install -y python3 python3-venv curl`"
_PREPARE = {
    "install-on-Linux": "Make sure the server has Python 3.11 or newer with its venv module, "
                        "and curl or wget (Debian and Ubuntu: " + _DEBIAN + "; Fedora: "
                        "`dnf install -y python3 curl`; RHEL and CentOS: "
                        "`dnf install -y python3.11`, then add `--python python3.11` to the "
                        "command below).",
    "install-on-Debian": "Debian 12 comes with Python 3.11; add its venv module and curl: "
                         + _DEBIAN + ".",
    "install-on-Proxmox": "Proxmox VE 8 (Debian 12) comes with Python 3.11; add its venv "
                          "module and curl: " + _DEBIAN + ".",
    "install-on-Ubuntu": "Ubuntu 24.04 comes with Python 3.12; add its venv module and curl: "
                         + _DEBIAN + ". On Ubuntu 22.04, install Python 3.11 instead "
                         "(`apt-get install -y python3.11 python3.11-venv curl`) and add "
                         "`--python python3.11` to the command below.",
    "install-on-Fedora": "Fedora's Python 3 has its venv module built in: "
                         "`dnf install -y python3 curl`.",
    "install-on-CentOS": "CentOS Stream comes with an older Python: install Python 3.11 "
                         "(`dnf install -y python3.11`); the command below uses it.",
    "install-on-Redhat-Enterprise-Linux": "RHEL 8 and 9 come with an older Python: install "
                                          "Python 3.11 (`dnf install -y python3.11`); the "
                                          "command below uses it.",
}
_PYTHON311 = ("install-on-CentOS", "install-on-Redhat-Enterprise-Linux")


def canonical_hint(hint: str) -> str:
    """The activation hint as stored (the document's ``install-on-Proxomx`` is
    ``install-on-Proxmox``); ValueError for one that is not an install method."""
    canonical = HINT_SPELLINGS.get((hint or "").strip())
    if canonical is None:
        raise ValueError(f"{hint!r} is not an activation hint")
    return canonical


def server_address(value: str) -> str:
    """A backup server's public address, ``https://HOST[:PORT]`` (as ``agent trust`` takes
    it); ValueError otherwise."""
    value = (value or "").strip()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} is not https://SERVERIP:HTTPS_PORT") from None
    host = parts.hostname or ""
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{value!r} is not https://SERVERIP:HTTPS_PORT")
    if parts.scheme != "https" or not host or parts.username or parts.password or \
            parts.query or parts.fragment or parts.path not in ("", "/") or \
            not _HOST.fullmatch(parts.netloc) or (":" in host and not _is_ip(host)):
        raise ValueError(f"{value!r} is not https://SERVERIP:HTTPS_PORT")
    return f"https://{parts.netloc}"


def agent_port(value: str | int | None) -> int:
    """The agent's port, 1-65535 (none given: 1167); ValueError otherwise."""
    text = str(value if value is not None else "").strip() or str(DEFAULT_AGENT_PORT)
    if not text.isascii() or not text.isdigit() or len(text) > 5 or \
            not 1 <= int(text) <= 65535:
        raise ValueError(f"{value!r} is not a port (1-65535)")
    return int(text)


def one_liner(portal_url: str, server_url: str, port: int, python: str | None = None) -> str:
    """The command that downloads the install script from the portal and runs it."""
    extra = f" --python {shlex.quote(python)}" if python else ""
    return (f"curl -fsSL {shlex.quote(portal_url + SCRIPT_PATH)} | sh -s -- "
            f"--server {shlex.quote(server_url)} --port {int(port)}{extra}")


def install_steps(hint: str, portal_url: str, server_url: str, port: int) -> list[str]:
    """What the owner does to install the agent by the method ``hint``, step by step."""
    hint = canonical_hint(hint)
    if hint == "install-on-Windows":
        return ["The Windows agent is not available yet: BackupRun cannot protect a Windows "
                "server today.",
                "A Linux server can be protected now: choose one of the Linux install "
                "methods."]
    host = urlsplit(server_url).hostname
    check = (f"The script prints the backup server's fingerprint (`trusted SHA256:...`): "
             f"check that it is the one shown at {server_url}/ before you go on.")
    firewall = (f"Let the backup server ({host}) reach this server on TCP port {port}: open "
                "it in the firewall for that address.")
    if hint == "linux-manual-install":
        return _manual_steps(portal_url, server_url, port) + [firewall]
    python = "python3.11" if hint in _PYTHON311 else None
    run = f"As root, run: `{one_liner(portal_url, server_url, port, python)}`"
    if hint == "linux-express-install":
        return [run + " (it needs Python 3.11 or newer with venv, and curl).", check, firewall]
    return [_PREPARE[hint], run, check,
            f"The agent then runs as the systemd service backuprun-agent, listening on port "
            f"{port}, and starts again at boot (without systemd, it runs in the background: "
            "the script says so).", firewall]


def _manual_steps(portal_url: str, server_url: str, port: int) -> list[str]:
    agent = "/opt/backuprun-agent/bin/backuprun"
    command = f"{agent} agent run --listen 0.0.0.0:{port}"
    return [
        "As root, with Python 3.11 or newer and its venv module installed, make a virtualenv "
        "for the agent: `python3 -m venv /opt/backuprun-agent`",
        f"Install the agent from the portal: `/opt/backuprun-agent/bin/pip install "
        f"--no-index --find-links {shlex.quote(portal_url + WHEELS_PATH)} backuprun`",
        f"Trust the backup server: `{agent} agent trust {shlex.quote(server_url)}`. It "
        f"prints the server's fingerprint: check that it is the one shown at {server_url}/.",
        f"Start the agent at boot: write the systemd unit /etc/systemd/system/"
        f"backuprun-agent.service of the agent's documentation with "
        f"`ExecStart={command}`, then run `systemctl daemon-reload && systemctl enable --now "
        f"backuprun-agent`. Without systemd, run `{command}` in the background.",
    ]


def install_script(portal_url: str) -> str:
    """``install.sh`` with the portal's address filled in."""
    text = (files(__package__) / "pages" / "install.sh").read_text(encoding="utf-8")
    return text.replace(_PLACEHOLDER, shlex.quote(portal_url), 1)


def portal_url(settings: Settings, scheme: str, host_header: str | None) -> str:
    """The portal's address as agents reach it: ``public_url`` when set, else the request's
    scheme and ``Host`` (a Host that is not a plain host[:port] falls back to the
    configured address)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if host_header and _HOST.fullmatch(host_header) and scheme in ("http", "https"):
        return f"{scheme}://{host_header}"
    return settings.resolved_public_url


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
