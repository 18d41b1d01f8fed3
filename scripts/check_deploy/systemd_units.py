"""Step 2 of scripts/check-deploy: the systemd units, by the deployment's own rules and with
`systemd-analyze verify` when it is installed."""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

from .base import ROOT, Context
from .rendering import TEMPLATES


class SystemdUnits(Context):
    @staticmethod
    def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
        sections: dict[str, dict[str, list[str]]] = {}
        current = None
        lines = iter(text.splitlines())
        for raw in lines:
            line = raw.strip()
            while line.endswith("\\"):
                line = line[:-1] + " " + next(lines, "").strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], {})
            elif "=" in line and current is not None:
                key, value = line.split("=", 1)
                current.setdefault(key.strip(), []).append(value.strip())
        return sections

    def check_service(self, name: str, unit: dict, expect: tuple[str, ...]) -> None:
        service = unit.get("Service", {})
        problems_before = len(self.failures)

        def one(key: str) -> str:
            values = service.get(key, [])
            if len(values) != 1:
                self.fail(f"{name}: [Service] needs one {key}= (has {len(values)})")
                return ""
            return values[0]

        user = one("User")
        if user and user != self.values["USER"]:
            self.fail(f"{name}: User={user}, not the app's user @USER@")
        if user in ("root", "0"):
            self.fail(f"{name}: runs as root")
        env_file = one("EnvironmentFile")
        if env_file.startswith("-"):
            self.fail(f"{name}: EnvironmentFile={env_file}: a missing env file must stop it")
        elif env_file and env_file != self.values["ENV_FILE"]:
            self.fail(f"{name}: EnvironmentFile={env_file}, not @ENV_FILE@")
        workdir = one("WorkingDirectory")
        if workdir and workdir != self.values["APP_DIR"]:
            self.fail(f"{name}: WorkingDirectory={workdir}, not @APP_DIR@")
        paths = " ".join(service.get("ReadWritePaths", [])).split()
        if self.values["DATA_DIR"] not in paths:
            self.fail(f"{name}: ReadWritePaths does not include DATA_DIR (@DATA_DIR@)")
        command = shlex.split(one("ExecStart"))
        if not command:
            return
        program = Path(command[0].lstrip("@-:+!"))
        venv = ROOT / ".venv"
        if not program.is_absolute() or not program.is_relative_to(venv):
            self.fail(f"{name}: ExecStart runs {program}, not a program of @APP_DIR@/.venv")
        elif not (program.is_file() and os.access(program, os.X_OK)):
            self.fail(f"{name}: ExecStart's {program} is not an executable (make install?)")
        for arg in command[1:]:
            if arg.startswith("/") and not Path(arg).exists():
                self.fail(f"{name}: ExecStart names {arg}, which does not exist")
        words = " ".join(command[1:])
        for word in expect:
            if word not in words:
                self.fail(f"{name}: ExecStart does not run {word!r}")
        if len(self.failures) == problems_before:
            self.ok(f"{name}: User, EnvironmentFile, WorkingDirectory, ExecStart, ReadWritePaths")

    def check_units(self) -> None:
        units = {
            n: self.parse_unit(self.rendered[n].read_text())
            for n in TEMPLATES
            if n.endswith((".service", ".timer"))
        }
        web = units["huiyuan-web.service"]
        self.check_service(
            "huiyuan-web.service",
            web,
            ("--config " + str(ROOT / "deploy" / "gunicorn.conf.py"), "config.wsgi"),
        )
        self.check_service(
            "huiyuan-qcluster.service",
            units["huiyuan-qcluster.service"],
            (str(ROOT / "manage.py") + " qcluster",),
        )
        self.check_service(
            "huiyuan-backup.service",
            units["huiyuan-backup.service"],
            (str(ROOT / "manage.py") + " backup",),
        )
        if not list(ROOT.glob("*/management/commands/backup.py")):
            self.fail("huiyuan-backup.service runs `manage.py backup`: no such command here")
        for name in ("huiyuan-web.service", "huiyuan-qcluster.service"):
            unit = units[name]
            if unit.get("Install", {}).get("WantedBy") != ["multi-user.target"]:
                self.fail(f"{name}: [Install] WantedBy=multi-user.target missing")
            if not unit.get("Service", {}).get("Restart"):
                self.fail(f"{name}: no Restart=: a crash would leave it down")
            if unit.get("Service", {}).get("KillMode") != ["mixed"]:
                self.fail(
                    f"{name}: KillMode=mixed missing: SIGTERM must reach the main "
                    "process alone, which stops its workers gracefully"
                )
        timer = units["huiyuan-backup.timer"]
        if not timer.get("Timer", {}).get("OnCalendar"):
            self.fail("huiyuan-backup.timer: [Timer] OnCalendar= missing")
        target = timer.get("Timer", {}).get("Unit", ["huiyuan-backup.service"])[0]
        if target not in units:
            self.fail(f"huiyuan-backup.timer: starts {target}, which deploy/ does not have")
        if timer.get("Install", {}).get("WantedBy") != ["timers.target"]:
            self.fail("huiyuan-backup.timer: [Install] WantedBy=timers.target missing")
        self.systemd_verify(list(units))

    def systemd_verify(self, names: list[str]) -> None:
        tool = shutil.which("systemd-analyze")
        if not tool:
            self.note("systemd-analyze is not installed: units checked by the rules above only")
            return
        files = [str(self.rendered[n]) for n in names]
        done = subprocess.run(
            [tool, "verify", *files], capture_output=True, text=True, timeout=60, check=False
        )
        ours = [
            line
            for line in (done.stdout + done.stderr).splitlines()
            if any(n in line for n in names)
        ]
        others = [line for line in (done.stdout + done.stderr).splitlines() if line not in ours]
        for line in ours:
            self.fail(f"systemd-analyze verify: {line}")
        for line in others:
            self.note(f"systemd-analyze verify (not about our units): {line}")
        if done.returncode != 0 and not ours:
            self.fail(f"systemd-analyze verify exited {done.returncode}")
        if done.returncode == 0 and not ours:
            self.ok("systemd-analyze verify: " + ", ".join(names))
