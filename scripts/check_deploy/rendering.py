"""Step 1 of scripts/check-deploy: every template of deploy/ rendered into the temporary
directory, each @NAME@ placeholder known and replaced."""

import re

from .base import Context

TEMPLATES = {
    "huiyuan-web.service": "unit",
    "huiyuan-qcluster.service": "unit",
    "huiyuan-backup.service": "unit",
    "huiyuan-backup.timer": "unit",
    "huiyuan.conf": "nginx",
    "huiyuan.env.example": "env",
    "huiyuan-manage": "script",
    "gunicorn.conf.py": "gunicorn",  # used in place: must hold no placeholder
}
PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


class Rendering(Context):
    def render_text(self, name: str, text: str) -> str:
        for lineno, line in enumerate(text.splitlines(), start=1):
            for unknown in sorted(set(PLACEHOLDER.findall(line)) - set(self.values)):
                self.fail(f"{name}:{lineno}: unknown placeholder @{unknown}@")
        for key, value in self.values.items():
            text = text.replace(f"@{key}@", value)
        for lineno, line in enumerate(text.splitlines(), start=1):
            for left in PLACEHOLDER.findall(line):
                self.fail(f"{name}:{lineno}: placeholder @{left}@ left after rendering")
        return text

    def render(self) -> bool:
        missing = [name for name in TEMPLATES if not (self.deploy_dir / name).is_file()]
        for name in missing:
            self.fail(f"{self.deploy_dir / name} is missing")
        if missing:
            return False
        out = self.tmp / "rendered"
        out.mkdir(parents=True)
        before = len(self.failures)
        for name, kind in TEMPLATES.items():
            source = self.deploy_dir / name
            text = source.read_text(encoding="utf-8")
            if kind == "gunicorn":
                if PLACEHOLDER.search(text):
                    self.fail(f"{name} is used as it is: it must hold no @NAME@ placeholder")
                self.rendered[name] = source
                continue
            if kind == "env" and self.env_source is not None:
                text = self.env_source.read_text(encoding="utf-8")
            target = out / name
            target.write_text(self.render_text(name, text), encoding="utf-8")
            target.chmod(source.stat().st_mode & 0o777)
            self.rendered[name] = target
        if len(self.failures) == before:
            self.ok(f"rendered {len(TEMPLATES)} files, every placeholder known and replaced")
        return True
