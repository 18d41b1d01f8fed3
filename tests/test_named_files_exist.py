"""Files the code names in its docstrings and comments exist (issue #25: members/models.py
named a DESIGN.md, loyalty's migration 0009 a loyalty/rules_cache.py, neither in the
repository)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A path with a directory (loyalty/rules.py, docs/architecture.md) or a top-level
# document in capitals (README.md).
NAMED = re.compile(r"(?<![\w./-])((?:[\w-]+/)+[\w-]+\.(?:py|md)|[A-Z][A-Z_]+\.md)\b")
SCANNED = [
    *sorted((ROOT / "members").rglob("*.py")),
    *sorted((ROOT / "loyalty" / "migrations").glob("*.py")),
]


def _exists(name: str, module: Path) -> bool:
    app = module.relative_to(ROOT).parts[0]
    return any(p.exists() for p in (ROOT / name, ROOT / app / name, module.parent / name))


def test_every_file_the_members_app_and_loyalty_migrations_name_exists():
    missing = [
        f"{module.relative_to(ROOT)}: {name}"
        for module in SCANNED
        for name in sorted(set(NAMED.findall(module.read_text(encoding="utf-8"))))
        if not _exists(name, module)
    ]
    assert not missing
