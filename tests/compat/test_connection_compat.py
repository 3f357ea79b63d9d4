"""Connection behaviour side by side with ser2net 4.3: the observable bytes must match.

Each scenario runs once against ser2net and once against pyser2net with the
same configuration, records what a user could see (bytes on sockets and on
the pty, who got disconnected) and compares the two records.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import pytest

from helpers import (
    Pty,
    connect,
    daemon,
    free_port,
    new_pty,
    open_pty,
    recv_exact,
    recv_until_closed,
)
from ser2net_helpers import SER2NET

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")

Observations = Dict[str, object]


def drain(pty: Pty, first: float = 1.0, quiet: float = 0.3) -> bytes:
    """Whatever reached the device: waits up to ``first`` seconds for a first
    byte, then reads until the line has been quiet for ``quiet`` seconds.

    Generous on purpose: a loaded machine must not turn "late" into "never".
    """
    out = b""
    wait = first
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and select.select([pty.master], [], [], wait)[0]:
        out += os.read(pty.master, 4096)
        wait = quiet
    return out


def compare(
    tmp_path: Path,
    config: str,
    ports: List[int],
    scenario: Callable[[Pty], Observations],
    racy: Optional[Dict[str, Tuple[tuple, object]]] = None,
) -> None:
    """Run ``scenario`` against both daemons and require equal observations.

    ``racy`` names observations where ser2net itself is not deterministic:
    the values it was seen to produce, and the one value pyser2net must
    always produce (the documented behaviour).
    """
    results = []
    for command in ([SER2NET], [sys.executable, "-m", "pyser2net"]):
        dev = new_pty()
        try:
            text = config.replace("@PTY@", dev.path)
            with daemon(text, tmp_path, ports, command=command):
                results.append(scenario(dev))
        finally:
            dev.close()
    theirs, ours = results
    for key, (seen_from_ser2net, documented) in (racy or {}).items():
        assert theirs.pop(key) in seen_from_ser2net
        assert ours.pop(key) == documented
    assert ours == theirs


def conn(port: int, options: Dict[str, str], timeout: int = 0, device: str = "@PTY@") -> str:
    text = (
        f"connection: &c{port}\n  accepter: tcp,127.0.0.1,{port}\n  timeout: {timeout}\n"
        f"  connector: serialdev,{device},115200n81,local\n"
    )
    if options:
        text += "  options:\n" + "".join(f"    {k}: {v}\n" for k, v in options.items())
    return text


def test_banner_openstr_closestr(tmp_path):
    port = free_port()
    # Single quotes: YAML leaves the backslashes to ser2net's own escapes.
    config = conn(
        port,
        {
            "banner": "'hello \\N on \\p\\r\\n'",
            "openstr": "'OPEN\\r\\n'",
            "closestr": "'CLOSE\\r\\n'",
        },
    )

    def scenario(dev: Pty) -> Observations:
        seen: Observations = {}
        with connect(port) as sock:
            seen["banner"] = recv_exact(sock, 64, timeout=1)
            seen["device_on_open"] = drain(dev)
            sock.sendall(b"data")
            seen["device_data"] = drain(dev)
        seen["device_on_close"] = drain(dev)
        return seen

    # ser2net 4.3 sometimes closes the device before its closestr is out.
    compare(
        tmp_path,
        config,
        [port],
        scenario,
        racy={"device_on_close": ((b"", b"CLOSE\r\n"), b"CLOSE\r\n")},
    )


def test_closeon_delivers_then_closes(tmp_path):
    port = free_port()
    config = conn(port, {"closeon": '"bye"', "chardelay": "false"})

    def scenario(dev: Pty) -> Observations:
        with connect(port) as sock:
            time.sleep(0.3)
            dev.write(b"hello bye")
            return {"received": recv_until_closed(sock, timeout=3)}

    compare(tmp_path, config, [port], scenario)


def test_kickolduser_and_refusal(tmp_path):
    kick, single = free_port(), free_port()
    config = conn(kick, {"kickolduser": "true", "openstr": '"O"', "closestr": '"C"'}) + conn(
        single, {}, device="/dev/pyser2net-missing"
    )

    def scenario(dev: Pty) -> Observations:
        seen: Observations = {}
        with connect(kick) as old:
            time.sleep(0.3)
            with connect(kick) as new:
                seen["old"] = recv_until_closed(old, timeout=2)
                time.sleep(0.3)
                seen["device"] = drain(dev)
                new.sendall(b"x")
                seen["device_after"] = drain(dev)
        with connect(single) as sock:
            seen["missing"] = recv_until_closed(sock, timeout=2)
        return seen

    # ser2net 4.3 races its own closestr against the kick: the old session's
    # "C" reaches the device in some runs and not in others.  pyser2net
    # always ends the old session properly (closestr, then openstr).
    compare(tmp_path, config, [kick, single], scenario, racy={"device": ((b"OO", b"OCO"), b"OCO")})


def test_fan_out_and_port_in_use(tmp_path):
    port = free_port()
    config = conn(port, {"max-connections": "2"})

    def scenario(dev: Pty) -> Observations:
        seen: Observations = {}
        a, b = connect(port), connect(port)
        with a, b:
            time.sleep(0.3)
            with connect(port) as third:
                seen["third"] = recv_until_closed(third, timeout=2)
            dev.write(b"to all")
            seen["a"] = recv_exact(a, 6)
            seen["b"] = recv_exact(b, 6)
            a.sendall(b"A")
            b.sendall(b"B")
            seen["device"] = sorted(drain(dev))
        return seen

    compare(tmp_path, config, [port], scenario)


def test_idle_timeout_closes_silently(tmp_path):
    port = free_port()
    config = conn(port, {}, timeout=1)

    def scenario(dev: Pty) -> Observations:
        with connect(port) as sock:
            start = time.monotonic()
            data = recv_until_closed(sock, timeout=5)
            return {"data": data, "closed_in_time": time.monotonic() - start < 4}

    compare(tmp_path, config, [port], scenario)


def test_rotator_hands_out_free_connections(tmp_path):
    a, b, rot = free_port(), free_port(), free_port()
    config = (
        conn(a, {"banner": "'A\\r\\n'"})
        + conn(b, {"banner": "'B\\r\\n'"}, device="echo").replace(
            "serialdev,echo,115200n81,local", "echo"
        )
        + f"rotator: &r\n  accepter: tcp,127.0.0.1,{rot}\n  connections: [ *c{a}, *c{b} ]\n"
    )

    def scenario(dev: Pty) -> Observations:
        seen: Observations = {}
        first = connect(rot)
        second = connect(rot)
        with first, second:
            seen["first"] = recv_exact(first, 3, timeout=2)
            seen["second"] = recv_exact(second, 3, timeout=2)
            with connect(rot) as third:
                seen["third"] = recv_until_closed(third, timeout=2)
        return seen

    compare(tmp_path, config, [a, b, rot], scenario)


def test_udp_first_remote_wins(tmp_path):
    port = free_port()
    config = (
        f"connection: &u\n  accepter: udp,127.0.0.1,{port}\n"
        f"  connector: serialdev,@PTY@,9600n81,local\n"
        f"  options:\n    banner: 'BAN\\r\\n'\n"
    )

    def scenario(dev: Pty) -> Observations:
        seen: Observations = {}
        one = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        two = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with one, two:
            one.settimeout(2)
            two.settimeout(2)
            one.sendto(b"one", ("127.0.0.1", port))
            seen["banner"] = one.recv(100)
            seen["device"] = drain(dev)
            dev.write(b"abc")
            seen["reply"] = one.recv(100)
            two.sendto(b"two", ("127.0.0.1", port))
            seen["refused"] = two.recv(100)
            seen["device_after"] = drain(dev)
        return seen

    compare(tmp_path, config, [port], scenario)


def test_open_failure_texts(tmp_path):
    """Devices that cannot be opened: missing, not a tty, a directory."""
    not_a_tty = tmp_path / "plain-file"
    not_a_tty.write_text("")
    devices = ["/dev/pyser2net-missing", str(not_a_tty), str(tmp_path)]
    ports = [free_port() for _ in devices]
    config = "".join(conn(port, {}, device=dev) for port, dev in zip(ports, devices))

    def scenario(dev: Pty) -> Observations:
        seen: Observations = {}
        for port, device in zip(ports, devices):
            with connect(port) as sock:
                seen[device] = recv_until_closed(sock, timeout=3)
        return seen

    compare(tmp_path, config, ports, scenario)


@pytest.mark.skipif(os.geteuid() != 0, reason="running the daemons as another user needs root")
def test_permission_denied_as_a_service_user(tmp_path):
    """A device of group dialout, a daemon user not in it: same bytes as ser2net,
    and a log line that says which group to join."""
    import grp
    import shutil
    import tempfile

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    dialout = grp.getgrnam("dialout").gr_gid
    # The daemons run as nobody: their files must be readable by anybody.
    shared = Path(tempfile.mkdtemp(prefix="pyser2net-perm-"))
    os.chmod(shared, 0o755)
    as_nobody = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    port = free_port()
    got = {}
    try:
        for name, command in (
            ("ser2net", [SER2NET]),
            ("pyser2net", [sys.executable, "-m", "pyser2net"]),
        ):
            with open_pty() as dev:
                os.chown(dev.path, 0, dialout)
                os.chmod(dev.path, 0o660)
                with daemon(
                    conn(port, {}, device=dev.path),
                    shared,
                    [port],
                    command=as_nobody + command,
                    extra_args=["-u"],
                ) as proc:
                    with connect(port) as sock:
                        got[name] = recv_until_closed(sock, timeout=3)
                    log_path = proc.log_path  # type: ignore[attr-defined]
        assert got["pyser2net"] == got["ser2net"] == b"Device open failure: Permission denied\r\n"
        lines = [line for line in log_path.read_text().splitlines() if "refused" in line]
        assert len(lines) == 1, lines
        assert lines[0].endswith(
            f"device open failure: {dev.path}: permission denied: it belongs to group dialout "
            "(mode 0660); add the user pyser2net runs as (nobody) to that group "
            "(usermod -aG dialout nobody) and restart pyser2net"
        ), lines[0]
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_a_refused_tcp_connector_is_an_open_failure(tmp_path):
    """The connect completes after the client came: ser2net still tells the
    client, with the line it gives for any device that does not open."""
    port, closed = free_port(), free_port()
    config = (
        f"connection: &c\n  accepter: tcp,127.0.0.1,{port}\n  connector: tcp,127.0.0.1,{closed}\n"
    )
    seen = []
    for command in ([SER2NET], [sys.executable, "-m", "pyser2net"]):
        with daemon(config, tmp_path, [port], command=command):
            with connect(port) as sock:
                seen.append(recv_until_closed(sock, timeout=5))
    assert seen == [b"Device open failure: Connection refused\r\n"] * 2
