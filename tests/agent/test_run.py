"""``backuprun agent run`` as a real process, and the backup server's ``agentlink`` to it:
only trusted backup servers get through the handshake; the agent's key is pinned at first
contact and an impostor refused afterwards."""

from __future__ import annotations

import os
import platform
import pwd
import signal
import socket
import ssl
import subprocess
import threading

import httpx
import pytest

from backuprun import __version__
from backuprun.agent import cli
from backuprun.backupserver import agentlink
from backuprun.transport import tls

from .conftest import BACKUPRUN
from .test_trust import assert_one_error_line


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


def trusting(backuprun, data_dir, *identities):
    for identity in identities:
        result = backuprun("agent", "trust", "--key-file", identity.cert_path,
                           "--data-dir", data_dir)
        assert result.returncode == 0, result.stderr
    return data_dir


def test_an_agent_that_trusts_no_one_refuses_to_start(backuprun, root, tmp_path):
    result = backuprun("agent", "run", "--listen", "127.0.0.1:0", "--data-dir",
                       tmp_path / "agent", "--root", root)
    line = assert_one_error_line(result, cli.EXIT_NOT_TRUSTING)
    assert "backuprun agent trust" in line


def test_a_taken_port_is_one_clear_line(backuprun, ids, root, tmp_path):
    data = trusting(backuprun, tmp_path / "agent", ids["server"])
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = backuprun("agent", "run", "--listen", f"127.0.0.1:{port}", "--data-dir",
                           data, "--root", root)
    assert "cannot listen on 127.0.0.1" in assert_one_error_line(result,
                                                                 cli.EXIT_CANNOT_LISTEN)


async def test_a_trusted_backup_server_gets_hello(backuprun, start_agent, ids, root, tmp_path):
    agent = start_agent(trusting(backuprun, tmp_path / "agent", ids["server"]), root)
    context = tls.client_context(ids["server"], agent.cert_pem)
    async with httpx.AsyncClient(verify=context) as http:
        response = await http.get(f"https://127.0.0.1:{agent.port}/v1/hello")
    assert response.status_code == 200
    hello = response.json()
    assert hello == {"hostname": socket.gethostname(), "ostype": platform.system(),
                     "platform": platform.platform(), "version": __version__,
                     "root": str(root), "user": pwd.getpwuid(os.geteuid()).pw_name,
                     "fingerprint": tls.fingerprint_of(agent.cert_pem)}


async def test_an_untrusted_backup_server_is_refused_at_the_handshake(
        backuprun, start_agent, ids, root, tmp_path):
    agent = start_agent(trusting(backuprun, tmp_path / "agent", ids["server"]), root)
    for identity in (ids["other_server"], None):  # another key, or none at all
        context = tls.client_context(identity, agent.cert_pem)
        async with httpx.AsyncClient(verify=context) as http:
            with pytest.raises((httpx.ConnectError, httpx.ReadError,
                                httpx.RemoteProtocolError)):  # TLS 1.3: the alert comes late
                await http.get(f"https://127.0.0.1:{agent.port}/v1/hello")
    with pytest.raises(agentlink.AgentRefused, match="does not trust this backup server"):
        agentlink.connect("127.0.0.1", agent.port, ids["other_server"], None)
    assert agent.process.poll() is None  # still serving the trusted one
    hello, _ = agentlink.connect("127.0.0.1", agent.port, ids["server"], None)
    assert hello["root"] == str(root)


def test_the_agent_key_is_pinned_at_first_contact_and_an_impostor_refused(
        backuprun, start_agent, ids, root, tmp_path):
    real = start_agent(trusting(backuprun, tmp_path / "real", ids["server"]), root)
    hello, pin = agentlink.connect("127.0.0.1", real.port, ids["server"], None)
    assert pin == tls.fingerprint_of(real.cert_pem) == hello["fingerprint"]
    assert agentlink.connect("127.0.0.1", real.port, ids["server"], pin) == (hello, pin)
    port = real.port
    assert real.stop() == 0  # SIGTERM: a graceful stop

    impostor = start_agent(trusting(backuprun, tmp_path / "impostor", ids["server"]), root,
                           port)
    with pytest.raises(agentlink.AgentImpostor) as raised:
        agentlink.connect("127.0.0.1", port, ids["server"], pin)
    assert raised.value.pinned == pin
    assert raised.value.presented == tls.fingerprint_of(impostor.cert_pem)
    assert "not the pinned" in str(raised.value)


def test_trust_changes_apply_without_a_restart(backuprun, start_agent, ids, root, tmp_path):
    data = trusting(backuprun, tmp_path / "agent", ids["server"])
    agent = start_agent(data, root)
    agentlink.connect("127.0.0.1", agent.port, ids["server"], None)
    trusting(backuprun, data, ids["other_server"])
    agentlink.connect("127.0.0.1", agent.port, ids["other_server"], None)
    assert backuprun("agent", "untrust", ids["server"].fingerprint,
                     "--data-dir", data).returncode == 0
    with pytest.raises(agentlink.AgentRefused):
        agentlink.connect("127.0.0.1", agent.port, ids["server"], None)
    agent.process.send_signal(signal.SIGHUP)  # re-reads the store, keeps serving
    agentlink.connect("127.0.0.1", agent.port, ids["other_server"], None)
    assert agent.process.poll() is None


def test_nothing_listening_is_unreachable(ids):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with pytest.raises(agentlink.AgentUnreachable, match=f"127.0.0.1:{port}"):
            agentlink.connect("127.0.0.1", port, ids["server"], None, timeout=5)


def test_a_server_that_is_not_an_agent_is_a_link_error(ids):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        def answer_plain_text() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello")

        thread = threading.Thread(target=answer_plain_text)
        thread.start()
        with pytest.raises(agentlink.AgentLinkError) as raised:
            agentlink.connect("127.0.0.1", port, ids["server"], None, timeout=5)
        thread.join()
    assert type(raised.value) is agentlink.AgentLinkError
    assert isinstance(raised.value.__context__, (ssl.SSLError, OSError, type(None)))


def test_a_root_the_agent_cannot_read_is_one_clear_line(backuprun, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    try:
        done = backuprun("agent", "run", "--root", locked, "--data-dir", tmp_path / "data") \
            if os.geteuid() != 0 else subprocess.run(
                ["setpriv", "--reuid=nobody", "--regid=65534", "--clear-groups",
                 str(BACKUPRUN), "agent", "run", "--root", str(locked), "--data-dir",
                 str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
    finally:
        locked.chmod(0o700)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: --root {locked}: this user cannot read it")
    assert "Traceback" not in done.stderr
