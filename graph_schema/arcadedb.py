"""The embedded default: start, find and stop the ArcadeDB server bundled in `arcadedb-embedded`.

The server runs the package's own Java runtime with the Bolt plugin, bound to 127.0.0.1 on free
ports, its data in the per-user data folder. Only one process may open the database files, so every
client, the CLI included, goes through this one server; `server.json` in the folder says where it
listens, and a running server is reused.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from skd.core.errors import ConfigError, GraphUnavailableError
from skd.core.files import write_json

DATABASE = "kg"
USER = "root"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Where a running embedded server listens, as kept in `server.json`."""

    pid: int
    bolt_port: int
    http_port: int
    password: str
    database: str = DATABASE
    user: str = USER

    @property
    def bolt_uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def package_dir() -> Path:
    spec = importlib.util.find_spec("arcadedb_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise GraphUnavailableError("arcadedb-embedded is not installed: pip install arcadedb-embedded")
    return Path(next(iter(spec.submodule_search_locations)))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


#: servers this process started, kept until they are stopped: a server outlives the call that started it,
#: and a `Popen` dropped while its process runs is a leak (a ResourceWarning, and a zombie once it exits)
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def keep_child(proc: subprocess.Popen[bytes]) -> None:
    _CHILDREN[proc.pid] = proc


def reap(pid: int) -> None:
    """Collect the exit status of `pid` if it is a child that has ended (this process's server or not)."""
    proc = _CHILDREN.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def terminate(pid: int, timeout_s: float) -> bool:
    """SIGTERM, wait up to `timeout_s` for a clean exit, then SIGKILL; True when it had to be killed."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        reap(pid)
        time.sleep(0.1)
    killed = _alive(pid)
    if killed:
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):  # SIGKILL cannot be refused; collect the exit as soon as it is there
            reap(pid)
            if not _alive(pid):
                break
            time.sleep(0.05)
    reap(pid)
    return killed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); its /proc status says so
    with contextlib.suppress(OSError):
        if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return False
    return True


class EmbeddedArcadeDB:
    """Lifecycle of the embedded ArcadeDB server whose state lives in `root`."""

    def __init__(self, root: Path, heap: str = "1g", start_timeout_s: float = 60.0, jvm_options: str = "") -> None:
        self.root = root
        self.heap = heap
        try:
            self.jvm_options = shlex.split(jvm_options)
        except ValueError as e:
            raise ConfigError(f"SKD_ARCADEDB_JVM_OPTIONS {jvm_options!r} is not shell-style words: {e}") from e
        self.start_timeout_s = start_timeout_s
        self.info_path = root / "server.json"
        self.log_path = root / "server.log"
        self.password_path = root / "root-password"

    def status(self) -> ServerInfo | None:
        """The running server, or None (a stale `server.json` is removed)."""
        try:
            info = ServerInfo(**json.loads(self.info_path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if _alive(info.pid) and _port_open(info.bolt_port):
            return info
        if not _alive(info.pid):
            self.info_path.unlink(missing_ok=True)
        return None

    def start(self) -> ServerInfo:
        """Start the server unless one is running; return once Bolt answers."""
        running = self.status()
        if running:
            return running
        self.root.mkdir(parents=True, exist_ok=True)
        pkg = package_dir()
        java = pkg / "jre" / "bin" / "java"
        if not java.exists():
            raise GraphUnavailableError(f"bundled Java runtime not found at {java}")
        password = self._password()
        bolt, http = _free_port(), _free_port()
        props = {
            "arcadedb.server.rootPath": self.root,
            "arcadedb.server.databaseDirectory": self.root / "databases",
            "arcadedb.server.rootPassword": password,
            "arcadedb.server.plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "arcadedb.bolt.host": "127.0.0.1",
            "arcadedb.bolt.port": bolt,
            "arcadedb.server.httpIncomingHost": "127.0.0.1",
            "arcadedb.server.httpIncomingPort": http,
            "arcadedb.server.defaultDatabases": f"{DATABASE}[{USER}]",
        }
        cmd = [
            str(java),
            f"-Xmx{self.heap}",
            *self.jvm_options,
            *(f"-D{k}={v}" for k, v in props.items()),
            "-cp",
            f"{pkg / 'jars'}/*",
            "com.arcadedb.server.ArcadeDBServer",
        ]
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        keep_child(proc)
        info = ServerInfo(pid=proc.pid, bolt_port=bolt, http_port=http, password=password)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise GraphUnavailableError(
                    f"ArcadeDB exited with code {proc.returncode} while starting; see {self.log_path}"
                )
            if _port_open(bolt) and self._http_ready(info):
                write_json(self.info_path, asdict(info), indent=None)
                return info
            time.sleep(0.2)
        proc.kill()
        proc.wait()
        raise GraphUnavailableError(f"ArcadeDB did not answer within {self.start_timeout_s:.0f} s; see {self.log_path}")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the running server cleanly (SIGTERM, then SIGKILL after `timeout_s`); False if none ran."""
        info = self.status()
        if info is None:
            return False
        terminate(info.pid, timeout_s)
        self.info_path.unlink(missing_ok=True)
        return True

    def _password(self) -> str:
        """The root password, made once and kept (mode 600) beside the data."""
        path = self.password_path
        if path.exists():
            return path.read_text().strip()
        pw = secrets.token_urlsafe(18)
        path.write_text(pw)
        path.chmod(0o600)
        return pw

    @staticmethod
    def _http_ready(info: ServerInfo) -> bool:
        try:
            r = httpx.get(f"{info.http_url}/api/v1/ready", timeout=1.0)
        except httpx.HTTPError:
            return False
        return r.status_code < 300
