"""Documentation that must not drift from the code."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_environment_variable_is_documented():
    settings_source = (ROOT / "kapstone" / "settings.py").read_text()
    names = set(re.findall(r'env_(?:bool|int|str|list|secret)\(\s*"([A-Z_]+)"', settings_source))
    assert "DATABASE_URL" in names and "EMAIL_BACKEND" in names
    documented = (ROOT / "docs" / "configuration.md").read_text()
    missing = sorted(name for name in names if f"KAPSTONE_{name}" not in documented)
    assert not missing, f"undocumented variables: {missing}"


def test_every_dependency_is_explained():
    pyproject = (ROOT / "pyproject.toml").read_text()
    pinned = re.findall(r'^\s*"([A-Za-z0-9_.\-]+)==', pyproject, flags=re.M)
    explained = (ROOT / "docs" / "dependencies.md").read_text().lower()
    missing = [name for name in pinned if f"`{name.lower()}`" not in explained]
    assert not missing, f"dependencies without a line in docs/dependencies.md: {missing}"
