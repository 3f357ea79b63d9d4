"""Legacy configuration to ser2net 4.x YAML (``--convert``)."""

from __future__ import annotations

from pyser2net.model import Config


def to_yaml(config: Config) -> str:
    raise NotImplementedError
