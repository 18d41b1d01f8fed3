"""A fake WeChat server on 127.0.0.1 for development and tests (there is no internet here).

It answers the endpoints Huiyuan calls, the way WeChat does (JSON bodies with
errcode/errmsg, HTTP 200 even for errors), and records every request so tests can
assert on what was sent:

- GET  /cgi-bin/token                     access token (a new one invalidates the old one)
- GET  /cgi-bin/user/info                 a follower's profile (subscribe 1)
- POST /cgi-bin/message/template/send     template message
- POST /cgi-bin/qrcode/create             parametric QR code (ticket + url)
- POST /cgi-bin/menu/create               custom menu
- GET  /connect/oauth2/authorize          302 back to redirect_uri with a one-time code
- GET  /sns/oauth2/access_token           code -> openid (a used code is errcode 40163)

Control (for tests and the demo): GET /_fake/log (every request with the answer it got:
"answer" is {"status", "errcode"}, or "dropped"), GET /_fake/stats (requests, distinct
recipients and deliveries per path), POST /_fake/reset, POST /_fake/heal (switches the
failures off, keeps the log and the token), POST /_fake/expire_token (the current token
stops working, as when it expires), POST /_fake/fail with
{"path": "/cgi-bin/message/template/send", "errcode": 45009, "times": 1} (also -1, WeChat's
"system busy"), {"path": ..., "status": 500, "times": 1} (an HTTP error, as WeChat's
front answers when its back end is down) or {"path": ..., "delay": 3, "times": 1} (answers
only after `delay` seconds: a timeout). "path": "*" is every WeChat path.

A delayed request whose client gave up meanwhile (closed the connection: a timeout) is
dropped, not carried out: `answer` "dropped" in the log, nothing delivered. (Real WeChat may
have acted on it; the outbox's retry would then deliver it twice. Nothing can tell: the
template API has no idempotency key.)

Every cgi-bin call but /token checks its access_token against the current one and
answers 40001 otherwise, as WeChat does after another process fetched a new token.

More endpoints come from the package's other modules (the member card, the mini-program,
WeChat Pay v3), each registering its paths with `route()`; their state lives in
`fake.data` (emptied by reset). A mini-program is a second app with its own app id,
secret and token (`apps`).
"""

import json
import logging
import secrets
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

log = logging.getLogger("huiyuan.fake_wechat")

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40013: "invalid appid",
    40029: "invalid code",
    40163: "code been used",
    45009: "reach max api daily quota limit",
}


# Endpoints added by the package's modules: path -> (handler(fake, method, query, body),
# whether the path needs a current access_token). A handler returns a JSON dict (HTTP 200)
# or (status, headers, payload).
ROUTES: dict[str, tuple] = {}


def route(path: str, *, token: bool = True):
    """Register a handler for `path` (an access_token checked first when `token`)."""

    def register(handler):
        ROUTES[path] = (handler, token)
        return handler

    return register


class FakeWeChat:
    """The server's state: what it received, the tokens, OAuth codes and switched-on failures."""

    def __init__(self, app_id: str = "", secret: str = "", apps: dict[str, str] | None = None):
        self.app_id, self.secret = app_id, secret
        # Other apps (a mini-program): app id -> secret, each with a token of its own.
        self.apps = dict(apps or {})
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests: list[dict] = []
            self.failures: list[dict] = []
            self.token = ""
            self.tokens_issued = 0
            self.codes: dict[str, dict] = {}
            self.msg_id = 1000
            self.oauth_openid = ""
            self.app_tokens: dict[str, str] = {}  # the other apps' current tokens
            self.data: dict = {}  # the registered modules' state

    # --- helpers for tests -----------------------------------------------------------

    def fail(
        self, path: str, *, errcode: int = 0, status: int = 0, delay: float = 0, times: int = 1
    ) -> None:
        """The next `times` requests to `path` ("*": any) fail: after `delay` seconds, with
        WeChat's `errcode` (HTTP 200) or the HTTP `status`."""
        with self.lock:
            self.failures.append({"path": path, "errcode": errcode, "status": status,
                                  "delay": delay, "times": times})  # fmt: skip

    def heal(self) -> None:
        """WeChat is back: no more failures (the log and the token stay)."""
        with self.lock:
            self.failures = []

    def expire_token(self) -> None:
        """The current access token stops working (every call with it answers 40001)."""
        with self.lock:
            self.token = "EXPIRED-" + secrets.token_hex(4)
            self.app_tokens = {app: "EXPIRED-" + secrets.token_hex(4) for app in self.app_tokens}

    def delivered(self, path: str = "/cgi-bin/message/template/send") -> list[dict]:
        """The requests to `path` that WeChat carried out (answered with errcode 0)."""
        return [r for r in self.received(path) if carried_out(r)]

    def received(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def stats(self) -> dict:
        """{path: {"requests": n, "distinct_touser": m}}: what a benchmark checks."""
        counts: dict[str, dict] = {}
        with self.lock:
            for request in self.requests:
                entry = counts.setdefault(
                    request["path"], {"requests": 0, "to": set(), "delivered": 0}
                )
                entry["requests"] += 1
                entry["delivered"] += carried_out(request)
                if isinstance(request["body"], dict) and request["body"].get("touser"):
                    entry["to"].add(request["body"]["touser"])
        return {
            path: {
                "requests": e["requests"],
                "distinct_touser": len(e["to"]),
                "delivered": e["delivered"],
            }
            for path, e in counts.items()
        }

    def _take_failure(self, path: str) -> dict | None:
        with self.lock:
            for failure in self.failures:
                if failure["path"] in (path, "*") and failure["times"] > 0:
                    failure["times"] -= 1
                    return failure
        return None

    # --- the endpoints ------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict, body: dict | None, gone=None):
        """Returns (status, headers, payload dict or None), or None for no answer at all
        (`gone()` said the client hung up while a delay held the request)."""
        record = {"method": method, "path": path, "query": query, "body": body}
        with self.lock:
            self.requests.append(record)
        log.info("fake WeChat received %s %s %s", method, path, json.dumps(body, ensure_ascii=False)
                 if body else "")  # fmt: skip
        answer = self._answer(method, path, query, body, gone)
        with self.lock:
            if answer is None:
                record["answer"] = "dropped"
            else:
                payload = answer[2]
                errcode = payload.get("errcode", 0) if isinstance(payload, dict) else None
                record["answer"] = {"status": answer[0], "errcode": errcode}
        return answer

    def _answer(self, method, path, query, body, gone):
        failure = self._take_failure(path)
        if failure and failure["delay"]:
            time.sleep(failure["delay"])
            if gone is not None and gone():
                return None
        if failure and failure["status"]:
            return failure["status"], {}, {"errcode": -1, "errmsg": f"HTTP {failure['status']}"}
        if failure and failure["errcode"]:
            return 200, {}, _error(failure["errcode"])
        if path == "/connect/oauth2/authorize":
            return self._authorize(query)
        if path == "/sns/oauth2/access_token":
            return 200, {}, self._oauth_token(query)
        if path == "/cgi-bin/token":
            return 200, {}, self._token(query)
        if path in ROUTES:
            handler, needs_token = ROUTES[path]
            if needs_token and not self.token_valid(query.get("access_token")):
                return 200, {}, _error(40001)
            answer = handler(self, method, query, body or {})
            return answer if isinstance(answer, tuple) else (200, {}, answer)
        if path.startswith("/cgi-bin/"):
            if not self.token_valid(query.get("access_token")):
                return 200, {}, _error(40001)
            return 200, {}, self._api(path, query, body or {})
        return 404, {}, {"errcode": 404, "errmsg": "not found"}

    def token_valid(self, token: str | None) -> bool:
        """Whether `token` is the current token of the official account or another app."""
        with self.lock:
            return bool(token) and (token == self.token or token in self.app_tokens.values())

    def app_secret(self, app_id: str) -> str | None:
        """The secret of a known app (the official account or another), else None."""
        if app_id == self.app_id or not self.app_id:
            return self.secret
        return self.apps.get(app_id)

    def _token(self, query):
        app_id = query.get("appid", "")
        if self.app_id and app_id != self.app_id:
            if app_id not in self.apps:
                return _error(40013)
            if query.get("secret") != self.apps[app_id]:
                return _error(40001)
            with self.lock:
                self.app_tokens[app_id] = f"FAKE-APP-TOKEN-{secrets.token_hex(8)}"
                return {"access_token": self.app_tokens[app_id], "expires_in": 7200}
        if self.secret and query.get("secret") != self.secret:
            return _error(40001)
        with self.lock:
            self.tokens_issued += 1
            self.token = f"FAKE-TOKEN-{self.tokens_issued}-{secrets.token_hex(4)}"
            return {"access_token": self.token, "expires_in": 7200}

    def _api(self, path, query, body):
        if path == "/cgi-bin/user/info":
            openid = query.get("openid", "")
            return {"subscribe": 1, "openid": openid, "nickname": "", "subscribe_time": 1764230400,
                    "unionid": f"u{openid}", "subscribe_scene": "ADD_SCENE_QR_CODE"}  # fmt: skip
        if path == "/cgi-bin/message/template/send":
            with self.lock:
                self.msg_id += 1
                return {"errcode": 0, "errmsg": "ok", "msgid": self.msg_id}
        if path == "/cgi-bin/qrcode/create":
            ticket = "gQ" + secrets.token_urlsafe(18)
            return {"ticket": ticket, "expire_seconds": body.get("expire_seconds"),
                    "url": f"http://weixin.qq.com/q/{ticket[:22]}"}  # fmt: skip
        if path == "/cgi-bin/menu/create":
            return {"errcode": 0, "errmsg": "ok"}
        return {"errcode": 0, "errmsg": "ok"}

    def _authorize(self, query):
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri or query.get("scope") not in ("snsapi_base", "snsapi_userinfo"):
            return 400, {}, _error(40029)
        # Tests choose the WeChat user with ?openid=; the demo gets one per browser session.
        openid = query.get("openid") or self.oauth_openid or "o" + secrets.token_urlsafe(20)
        code = secrets.token_hex(16)
        with self.lock:
            self.codes[code] = {"openid": openid, "used": False, "at": time.time()}
        parts = urlsplit(redirect_uri)
        extra = urlencode({"code": code, "state": query.get("state", "")})
        location = urlunsplit(parts._replace(query=f"{parts.query}&{extra}".lstrip("&")))
        return 302, {"Location": location}, None

    def _oauth_token(self, query):
        if self.app_id and query.get("appid") != self.app_id:
            return _error(40013)
        with self.lock:
            grant = self.codes.get(query.get("code", ""))
            if grant is None or time.time() - grant["at"] > 300:
                return _error(40029)
            if grant["used"]:
                return _error(40163)
            grant["used"] = True
        return {
            "access_token": "SNS-" + secrets.token_hex(8),
            "expires_in": 7200,
            "refresh_token": "R-" + secrets.token_hex(8),
            "openid": grant["openid"],
            "scope": "snsapi_base",
        }

    # --- running ---------------------------------------------------------------------------

    def serve(self, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
        """Start serving in a daemon thread; returns the server (server.server_port)."""
        fake = self

        class Handler(_Handler):
            state = fake

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def carried_out(request: dict) -> bool:
    """Whether a logged request was answered with errcode 0 (not failed, not dropped)."""
    answer = request.get("answer")
    return isinstance(answer, dict) and answer["errcode"] == 0


def error(errcode: int, errmsg: str = "") -> dict:
    """WeChat's error answer for `errcode` (the modules' handlers return it)."""
    return {"errcode": errcode, "errmsg": errmsg or ERRMSG.get(errcode, "error")}


def _error(errcode: int) -> dict:
    return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}


class _Handler(BaseHTTPRequestHandler):
    state: FakeWeChat
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle's algorithm on, a kept-alive
    # client's delayed ACK holds every answer ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass  # FakeWeChat.handle logs what matters

    def _reply(self, status: int, headers: dict, payload) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode() if payload is not None else b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _gone(self) -> bool:
        """Whether the client closed the connection (nothing more to read: EOF)."""
        try:
            readable, _w, _x = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            # Not JSON (an image upload's multipart): its start is enough for the log.
            body = {"_raw": raw[:200].decode("utf-8", "replace")}
        try:
            if parts.path.startswith("/_fake/"):
                return self._control(parts.path, body or {})
            answer = self.state.handle(method, parts.path, query, body, gone=self._gone)
            if answer is None:
                self.close_connection = True
                return
            self._reply(*answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def _control(self, path: str, body: dict) -> None:
        if path == "/_fake/log":
            with self.state.lock:
                return self._reply(200, {}, list(self.state.requests))
        if path == "/_fake/stats":  # a broadcast's worth of requests, counted
            return self._reply(200, {}, self.state.stats())
        if path == "/_fake/reset":
            self.state.reset()
        elif path == "/_fake/heal":
            self.state.heal()
        elif path == "/_fake/expire_token":
            self.state.expire_token()
        elif path == "/_fake/fail":
            self.state.fail(
                body.get("path", ""),
                errcode=int(body.get("errcode", 0)),
                status=int(body.get("status", 0)),
                delay=float(body.get("delay", 0)),
                times=int(body.get("times", 1)),
            )
        self._reply(200, {}, {"errcode": 0, "errmsg": "ok"})

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")
