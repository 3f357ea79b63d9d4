"""Configuration text in, ``model.Config`` out.

ser2net picks the YAML reader when the file name ends in ``.yaml`` or the
text starts with ``%YAML``, and the legacy reader otherwise; so do we.
"""

from __future__ import annotations

from typing import Sequence

from pyser2net.model import Config
from pyser2net.parsers.errors import ConfigError, ConfigIssue
from pyser2net.parsers.legacy import parse_legacy
from pyser2net.parsers.yaml import parse_yaml

__all__ = ["ConfigError", "ConfigIssue", "load_file", "load_text", "load_legacy_lines",
           "load_yaml_fragments", "is_yaml", "hash_to_newline"]


def is_yaml(name: str, text: str) -> bool:
    return name.endswith((".yaml", ".yml")) or text.lstrip().startswith("%YAML")


def load_text(text: str, source: str) -> Config:
    if is_yaml(source, text):
        return parse_yaml(text, source)
    return parse_legacy(text, source)


def load_file(path: str) -> Config:
    """Read a configuration file; ``-`` reads standard input."""
    import sys

    if path == "-":
        return load_text(sys.stdin.read(), "<stdin>")
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError.at(None, f"{path}: cannot read configuration: {exc.strerror}") from None
    return load_text(text, path)


def load_legacy_lines(lines: Sequence[str]) -> Config:
    """The ``-C`` option: legacy configuration lines given on the command line."""
    return parse_legacy("\n".join(lines), "<-C>")


def load_yaml_fragments(fragments: Sequence[str]) -> Config:
    """The ``-Y`` option: YAML with ``#`` outside quotes standing for a newline."""
    return parse_yaml("\n".join(hash_to_newline(f) for f in fragments), "<-Y>")


def hash_to_newline(fragment: str) -> str:
    """``-Y``: a ``#`` outside quotes stands for a newline (ser2net(8))."""
    out = []
    quote = ""
    for ch in fragment:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            ch = "\n"
        out.append(ch)
    return "".join(out)
