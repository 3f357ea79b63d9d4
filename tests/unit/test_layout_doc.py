"""The README's layout table has a line for every module of the package.

A module added without its line, or a line left behind by a module that
moved, fails here rather than misleading a reader of the README.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Set

ROOT = Path(__file__).resolve().parents[2]


def _named_in_layout() -> Set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Layout\n")
    end = text.find("\n## ", start + 1)
    section = text[start:] if end == -1 else text[start:end]
    return set(re.findall(r"^\| `([^`]+)`", section, re.MULTILINE))


def _modules() -> Set[str]:
    """Every module, a package's ``__init__.py`` as the package's directory."""
    found = set()
    for path in (ROOT / "pyser2net").rglob("*.py"):
        name = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py" and path.parent != ROOT / "pyser2net":
            name = name[: -len("__init__.py")]
        found.add(name)
    return found


def test_every_module_has_a_line() -> None:
    assert sorted(_modules() - _named_in_layout()) == []


def test_every_line_names_a_module_that_exists() -> None:
    named = {n for n in _named_in_layout() if n.startswith("pyser2net/")}
    assert sorted(named - _modules()) == []
