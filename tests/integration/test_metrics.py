"""``--metrics``: Prometheus counters and the JSON status of a running daemon.

Known traffic goes through a real pty; the scrape is parsed with
prometheus_client's own parser and every counter is compared exactly.
Each way a client is turned away or leaves is provoked for real (a
remaddr refusal, a full port, a missing device, an idle timeout, a kick,
the admin port's disconnect) and must be counted under its reason.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from helpers import (
    ROOT,
    connect,
    daemon,
    free_port,
    new_pty,
    read_exact,
    read_for,
    recv_exact,
    recv_until_closed,
    wait_until,
)
from status_schema import STATUS, problems

prometheus_parser = pytest.importorskip("prometheus_client.parser")

CONFIG = """%YAML 1.1
---
connection: &tty1
  accepter: tcp,127.0.0.1,{tty}
  connector: serialdev,{dev},115200n81,local
connection: &kick
  accepter: tcp,127.0.0.1,{kick}
  connector: echo
  options:
    kickolduser: true
connection: &idle
  accepter: tcp,127.0.0.1,{idle}
  timeout: 1
  connector: echo
connection: &deny
  accepter: tcp,127.0.0.1,{deny}
  connector: echo
  options:
    remaddr: 10.9.9.9,0
connection: &gone
  accepter: tcp,127.0.0.1,{gone}
  connector: serialdev,{missing},9600n81,local
connection: &bye
  accepter: tcp,127.0.0.1,{bye}
  connector: echo
  options:
    closeon: bye
connection: &slow
  accepter: tcp,127.0.0.1,{slow}
  connector: echo
  options:
    client-buffer-limit: 65536
"""

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


def get(port: int, path: str, method: str = "GET") -> Tuple[int, Dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def scrape(port: int) -> Samples:
    status, headers, body = get(port, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")  # 0.0.4, or 1.0.0
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in prometheus_parser.text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def served(tmp_path, pty_pair):
    names = ("tty", "kick", "idle", "deny", "gone", "bye", "slow", "metrics", "admin")
    ports = {k: free_port() for k in names}
    config = CONFIG.format(dev=pty_pair.path, missing=tmp_path / "no-such-tty", **ports)
    listen = [ports[k] for k in names]
    with daemon(
        config,
        tmp_path,
        listen,
        extra_args=["--metrics", str(ports["metrics"]), "-p", f"127.0.0.1,{ports['admin']}"],
    ) as proc:
        yield ports, pty_pair, proc


def test_known_traffic_is_counted_exactly(served):
    ports, pty, _proc = served
    up = bytes(range(256)) * 4  # 1024 bytes client -> device
    down = os.urandom(3000)  # device -> client
    with connect(ports["tty"]) as client:
        client.sendall(up)
        assert read_exact(pty.master, len(up)) == up
        os.write(pty.master, down)
        assert recv_exact(client, len(down)) == down
        # The port takes one client: a second one is refused, and counted.
        with connect(ports["tty"]) as second:
            assert recv_until_closed(second) == b"Port already in use\r\n"
        live = scrape(ports["metrics"])
        assert value(live, "ser2net_clients", port="tty1") == 1
        assert value(live, "ser2net_device_open", port="tty1") == 1
        assert value(live, "ser2net_baud", port="tty1") == 115200
        assert value(live, "ser2net_device_bytes_total", port="tty1", direction="out") == 1024
        assert value(live, "ser2net_device_bytes_total", port="tty1", direction="in") == 3000
        assert value(live, "ser2net_network_bytes_total", port="tty1", direction="in") == 1024
        assert value(live, "ser2net_network_bytes_total", port="tty1", direction="out") == 3000
    # The client left, the device closed: the totals stay, the session ones do not.
    assert wait_until(
        lambda: value(scrape(ports["metrics"]), "ser2net_device_open", port="tty1") == 0
    )
    after = scrape(ports["metrics"])
    expected = {
        ("ser2net_device_bytes_total", "in"): 3000,
        ("ser2net_device_bytes_total", "out"): 1024,
        ("ser2net_network_bytes_total", "in"): 1024,
        ("ser2net_network_bytes_total", "out"): 3000,
    }
    for (name, direction), count in expected.items():
        assert value(after, name, port="tty1", direction=direction) == count, name
    assert value(after, "ser2net_clients", port="tty1") == 0
    assert value(after, "ser2net_connections_accepted_total", port="tty1") == 1
    assert (
        value(after, "ser2net_connections_refused_total", port="tty1", reason="max-connections")
        == 1
    )
    assert value(after, "ser2net_disconnects_total", port="tty1", reason="peer") == 1
    assert value(after, "ser2net_waiting_for_device", port="tty1") == 0
    assert value(after, "ser2net_port_enabled", port="tty1") == 1
    assert value(after, "ser2net_config_reloads_total", result="ok") == 0
    assert value(after, "ser2net_info", version=_version(), ser2net_version="4.3.11") == 1
    assert abs(value(after, "ser2net_start_time_seconds") - time.time()) < 600
    # Only reasons and errno names as labels: never a client address.
    assert not any("127.0.0.1" in str(labels) for _name, labels in after)


def test_each_reason_is_counted(served):
    ports, _pty, _proc = served
    # remaddr
    with connect(ports["deny"]) as denied:
        assert recv_until_closed(denied) == b"Accessed denied due to your net address\r\n"
    # A device that does not exist.
    with connect(ports["gone"]) as failed:
        assert recv_until_closed(failed).startswith(b"Device open failure: ")
    # timeout: 1 second without traffic.
    with connect(ports["idle"]) as idle:
        assert recv_until_closed(idle, timeout=5) == b""
    # kickolduser: the newcomer drops the old client.
    with connect(ports["kick"]) as old:
        old.sendall(b"x")
        assert recv_exact(old, 1) == b"x"
        with connect(ports["kick"]) as new:
            assert recv_until_closed(old) == b""
            new.sendall(b"y")
            assert recv_exact(new, 1) == b"y"
            # The admin port's disconnect.
            with connect(ports["admin"]) as adm:
                read_for(adm, 5, until=b"-> ")
                adm.sendall(b"disconnect kick\r")
                read_for(adm, 5, until=b"-> ")
            assert recv_until_closed(new) == b""
    # closeon: the echo device says "bye", the port hangs up after it.
    with connect(ports["bye"]) as bye:
        bye.sendall(b"good bye")
        assert recv_until_closed(bye) == b"good bye"
    # client-buffer-limit: a client that sends and never reads what comes
    # back is dropped once 64 KiB wait for it (after the kernel's buffers).
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.settimeout(20)
    stuck.connect(("127.0.0.1", ports["slow"]))
    with stuck:
        with pytest.raises(OSError):  # reset once the port drops it
            stuck.sendall(os.urandom(64 << 20))
    samples: Samples = {}

    def counted() -> bool:
        samples.clear()
        samples.update(scrape(ports["metrics"]))
        return value(samples, "ser2net_disconnects_total", port="kick", reason="admin") == 1

    assert wait_until(counted)
    refused = "ser2net_connections_refused_total"
    gone = "ser2net_disconnects_total"
    assert value(samples, refused, port="deny", reason="remaddr") == 1
    assert value(samples, refused, port="gone", reason="device-open-failure") == 1
    assert value(samples, "ser2net_device_open_failures_total", port="gone", errno="ENOENT") == 1
    assert value(samples, gone, port="idle", reason="timeout") == 1
    assert value(samples, gone, port="kick", reason="kicked") == 1
    assert value(samples, gone, port="kick", reason="admin") == 1
    assert value(samples, gone, port="bye", reason="closeon") == 1
    assert value(samples, gone, port="slow", reason="stalled") == 1
    assert value(samples, "ser2net_connections_accepted_total", port="kick") == 2
    # Refused clients are never sessions: nothing else is counted for them.
    assert value(samples, "ser2net_connections_accepted_total", port="deny") == 0
    for reason in ("peer", "timeout", "kicked", "admin", "closeon", "stalled", "error"):
        assert value(samples, gone, port="deny", reason=reason) == 0
    assert value(samples, "ser2net_network_bytes_total", port="kick", direction="in") == 2


def test_status_follows_its_schema_and_showport(served):
    ports, pty, _proc = served
    with connect(ports["tty"]) as client:
        client.sendall(b"hello")
        assert read_exact(pty.master, 5) == b"hello"
        status, headers, body = get(ports["metrics"], "/status")
        assert status == 200 and headers["Content-Type"] == "application/json"
        doc = json.loads(body)
        assert problems(doc, STATUS) == []
        tty = {p["name"]: p for p in doc["ports"]}["tty1"]
        assert tty["connected"][0]["bytes_read_from_tcp"] == 5
        assert tty["connected"][0]["name"].startswith("ipv4,127.0.0.1,")
        assert tty["device_config"] == "115200N81,CLOCAL"
        assert tty["device_open"] is True and tty["baud"] == 115200
        assert tty["bytes_written_to_device"] == 5 == tty["device_bytes_out"]
        assert [p["name"] for p in doc["ports"]] == [
            "tty1",
            "kick",
            "idle",
            "deny",
            "gone",
            "bye",
            "slow",
        ]


def test_other_paths_and_methods(served):
    ports, _pty, _proc = served
    status, _h, body = get(ports["metrics"], "/nothing")
    assert (status, body) == (404, b"no page /nothing\n")
    status, headers, _body = get(ports["metrics"], "/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, headers, body = get(ports["metrics"], "/status", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 100
    # Keep-alive: two requests on one connection, then a request head too large.
    with connect(ports["metrics"]) as sock:
        sock.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\n\r\n")
        both = read_for(sock, 5, until=b"no page /x\n")
        assert both.count(b"HTTP/1.1 404 Not Found\r\n") == 2
        sock.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
        answer = recv_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        assert b"Connection: close\r\n" in answer


def test_clients_are_bounded(served):
    ports, _pty, proc = served
    held = [connect(ports["metrics"]) for _ in range(8)]
    try:
        time.sleep(0.3)
        with connect(ports["metrics"]) as extra:
            assert recv_until_closed(extra) == b""  # closed at once, unanswered
        held.pop().close()
        assert wait_until(lambda: _answers(ports["metrics"]))
    finally:
        for sock in held:
            sock.close()
    assert proc.poll() is None


def _answers(port: int) -> bool:
    try:
        return get(port, "/status")[0] == 200
    except (OSError, http.client.HTTPException):
        return False


def _version() -> str:
    from pyser2net import __version__

    return __version__


def test_without_prometheus_client_one_line_says_how_to_install(tmp_path):
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "from pyser2net.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "-n", "--metrics", "9100", "-C", "3001:raw:0:echo:"],
        capture_output=True,
        cwd=str(ROOT),
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stdout == b""
    assert done.stderr == (
        b"pyser2net: --metrics needs the prometheus_client package: install "
        b"python3-prometheus-client (Debian, Ubuntu) or 'pip install pyser2net[metrics]'\n"
    )


def test_metrics_refuses_telnet_and_udp():
    for spec in ("telnet,9100", "udp,9100"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pyser2net",
                "--metrics",
                spec,
                "--check",
                "-C",
                "3001:raw:0:echo:",
            ],
            capture_output=True,
            cwd=str(ROOT),
            timeout=30,
        )
        assert done.returncode == 2, spec
        assert b"metrics are served over tcp" in done.stderr


def test_check_shows_what_is_exported(tmp_path: Path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyser2net",
            "--check",
            "--metrics",
            "9100",
            "-C",
            "3001:raw:0:echo:",
        ],
        capture_output=True,
        cwd=str(ROOT),
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        b"3001:\n"
        b"  accepter:  tcp *:3001\n"
        b"  connector: echo\n"
        b"  exported:  metrics and /status\n"
        b"\n"
        b"metrics: tcp 127.0.0.1:9100, /metrics and /status\n"
        b"-C: configuration OK\n"
    )


def test_metrics_listens_on_loopback_unless_told(served):
    ports, _pty, _proc = served
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Another address of this machine than 127.0.0.1, if it has one.
        try:
            probe.connect(("127.0.0.2", ports["metrics"]))
        except OSError:
            return  # nothing listens on 127.0.0.2: bound to 127.0.0.1 only
    pytest.fail("the metrics port answered on 127.0.0.2")


def test_https_with_an_ssl_accepter(tmp_path):
    import ssl

    from tlsfiles import TlsFiles

    files = TlsFiles(tmp_path / "tls")
    port, metrics = free_port(), free_port()
    config = f"connection: &e\n  accepter: tcp,127.0.0.1,{port}\n  connector: echo\n"
    spec = f"ssl(key={files.server.key},cert={files.server.cert}),tcp,127.0.0.1,{metrics}"
    with daemon(config, tmp_path, [port, metrics], extra_args=["--metrics", spec]):
        context = ssl.create_default_context(cafile=str(files.ca_pem))
        conn = http.client.HTTPSConnection("127.0.0.1", metrics, timeout=5, context=context)
        try:
            conn.request("GET", "/status")
            resp = conn.getresponse()
            doc = json.loads(resp.read())
        finally:
            conn.close()
        assert resp.status == 200 and problems(doc, STATUS) == []
        # Plain HTTP on the TLS port gets nothing served.
        with connect(metrics) as plain:
            plain.sendall(b"GET /status HTTP/1.1\r\n\r\n")
            assert b"ports" not in recv_until_closed(plain)


def test_reloads_are_counted_by_result(served):
    ports, _pty, proc = served
    config = Path(proc.args[proc.args.index("-c") + 1])
    text = config.read_text()

    def reloads() -> Dict[str, float]:
        samples = scrape(ports["metrics"])
        return {
            result: value(samples, "ser2net_config_reloads_total", result=result)
            for result in ("ok", "partial", "failed")
        }

    assert reloads() == {"ok": 0, "partial": 0, "failed": 0}
    proc.send_signal(signal.SIGHUP)  # the same file: applied
    assert wait_until(lambda: reloads()["ok"] == 1, 30)
    config.write_text(text + "connection: &bad\n  accepter: tcp,127.0.0.1,1\n  connector: nope\n")
    proc.send_signal(signal.SIGHUP)  # valid entries applied, the bad one not
    assert wait_until(lambda: reloads()["partial"] == 1, 30)
    config.write_text("connection: [unclosed\n")
    proc.send_signal(signal.SIGHUP)  # cannot be read: nothing changes
    assert wait_until(lambda: reloads()["failed"] == 1, 30)
    assert reloads() == {"ok": 1, "partial": 1, "failed": 1}


def test_a_client_that_stops_reading_shows_its_queue(served):
    ports, pty, _proc = served
    os.set_blocking(pty.master, False)  # a full pty must not block the test
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", ports["tty"]))
    with stuck, connect(ports["admin"]) as adm:
        read_for(adm, 5, until=b"-> ")
        payload = os.urandom(256 << 10)
        sent = 0
        deadline = time.monotonic() + 10
        while sent < len(payload) and time.monotonic() < deadline:
            try:
                sent += os.write(pty.master, payload[sent : sent + 4096])
            except BlockingIOError:
                time.sleep(0.01)

        def queued() -> int:
            return int(value(scrape(ports["metrics"]), "ser2net_client_queue_bytes", port="tty1"))

        assert wait_until(lambda: queued() > 0)
        adm.sendall(b"showport tty1\r")
        shown = read_for(adm, 5, until=b"\r\n-> ")
        match = re.search(rb"\r\n    bytes in queue to TCP: (\d+)\r\n", shown)
        assert match is not None and int(match.group(1)) > 0
        adm.sendall(b"showclients\r")
        table = read_for(adm, 5, until=b"\r\n-> ").split(b"\r\n")
        assert table[0] == b"showclients"
        assert table[1].startswith(b"Port name              Remote address")
        row = re.fullmatch(
            rb"tty1 {19}(ipv4,127\.0\.0\.1,\d+) +(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) +"
            rb"(\d+) +(\d+) +(\d+)",
            table[2],
        )
        assert row is not None, table[2]
        assert row.group(1) == f"ipv4,127.0.0.1,{stuck.getsockname()[1]}".encode()
        assert int(row.group(3)) == 0  # it sent nothing
        assert int(row.group(4)) > int(row.group(5)) > 0  # written, part still queued
        assert table[3:] == [b"-> "]  # the one client, the prompt


def test_baud_follows_what_an_rfc2217_client_sets(tmp_path, pty_pair):
    serial = pytest.importorskip("serial")
    port, metrics = free_port(), free_port()
    config = (
        f"connection: &r\n  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{pty_pair.path},115200n81,local\n"
    )
    with daemon(config, tmp_path, [port, metrics], extra_args=["--metrics", str(metrics)]):
        assert value(scrape(metrics), "ser2net_baud", port="r") == 115200  # as configured
        client = serial.serial_for_url(f"rfc2217://127.0.0.1:{port}", baudrate=9600, timeout=5)
        try:
            assert wait_until(lambda: value(scrape(metrics), "ser2net_baud", port="r") == 9600)
            client.baudrate = 57600
            assert wait_until(lambda: value(scrape(metrics), "ser2net_baud", port="r") == 57600)
        finally:
            client.close()


def test_a_failed_tls_handshake_is_a_refusal(tmp_path):
    from tlsfiles import TlsFiles

    files = TlsFiles(tmp_path / "tls")
    port, metrics = free_port(), free_port()
    config = (
        f"connection: &s\n"
        f"  accepter: ssl(key={files.server.key},cert={files.server.cert}),tcp,127.0.0.1,{port}\n"
        f"  connector: echo\n"
    )
    with daemon(config, tmp_path, [port, metrics], extra_args=["--metrics", str(metrics)]):
        with connect(port) as plain:  # speaks no TLS
            plain.sendall(b"hello\r\n" * 100)
            recv_until_closed(plain)
        refused = "ser2net_connections_refused_total"
        assert wait_until(lambda: value(scrape(metrics), refused, port="s", reason="tls") == 1)
        samples = scrape(metrics)
        assert value(samples, "ser2net_connections_accepted_total", port="s") == 0
        assert sum(v for (name, _l), v in samples.items() if name == refused) == 1


def exposition_lines(port: int) -> List[str]:
    """The lines of a scrape, as prometheus_client wrote them."""
    status, _headers, body = get(port, "/metrics")
    assert status == 200
    return body.decode().splitlines()


def test_a_rotator_with_no_free_port_counts_its_refusal(tmp_path):
    a, b, rot, metrics = (free_port() for _ in range(4))
    ptys = {"a": new_pty(), "b": new_pty()}
    config = "".join(
        f"connection: &{name}\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{ptys[name].path},115200n81,local\n"
        for name, port in (("a", a), ("b", b))
    )
    config += f"rotator: &rot\n  accepter: tcp,127.0.0.1,{rot}\n  connections: [ *a, *b ]\n"
    line = 'ser2net_rotator_connections_refused_total{reason="no-free-port",rotator="rot"} '
    try:
        with daemon(config, tmp_path, [a, b, rot, metrics], extra_args=["--metrics", str(metrics)]):
            assert line + "0.0" in exposition_lines(metrics)
            with connect(a) as direct:  # a is busy
                direct.sendall(b"to a")
                assert ptys["a"].read(4) == b"to a"
                with connect(rot) as first:  # the rotator hands out b
                    first.sendall(b"to b")
                    assert ptys["b"].read(4) == b"to b"
                    with connect(rot) as second:  # nothing left
                        assert recv_until_closed(second) == b"No free port found\r\n"
                    assert line + "1.0" in exposition_lines(metrics)
            lines = exposition_lines(metrics)
            assert line + "1.0" in lines
            # The rotator's refusal is not one of its connections'.
            for name in ("a", "b"):
                assert f'ser2net_connections_accepted_total{{port="{name}"}} 1.0' in lines
                for reason in ("max-connections", "device-busy"):
                    refused = (
                        f'ser2net_connections_refused_total{{port="{name}",reason="{reason}"}}'
                    )
                    assert refused + " 0.0" in lines
            status, _headers, body = get(metrics, "/status")
            assert status == 200
            doc = json.loads(body)
            assert problems(doc, STATUS) == []
            assert doc["rotators"] == [{"name": "rot", "connections_refused": {"no-free-port": 1}}]
    finally:
        for pty in ptys.values():
            pty.close()


def test_a_rotator_counts_its_failed_tls_handshakes(tmp_path):
    """A rotator's ssl accepter turns away a client that speaks no TLS and
    one whose certificate is from another CA: the rotator counts both under
    ``tls``, its connection nothing; a client with a good certificate is
    served through the connection."""
    import ssl

    from tlsfiles import TlsFiles

    files = TlsFiles(tmp_path / "tls")
    alice, mallory = files.user("alice"), files.user("mallory", files.other_ca("evil"))
    echo, rot, metrics = free_port(), free_port(), free_port()
    config = (
        f"connection: &plain\n  accepter: tcp,127.0.0.1,{echo}\n  connector: echo\n"
        f"rotator: &r\n"
        f"  accepter: ssl(key={files.server.key},cert={files.server.cert},"
        f"CA={files.ca_pem},clientauth),tcp,127.0.0.1,{rot}\n"
        f"  connections: [ *plain ]\n"
        f"  options:\n    authdir: {tmp_path / 'auth'}\n"
    )

    def talk(me):
        """What a TLS client with ``me``'s certificate gets back for "ping"
        (b"" when it is turned away)."""
        context = ssl.create_default_context(cafile=str(files.ca_pem))
        context.load_cert_chain(str(me.cert), str(me.key))
        try:
            raw = socket.create_connection(("127.0.0.1", rot), timeout=5)
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"ping")
                return read_for(tls, 5, until=b"ping")
        except (ssl.SSLError, OSError):
            return b""

    tls_refused = 'ser2net_rotator_connections_refused_total{reason="tls",rotator="r"} '
    full = 'ser2net_rotator_connections_refused_total{reason="no-free-port",rotator="r"} '
    with daemon(config, tmp_path, [echo, rot, metrics], extra_args=["--metrics", str(metrics)]):
        assert tls_refused + "0.0" in exposition_lines(metrics)
        with connect(rot) as plain:  # speaks no TLS
            plain.sendall(b"hello\r\n" * 100)
            recv_until_closed(plain)
        assert wait_until(lambda: tls_refused + "1.0" in exposition_lines(metrics))
        assert talk(mallory) == b""  # a certificate from another CA
        assert wait_until(lambda: tls_refused + "2.0" in exposition_lines(metrics))
        assert talk(alice) == b"ping"
        lines = exposition_lines(metrics)
        assert tls_refused + "2.0" in lines
        assert full + "0.0" in lines
        # The handshakes failed on the rotator: its connection refused nobody.
        assert 'ser2net_connections_accepted_total{port="plain"} 1.0' in lines
        assert 'ser2net_connections_refused_total{port="plain",reason="tls"} 0.0' in lines
        status, _headers, body = get(metrics, "/status")
        assert status == 200
        doc = json.loads(body)
        assert problems(doc, STATUS) == []
        assert doc["rotators"] == [{"name": "r", "connections_refused": {"tls": 2}}]


def _counter(lines: List[str], prefix: str) -> int:
    """The value of the one exposition line starting with ``prefix`` (-1: none)."""
    values = [float(line[len(prefix) :]) for line in lines if line.startswith(prefix)]
    return int(values[0]) if len(values) == 1 else -1


def test_the_retries_of_a_held_device_are_counted(tmp_path):
    """A held device path vanishes; its tries fail until a node is back at
    the path, which is tried at once.  The tries come 1 s, 2 s, 4 s... apart:
    the node comes back after the second failure, before the third on any
    but a very loaded machine, so the count of failures is read, not assumed."""
    first, second = new_pty(), new_pty()
    link = tmp_path / "ttyBOARD"
    os.symlink(first.path, link)
    port, metrics = free_port(), free_port()
    config = (
        f"connection: &held\n  accepter: tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{link},115200n81,local\n"
        "  options:\n    device-loss: hold\n"
    )
    failed = 'ser2net_device_retries_total{port="held",result="failed"} '
    opened = 'ser2net_device_retries_total{port="held",result="opened"} '
    try:
        with daemon(
            config, tmp_path, [port, metrics], extra_args=["--metrics", str(metrics)]
        ) as proc:
            log = Path(proc.log_path)
            lines = exposition_lines(metrics)
            assert failed + "0.0" in lines and opened + "0.0" in lines
            with connect(port) as client:
                first.write(b"one")
                assert recv_exact(client, 3) == b"one"
                link.unlink()
                os.close(first.master)
                first.master = -1
                assert wait_until(lambda: "device lost" in log.read_text())
                assert wait_until(lambda: _counter(exposition_lines(metrics), failed) >= 2)
                os.symlink(second.path, link)
                assert wait_until(lambda: "device back" in log.read_text())
                second.write(b"two")
                assert recv_exact(client, 3) == b"two"
                lines = exposition_lines(metrics)
                failures = _counter(lines, failed)
                assert failures >= 2
                assert opened + "1.0" in lines
                # Tries are not open failures: the device was away, as expected.
                assert not any(
                    line.startswith('ser2net_device_open_failures_total{port="held"')
                    for line in lines
                )
                status, _headers, body = get(metrics, "/status")
                held = {p["name"]: p for p in json.loads(body)["ports"]}["held"]
                assert held["device_retries"] == {"failed": failures, "opened": 1}
    finally:
        for pty in (first, second):
            for fd in (pty.master, pty.slave):
                if fd >= 0:
                    os.close(fd)
