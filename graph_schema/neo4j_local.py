"""Start, find and stop a local Neo4j Community server run from the jars that `./setup.sh` resolves."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, DriverError, Neo4jError

from skd.core.errors import ConfigError, GraphUnavailableError
from skd.core.files import atomic_write, write_text
from skd.graph_schema.arcadedb import ServerInfo, _alive, _free_port, _port_open, keep_child, terminate

DATABASE = "neo4j"
USER = "neo4j"
MIN_JAVA = 17
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"

#: what Neo4j 5's own launcher passes on Java 17+ (the `server.jvm.additional` lines of the default
#: neo4j.conf, less -XX:+AlwaysPreTouch, which commits the whole heap at start, and the profiler aids)
JVM_FLAGS = (
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-Dlog4j2.disable.jmx=true",
    "-Dlog4j.layout.jsonTemplate.maxStringLength=32768",
    "-Dfile.encoding=UTF-8",
)
DEFAULT_GC = "-XX:+UseG1GC"

_SIZE = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")
_SERVER_JAR = re.compile(r"^neo4j-(\d+\.\d+\.\d+)\.jar$")
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')
_HOW_TO_RESOLVE = (
    "run ./setup.sh (or mvn -q -B -f graph_schema/neo4j/pom.xml dependency:copy-dependencies), "
    "or set SKD_NEO4J_LIB_DIR to a folder of Neo4j 5 server jars"
)


def default_lib_dir() -> Path:
    """Where `./setup.sh` copies the Neo4j jars."""
    return Path(__file__).parent / "neo4j" / "target" / "lib"


class EmbeddedNeo4j:
    """Lifecycle of a Neo4j server on 127.0.0.1 whose configuration, data, logs and password live in `root`."""

    def __init__(
        self,
        root: Path,
        lib_dir: Path,
        java: str | None = None,
        heap: str = "512m",
        pagecache: str = "256m",
        start_timeout_s: float = 120.0,
        jvm_options: str = "",
    ) -> None:
        for name, value in (("heap", heap), ("page cache", pagecache)):
            if not _SIZE.match(value):
                raise ConfigError(f"Neo4j {name} size {value!r} is not a size such as 512m or 2g")
        try:
            self.jvm_options = shlex.split(jvm_options)
        except ValueError as e:
            raise ConfigError(f"SKD_NEO4J_JVM_OPTIONS {jvm_options!r} is not shell-style words: {e}") from e
        self.root = root
        self.lib_dir = lib_dir
        self.java = java
        self.heap = heap
        self.pagecache = pagecache
        self.start_timeout_s = start_timeout_s
        self.info_path = root / "server.json"
        self.log_path = root / "server.log"
        self.password_path = root / "neo4j-password"
        self.port_path = root / "bolt-port"
        self.conf_dir = root / "conf"

    def version(self) -> str:
        """The Neo4j version of the jars in `lib_dir`, such as 5.26.30."""
        try:
            found = {m.group(1) for p in self.lib_dir.iterdir() if (m := _SERVER_JAR.match(p.name))}
        except OSError:
            found = set()
        if not found:
            raise GraphUnavailableError(
                f"no Neo4j server jar (neo4j-<version>.jar) in {self.lib_dir}: {_HOW_TO_RESOLVE}"
            )
        if len(found) > 1:
            raise ConfigError(
                f"{self.lib_dir} mixes Neo4j versions {', '.join(sorted(found))}: delete it and {_HOW_TO_RESOLVE}"
            )
        return found.pop()

    def status(self) -> ServerInfo | None:
        """The running server, or None (a stale `server.json` is removed)."""
        info = self._read_info()
        if info is None:
            return None
        if self._is_ours(info.pid) and _port_open(info.bolt_port):
            return info
        if not self._is_ours(info.pid):
            self.info_path.unlink(missing_ok=True)
        return None

    def start(self) -> ServerInfo:
        """Start the server unless one is running; return once the `neo4j` database answers a query over Bolt."""
        running = self.status()
        if running:
            return running
        self.root.mkdir(parents=True, exist_ok=True)
        with self._start_lock():
            running = self.status()  # another process may have started it while this one waited
            if running:
                return running
            stale = self._read_info()
            if stale is not None and self._is_ours(stale.pid):
                raise GraphUnavailableError(
                    f"Neo4j (pid {stale.pid}) runs from {self.root} but Bolt does not answer on port "
                    f"{stale.bolt_port}; stop it (kill {stale.pid}) and see {self.log_path}"
                )
            return self._launch()

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Stop the running server cleanly (SIGTERM, then SIGKILL after `timeout_s`); False if none ran."""
        info = self.status()
        if info is None:
            return False
        if terminate(info.pid, timeout_s):
            (self.root / "run" / "neo4j.pid").unlink(missing_ok=True)  # a killed server leaves it behind
        self.info_path.unlink(missing_ok=True)
        return True

    # -- starting --

    def _launch(self) -> ServerInfo:
        version = self.version()
        if not version.startswith("5."):
            raise ConfigError(f"{self.lib_dir} holds Neo4j {version}; this project runs Neo4j 5: {_HOW_TO_RESOLVE}")
        java = self._find_java()
        bolt = self._bolt_port()
        self._write_conf(bolt)
        password = self._password()
        if not (self.root / "data" / "databases" / "system").exists():
            self._set_initial_password(java, password)
        gc = [] if any(re.match(r"-XX:\+Use\w+GC$", o) for o in self.jvm_options) else [DEFAULT_GC]
        cmd = [
            java,
            # no -Xms: the server logs a warning, but a committed heap (-Xms=-Xmx) costs ~300 MB more RSS at start
            f"-Xmx{self.heap}",
            *gc,
            *JVM_FLAGS,
            *self.jvm_options,
            "-cp",
            f"{self.lib_dir.resolve()}/*",
            ENTRY_POINT,
            f"--home-dir={self.root.resolve()}",
            f"--config-dir={self.conf_dir.resolve()}",
            "--console-mode",
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
        info = ServerInfo(pid=proc.pid, bolt_port=bolt, http_port=0, password=password, database=DATABASE, user=USER)
        try:
            self._wait_ready(proc, info)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
            raise
        _write_secret(self.info_path, json.dumps(asdict(info)))  # it holds the password
        write_text(self.port_path, f"{bolt}\n")
        return info

    def _bolt_port(self) -> int:
        """The port of the last start when it is free again (so Neo4j Browser, Bloom or a service pointed
        at the server find it after a restart), else a fresh free one."""
        try:
            last = int(self.port_path.read_text().strip())
        except (OSError, ValueError):
            return _free_port()
        return last if 0 < last < 65536 and not _port_open(last) and _can_bind(last) else _free_port()

    def admin(self, *args: str, timeout_s: float = 3600.0, heap: str = "1g") -> str:
        """Run `neo4j-admin` (the same jars, Java and configuration) with `args`; its output, or an error
        naming the command and the end of what it printed."""
        java = self._find_java()
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        if not (self.conf_dir / "neo4j.conf").exists():
            self._write_conf(self._bolt_port())
        env = {**os.environ, "NEO4J_HOME": str(self.root.resolve()), "NEO4J_CONF": str(self.conf_dir.resolve())}
        cmd = [java, f"-Xmx{heap}", *JVM_FLAGS, "-cp", f"{self.lib_dir.resolve()}/*", ADMIN_TOOL, *args]
        try:
            done = subprocess.run(
                cmd, cwd=self.root, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired as e:
            raise GraphUnavailableError(
                f"neo4j-admin {' '.join(args[:3])} did not finish within {timeout_s:.0f} s"
            ) from e
        out = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            raise GraphUnavailableError(
                f"neo4j-admin {' '.join(args[:3])} failed with code {done.returncode}:\n{out[-3000:]}"
            )
        return out

    def _wait_ready(self, proc: subprocess.Popen[bytes], info: ServerInfo) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        with GraphDatabase.driver(
            info.bolt_uri, auth=(info.user, info.password), connection_timeout=2.0, max_connection_pool_size=1
        ) as driver:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise GraphUnavailableError(
                        f"Neo4j exited with code {proc.returncode} while starting; see {self.log_path} "
                        f"and {self.root / 'logs' / 'debug.log'}. Last lines:\n{_tail(self.log_path)}"
                    )
                if _port_open(info.bolt_port):
                    try:
                        with driver.session(database=info.database) as session:
                            session.run("RETURN 1 AS ok").consume()
                        return
                    except AuthError as e:
                        raise GraphUnavailableError(
                            f"Neo4j in {self.root} refused the password in {self.password_path} ({e.message}); "
                            f"its data was made with another one: restore that file, or delete {self.root / 'data'}"
                        ) from e
                    except (Neo4jError, DriverError, OSError):
                        pass  # Bolt is up but the database is not online yet
                time.sleep(0.25)
        raise GraphUnavailableError(
            f"Neo4j did not answer within {self.start_timeout_s:.0f} s; see {self.log_path}. "
            f"Last lines:\n{_tail(self.log_path)}"
        )

    def _write_conf(self, bolt_port: int) -> None:
        """neo4j.conf, rewritten at each start; the server refuses to start on an unknown key."""
        root = self.root.resolve()
        settings = {
            "server.directories.data": root / "data",
            "server.directories.logs": root / "logs",
            "server.directories.run": root / "run",
            "server.directories.plugins": root / "plugins",
            "server.directories.import": root / "import",
            "initial.dbms.default_database": DATABASE,
            "server.default_listen_address": "127.0.0.1",
            "server.default_advertised_address": "127.0.0.1",
            "server.bolt.enabled": "true",
            "server.bolt.listen_address": f"127.0.0.1:{bolt_port}",
            "server.bolt.advertised_address": f"127.0.0.1:{bolt_port}",
            "server.bolt.tls_level": "DISABLED",
            "server.http.enabled": "false",
            "server.https.enabled": "false",
            "dbms.security.auth_enabled": "true",
            "dbms.usage_report.enabled": "false",
            # the heap is set by -Xmx on the command line; this records it for the server's own checks
            "server.memory.heap.max_size": self.heap,
            "server.memory.pagecache.size": self.pagecache,
        }
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        lines = ["# Written by skd.graph_schema.neo4j_local at each start; edits are lost."]
        lines += [f"{k}={v}" for k, v in settings.items()]
        write_text(self.conf_dir / "neo4j.conf", "\n".join(lines) + "\n")

    def _password(self) -> str:
        """The password of user neo4j, made once and kept (mode 600) beside the data."""
        try:
            return self.password_path.read_text().strip()
        except FileNotFoundError:
            pass
        if (self.root / "data" / "databases" / "system").exists():
            raise ConfigError(
                f"{self.password_path} is missing but {self.root / 'data'} already has users: "
                f"restore the file, or delete {self.root / 'data'} to start over"
            )
        pw = secrets.token_urlsafe(18)
        _write_secret(self.password_path, pw)
        return pw

    def _set_initial_password(self, java: str, password: str) -> None:
        """`neo4j-admin dbms set-initial-password`, its arguments in a 600 @file so the password stays out of `ps`."""
        argfile = self.root / "set-initial-password.args"
        argfile.unlink(missing_ok=True)
        fd = os.open(argfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"dbms set-initial-password -- {password}\n")  # picocli expands @files; `--` guards a leading -
        env = {**os.environ, "NEO4J_HOME": str(self.root.resolve()), "NEO4J_CONF": str(self.conf_dir.resolve())}
        cmd = [java, "-Xmx256m", "-cp", f"{self.lib_dir.resolve()}/*", ADMIN_TOOL, f"@{argfile.resolve()}"]
        try:
            done = subprocess.run(
                cmd, cwd=self.root, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
            )
        except subprocess.TimeoutExpired as e:
            raise GraphUnavailableError("neo4j-admin dbms set-initial-password did not finish within 120 s") from e
        finally:
            argfile.unlink(missing_ok=True)
        if done.returncode != 0:
            out = (done.stdout + done.stderr).replace(password, "***").strip()
            raise GraphUnavailableError(
                f"neo4j-admin dbms set-initial-password failed with code {done.returncode}:\n{out}"
            )

    def _find_java(self) -> str:
        """A Java 17+ launcher: the `java` argument, else $JAVA_HOME/bin/java, else `java` on PATH."""
        if self.java:
            where = "the configured Java"
            java = shutil.which(self.java)
            if java is None:
                raise ConfigError(f"{where} {self.java!r} is not an executable")
        elif os.environ.get("JAVA_HOME"):
            where = f"$JAVA_HOME/bin/java ({os.environ['JAVA_HOME']})"
            java = shutil.which(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
            if java is None:
                raise GraphUnavailableError(f"{where} is not an executable: fix JAVA_HOME or unset it")
        else:
            where = "java on PATH"
            java = shutil.which("java")
            if java is None:
                raise GraphUnavailableError(
                    f"Neo4j needs Java {MIN_JAVA}+ and none was found (looked at the configured Java, "
                    "$JAVA_HOME/bin/java and java on PATH): install one (apt-get install openjdk-17-jre-headless) "
                    "or set JAVA_HOME"
                )
        try:
            done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise GraphUnavailableError(f"{where} ({java}) does not run: {e}") from e
        m = _JAVA_VERSION.search(done.stderr + done.stdout)
        if m is None:
            raise GraphUnavailableError(f"{where} ({java}) did not say its version: {done.stderr.strip()[:200]}")
        major = int(m.group(2) or 0) if m.group(1) == "1" else int(m.group(1))
        if major < MIN_JAVA:
            raise GraphUnavailableError(
                f"Neo4j 5 needs Java {MIN_JAVA}+ but {where} ({java}) is Java {major}: "
                "install a newer one (apt-get install openjdk-17-jre-headless) and point JAVA_HOME at it"
            )
        return java

    # -- bookkeeping --

    def _read_info(self) -> ServerInfo | None:
        try:
            return ServerInfo(**json.loads(self.info_path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _is_ours(self, pid: int) -> bool:
        """The pid is alive and, where /proc tells, is this root's Neo4j (not a reused pid)."""
        if not _alive(pid):
            return False
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return True
        return ENTRY_POINT.encode() in argv and f"--home-dir={self.root.resolve()}".encode() in argv

    @contextlib.contextmanager
    def _start_lock(self) -> Iterator[None]:
        """Serialises starts across processes, so two clients do not both launch a server on the same data."""
        with (self.root / "start.lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _write_secret(path: Path, text: str) -> None:
    """Replace `path` whole with `text`, readable by its owner only from before the first byte is written."""
    with atomic_write(path) as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
