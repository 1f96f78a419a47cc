"""``backuprun serve`` as a user runs it, https, and reverse-proxy trust."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ports import free_location_port_base

from .conftest import PASSWORD, Answer, self_signed, unique_email


def cookie_header(answer: Answer) -> str:
    return "; ".join(answer.response.headers.get_list("set-cookie")).lower()


def test_https_serves_secure_cookies(make_portal, new_api, tmp_path):
    certfile, keyfile = self_signed(tmp_path)
    portal = make_portal(certfile=certfile, keyfile=keyfile)
    assert portal.url.startswith("https://")
    api = new_api(portal)
    email = api.register()
    cookie = cookie_header(api.login(email).ok())
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert api.is_logged_in()


def test_trusted_proxy_https_gives_secure_cookie(make_portal, new_api):
    portal = make_portal(forwarded_allow_ips="127.0.0.1")
    api = new_api(portal)
    email = api.register()
    fields = {"apiCALL": "login", "email": email, "password": PASSWORD}
    answer = Answer(api.post(fields, headers={"X-Forwarded-Proto": "https",
                                              "X-Forwarded-For": "198.51.100.1"})).ok()
    assert "secure" in cookie_header(answer)


def test_untrusted_forwarded_proto_is_ignored(portal, new_api):
    api = new_api()
    email = api.register()
    fields = {"apiCALL": "login", "email": email, "password": PASSWORD}
    answer = Answer(api.post(fields, headers={"X-Forwarded-Proto": "https"})).ok()
    assert "secure" not in cookie_header(answer)


# -- the command ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command() -> list[str]:
    script = Path(sys.executable).with_name("backuprun")
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "backuprun.portal.cli"]


@pytest.fixture
def serve(tmp_path):
    """Run ``backuprun serve`` in a subprocess: ``serve(*args, env=...)``; returns the URL.
    ``serve.stop(url)`` stops that server and returns all it printed."""
    procs = []
    by_url = {}

    def start(*args: str, env: dict | None = None, cwd: Path = tmp_path) -> str:
        port = free_port()
        environ = {**os.environ, "BACKUPRUN_ARGON2_MEMORY_KIB": "256",
                   "BACKUPRUN_ARGON2_TIME_COST": "1", "BACKUPRUN_ARGON2_PARALLELISM": "1",
                   "BACKUPRUN_LOCATION_HTTPS_PORT_BASE": str(free_location_port_base()),
                   **(env or {})}
        if "BACKUPRUN_DATABASE_URL" not in (env or {}):
            environ.pop("BACKUPRUN_DATABASE_URL", None)
        proc = subprocess.Popen([*serve_command(), "--port", str(port), *args], cwd=cwd,
                                env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(proc)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    url = f"http://127.0.0.1:{port}/api.php"
                    by_url[url] = proc
                    return url
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.stdout.read().decode())
                time.sleep(0.05)

    def stop(url: str) -> str:
        proc = by_url[url]
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        return out.decode(errors="replace")

    start.stop = stop
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def register_and_login(url: str) -> None:
    with httpx.Client(timeout=30) as http:
        email = unique_email()
        fields = {"apiCALL": "registerNewUser", "email": email, "name": "Cli",
                  "password": PASSWORD}
        Answer(http.post(url, data=fields)).ok()
        Answer(http.post(url, data={"apiCALL": "login", "email": email,
                                    "password": PASSWORD})).ok()


def test_serve_embedded_default(serve, tmp_path):
    url = serve()  # no --data-dir: ./backuprun-data
    register_and_login(url)
    assert (tmp_path / "backuprun-data" / "backuprun.db").exists()


def test_serve_database_url_from_environment(serve, databases, tmp_path):
    database_url = databases.new()
    url = serve("--data-dir", str(tmp_path / "data"),
                env={"BACKUPRUN_DATABASE_URL": database_url})
    register_and_login(url)
    if databases.kind == "sqlite":
        assert not (tmp_path / "data" / "backuprun.db").exists()


def test_serve_migrates_an_existing_database_again(serve, databases, tmp_path):
    """A second start on the same database finds the schema at head and keeps the data."""
    database_url = databases.new()
    env = {"BACKUPRUN_DATABASE_URL": database_url}
    url = serve(env=env)
    email = unique_email()
    with httpx.Client(timeout=30) as http:
        Answer(http.post(url, data={"apiCALL": "registerNewUser", "email": email,
                                    "name": "x", "password": PASSWORD})).ok()
    url2 = serve(env=env)
    with httpx.Client(timeout=30) as http:
        Answer(http.post(url2, data={"apiCALL": "login", "email": email,
                                     "password": PASSWORD})).ok()


def test_serve_config_file(serve, tmp_path):
    config = tmp_path / "backuprun.toml"
    config.write_text(f'data_dir = "{tmp_path / "from-config"}"\nmin_password_length = 40\n')
    url = serve("--config", str(config))
    with httpx.Client(timeout=30) as http:
        Answer(http.post(url, data={"apiCALL": "registerNewUser", "email": unique_email(),
                                    "name": "x", "password": PASSWORD})
               ).fails("password_too_short")
    assert (tmp_path / "from-config" / "backuprun.db").exists()


def test_serve_refuses_unknown_config_keys(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('databse_url = "typo"\n')
    done = subprocess.run([*serve_command(), "--config", str(config)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "databse_url" in done.stdout + done.stderr


def test_serve_config_from_environment(serve, tmp_path):
    """BACKUPRUN_CONFIG names the file; BACKUPRUN_<KEY> beats the file; options beat both."""
    config = tmp_path / "env.toml"
    config.write_text(f'data_dir = "{tmp_path / "ignored"}"\nmin_password_length = 40\n')
    url = serve("--data-dir", str(tmp_path / "from-option"),
                env={"BACKUPRUN_CONFIG": str(config), "BACKUPRUN_MIN_PASSWORD_LENGTH": "8"})
    register_and_login(url)
    assert (tmp_path / "from-option" / "backuprun.db").exists()
    assert not (tmp_path / "ignored").exists()


def test_serve_refuses_bad_environment_values(tmp_path):
    done = subprocess.run([*serve_command()], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={**os.environ, "BACKUPRUN_PORT": "eighty"})
    assert done.returncode != 0
    assert "BACKUPRUN_PORT" in done.stdout + done.stderr


def test_client_leaving_mid_body_costs_one_log_line(serve):
    url = serve()
    host, port = url.split("/")[2].split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(b"POST /api.php HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                        b"Content-Type: application/x-www-form-urlencoded\r\n\r\napiCALL=lo")
            time.sleep(0.2)
    register_and_login(url)  # the server is fine
    output = serve.stop(url)
    assert "Traceback" not in output and "Exception" not in output, output
    request_lines = [line for line in output.splitlines() if "went away" in line]
    assert len(request_lines) == 3, output  # one line per request, no more


# -- several processes -----------------------------------------------------------------------


def answering_pids(port: int) -> set[int]:
    """The processes holding the server side of an established TCP connection on ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    pids = set()
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            pids.add(int(fd.parts[2]))
    return pids


def test_serve_workers_answer_from_several_processes(serve, databases, tmp_path):
    """Two portal processes share the port; the schema was migrated once, before they
    started, on a fresh database; both answer."""
    url = serve("--workers", "2", env={"BACKUPRUN_DATABASE_URL": databases.new()})
    port = int(url.split(":")[2].split("/")[0])
    seen: set[int] = set()
    deadline = time.monotonic() + 20
    while len(seen) < 2 and time.monotonic() < deadline:
        clients = [httpx.Client(timeout=30) for _ in range(12)]
        for client in clients:  # each keeps its connection open
            Answer(client.post(url, data={"apiCALL": "logout"})).ok()
        seen |= answering_pids(port)
        for client in clients:
            client.close()
    assert len(seen) == 2, seen
    register_and_login(url)
    output = serve.stop(url)
    # two portal processes (each also serves the local locations' https ports)
    assert len(set(re.findall(r"Started server process \[(\d+)\]", output))) == 2, output
    assert "Traceback" not in output


# -- failing before anything is created: one line, its own exit code -----------------------


def serve_fails(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BACKUPRUN_")}
    environ["BACKUPRUN_LOCATION_HTTPS_PORT_BASE"] = str(free_location_port_base())
    done = subprocess.run([*serve_command(), *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env={**environ, **(env or {})})
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return done


def test_serve_data_dir_naming_a_file(tmp_path):
    (tmp_path / "a-file").write_text("")
    for data_dir in ("a-file", "a-file/below"):
        done = serve_fails("--data-dir", data_dir, "--port", str(free_port()), cwd=tmp_path)
        assert done.returncode == 3 and "is a file, not a folder" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_serve_unreachable_postgresql(tmp_path):
    url = f"postgresql+psycopg://someone:s3cret@127.0.0.1:{free_port()}/nothing"
    done = serve_fails("--data-dir", "data", "--port", str(free_port()), cwd=tmp_path,
                       env={"BACKUPRUN_DATABASE_URL": url})
    assert done.returncode == 4 and "cannot use the database" in done.stderr
    assert "s3cret" not in done.stderr and "BACKUPRUN_DATABASE_URL" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_serve_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve_fails("--data-dir", "data", "--port", str(port), cwd=tmp_path)
    assert done.returncode == 5 and "address already in use" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no database, no data folder


def test_serve_location_port_in_use(tmp_path):
    base = free_location_port_base()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 529))
        taken.listen()
        done = serve_fails("--data-dir", "data", "--port", str(free_port()), cwd=tmp_path,
                           env={"BACKUPRUN_LOCATION_HTTPS_PORT_BASE": str(base)})
    assert done.returncode == 5, done.stderr
    assert "location 529's backup server cannot listen" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_serve_makes_the_portal_identity_and_checks_remote_certificates(serve, tmp_path):
    """The first start makes the portal's certificate (what a backup server of its own
    pins); a remote location whose server_cert is missing is one line, exit 2."""
    serve("--data-dir", str(tmp_path / "data"))
    assert (tmp_path / "data" / "portal-identity" / "cert.pem").is_file()
    config = tmp_path / "remote.toml"
    config.write_text('[locations.528]\nserver = "https://127.0.0.1:9"\n'
                      f'server_cert = "{tmp_path / "missing.pem"}"\n')
    done = serve_fails("--data-dir", "other", "--config", str(config), "--port",
                       str(free_port()), cwd=tmp_path)
    assert done.returncode == 2 and "server_cert" in done.stderr


def test_backup_server_needs_the_portal_certificate(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKUPRUN_")}
    script = Path(sys.executable).with_name("backuprun")
    done = subprocess.run([str(script), "backup-server", "--location", "528", "--data-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    own = tmp_path.resolve() / "locations" / "528" / "identity" / "cert.pem"
    assert str(own) in done.stderr and own.is_file()
