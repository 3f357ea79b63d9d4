"""TCP over a serial cable with ser2net 4.3.11 at one end and pyser2net at the other.

``relpkt,msgdelim`` is gensio's; both roles are tried: ser2net as the near
end (``accepter: tcp``, ``connector: relpkt,msgdelim,serialdev``) with
pyser2net's ``conacc`` far end, and the other way round.  The cable is
clean: gensio's msgdelim does not recover from a damaged byte (see
``pyser2net/protocol/msgdelim.py``), so noise is tested between pyser2net
ends only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import connect, read_for, wait_until
from ser2net_helpers import SER2NET
from tunnel import (
    PORT_IN_USE,
    PYSER2NET,
    random_bytes,
    round_trip,
    second_client_refusal,
    tunnel,
    until_closed,
)

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")

ROLES = {
    "ser2net-near": ([SER2NET or "ser2net"], PYSER2NET),
    "ser2net-far": (PYSER2NET, [SER2NET or "ser2net"]),
}


def log(proc: object) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


@pytest.mark.parametrize("roles", sorted(ROLES))
def test_three_successive_connections_each_clean(tmp_path, roles):
    near, far = ROLES[roles]
    with tunnel(tmp_path, "relpkt", near=near, far=far) as t:
        for n in range(3):
            data = random_bytes(20000, n) + b"\xfe\x00\xfe\x01\xfe"
            assert round_trip(t.port, data, timeout=30) == data
        assert wait_until(lambda: t.service.closed_by_peer == 3)


@pytest.mark.parametrize("roles", sorted(ROLES))
def test_the_far_service_refusing(tmp_path, roles):
    """Either far end sends ser2net's open-failure line through the link,
    then closes the link; the near end passes the line on.  pyser2net then
    closes the client; ser2net 4.3.11 answers the link's CLOSE but leaves
    its client connected (ser2net at both ends does the same), so there the
    client hangs up itself."""
    near, far = ROLES[roles]
    message = b"Device open failure: Connection refused\r\n"
    with tunnel(tmp_path, "relpkt", near=near, far=far) as t:
        t.service.close()
        for _ in range(2):  # and the link is ready for the next
            with connect(t.port) as sock:
                if near is PYSER2NET:
                    assert until_closed(sock, 10) == message
                else:
                    assert read_for(sock, 10, until=message) == message
        if near is PYSER2NET:
            assert "closed by the far end" in log(t.near_proc)


@pytest.mark.parametrize("roles", sorted(ROLES))
def test_the_far_end_restarting_mid_stream(tmp_path, roles):
    near, far = ROLES[roles]
    with tunnel(tmp_path, "relpkt", near=near, far=far) as t:
        t.restart_far_mid_stream()
        assert round_trip(t.port, b"after the restart", timeout=20) == b"after the restart"


@pytest.mark.parametrize("roles", sorted(ROLES))
def test_the_near_end_restarting_mid_stream(tmp_path, roles):
    near, far = ROLES[roles]
    with tunnel(tmp_path, "relpkt", near=near, far=far) as t:
        t.restart_near_mid_stream()
        # A pyser2net near end ends the far end's stale session before it
        # opens a new one.  ser2net does not: the far end (pyser2net) sees
        # its INIT on the old session, ends that, and takes the next INIT.
        assert round_trip(t.port, b"after the restart", timeout=20) == b"after the restart"


def test_a_second_client_while_the_link_is_busy_gets_ser2net_refusal_from_ser2net(tmp_path):
    """ser2net as the near end answers a second client as pyser2net does
    (``tests/integration/test_tunnel.py``), and the first keeps its session."""
    with tunnel(tmp_path, "relpkt", near=[SER2NET or "ser2net"], far=PYSER2NET) as t:
        assert second_client_refusal(t.port) == PORT_IN_USE
