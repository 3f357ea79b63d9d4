"""The reload plan: which connections start, stop, change or stay."""

from __future__ import annotations

import dataclasses

from pyser2net.config.model import (
    Accepter,
    Admin,
    Config,
    Connection,
    Connector,
    EchoDevice,
    Position,
)
from pyser2net.config.reload import plan_reload


def conn(name: str, port: int, **changes) -> Connection:
    base = Connection(
        name=name,
        accepter=Accepter(text=f"tcp,{port}", port=port),
        connector=Connector(text="echo", device=EchoDevice()),
    )
    return dataclasses.replace(base, **changes)


def test_identical_configs_change_nothing():
    old = Config(connections=(conn("a", 1), conn("b", 2)))
    plan = plan_reload(old, old)
    assert plan.empty
    assert plan.unchanged == ("a", "b")


def test_new_removed_changed_and_unchanged():
    old = Config(connections=(conn("a", 1), conn("b", 2), conn("c", 3)))
    new = Config(connections=(conn("a", 1), conn("c", 3, timeout=5), conn("d", 4)))
    plan = plan_reload(old, new)
    assert [c.name for c in plan.start] == ["d"]
    assert plan.stop == ("b",)
    assert [c.name for c in plan.replace] == ["c"]
    assert plan.replace[0].timeout == 5
    assert plan.unchanged == ("a",)
    assert plan.kick == ()


def test_disabling_kicks():
    old = Config(connections=(conn("a", 1),))
    new = Config(connections=(conn("a", 1, enable=False),))
    plan = plan_reload(old, new)
    assert plan.kick == ("a",)
    assert [c.name for c in plan.replace] == ["a"]


def test_moving_a_block_is_no_change_but_respelling_the_accepter_is():
    old = Config(connections=(conn("a", 1, position=Position("f", 1, 1)),))
    moved = Config(connections=(conn("a", 1, position=Position("f", 9, 1)),))
    assert plan_reload(old, moved).empty
    respelled = dataclasses.replace(
        old.connections[0], accepter=Accepter(text="tcp,0.0.0.0,1", port=1)
    )
    plan = plan_reload(old, Config(connections=(respelled,)))
    assert [c.name for c in plan.replace] == ["a"]


def test_renamed_connection_is_a_stop_and_a_start():
    plan = plan_reload(Config(connections=(conn("a", 1),)), Config(connections=(conn("b", 1),)))
    assert plan.stop == ("a",) and [c.name for c in plan.start] == ["b"]


def test_admin_change_is_reported():
    adm = Admin(Accepter(text="tcp,7000", port=7000))
    assert plan_reload(Config(), Config(admin=adm)).admin_changed
    assert not plan_reload(Config(admin=adm), Config(admin=adm)).admin_changed
