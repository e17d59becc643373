"""Test harness for end-to-end tests: runs the real minyid binary on a temp folder with a
generated config, an HTTP receiver playing the downstream system, and helpers to post
suggestions and read the journal. Waits are on conditions with deadlines, never fixed sleeps."""

import atexit
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MINYID = os.environ.get("MINYID", "../../build/minyid")
BUILD_PLUGINS = os.environ.get("MINYI_BUILD_PLUGINS", "../../build/plugins")
ABI_DIR = os.environ.get("MINYI_TEST_ABI_DIR", "../../build/tests/abi")
TEST_PLUGINS = os.environ.get("MINYI_TEST_PLUGINS", "../../build/tests/plugins")
SHARED = os.environ.get("MINYI_SHARED_DIR", os.path.join(os.path.dirname(__file__), "../../../shared"))

# Every temporary folder a test process makes lives under one folder that goes when the
# process exits (MINYI_KEEP_TEST_TMP=1 keeps it, to look at after a failure).
_RUN_TMP = tempfile.mkdtemp(prefix="minyi-tests-")
tempfile.tempdir = _RUN_TMP
if not os.environ.get("MINYI_KEEP_TEST_TMP"):
    atexit.register(shutil.rmtree, _RUN_TMP, True)


def wait_until(predicate, timeout=20.0, what="condition"):
    """Polls predicate until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    interval = 0.01
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        tick.wait(interval)
        interval = min(interval * 2, 0.25)


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Origin:
    """An upstream HTTP server minyid fetches from (attachment CDN, work-order API).
    `route(path, query, headers)` returns (status, content_type, body bytes); handlers that
    must stall wait on `self.release`, which close() sets."""

    def __init__(self, route):
        self.release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                status, ctype, body = route(url.path, dict(urllib.parse.parse_qsl(url.query)), self.headers)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Receiver:
    """A downstream HTTP endpoint. `policy(n, body)` returns (status, headers, body) for the
    n-th request (0-based); every request is recorded with its headers and body."""

    def __init__(self, policy=None, tls=None):
        """tls: optional (certfile, keyfile) to serve HTTPS."""
        self.policy = policy or (lambda n, body: (200, {}, b"ok"))
        self.requests = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # one write per response: no Nagle + delayed-ACK stalls

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                with receiver.cond:
                    n = len(receiver.requests)
                    status, headers, out = receiver.policy(n, body)
                    receiver.requests.append(
                        {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": body, "json": parsed, "status": status, "time": time.monotonic()})
                    receiver.cond.notify_all()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/intake"

    def accepted(self):
        """Successfully delivered CloudEvents (2xx), as parsed JSON, in arrival order."""
        with self.cond:
            return [r["json"] for r in self.requests if 200 <= r["status"] < 300]

    def snapshot(self):
        with self.cond:
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


_running = []


@atexit.register
def _kill_leftovers():
    """A failed test must not leave a daemon behind."""
    for proc in _running:
        if proc.poll() is None:
            proc.kill()


class Minyid:
    """One minyid process on its own state folder."""

    def __init__(self, channels=None, sinks=None, minyi=None, tmp=None, config_text=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="minyi-e2e-")
        self.state = os.path.join(self.tmp, "var")
        self.config_path = os.path.join(self.tmp, "minyi.yaml")
        self.log_path = os.path.join(self.tmp, "minyid.log")
        self.proc = None
        self.port = None
        if config_text is None:
            base = {"state_dir": self.state, "plugin_path": [BUILD_PLUGINS],
                    "public": {"listen": "127.0.0.1:0"}, "log": {"level": "info"}}
            for k, v in (minyi or {}).items():
                if isinstance(v, dict) and isinstance(base.get(k), dict):
                    base[k].update(v)
                else:
                    base[k] = v
            cfg = {"minyi": base,
                   "channels": channels if channels is not None else [{"name": "portal", "plugin": "web"}],
                   "sinks": sinks or []}
            config_text = json.dumps(cfg, ensure_ascii=False, indent=2)
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(config_text)

    def run(self, *args, timeout=60):
        """Runs minyid with extra arguments to completion (e.g. --check-config)."""
        return subprocess.run([MINYID, "--config", self.config_path, *args], capture_output=True, text=True,
                              timeout=timeout)

    def start(self, timeout=30, env=None):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([MINYID, "--config", self.config_path], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        _running.append(self.proc)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"minyid exited with {self.proc.returncode}:\n{self.log()}")
            text = self.log()
            marker = "public listener on "
            idx = text.rfind(marker)
            if idx < 0 or text.count("minyid ready") <= self._ready_count:
                return None
            return int(text[idx + len(marker):].split()[0].rsplit(":", 1)[1])

        self._ready_count = self.log().count("minyid ready")
        self.port = wait_until(ready, timeout, "minyid to become ready")
        return self

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout=60):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.terminate()

    def post(self, body, content_type="application/json", path="/v1/suggestions", headers=None, timeout=30):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False)
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = {"Content-Type": content_type} if content_type else {}
            h.update(headers or {})
            conn.request("POST", path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed
        finally:
            conn.close()

    def admin(self, method, path, body=None, timeout=30):
        """A request to the admin listener (unix:STATE_DIR/admin.sock by default)."""
        import socket as socket_mod

        sock_path = os.path.join(self.state, "admin.sock")

        class UnixConnection(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket_mod.socket(socket_mod.AF_UNIX, socket_mod.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(sock_path)

        conn = UnixConnection("localhost", timeout=timeout)
        try:
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode()
            return resp.status, parsed
        finally:
            conn.close()

    def db(self):
        return sqlite3.connect(f"file:{os.path.join(self.state, 'journal.db')}?mode=ro", uri=True, timeout=30)

    def query(self, sql, *args):
        con = self.db()
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def file_events(self, path):
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
