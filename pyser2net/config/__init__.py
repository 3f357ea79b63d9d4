"""Configuration text in, ``model.Config`` out.

ser2net picks the YAML reader when the file name ends in ``.yaml`` or the
text starts with ``%YAML``, and the legacy reader otherwise; so do we.

The ``read_*`` functions return a ``LoadResult``: the valid part of the
configuration with the list of problems (what the daemon serves).  The
``load_*`` functions return a ``Config`` or raise ConfigError on any
problem (``--check``, ``--convert``, tests).

Each reader is imported when a text of its dialect is read: a daemon
serving a YAML file never loads the legacy reader, and one serving a
legacy file never loads the YAML one (nor PyYAML).
"""

from __future__ import annotations

import sys
from typing import Mapping, Optional, Sequence, Tuple

from pyser2net.config.errors import ConfigError, ConfigIssue
from pyser2net.config.gensio import Resolves
from pyser2net.config.limits import LimitExceeded, read_file_text, read_stream
from pyser2net.config.model import Config
from pyser2net.config.result import LoadResult, Rejected

__all__ = [
    "BaseDefaults",
    "ConfigError",
    "ConfigIssue",
    "LoadResult",
    "Rejected",
    "Resolves",
    "load_file",
    "load_text",
    "load_legacy_lines",
    "load_yaml_fragments",
    "read_config",
    "read_config_file",
    "read_legacy_lines",
    "read_yaml_fragments",
    "is_yaml",
    "hash_to_newline",
    "read_text",
]


def is_yaml(name: str, text: str) -> bool:
    return name.endswith((".yaml", ".yml")) or text.lstrip().startswith("%YAML")


#: Defaults set before a YAML file is read, by (class or "", name).
BaseDefaults = Mapping[Tuple[str, str], str]


def read_config(
    text: str,
    source: str,
    defaults: Optional[BaseDefaults] = None,
    resolves: Optional[Resolves] = None,
) -> LoadResult:
    """The valid part of a configuration text, and its problems.

    ``defaults`` (from the command line) apply to YAML, where ser2net has them.
    ``resolves`` is the host lookup that tells a host from a mistyped layer
    (see ``gensio.Resolves``); without it nothing is looked up.
    """
    if is_yaml(source, text):
        from pyser2net.config.yaml import read_yaml

        return read_yaml(text, source, defaults, resolves)
    from pyser2net.config.legacy import read_legacy

    return read_legacy(text, source, resolves)


def load_text(text: str, source: str) -> Config:
    return read_config(text, source).strict()


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


def read_config_file(path: str) -> LoadResult:
    """Read a configuration file; ``-`` reads standard input.

    A file that cannot be read at all raises ConfigError.
    """
    return read_config(read_text(path), "<stdin>" if path == "-" else path)


def load_file(path: str) -> Config:
    """Read a configuration file; ``-`` reads standard input."""
    return read_config_file(path).strict()


def read_legacy_lines(lines: Sequence[str], resolves: Optional[Resolves] = None) -> LoadResult:
    """The ``-C`` option: legacy configuration lines given on the command line."""
    from pyser2net.config.legacy import read_legacy

    return read_legacy("\n".join(lines), "<-C>", resolves)


def load_legacy_lines(lines: Sequence[str]) -> Config:
    return read_legacy_lines(lines).strict()


def read_yaml_fragments(
    fragments: Sequence[str],
    defaults: Optional[BaseDefaults] = None,
    resolves: Optional[Resolves] = None,
) -> LoadResult:
    """The ``-Y`` option: YAML with ``#`` outside quotes standing for a newline."""
    from pyser2net.config.yaml import read_yaml

    text = "\n".join(hash_to_newline(f) for f in fragments)
    return read_yaml(text, "<-Y>", defaults, resolves)


def load_yaml_fragments(fragments: Sequence[str]) -> Config:
    return read_yaml_fragments(fragments).strict()


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
