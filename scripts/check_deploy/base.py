"""What every step of scripts/check-deploy shares: the checkout's paths, the sample values
the templates are rendered with, and the run's state and reporting."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # scripts/check_deploy/ -> the checkout
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

SAMPLE_DOMAIN = "members.example.com"
SAMPLE_USER = "huiyuan"


class Context:
    """The state of one run (what was rendered where, the env file's values, the failures)
    and its reporting; each step is a mixin over it (checker.Checker puts them together)."""

    def __init__(self, deploy_dir: Path, tmp: Path, env_file: Path | None):
        self.deploy_dir = deploy_dir
        self.tmp = tmp
        self.env_source = env_file
        self.failures: list[str] = []
        self.values = {
            "DOMAIN": SAMPLE_DOMAIN,
            "APP_DIR": str(ROOT),
            "USER": SAMPLE_USER,
            "DATA_DIR": str(tmp / "var" / "lib" / "huiyuan"),
            "ENV_FILE": str(tmp / "etc" / "huiyuan" / "env"),
            "TLS_CERT": str(tmp / "tls" / "fullchain.pem"),
            "TLS_KEY": str(tmp / "tls" / "privkey.pem"),
        }
        self.rendered: dict[str, Path] = {}
        self.env: dict[str, str] = {}

    # -- reporting ------------------------------------------------------------------------

    def fail(self, message: str) -> None:
        self.failures.append(message)
        print(f"FAIL: {message}", flush=True)

    def ok(self, message: str) -> None:
        print(f"ok:   {message}", flush=True)

    def note(self, message: str) -> None:
        print(f"note: {message}", flush=True)
