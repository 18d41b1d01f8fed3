"""Step 4 of scripts/check-deploy: the nginx site, by its structure (https only, the proxy
headers, nothing served from DATA_DIR, the body limits) and with `nginx -t` when nginx is
installed."""

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

from .base import ROOT, Context

IMPORT_FORM = ROOT / "loyalty" / "imports" / "forms.py"

# URIs the nginx check asks about (config/urls.py, wechat/urls.py; tests/test_deploy.py
# checks they are still the app's).
IMPORT_UPLOAD_URI = "/admin/loyalty/importjob/add/"
SMALL_BODY_URIS = ("/wechat/callback/", "/wechat/pay/notify/", "/sms/inbound/")
SMALL_BODY_RANGE = (16 * 1024, 1024 * 1024)  # a callback fits, a flood does not
OTHER_URIS = ("/", "/staff/", "/api/v1/purchases", "/me/", "/admin/", "/healthz")
DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE = 2621440  # Django's default (2.5 MB)
NGINX_DEFAULT_BODY = 1024 * 1024


class NginxSite(Context):
    @staticmethod
    def nginx_parse(text: str) -> list:
        """[(name, args, block or None)], blocks parsed the same way."""
        token = re.compile(r"""\s+|#[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[{};]|[^\s{};]+""")
        tokens = [t for t in token.findall(text) if t.strip() and not t.startswith("#")]
        tokens = [t[1:-1] if t[:1] in "'\"" else t for t in tokens]
        position = 0

        def block() -> list:
            nonlocal position
            directives, words = [], []
            while position < len(tokens):
                t = tokens[position]
                position += 1
                if t == ";":
                    directives.append((words[0], words[1:], None))
                    words = []
                elif t == "{":
                    directives.append((words[0], words[1:], block()))
                    words = []
                elif t == "}":
                    return directives
                else:
                    words.append(t)
            if words:
                raise ValueError(f"unterminated directive {' '.join(words)!r}")
            return directives

        return block()

    @staticmethod
    def size(text: str) -> int:
        match = re.fullmatch(r"(\d+)([kKmMgG]?)", text)
        if not match:
            raise ValueError(f"not an nginx size: {text}")
        factor = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]
        return int(match.group(1)) * factor

    @staticmethod
    def directive(block: list, name: str) -> list[list[str]]:
        return [args for n, args, _ in block if n == name]

    def pick_location(self, server: list, uri: str):
        """The location nginx uses for `uri`: an exact match, else the longest prefix."""
        locations = [(args, body) for n, args, body in server if n == "location"]
        for args, body in locations:
            if args[0] == "=" and args[1] == uri:
                return " ".join(args), body
        best = None
        for args, body in locations:
            prefix = args[1] if args[0] == "^~" else args[0]
            if args[0] in ("=", "~", "~*") or not uri.startswith(prefix):
                continue
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, body)
        return best

    def check_nginx(self, bind: str) -> None:
        name = "huiyuan.conf"
        try:
            tree = self.nginx_parse(self.rendered[name].read_text(encoding="utf-8"))
        except (ValueError, IndexError) as exc:
            self.fail(f"{name} does not parse: {exc}")
            return
        before = len(self.failures)
        upstreams = {
            args[0]: self.directive(body, "server") for n, args, body in tree if n == "upstream"
        }
        servers = [body for n, _, body in tree if n == "server"]
        regexes = [
            args
            for body in servers
            for args in self.directive(body, "location")
            if args[0] in ("~", "~*")
        ]
        if regexes:
            self.fail(f"{name}: regex locations {regexes}: this check cannot follow them")
        https = [
            s
            for s in servers
            if any("443" in a[0] and "ssl" in a for a in self.directive(s, "listen"))
        ]
        plain = [s for s in servers if s not in https]
        if len(https) != 1:
            self.fail(f"{name}: {len(https)} servers `listen 443 ssl`, not one")
            return
        server = https[0]
        for s in servers:
            names = [n for args in self.directive(s, "server_name") for n in args]
            if self.values["DOMAIN"] not in names:
                self.fail(f"{name}: a server block without server_name @DOMAIN@")
        returns = [
            args
            for s in plain
            for block in [s, *(b for _, _, b in s if b)]
            for args in self.directive(block, "return")
        ]
        if not any(args[:1] == ["301"] and args[1].startswith("https://") for args in returns):
            self.fail(f"{name}: no port-80 server redirecting to https:// (return 301)")
        if any(n == "proxy_pass" for s in plain for _, _, b in s if b for n, _, _ in b):
            self.fail(f"{name}: the port-80 server proxies to the app: plain HTTP reaches it")
        cert = self.directive(server, "ssl_certificate")
        key = self.directive(server, "ssl_certificate_key")
        if cert != [[self.values["TLS_CERT"]]] or key != [[self.values["TLS_KEY"]]]:
            self.fail(f"{name}: ssl_certificate / ssl_certificate_key not @TLS_CERT@ / @TLS_KEY@")

        server_headers = {
            args[0].lower(): " ".join(args[1:])
            for args in self.directive(server, "proxy_set_header")
        }
        wanted = {
            "Host": ("$host",),
            "X-Forwarded-For": ("$proxy_add_x_forwarded_for",),
            "X-Forwarded-Proto": ("$scheme", "https"),
        }
        backend = f"http://{bind}"
        targets = {
            f"http://{u}": [f"http://{s[0]}" for s in servers_] for u, servers_ in upstreams.items()
        }
        for _, args, body in (d for d in server if d[0] == "location"):
            where = f"{name}: location {' '.join(args)}"
            proxied = self.directive(body, "proxy_pass")
            if not proxied:
                continue
            if backend not in targets.get(proxied[0][0], [proxied[0][0]]):
                self.fail(f"{where}: proxy_pass {proxied[0][0]} does not reach gunicorn {bind}")
            own = {a[0].lower(): " ".join(a[1:]) for a in self.directive(body, "proxy_set_header")}
            headers = own or server_headers
            for header, values in wanted.items():
                sent = headers.get(header.lower())
                if sent not in values:
                    said = "missing" if sent is None else f"{sent}"
                    self.fail(
                        f"{where}: proxy_set_header {header} is {said}, not {' or '.join(values)}"
                    )
        for block in [server, *[b for _, _, b in server if b]]:
            for directive_name in ("root", "alias"):
                for args in self.directive(block, directive_name):
                    if args and args[0].startswith(self.values["DATA_DIR"]):
                        self.fail(
                            f"{name}: {directive_name} {args[0]} serves DATA_DIR files "
                            "(uploads hold personal data; static files go through "
                            "WhiteNoise)"
                        )

        def body_limit(uri: str) -> tuple[str, int | None]:
            picked = self.pick_location(server, uri)
            if picked is None:
                self.fail(f"{name}: no location serves {uri}")
                return "", None
            label, body = picked
            sizes = self.directive(body, "client_max_body_size") or self.directive(
                server, "client_max_body_size"
            )
            limit = self.size(sizes[-1][0]) if sizes else NGINX_DEFAULT_BODY
            if not self.directive(body, "proxy_pass"):
                self.fail(f"{name}: {uri} (location {label}) is not proxied to the app")
            return label, limit

        low, high = SMALL_BODY_RANGE
        for uri in SMALL_BODY_URIS:
            label, limit = body_limit(uri)
            if limit is not None and not low <= limit <= high:
                self.fail(
                    f"{name}: {uri} (location {label}) takes bodies up to {limit} bytes, "
                    f"not between {low} and {high}: callbacks are small"
                )
        import_max = self.import_max_bytes()
        label, limit = body_limit(IMPORT_UPLOAD_URI)
        if limit is not None and import_max and limit < import_max:
            self.fail(
                f"{name}: the import upload {IMPORT_UPLOAD_URI} (location {label}) "
                f"takes {limit} bytes, less than the import's MAX_BYTES {import_max}"
            )
        for uri in OTHER_URIS:
            label, limit = body_limit(uri)
            if limit is not None and limit < DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE:
                self.fail(
                    f"{name}: {uri} (location {label}) takes {limit} bytes, less than "
                    f"the {DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE} Django accepts"
                )
        label, limit = body_limit("/static/css/app.css")
        if label and label != "/static/":
            self.fail(f"{name}: no `location /static/` (WhiteNoise serves them, nginx proxies)")
        if len(self.failures) == before:
            self.ok(
                f"{name}: https only, X-Forwarded-For/-Proto and Host on every proxied "
                f"location, /static/ proxied to WhiteNoise, nothing served from DATA_DIR, "
                f"body limits (/wechat/ small, import {import_max} bytes)"
            )
        self.nginx_test()

    def import_max_bytes(self) -> int:
        """MAX_BYTES of the member import's upload form."""
        tree = ast.parse(IMPORT_FORM.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "MAX_BYTES" for t in node.targets
            ):
                expression = ast.Expression(body=node.value)
                return int(eval(compile(expression, str(IMPORT_FORM), "eval"), {}))
        self.fail(f"{IMPORT_FORM.relative_to(ROOT)}: no MAX_BYTES (the import's upload limit)")
        return 0

    def nginx_test(self) -> None:
        nginx = (
            os.environ.get("CHECK_DEPLOY_NGINX")
            or shutil.which("nginx")
            or shutil.which("/usr/sbin/nginx")
        )
        if not nginx:
            self.note("nginx is not installed: the site was checked by the rules above only")
            return
        openssl = shutil.which("openssl")
        if not openssl:
            self.note("openssl is not installed: no certificate for `nginx -t`, skipped")
            return
        tls = Path(self.values["TLS_CERT"]).parent
        tls.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
                f"/CN={self.values['DOMAIN']}",
                "-keyout",
                self.values["TLS_KEY"],
                "-out",
                self.values["TLS_CERT"],
            ],
            capture_output=True,
            check=True,
            timeout=60,
        )
        prefix = self.tmp / "nginx"
        prefix.mkdir()
        main = prefix / "nginx.conf"
        main.write_text(
            f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{}}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n"
            f"  proxy_temp_path {prefix}/proxy;\n  fastcgi_temp_path {prefix}/fastcgi;\n"
            f"  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n"
            f"  include {self.rendered['huiyuan.conf']};\n}}\n"
        )
        done = subprocess.run(
            [nginx, "-t", "-p", str(prefix), "-c", str(main)],
            env={k: v for k, v in os.environ.items() if k != "NGINX"},  # its inherited sockets
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            self.fail("nginx -t: " + (done.stderr or done.stdout).strip().replace("\n", " | "))
        else:
            self.ok(f"nginx -t ({nginx})")
