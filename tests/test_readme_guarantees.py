"""README's Guarantees: every promise names the tests that prove it, and those tests exist (a
renamed or deleted test would leave a promise standing on nothing)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_a_guarantee_names_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Guarantees") : readme.index("## Python API")]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    named: list[tuple[str, str]] = []
    for row in rows[1:]:  # after the header
        current = None
        for file, test in re.findall(r"`(?:tests/)?(test_\w+\.py)?(?:::)?(test_\w+)?`", row):
            current = file or current
            if test:
                assert current is not None, row
                named.append((current, test))
        assert "test_" in row or "scripts/bench/" in row, f"a promise without proof: {row}"
    assert len(named) >= 30
    for file, test in named:
        source = (ROOT / "tests" / file).read_text(encoding="utf-8")
        assert re.search(rf"^(async )?def {test}\(", source, re.MULTILINE), f"{file}::{test}"
    for script in set(re.findall(r"scripts/bench/\w+\.py", section)):
        assert (ROOT / script).is_file(), script
