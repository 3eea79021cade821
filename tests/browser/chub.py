"""chub.py - what the browser tests and the screenshot script share: a real
carehubd started with a config written for the test (against the mosquitto and
redis-server that tests/run started), the API as a person's session or a
service token uses it, events published on the real broker with mosquitto_pub,
and a headless Chromium driven through chromedriver (Debian's chromium,
chromium-driver and python3-selenium).

Every wait has a deadline and polls a condition; nothing sleeps and hopes.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

DEADLINE = 15.0  # seconds, for what should take well under one
BUILD = os.environ.get("CH_BUILD_DIR", "")
SRC = os.environ.get("CH_SRC_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CHROMIUM = os.environ.get("CH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CH_CHROMEDRIVER", "/usr/bin/chromedriver")


def step(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def wait_for(cond, what, deadline=DEADLINE, every=0.05):
    """Polls cond() until it returns something true; that value, or AssertionError at the deadline."""
    end = time.monotonic() + deadline
    last_err = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except AssertionError:
            raise
        except Exception as e:  # a condition may race a page or a hub that is still starting
            last_err = e
        if time.monotonic() > end:
            raise AssertionError("timed out after %.0f s waiting for %s%s" %
                                 (deadline, what, " (last error: %r)" % last_err if last_err else ""))
        time.sleep(every)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publish(topic, payload, port=None):
    port = port or int(os.environ["CH_TEST_MQTT_PORT"])
    if not isinstance(payload, str):
        payload = json.dumps(payload, ensure_ascii=False)
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-m", payload],
                   check=True, timeout=DEADLINE)


def event(device, type_, value=True, **kw):
    """Publishes a canonical event with a unique id on carehub/v1/events/<device>."""
    doc = {"id": "%s:%d" % (device, time.time_ns()), "device": device, "type": type_, "value": value}
    doc.update(kw)
    publish("carehub/v1/events/" + device, doc)


class Hub:
    """One carehubd with its own Redis prefix, scratch directory and HTTP port."""

    TOKEN_ENV = "CH_BROWSER_API_TOKEN"

    def __init__(self, name, registry=None, rules=None, policies=None, channels=None, timezone="Asia/Shanghai",
                 build=None, mqtt_port=None, redis_port=None):
        self.build = build or BUILD
        self.name = "%s-%d" % (name, os.getpid())
        self.dir = os.path.join(self.build, "tests", "scratch", "browser-" + name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        self.token = "browser-test-" + os.urandom(12).hex()
        self.notifications = os.path.join(self.dir, "notifications.jsonl")
        self.log = os.path.join(self.dir, "carehubd.log")
        self.proc = None
        conf = {
            "instance": self.name,
            "state_dir": os.path.join(self.dir, "state"),
            "plugins_dir": os.path.join(self.build, "plugins"),
            "timezone": timezone,
            "mqtt": {"host": "127.0.0.1", "port": int(mqtt_port or os.environ["CH_TEST_MQTT_PORT"]),
                     "client_id": self.name, "keepalive": 10, "reconnect_min": "100ms", "reconnect_max": "1s"},
            "redis": {"host": "127.0.0.1", "port": int(redis_port or os.environ["CH_TEST_REDIS_PORT"]),
                      "prefix": "t:%s:" % self.name},
            "http": {"enabled": True, "listen": "127.0.0.1", "port": self.port, "token_env": self.TOKEN_ENV},
            "registry": {"file": registry or os.path.join(SRC, "tests", "integration", "fixtures", "registry.json")},
            "rules": {"file": rules or os.path.join(SRC, "config", "rules.json")},
            "policies": policies or {
                "by_severity": {s: "p" for s in ("critical", "high", "medium", "low", "info")},
                "policies": {"p": {"steps": [
                    {"after": "0s", "roles": ["family"], "channels": ["log"]},
                    {"after": "10m", "roles": ["caseworker"], "channels": ["log"]}]}}},
            # "%DIR%" in a channel's options stands for this hub's scratch directory.
            "channels": json.loads(json.dumps(channels).replace("%DIR%", self.dir)) if channels
            else {"log": {"plugin": "log", "path": self.notifications}},
            "log": {"level": "debug"},
        }
        self.config = os.path.join(self.dir, "carehub.json")
        with open(self.config, "w", encoding="utf-8") as f:
            json.dump(conf, f, ensure_ascii=False, indent=1)

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def env(self):
        e = dict(os.environ)
        e[self.TOKEN_ENV] = self.token
        e["CAREHUB_URL"] = self.url("")
        e["CAREHUB_API_TOKEN"] = self.token
        return e

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([os.path.join(self.build, "carehubd"), "-c", self.config],
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=self.env())

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("carehubd exited during start (%s):\n%s" % (self.proc.returncode, self.tail()))
            return http_status(self.url("/healthz")) == 200
        wait_for(up, "carehubd's /healthz")
        step("carehubd up on port %d" % self.port)

    def stop(self):
        """SIGTERM and a clean exit (status 0: no sanitizer findings)."""
        if not self.proc:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("carehubd did not stop within 30 s of SIGTERM")
        self.logf.close()
        rc, self.proc = self.proc.returncode, None
        if rc != 0:
            raise AssertionError("carehubd exited with %d:\n%s" % (rc, self.tail()))
        return rc

    def tail(self, n=40):
        try:
            with open(self.log, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def ctl(self, *args, stdin=None):
        """carehubctl against this hub (the service token): (exit status, stdout, stderr)."""
        p = subprocess.run([os.path.join(self.build, "carehubctl")] + list(args), input=stdin, capture_output=True,
                           text=True, env=self.env(), timeout=DEADLINE)
        return p.returncode, p.stdout, p.stderr

    def service(self):
        return Client(self, token=self.token)

    def notifications_for(self, alert_id):
        """The log channel's lines for one alert, in order."""
        out = []
        try:
            with open(self.notifications, encoding="utf-8") as f:
                for line in f:
                    try:
                        j = json.loads(line)
                    except ValueError:
                        continue
                    n = j.get("notification") or {}
                    if (n.get("alert") or {}).get("id") == alert_id or str(j.get("key", "")).startswith(alert_id + ":"):
                        out.append(j)
        except FileNotFoundError:
            pass
        return out


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


class Client:
    """The API as one account uses it: a session cookie plus its CSRF token, or a bearer token."""

    def __init__(self, hub, token=None):
        self.hub, self.token, self.cookie, self.csrf, self.me = hub, token, None, None, None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.hub.url(path), data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if self.cookie:
            req.add_header("Cookie", self.cookie)
            if method != "GET" and self.csrf:
                req.add_header("X-CSRF-Token", self.csrf)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, raw, headers = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, raw, headers = e.code, e.read(), e.headers
        for h in headers.get_all("Set-Cookie") or []:
            first = h.split(";", 1)[0]
            if first.startswith("ch_session="):
                self.cookie = first
        try:
            j = json.loads(raw) if raw else None
        except ValueError:
            j = None
        return status, j

    def login(self, name, password):
        st, j = self.call("POST", "/v1/session", {"name": name, "password": password})
        assert st == 200, "login of %s: %s %s" % (name, st, j)
        self.csrf, self.me = j.get("csrf"), j
        return j

    def get(self, path):
        return self.call("GET", path)

    def post(self, path, body=None):
        return self.call("POST", path, {} if body is None else body)


def alert_doc(j):
    """GET /v1/alerts/{id} as one flat object, whichever shape the hub answers in."""
    if not isinstance(j, dict):
        return {}
    d = dict(j if "id" in j else (j.get("alert") or j))
    for k in ("timeline", "plan", "reached"):
        if k in j:
            d[k] = j[k]
    return d


def browser(width=1600, height=1000, lang="zh-CN"):
    """A fresh headless Chromium: its own profile, no network of its own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            raise AssertionError("%s is missing: install chromium, chromium-driver and python3-selenium "
                                 "(scripts/install-deps does)" % path)
    profile = tempfile.mkdtemp(prefix="carehub-chromium-")
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--user-data-dir=" + profile, "--window-size=%d,%d" % (width, height),
              "--lang=" + lang):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d._carehub_profile = profile
    return d


def browser_quit(d):
    profile = getattr(d, "_carehub_profile", None)
    try:
        d.quit()
    finally:
        if profile:
            shutil.rmtree(profile, ignore_errors=True)


def js(d, script, *args):
    return d.execute_script(script, *args)
