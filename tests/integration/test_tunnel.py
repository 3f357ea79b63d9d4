"""TCP over a serial cable between two pyser2net daemons: relpkt and serialtcp.

Two ptys joined by a relay are the cable (see ``tests/linkcable.py``); the
far daemon's ``conacc`` accepter connects each session on to an echo
service.  The relay is not paced: a pty has no baud rate, and speed is
measured in ``bench/tunnel.py``, not asserted here.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from helpers import connect, daemon, free_port, open_pty, read_exact, wait_until
from tunnel import (
    LINE_RATE,
    PORT_IN_USE,
    EchoService,
    random_bytes,
    round_trip,
    second_client_refusal,
    tunnel,
    until_closed,
)


def log(proc: object) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def resent(proc: object) -> int:
    """Packets the daemon's links sent again, by its "link ended" lines."""
    return sum(
        int(n) for n in re.findall(r"link ended: relpkt sent \d+ packets \((\d+) again", log(proc))
    )


@pytest.mark.parametrize("link", ["relpkt", "serialtcp"])
def test_three_successive_connections_each_round_trip(tmp_path, link):
    with tunnel(tmp_path, link) as t:
        for n in range(3):
            data = random_bytes(65536, n) + b"\x1f\x1f\xfe\x00\xfe\x01\x1fD"
            assert round_trip(t.port, data) == data
        assert wait_until(lambda: t.service.connections == 3)
        assert wait_until(lambda: t.service.closed_by_peer == 3)


@pytest.mark.parametrize("errors_per_byte", [0.0, 1e-4])
def test_a_mebibyte_round_trips_over_relpkt(tmp_path, errors_per_byte):
    """1 MiB through an unpaced cable, clean or with one error in 10 kB
    (flips, drops and doubles), and the ends say what they repaired."""
    with tunnel(tmp_path, "relpkt", errors_per_byte=errors_per_byte) as t:
        data = random_bytes(1 << 20, 7)
        assert round_trip(t.port, data, timeout=120) == data
        damaged = sum(d.flipped + d.dropped + d.doubled for d in t.cable.dirs.values())
        assert (damaged > 100) if errors_per_byte else damaged == 0
        if errors_per_byte:
            assert wait_until(lambda: resent(t.near_proc) > 0 and resent(t.far_proc) > 0)


@pytest.mark.parametrize("errors_per_byte", [0.0, 1e-4])
def test_random_bytes_round_trip_exactly_at_115200_baud(tmp_path, errors_per_byte):
    """The cable paced as a 115200-baud line.  1 MiB would take some 90 s
    each way there, so the tests send 96 KiB; ``bench/tunnel.py`` sends the
    full MiB and measures the throughput."""
    with tunnel(tmp_path, "relpkt", errors_per_byte=errors_per_byte, rate=LINE_RATE) as t:
        data = random_bytes(96 * 1024, 8)
        assert round_trip(t.port, data, timeout=120) == data
        damaged = sum(d.flipped + d.dropped + d.doubled for d in t.cable.dirs.values())
        assert (damaged > 0) if errors_per_byte else damaged == 0


@pytest.mark.parametrize("link", ["relpkt", "serialtcp"])
def test_the_far_service_refusing_closes_the_near_client_with_the_reason(tmp_path, link):
    with tunnel(tmp_path, link) as t:
        t.service.close()  # nothing listens behind the far end now
        with connect(t.port) as sock:
            assert until_closed(sock, 10) == b"Device open failure: Connection refused\r\n"
        expected = (
            "closed by the far end: Connection refused"
            if link == "relpkt"
            else "the far end could not connect"
        )
        assert wait_until(lambda: expected in log(t.near_proc))
        assert "device open failure: tcp,127.0.0.1" in log(t.far_proc)
        # The link is ready for the next connection, which fails the same way.
        with connect(t.port) as sock:
            assert until_closed(sock, 10) == b"Device open failure: Connection refused\r\n"


@pytest.mark.parametrize("link", ["relpkt", "serialtcp"])
def test_closes_go_across_both_ways(tmp_path, link):
    with tunnel(tmp_path, link) as t:
        # The near client closes: the far service sees its connection end.
        sock = connect(t.port)
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
        sock.close()
        assert wait_until(lambda: t.service.closed_by_peer == 1)
        # The far service closes: the near client sees the close.
        sock = connect(t.port)
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
        t.service.hang_up()
        assert until_closed(sock, 10) == b""
        sock.close()
        # And the next connection works.
        assert round_trip(t.port, b"again") == b"again"


def test_a_second_client_is_refused_as_ser2net_refuses_it(tmp_path):
    with tunnel(tmp_path, "relpkt") as t:
        assert second_client_refusal(t.port) == PORT_IN_USE


@pytest.mark.parametrize("link", ["relpkt", "serialtcp"])
def test_the_far_end_restarting_mid_stream_closes_the_client_and_the_next_works(tmp_path, link):
    with tunnel(tmp_path, link) as t:
        t.restart_far_mid_stream()
        assert round_trip(t.port, b"after the restart") == b"after the restart"


@pytest.mark.parametrize("link", ["relpkt", "serialtcp"])
def test_the_near_end_restarting_mid_stream_leaves_the_link_ready(tmp_path, link):
    with tunnel(tmp_path, link) as t:
        t.restart_near_mid_stream()
        assert round_trip(t.port, b"after the restart", timeout=20) == b"after the restart"
        assert wait_until(lambda: t.service.closed_by_peer >= 1, 15)


def test_other_ports_are_served_while_the_tunnel_resends(tmp_path):
    """A second port of the near daemon (an echo connector) answers every
    request while a megabyte crosses a noisy tunnel."""
    other = free_port()
    extra = f"connection: &other\n  accepter: tcp,127.0.0.1,{other}\n  connector: echo\n"
    with tunnel(
        tmp_path, "relpkt", errors_per_byte=1e-4, near_extra=extra, extra_ports=[other]
    ) as t:
        data = random_bytes(1 << 20, 9)
        result: dict = {}
        mover = threading.Thread(target=lambda: result.update(got=round_trip(t.port, data, 120)))
        mover.start()
        answers = 0
        with connect(other) as sock:
            while mover.is_alive() and answers < 2000:
                message = f"request {answers}\n".encode()
                sock.sendall(message)
                echoed = b""
                while len(echoed) < len(message):
                    echoed += sock.recv(len(message) - len(echoed))
                assert echoed == message
                answers += 1
        mover.join(130)
        assert result["got"] == data
        assert answers > 10
        # The tunnel did resend meanwhile (its near end says so as it ends).
        assert wait_until(lambda: resent(t.near_proc) > 0)


def test_the_link_stays_up_while_idle(tmp_path):
    with tunnel(tmp_path, "relpkt") as t:
        sock = connect(t.port)
        sock.sendall(b"a")
        assert sock.recv(1) == b"a"
        time.sleep(8)  # longer than relpkt's six timeouts: keepalives hold it
        sock.sendall(b"b")
        assert sock.recv(1) == b"b"
        sock.close()


def test_a_bare_serial_device_under_conacc_is_a_client_of_the_service(tmp_path):
    """``conacc,serialdev,...`` with no link: the device is the client, at
    once, and what it says reaches the service and back."""
    service = EchoService()
    admin = free_port()
    try:
        with open_pty() as dev:
            config = (
                f"connection: &far\n  accepter: conacc,serialdev,{dev.path},115200n81,"
                f"local\n  connector: tcp,127.0.0.1,{service.port}\n"
                f"admin:\n  accepter: tcp,127.0.0.1,{admin}\n"
            )
            with daemon(config, tmp_path, [admin]):
                assert wait_until(lambda: service.connections == 1)
                os.write(dev.master, b"hello service\n")
                assert read_exact(dev.master, 14) == b"hello service\n"
    finally:
        service.close()


def test_a_bare_device_whose_service_refuses_is_retried_at_the_accepter_retry_time(tmp_path):
    closed = free_port()
    admin = free_port()
    with open_pty() as dev:
        config = (
            f"connection: &far\n  accepter: conacc,serialdev,{dev.path},115200n81,local\n"
            f"  connector: tcp,127.0.0.1,{closed}\n"
            f"  options:\n    accepter-retry-time: 1\n"
            f"admin:\n  accepter: tcp,127.0.0.1,{admin}\n"
        )
        with daemon(config, tmp_path, [admin], extra_args=["-l"]) as proc:
            time.sleep(2.5)
            attempts = log(proc).count("connection from conacc,")
        assert 1 <= attempts <= 4  # once a second, not a tight loop
