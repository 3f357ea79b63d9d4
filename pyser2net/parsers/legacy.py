"""The legacy ``ser2net.conf`` format of ser2net 3.x (still read by 4.x)."""

from __future__ import annotations

from typing import List

from pyser2net.model import Accepter, Config, Connection, Connector, Position, SerialDevice
from pyser2net.parsers.errors import ConfigError, ConfigIssue
from pyser2net.parsers.gensio import apply_serial_word, parse_accepter, serial_settings


def parse_legacy(text: str, source: str) -> Config:
    issues: List[ConfigIssue] = []
    connections: List[Connection] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pos = Position(source, lineno, 1)
        try:
            fields = stripped.split(":", 4)
            if len(fields) < 4:
                raise ConfigError.at(pos, "expected port:state:timeout:device:options")
            port, state, timeout, device = fields[:4]
            words = fields[4].split() if len(fields) > 4 else []
            serial_words = [w for w in words if apply_serial_word({}, w, pos)]
            accepter = parse_accepter(port, pos)
            connections.append(
                Connection(
                    name=port,
                    accepter=Accepter(text=port, port=accepter.port, host=accepter.host,
                                      telnet=state == "telnet"),
                    connector=Connector(
                        text=device,
                        device=SerialDevice(device, serial_settings(serial_words, pos)),
                    ),
                    timeout=int(timeout),
                    enable=state != "off",
                    position=pos,
                )
            )
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return Config(connections=tuple(connections))
