"""Installing an agent from the portal: the wheelhouse it serves (``/agent/wheels/``), the
install script (``/agent/install.sh``), the steps per activation hint (``/agent/install``),
and, marked slow, the script run for real against a real portal and backup server."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from backuprun.backupserver import agentlink
from backuprun.transport import messages
from backuprun.config import Settings
from backuprun.portal import agentinstall
from backuprun.portal.services.rules import ACTIVATION_HINTS
from backuprun.transport.tls import Identity
from ports import free_location_port_base

from .conftest import TEST_SETTINGS, start_portal

BACKUPRUN = str(Path(sys.executable).with_name("backuprun"))
SERVER = "https://203.0.113.7:9528"
LINUX_HINTS = [h for h in ACTIVATION_HINTS if h not in ("install-on-Windows",
                                                        "linux-manual-install")]


# -- the portal's side -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """A wheelhouse of made-up wheels, with what must never be served beside and in it."""
    root = tmp_path_factory.mktemp("wheelhouse")
    (root / "secret.whl").write_bytes(b"not for you")
    folder = root / "agent-wheels"
    folder.mkdir()
    (folder / "backuprun-0.1.0-py3-none-any.whl").write_bytes(b"ours" * 1000)
    (folder / "zstandard-0.25.0-cp311-cp311-manylinux2014_x86_64.whl").write_bytes(b"z" * 99)
    (folder / ".manifest.json").write_text("{}")
    (folder / "notes.txt").write_text("not a wheel")
    (folder / "sub.whl").mkdir()
    (folder / "link.whl").symlink_to(root / "secret.whl")
    return folder


@pytest.fixture(scope="module")
def portal(wheels, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    p = start_portal(Settings(data_dir=data, database_url=f"sqlite+aiosqlite:///{data}/p.db",
                              location_https_port_base=free_location_port_base(),
                              agent_wheels_dir=str(wheels), **TEST_SETTINGS))
    yield p
    p.stop()


def raw_get(portal, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (httpx would tidy ``..`` away)."""
    host, port = portal.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_listing_links_each_wheel_with_its_sha256(portal, wheels):
    response = httpx.get(portal.url + "/agent/wheels/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    links = re.findall(r'<a href="([^"#]+)#sha256=([0-9a-f]{64})">', response.text)
    assert [name for name, _ in links] == ["backuprun-0.1.0-py3-none-any.whl",
                                           "zstandard-0.25.0-cp311-cp311-manylinux2014_x86_64.whl"]
    for name, digest in links:
        wheel = httpx.get(f"{portal.url}/agent/wheels/{name}")
        assert wheel.status_code == 200
        assert wheel.headers["content-type"] == "application/octet-stream"
        assert wheel.content == (wheels / name).read_bytes()
        assert hashlib.sha256(wheel.content).hexdigest() == digest


def test_nothing_but_the_listed_wheels_is_served(portal):
    for path in ("/agent/wheels/../../../etc/passwd", "/agent/wheels/..%2Fsecret.whl",
                 "/agent/wheels/%2E%2E%2Fsecret.whl", "/agent/wheels/..", "/agent/wheels/.",
                 "/agent/wheels/link.whl", "/agent/wheels/sub.whl", "/agent/wheels/notes.txt",
                 "/agent/wheels/.manifest.json", "/agent/wheels/%2Fetc%2Fpasswd",
                 "/agent/wheels", "/agent/wheels/backuprun-0.1.0-py3-none-any.whl/x"):
        status, body = raw_get(portal, path)
        assert status == 404, path
        assert b"not for you" not in body and b"root:" not in body, path


def test_an_empty_wheelhouse_is_an_empty_listing(tmp_path):
    from backuprun.portal import agentwheels

    assert agentwheels.wheels(tmp_path / "missing") == []
    assert agentwheels.wheel_file(tmp_path / "missing", "backuprun-0.1.0-py3-none-any.whl") \
        is None


def test_install_sh_is_posix_sh_with_this_portals_address(portal, tmp_path):
    response = httpx.get(portal.url + "/agent/install.sh")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert f"\nPORTAL={portal.url}\n" in response.text
    script = tmp_path / "install.sh"
    script.write_text(response.text)
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    for shell in ("dash", "posh", "busybox"):  # the strict ones this machine has
        found = shutil.which(shell)
        if found:
            args = [found, "sh", "-n"] if shell == "busybox" else [found, "-n"]
            assert subprocess.run([*args, str(script)]).returncode == 0, shell
    helped = subprocess.run(["sh", str(script), "--help"], capture_output=True, text=True)
    assert helped.returncode == 0
    for option in ("--server", "--port", "--prefix", "--data-dir", "--root", "--python",
                   "--portal", "--no-start", "--no-systemd", "--insecure"):
        assert option in helped.stdout, option
    wrong = subprocess.run(["sh", str(script), "--port", "1167"], capture_output=True,
                           text=True)
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("backuprun-agent: error: give the backup server")
    wrong = subprocess.run(["sh", str(script), "--server=https://x", "--port=0"],
                           capture_output=True, text=True)
    assert (wrong.returncode, wrong.stderr) == (
        2, "backuprun-agent: error: --port 0: give a port number, 1-65535\n")
    lines = response.text.splitlines(keepends=True)
    assert lines[-1] == 'main "$@"\n'
    for cut in (len(lines) - 1, len(lines) // 2):  # a download cut short runs nothing
        script.write_text("".join(lines[:cut]))
        done = subprocess.run(["sh", str(script), "--server", SERVER], capture_output=True,
                              text=True)
        assert "backuprun-agent:" not in done.stdout + done.stderr


def test_the_portal_address_is_public_url_else_the_requests():
    settings = Settings(host="0.0.0.0", port=8080)
    assert agentinstall.portal_url(settings, "https", "portal.example.com") == \
        "https://portal.example.com"
    assert agentinstall.portal_url(settings, "http", "[2001:db8::1]:8080") == \
        "http://[2001:db8::1]:8080"
    for hostile in ("evil.example'; rm -rf /", "a b", "", None, "x/y", "x@y"):
        assert agentinstall.portal_url(settings, "http", hostile) == "http://0.0.0.0:8080"
    behind_proxy = settings.replace(public_url="https://backup.example.com/")
    assert agentinstall.portal_url(behind_proxy, "http", "10.0.0.5:8080") == \
        "https://backup.example.com"
    script = agentinstall.install_script("https://x.example/it's")
    assert "\nPORTAL='https://x.example/it'\"'\"'s'\n" in script  # quoted for the shell


@pytest.mark.parametrize("hint", [*ACTIVATION_HINTS, "install-on-Proxomx"])
def test_install_steps_per_hint(hint):
    steps = agentinstall.install_steps(hint, "https://portal.example.com", SERVER, 1167)
    text = "\n".join(steps)
    assert steps and all(isinstance(s, str) and s for s in steps)
    assert text.count("`") % 2 == 0
    if hint == "install-on-Windows":
        assert "not available yet" in text and "curl" not in text
        return
    assert "port 1167" in text and "203.0.113.7" in text
    if hint == "linux-manual-install":
        assert "--find-links https://portal.example.com/agent/wheels/ backuprun" in text
        assert f"agent trust {SERVER}" in text
        assert "agent run --listen 0.0.0.0:1167" in text
        return
    python = " --python python3.11" if "CentOS" in hint or "Redhat" in hint else ""
    assert (f"`curl -fsSL https://portal.example.com/agent/install.sh | sh -s -- --server "
            f"{SERVER} --port 1167{python}`") in text
    assert "SHA256" in text


def test_proxomx_is_proxmox_and_unknown_hints_are_refused():
    assert agentinstall.install_steps("install-on-Proxomx", "https://p", SERVER, 1) == \
        agentinstall.install_steps("install-on-Proxmox", "https://p", SERVER, 1)
    with pytest.raises(ValueError):
        agentinstall.install_steps("install-on-AmigaOS", "https://p", SERVER, 1167)


def test_the_install_page_shows_the_steps(portal):
    response = httpx.get(portal.url + "/agent/install", params={
        "hint": "install-on-Debian", "server": SERVER, "port": "2222"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'none'" in response.headers["content-security-policy"]
    assert (f"<code>curl -fsSL {portal.url}/agent/install.sh | sh -s -- --server {SERVER} "
            f"--port 2222</code>") in response.text
    windows = httpx.get(portal.url + "/agent/install", params={
        "hint": "install-on-Windows", "server": SERVER})
    assert "not available yet" in windows.text and "curl" not in windows.text


@pytest.mark.parametrize("params", [
    {"hint": "<b>x</b>", "server": SERVER},
    {"hint": "install-on-Linux", "server": "https://<script>alert(1)</script>"},
    {"hint": "install-on-Linux", "server": "https://a.example/'$(reboot)'"},
    {"hint": "install-on-Linux", "server": "http://a.example:9528"},
    {"hint": "install-on-Linux", "server": SERVER, "port": "70000"},
    {"hint": "install-on-Linux", "server": SERVER, "port": "<i>"},
    {"hint": "install-on-Linux"},
])
def test_the_install_page_refuses_and_escapes_wrong_parameters(portal, params):
    response = httpx.get(portal.url + "/agent/install", params=params)
    assert response.status_code == 400
    for raw in ("<script>", "<b>", "<i>", "curl -fsSL"):
        assert raw not in response.text
    assert 'class="error"' in response.text


def test_agent_wheels_refuses_what_it_cannot_use(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKUPRUN_")}
    (tmp_path / "file").write_text("x")
    for args, words in ((["--out", str(tmp_path / "file")], "is a file"),
                        (["--source", str(tmp_path)], "not BackupRun's source tree")):
        done = subprocess.run([BACKUPRUN, "admin", "agent-wheels", "--data-dir",
                               str(tmp_path / "data"), *args], capture_output=True, text=True,
                              env=env, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and words in done.stderr
        assert done.stderr.count("\n") == 1


# -- the script, run for real ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log.read_text()) from None
            time.sleep(0.05)


def running(pid: int) -> bool:
    """``pid`` runs (a zombie whose parent has not reaped it yet does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2][:1]
    except OSError:
        return False
    return state not in ("Z", "X")


def stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if running(pid):
        os.kill(pid, signal.SIGKILL)


def switch_to_systemd(install: list[str], env: dict, tmp: Path) -> str:
    """Run the install again where "systemd runs" (a folder standing for
    /run/systemd/system, a systemctl that notes its calls): it stops the background agent
    and writes, enables and starts the unit. The unit's text."""
    bin_dir, units, running_dir = tmp / "bin", tmp / "units", tmp / "run-systemd"
    for folder in (bin_dir, units, running_dir):
        folder.mkdir()
    calls = tmp / "systemctl.calls"
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$*" >>{calls}\n')
    systemctl.chmod(0o755)
    env = {**env, "PATH": f"{bin_dir}:{env['PATH']}", "BACKUPRUN_SYSTEMD_UNIT_DIR": str(units),
           "BACKUPRUN_SYSTEMD_RUN_DIR": str(running_dir)}
    done = subprocess.run([a for a in install if a != "--no-systemd"], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stopping the agent started before" in done.stdout
    assert "runs as the systemd service backuprun-agent" in done.stdout
    assert calls.read_text().splitlines() == [
        "daemon-reload", "enable --quiet backuprun-agent", "restart backuprun-agent",
        "is-active --quiet backuprun-agent"]
    return (units / "backuprun-agent.service").read_text()


@pytest.mark.slow
def test_install_sh_installs_trusts_and_starts_the_agent(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKUPRUN_")}
    data = tmp_path / "portal"
    built = subprocess.run([BACKUPRUN, "admin", "agent-wheels", "--data-dir", str(data)],
                           capture_output=True, text=True, env=env, timeout=1800)
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("built: ")
    again = subprocess.run([BACKUPRUN, "admin", "agent-wheels", "--data-dir", str(data)],
                           capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and again.stdout.startswith("up to date: "), again.stderr

    base, port = free_location_port_base(), free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        portal = subprocess.Popen(
            [BACKUPRUN, "serve", "--port", str(port), "--data-dir", str(data)],
            env={**env, "BACKUPRUN_LOCATION_HTTPS_PORT_BASE": str(base)}, stdout=out,
            stderr=subprocess.STDOUT)
    agent_data, root, prefix = tmp_path / "agent", tmp_path / "root", tmp_path / "venv"
    root.mkdir()
    try:
        wait_for_port(port, portal, log)
        wait_for_port(base + 528, portal, log)
        script = tmp_path / "install.sh"
        script.write_text(httpx.get(f"http://127.0.0.1:{port}/agent/install.sh").text)
        agent_port = free_port()
        home = tmp_path / "home"
        home.mkdir()
        # only the portal: no pip configuration, no index, a home of its own
        script_env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8",
                      "TMPDIR": os.environ.get("TMPDIR", "/tmp")}
        install = [
            "sh", str(script), "--server", f"https://127.0.0.1:{base + 528}",
            "--port", str(agent_port), "--prefix", str(prefix), "--data-dir", str(agent_data),
            "--root", str(root), "--python", sys.executable, "--no-systemd"]
        first = subprocess.run(install, capture_output=True, text=True, env=script_env,
                               timeout=600)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "installing the agent into" in first.stdout
        assert "runs in the background" in first.stdout

        server = Identity.load_or_create(data / "locations" / "528" / "identity",
                                         "localhost", ["localhost", "127.0.0.1"])
        assert f"trusted {server.fingerprint}" in first.stdout
        hello, pin = agentlink.connect("127.0.0.1", agent_port, server, None)
        assert hello["root"] == str(root)
        # the agent-only install serves a task's WebSocket too (its own dependencies)
        channel, _ = agentlink.open_channel("127.0.0.1", agent_port, server, pin,
                                            messages.BACKUP_PATH)
        assert channel.receive(timeout=30)["t"] == "hello"
        channel.close()
        listed = subprocess.run([str(prefix / "bin" / "backuprun"), "agent", "trust", "--list",
                                 "--data-dir", str(agent_data)], capture_output=True,
                                text=True, timeout=60)
        assert listed.stdout.split("\t")[0] == server.fingerprint

        old_pid = int((agent_data / "agent.pid").read_text())
        second = subprocess.run(install, capture_output=True, text=True, env=script_env,
                                timeout=600)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "upgrading the agent in" in second.stdout
        assert f"already trusted {server.fingerprint}" in second.stdout
        assert not running(old_pid)
        second_pid = (agent_data / "agent.pid").read_text()
        assert agentlink.connect("127.0.0.1", agent_port, server, pin)[1] == pin  # same key

        agent_only = subprocess.run([str(prefix / "bin" / "backuprun"), "serve"],
                                    capture_output=True, text=True, timeout=60)
        assert agent_only.returncode == 20
        assert "backuprun[server]" in agent_only.stderr
        assert agent_only.stderr.count("\n") == 1

        if os.geteuid() == 0:  # the systemd unit is root's: with a stand-in systemctl
            unit = switch_to_systemd(install, script_env, tmp_path)
            assert unit.count("ExecStart=") == 1
            assert (f"\nExecStart={prefix}/bin/backuprun agent run --listen 0.0.0.0:"
                    f"{agent_port} --data-dir {agent_data} --root {root}\n") in unit
            assert not running(int(second_pid))
            assert not (agent_data / "agent.pid").exists()
    finally:
        pid_file = agent_data / "agent.pid"
        if pid_file.exists():
            stop(int(pid_file.read_text()))
        portal.send_signal(signal.SIGINT)
        try:
            portal.wait(timeout=30)
        except subprocess.TimeoutExpired:
            portal.kill()
            portal.wait()
