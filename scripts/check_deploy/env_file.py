"""Step 5 of scripts/check-deploy: the env file lists every variable config/settings.py
reads (and none it does not), in a form systemd and sh read alike, the required ones set;
it is written where the units' EnvironmentFile= points."""

import ast
import base64
import re
import secrets
from pathlib import Path

from .base import ROOT, Context

SETTINGS = ROOT / "config" / "settings.py"

# Variables the env file may set that settings does not read.
EXTRA_VARIABLES = {"WEB_CONCURRENCY": "gunicorn's workers (deploy/gunicorn.conf.py)"}
# Whatever the template's markers say, these must be set.
ALWAYS_REQUIRED = (
    "DEBUG",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "PHONE_HASH_KEY",
    "ALLOWED_HOSTS",
    "DATA_DIR",
    "DATABASE_URL",
    "TRUSTED_PROXIES",
    "PUBLIC_URL",
    "SMS_BACKEND",
)
# A value systemd and sh read alike: no whitespace, quotes, `$`, backslash, sh operators.
UNSAFE_VALUE = re.compile(r"[\s'\"`$\\;&|<>()]|^~")
SET_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
COMMENTED_LINE = re.compile(r"^#([A-Z][A-Z0-9_]*)=(.*)$")


class EnvFile(Context):
    def settings_variables(self) -> set[str]:
        """Every variable config/settings.py reads with env.<type>("NAME", ...)."""
        tree = ast.parse(SETTINGS.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        names = set()
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "env"
                and node.args
            ):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
            elif isinstance(arg, ast.JoinedStr):
                names |= self.expand_fstring(arg, parents)
        return names

    def expand_fstring(self, arg: ast.JoinedStr, parents: dict) -> set[str]:
        """f"WECHAT_TEMPLATE_{event.upper()}" inside a comprehension over a literal tuple."""
        node = arg
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.DictComp | ast.ListComp | ast.SetComp | ast.GeneratorExp):
                generator = node.generators[0]
                if isinstance(generator.target, ast.Name):
                    try:
                        items = ast.literal_eval(generator.iter)
                    except ValueError:
                        break
                    code = compile(ast.Expression(body=arg), str(SETTINGS), "eval")
                    return {
                        eval(code, {"__builtins__": {}}, {generator.target.id: item})
                        for item in items
                    }
        self.fail(f"config/settings.py:{arg.lineno}: a variable name this check cannot read")
        return set()

    def parse_env(self) -> tuple[dict, dict, set]:
        """(set: name -> (value, line), commented: name -> line, required names)."""
        name = "huiyuan.env.example" if self.env_source is None else str(self.env_source)
        values, commented, required = {}, {}, set()
        pending_required = False
        text = self.rendered["huiyuan.env.example"].read_text(encoding="utf-8")
        for lineno, line in enumerate(text.splitlines(), start=1):
            where = f"{name}:{lineno}"
            if not line.strip():
                pending_required = False
                continue
            if line != line.strip():
                self.fail(f"{where}: leading or trailing blanks")
            if line.startswith("#") and not COMMENTED_LINE.match(line):
                pending_required = pending_required or "[required]" in line
                continue
            if match := SET_LINE.match(line):
                key, value = match.groups()
                if UNSAFE_VALUE.search(value):
                    self.fail(
                        f"{where}: {key}'s value has a space, quote, $, backslash or "
                        "sh operator: systemd and sh would read it differently"
                    )
            elif match := COMMENTED_LINE.match(line):
                key = match.group(1)
                if pending_required:
                    self.fail(f"{where}: {key} is [required] but commented out")
            else:
                self.fail(f"{where}: neither NAME=value nor a comment: {line!r}")
                continue
            if key in values or key in commented:
                self.fail(f"{where}: {key} appears twice")
            if line.startswith("#"):
                commented[key] = lineno
            else:
                values[key] = (value, lineno)
            if pending_required:
                required.add(key)
            pending_required = False
        return values, commented, required

    @staticmethod
    def sample_value(key: str) -> str:
        if key == "FIELD_ENCRYPTION_KEYS":
            return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        if key in ("SECRET_KEY", "PHONE_HASH_KEY"):
            return secrets.token_urlsafe(48)
        return f"sample-{key.lower().replace('_', '-')}"

    def check_env(self) -> bool:
        values, commented, required = self.parse_env()
        before = len(self.failures)
        listed = set(values) | set(commented)
        read = self.settings_variables()
        for key in sorted(read - listed):
            self.fail(f"the env file does not list {key}, which config/settings.py reads")
        for key in sorted(listed - read - set(EXTRA_VARIABLES)):
            self.fail(f"the env file lists {key}, which config/settings.py does not read")
        for key in ALWAYS_REQUIRED:
            if key in read and key not in required and self.env_source is None:
                self.fail(f"the env file does not mark {key} [required]")
        filled = []
        for key in sorted(required | (set(ALWAYS_REQUIRED) & read)):
            if key not in values:
                self.fail(f"the env file does not set {key}, which is required")
                continue
            value, lineno = values[key]
            if value:
                continue
            if self.env_source is not None:
                self.fail(f"the env file leaves {key} empty (line {lineno}), which is required")
            else:
                values[key] = (self.sample_value(key), lineno)
                filled.append(key)
        env = {key: value for key, (value, _) in values.items()}
        domain = self.values["DOMAIN"]
        expected = {
            "DEBUG": ("false", "False", "0", "off", "no"),
            "TRUSTED_PROXIES": ("1",),  # nginx, the one proxy that appends X-Forwarded-For
        }
        for key, allowed in expected.items():
            if key in env and env[key] not in allowed:
                self.fail(f"the env file sets {key}={env[key]}, not {allowed[0]}")
        if self.env_source is None:
            if domain not in env.get("ALLOWED_HOSTS", "").split(","):
                self.fail(f"ALLOWED_HOSTS does not name @DOMAIN@ ({domain})")
            if env.get("PUBLIC_URL") != f"https://{domain}":
                self.fail("PUBLIC_URL is not https://@DOMAIN@")
            if env.get("DATA_DIR") != self.values["DATA_DIR"]:
                self.fail("DATA_DIR is not @DATA_DIR@ (the units' ReadWritePaths)")
        env_file = Path(self.values["ENV_FILE"])
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
        env_file.chmod(0o640)
        self.env = env
        if len(self.failures) == before:
            self.ok(
                f"env file: the {len(read)} variables settings reads listed, "
                f"{len(required)} [required] set"
                + (f" (sample values for {', '.join(filled)})" if filled else "")
            )
        return "DEBUG" in env
