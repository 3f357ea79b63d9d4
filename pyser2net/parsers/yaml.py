"""The ser2net 4.x YAML configuration.

ser2net's YAML is not plain YAML: version 1 repeats top-level keys
(``connection:`` once per connection) and their order matters.  A loader
that builds a dict would silently keep only the last one, so this module
walks the composed node tree in document order instead.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import yaml

from pyser2net.model import Config, Connection, ConnectionOptions, Position
from pyser2net.parsers.errors import ConfigError, ConfigIssue
from pyser2net.parsers.gensio import parse_accepter, parse_connector


class _AnchorLoader(yaml.SafeLoader):
    """Keeps each node's anchor: ser2net names connections by it."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        anchor = None if isinstance(event, yaml.AliasEvent) else getattr(event, "anchor", None)
        node = super().compose_node(parent, index)
        if anchor is not None:
            node.anchor_name = anchor
        return node


def _pos(source: str, node: yaml.Node) -> Position:
    mark = node.start_mark
    return Position(source, mark.line + 1, mark.column + 1)


def _scalar(node: yaml.Node, source: str, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError.at(_pos(source, node), f"{what} must be a single value")
    return str(node.value)


def parse_yaml(text: str, source: str) -> Config:
    try:
        root = yaml.compose(text, Loader=_AnchorLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(source, mark.line + 1, mark.column + 1) if mark else None
        raise ConfigError.at(pos, f"YAML syntax error: {exc.problem}") from None
    if root is None:
        return Config()
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError.at(_pos(source, root), "expected a mapping of connection: entries")
    issues: List[ConfigIssue] = []
    connections: List[Connection] = []
    for key_node, value_node in root.value:
        key = _scalar(key_node, source, "a top-level key")
        try:
            if key == "connection":
                connections.append(_connection(value_node, source))
            else:
                raise ConfigError.at(_pos(source, key_node), f"unknown top-level key {key!r}")
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return Config(connections=tuple(connections))


def _connection(node: yaml.Node, source: str) -> Connection:
    pos = _pos(source, node)
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError.at(pos, "a connection must be a mapping")
    fields: Dict[str, Tuple[str, Position]] = {}
    options: Dict[str, Any] = {}
    for k, v in node.value:
        name = _scalar(k, source, "a connection key")
        if name == "options":
            for ok, ov in v.value:
                options[_scalar(ok, source, "an option name")] = _scalar(ov, source, "an option")
            continue
        fields[name] = (_scalar(v, source, name), _pos(source, v))
    conn_name: Optional[str] = fields.get("name", (getattr(node, "anchor_name", None), pos))[0]
    if not conn_name:
        raise ConfigError.at(pos, "connection needs a name (write connection: &name)")
    for required in ("accepter", "connector"):
        if required not in fields:
            raise ConfigError.at(pos, f"connection {conn_name!r} has no {required}")
    accepter = parse_accepter(*fields["accepter"])
    connector = parse_connector(*fields["connector"])
    timeout = int(fields.get("timeout", ("0", pos))[0])
    enable = fields.get("enable", ("on", pos))[0].lower() not in ("off", "false", "no")
    return Connection(
        name=conn_name, accepter=accepter, connector=connector, timeout=timeout,
        enable=enable, options=ConnectionOptions(**{k.replace("-", "_"): v for k, v in options.items()}),
        position=pos,
    )
