"""Configuration text in, ``model.Config`` out.

ser2net picks the YAML reader when the file name ends in ``.yaml`` or the
text starts with ``%YAML``, and the legacy reader otherwise; so do we.
"""

from __future__ import annotations

import sys
from typing import Sequence

from pyser2net.config.errors import ConfigError, ConfigIssue
from pyser2net.config.legacy import parse_legacy
from pyser2net.config.limits import LimitExceeded, read_file_text, read_stream
from pyser2net.config.model import Config
from pyser2net.config.yaml import parse_yaml

__all__ = ["ConfigError", "ConfigIssue", "load_file", "load_text", "load_legacy_lines",
           "load_yaml_fragments", "is_yaml", "hash_to_newline", "read_text"]


def is_yaml(name: str, text: str) -> bool:
    return name.endswith((".yaml", ".yml")) or text.lstrip().startswith("%YAML")


def load_text(text: str, source: str) -> Config:
    if is_yaml(source, text):
        return parse_yaml(text, source)
    return parse_legacy(text, source)


def read_text(path: str) -> str:
    """A configuration file's text; ``-`` reads standard input.

    Bytes that are not UTF-8 are kept (as surrogates) so that the parsers
    can point at them instead of failing to read the file at all.  Only a
    regular file of bounded size is read (see ``limits``).
    """
    try:
        if path == "-":
            return read_stream(sys.stdin.buffer)
        return read_file_text(path, regular_only=False)
    except OSError as exc:
        raise ConfigError.at(None, f"{path}: cannot read configuration: {exc.strerror}") from None
    except LimitExceeded as exc:
        raise ConfigError.at(None, f"{path}: cannot read configuration: {exc}") from None


def load_file(path: str) -> Config:
    """Read a configuration file; ``-`` reads standard input."""
    return load_text(read_text(path), "<stdin>" if path == "-" else path)


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
