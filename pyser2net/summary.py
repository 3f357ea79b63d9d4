"""The short per-connection summary printed by ``--check``."""

from __future__ import annotations

from pyser2net.model import Config


def summarize(config: Config) -> str:
    return "".join(f"{c.name}: {c.accepter.text} -> {c.connector.text}\n" for c in config.connections)
