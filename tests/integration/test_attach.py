"""``pyser2net attach``: a server on a pty "device", attach in front, pyserial as application.

Every process is real: pyser2net serving a pty through ``telnet(rfc2217)``,
``pyser2net attach`` making it a local link, and the test opening that link
with pyserial like any serial program.  What arrives is read on the device
pty (bytes, termios), on the server's admin port (showport), or on the wire
by a test server that records what attach sends.
"""

from __future__ import annotations

import os
import random
import select
import signal
import socket
import ssl
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import List, Optional

import pytest
import serial
from attach_helpers import attach, log_of, pump_both_ways, settle

from pyser2net.protocol.telnet import initial_negotiation

from helpers import (
    ROOT,
    Pty,
    attach_control_status,
    connect,
    daemon,
    free_port,
    read_exact,
    read_for,
    stop_process,
    wait_until,
)

IAC, SB, SE = 255, 250, 240


def sb(code: int, payload: bytes) -> bytes:
    return bytes((IAC, SB, 44, code)) + payload + bytes((IAC, SE))


SERVER = """%YAML 1.1
---
connection: &dev
  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}
  connector: serialdev,{dev},9600n81,local
connection: &raw
  accepter: tcp,127.0.0.1,{raw}
  connector: serialdev,{dev2},9600n81,local
"""


@pytest.fixture
def devices():
    from helpers import new_pty

    a, b = new_pty(), new_pty()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def server(tmp_path, devices):
    """pyser2net serving two pty devices (rfc2217 and raw) with an admin port."""
    port, raw, admin = free_port(), free_port(), free_port()
    config = SERVER.format(port=port, raw=raw, dev=devices[0].path, dev2=devices[1].path)
    with daemon(
        config, tmp_path, [port, raw, admin], extra_args=["-p", f"127.0.0.1,{admin}"]
    ) as proc:
        proc.port, proc.raw, proc.admin = port, raw, admin  # type: ignore[attr-defined]
        yield proc


def showport(admin: int, name: str = "dev") -> str:
    with connect(admin) as sock:
        read_for(sock, 5, until=b"-> ")
        sock.sendall(f"showport {name}\r".encode())
        return read_for(sock, 5, until=b"-> ").decode(errors="replace")


def device_attrs(dev: Pty) -> list:
    return termios.tcgetattr(dev.master)


def test_a_mebibyte_each_way_arrives_exactly(tmp_path, server, devices):
    dev = devices[0]
    link = tmp_path / "ttyNET0"
    rng = random.Random(2217)
    to_dev = bytes(rng.getrandbits(8) for _ in range(1 << 20)) + b"\xff\x00\xff\xff\x00"
    to_app = bytes(rng.getrandbits(8) for _ in range(1 << 20)) + b"\x00\xff\xff\x00\xff"
    with attach(f"rfc2217://127.0.0.1:{server.port}", link, tmp_path):
        app = serial.Serial(str(link), 115200, timeout=1)
        try:
            assert wait_until(lambda: "RFC 2217 agreed" in log_of_running(tmp_path), 10)
            # The flush pyserial makes when it opens the port, as it arrives
            # when that process is held up between its tcsetattr and its
            # tcflush until the server has agreed: the purge goes out and
            # discards what the device sent meanwhile, unless the data
            # waits until the server has carried it out.
            termios.tcflush(app.fileno(), termios.TCIFLUSH)
            assert settle(app.fileno(), dev.master)
            got_dev, got_app = pump_both_ways(app.fileno(), dev.master, to_dev, to_app)
        finally:
            app.close()
    assert got_dev == to_dev
    assert got_app == to_app


def log_of_running(tmp_path: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in tmp_path.glob("attach-*.log"))


def test_settings_reach_the_device_and_the_admin_port(tmp_path, server, devices):
    dev = devices[0]
    link = tmp_path / "ttyNET0"
    with attach(f"rfc2217://127.0.0.1:{server.port}", link, tmp_path):
        app = serial.Serial(str(link), 57600, stopbits=2, rtscts=True, timeout=1)
        try:

            def device_has(speed: int, flags: int) -> bool:
                attrs = device_attrs(dev)
                return attrs[4] == speed and attrs[2] & flags == flags

            assert wait_until(
                lambda: device_has(termios.B57600, termios.CSTOPB | termios.CRTSCTS), 10
            )
            app.rtscts = False
            app.xonxoff = True
            assert wait_until(
                lambda: (
                    device_attrs(dev)[0] & termios.IXON
                    and not device_attrs(dev)[2] & termios.CRTSCTS
                ),
                10,
            )
            app.baudrate = 12345  # not a standard rate
            assert wait_until(
                lambda: "device config: 12345N82,XONXOFF" in showport(server.admin), 10
            )
        finally:
            app.close()


def test_open_and_close_toggle_dtr_on_the_server(tmp_path, server, devices):
    link = tmp_path / "ttyNET0"
    with attach(f"rfc2217://127.0.0.1:{server.port}", link, tmp_path, "--connect", "always"):
        assert wait_until(lambda: "connected to: ipv4,127.0.0.1" in showport(server.admin), 10)
        assert wait_until(lambda: "device controls: RTSLO DTRLO" in showport(server.admin), 10)
        app = serial.Serial(str(link), 9600)
        assert wait_until(lambda: "device controls: RTSHI DTRHI" in showport(server.admin), 10)
        app.close()
        assert wait_until(lambda: "device controls: RTSLO DTRLO" in showport(server.admin), 10)
        # Without HUPCL the lines stay up when the application closes.
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        attrs = termios.tcgetattr(fd)
        attrs[2] &= ~termios.HUPCL
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        assert wait_until(lambda: "device controls: RTSHI DTRHI" in showport(server.admin), 10)
        os.close(fd)
        time.sleep(0.5)
        assert "device controls: RTSHI DTRHI" in showport(server.admin)


class Recorder:
    """A TCP server that opens like ser2net and records what it gets
    (in TLS with ``tls``, a server context)."""

    def __init__(
        self,
        opening: bytes = initial_negotiation(rfc2217=True),
        tls: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.tls = tls
        self.tls_errors: List[str] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.opening = opening
        self.received = bytearray()
        self.conns: List[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            if self.tls is not None:
                conn.settimeout(5)
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError) as exc:
                    self.tls_errors.append(str(exc))
                    conn.close()
                    continue
            self.conns.append(conn)
            conn.sendall(self.opening)
            conn.settimeout(0.2)
            while not self._stop:
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                self.received += data

    def close(self) -> None:
        self._stop = True
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.listener.close()


@pytest.fixture
def recorder():
    rec = Recorder()
    yield rec
    rec.close()


def test_format_and_flushes_on_the_wire(tmp_path, recorder):
    link = tmp_path / "ttyNET0"
    with attach(f"rfc2217://127.0.0.1:{recorder.port}", link, tmp_path, "--format", "7E1"):
        app = serial.Serial(str(link), 9600)
        try:
            wanted = [
                sb(2, b"\x07"),
                sb(3, b"\x03"),
                sb(4, b"\x01"),
                sb(5, b"\x08"),
                sb(5, b"\x0b"),
                sb(1, (9600).to_bytes(4, "big")),
            ]
            assert wait_until(lambda: all(w in recorder.received for w in wanted), 10), bytes(
                recorder.received
            )
            assert recorder.received.startswith(b"\xff\xfb\x2c")  # WILL COM-PORT-OPTION first
            recorder.received.clear()
            app.reset_input_buffer()
            assert wait_until(lambda: sb(12, b"\x01") in recorder.received, 10)
            app.reset_output_buffer()
            assert wait_until(lambda: sb(12, b"\x02") in recorder.received, 10)
            termios.tcflush(app.fileno(), termios.TCIOFLUSH)
            assert wait_until(lambda: sb(12, b"\x03") in recorder.received, 10)
            app.baudrate = 0x1FF  # a rate with 0xFF in it: doubled inside the subnegotiation
            assert wait_until(lambda: sb(1, b"\x00\x00\x01\xff\xff") in recorder.received, 10)
            app.write(b"a\xffb")
            assert wait_until(lambda: b"a\xff\xffb" in recorder.received, 10)
            recorder.received.clear()
            attrs = termios.tcgetattr(app.fileno())
            attrs[4] = attrs[5] = termios.B0  # hang up: DTR and RTS drop
            termios.tcsetattr(app.fileno(), termios.TCSANOW, attrs)
            assert wait_until(lambda: sb(5, b"\x09") + sb(5, b"\x0c") in recorder.received, 10)
            attrs[4] = attrs[5] = termios.B2400  # and come back with a speed
            termios.tcsetattr(app.fileno(), termios.TCSANOW, attrs)
            assert wait_until(
                lambda: (
                    sb(1, (2400).to_bytes(4, "big")) + sb(5, b"\x08") + sb(5, b"\x0b")
                    in recorder.received
                ),
                10,
            )
            assert sb(1, b"\x00\x00\x00\x00") not in recorder.received
        finally:
            app.close()
        assert wait_until(lambda: sb(5, b"\x09") in recorder.received, 10)  # DTR off


def test_control_socket_sets_dtr_rts_and_break(tmp_path, recorder):
    link = tmp_path / "ttyNET0"
    ctl = tmp_path / "ctl"
    with attach(
        f"rfc2217://127.0.0.1:{recorder.port}",
        link,
        tmp_path,
        "--control",
        str(ctl),
        "--connect",
        "always",
    ):
        assert wait_until(lambda: recorder.conns and b"\xff\xfa" in recorder.received, 10)
        recorder.received.clear()
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(ctl))
            s.settimeout(5)
            s.sendall(b"dtr off\nrts on\nbreak 100\nbogus\nstatus\n")
            answer = b""
            while answer.count(b"ok\n") < 4 or b"error" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"ok\nok\nok\nerror: unknown command 'bogus'")
        assert b"server: rfc2217://127.0.0.1:" in answer and b"(connected)" in answer
        assert b"application: closed" in answer
        assert wait_until(lambda: sb(5, b"\x06") in recorder.received, 10)
        got = bytes(recorder.received)
        assert (
            got.index(sb(5, b"\x09"))
            < got.index(sb(5, b"\x0b"))
            < got.index(sb(5, b"\x05"))
            < got.index(sb(5, b"\x06"))
        )
    assert not ctl.exists()


def test_on_open_connects_only_when_an_application_opens(tmp_path, recorder):
    link = tmp_path / "ttyNET0"
    with attach(f"rfc2217://127.0.0.1:{recorder.port}", link, tmp_path):
        time.sleep(0.5)
        assert recorder.conns == []
        app = serial.Serial(str(link), 9600)
        assert wait_until(lambda: len(recorder.conns) == 1, 10)
        app.close()
        time.sleep(0.3)
        assert len(recorder.conns) == 1


def test_data_while_nobody_has_the_port_is_dropped_or_kept(tmp_path, server, devices):
    dev = devices[0]
    for extra, expected in (((), b""), (("--buffer", "10"), b"0123456789")):
        link = tmp_path / f"ttyNET{len(extra)}"
        with attach(
            f"rfc2217://127.0.0.1:{server.port}", link, tmp_path, "--connect", "always", *extra
        ) as proc:
            assert wait_until(lambda: "RFC 2217 agreed" in log_of(proc), 10)
            dev.write(b"abcdefghij0123456789")
            time.sleep(0.5)
            app = serial.Serial(str(link), 9600, timeout=0.5)
            try:
                app.reset_input_buffer = lambda: None  # keep what attach held
                assert app.read(100) == expected
                assert settle(app.fileno(), dev.master)  # the purge of the open is done
                dev.write(b"live")
                assert app.read(4) == b"live"
            finally:
                app.close()
        # Let the server forget the connection before the next one.
        assert wait_until(lambda: "connected to:" not in showport(server.admin), 10)


def _bytes_from_server(ctl: Path) -> int:
    for line in attach_control_status(ctl).splitlines():
        if line.startswith("bytes: "):
            return int(line.split(", ")[1].split()[0])
    return -1


@pytest.mark.parametrize("server_away", [True, False], ids=["server-away", "server-there"])
def test_a_flush_drops_what_attach_held_for_the_application(tmp_path, devices, server_away):
    """--buffer kept more than the pty holds; the application opens the
    port, reads a little and flushes its input (the server gone, or there):
    nothing it flushed reaches it afterwards, and the next bytes from the
    device arrive exactly."""
    dev = devices[0]
    port, raw = free_port(), free_port()
    config = SERVER.format(port=port, raw=raw, dev=dev.path, dev2=devices[1].path)
    link, ctl = tmp_path / "ttyNET0", tmp_path / "ctl"
    # Each word once, and more than a pty holds (some 64 KiB).
    held = b"".join(i.to_bytes(4, "big") for i in range(65536))
    with daemon(config, tmp_path, [port, raw]) as first:
        with attach(
            f"rfc2217://127.0.0.1:{port}",
            link,
            tmp_path,
            "--connect",
            "always",
            "--buffer",
            str(len(held)),
            "--control",
            str(ctl),
        ) as proc:
            assert wait_until(lambda: "RFC 2217 agreed" in log_of(proc), 10)
            for at in range(0, len(held), 4096):
                dev.write(held[at : at + 4096])
            assert wait_until(lambda: _bytes_from_server(ctl) >= len(held), 20)
            if server_away:
                stop_process(first, signal.SIGKILL)
                assert wait_until(lambda: "lost" in log_of(proc), 10)
            fd = os.open(str(link), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            try:
                # The pty is raw already: no tcsetattr, whose TCSAFLUSH would flush.
                assert read_exact(fd, 1000) == held[:1000]
                termios.tcflush(fd, termios.TCIFLUSH)
                # Once attach has seen the flush, nothing of what was held comes.
                assert wait_until(lambda: "the application flushed its input" in log_of(proc), 10)
                assert read_for_fd(fd, 1.0) == b""
                if server_away:
                    with daemon(config, tmp_path, [port, raw]):
                        assert wait_until(lambda: log_of(proc).count("RFC 2217 agreed") == 2, 40)
                        assert settle(fd, dev.master)
                        dev.write(b"live")
                        assert read_exact(fd, 4) == b"live"
                else:
                    assert settle(fd, dev.master)  # the purge the flush sent is done
                    dev.write(b"live")
                    assert read_exact(fd, 4) == b"live"
                assert read_for_fd(fd, 0.5) == b""
            finally:
                os.close(fd)


def read_for_fd(fd: int, seconds: float) -> bytes:
    """What the application can read within ``seconds``."""
    out = bytearray()
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return bytes(out)
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            continue
        if not chunk:
            return bytes(out)
        out += chunk


def test_raw_socket_url_moves_bytes(tmp_path, server, devices):
    dev = devices[1]
    link = tmp_path / "ttyRAW"
    with attach(f"socket://127.0.0.1:{server.raw}", link, tmp_path) as proc:
        assert "only bytes are forwarded" in log_of(proc)
        app = serial.Serial(str(link), 9600, timeout=2)
        try:
            app.write(b"raw \xff\x00 bytes")
            assert dev.read(12) == b"raw \xff\x00 bytes"
            dev.write(b"\xff\xfb\x2cback")  # telnet-looking bytes are data here
            assert app.read(7) == b"\xff\xfb\x2cback"
        finally:
            app.close()


def test_a_server_named_by_host_is_looked_up_and_reached(tmp_path, devices):
    """The server's name is looked up outside attach's loop (a child
    process), then connected to; bytes move as with an address."""
    raw, dev = free_port(), devices[1]
    config = (
        f"connection: &raw\n  accepter: tcp,localhost,{raw}\n"
        f"  connector: serialdev,{dev.path},9600n81,local\n"
    )
    link = tmp_path / "ttyNAMED"
    with daemon(config, tmp_path, [raw]), attach(f"socket://localhost:{raw}", link, tmp_path):
        app = serial.Serial(str(link), 9600, timeout=2)
        try:
            app.write(b"by name")
            assert dev.read(7) == b"by name"
            dev.write(b"and back")
            assert app.read(8) == b"and back"
        finally:
            app.close()


def test_tls_below_telnet(tmp_path):
    tlsfiles = pytest.importorskip("tlsfiles")
    files = tlsfiles.TlsFiles(tmp_path / "tls")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files.server.cert), str(files.server.key))
    rec = Recorder(tls=context)
    link = tmp_path / "ttyNET0"
    try:
        url = f"telnet(rfc2217),ssl(CA={files.ca_pem}),tcp,127.0.0.1,{rec.port}"
        with attach(url, link, tmp_path) as proc:
            app = serial.Serial(str(link), 19200, timeout=2)
            try:
                assert wait_until(lambda: sb(1, (19200).to_bytes(4, "big")) in rec.received, 10)
                app.write(b"secret \xff")
                assert wait_until(lambda: b"secret \xff\xff" in rec.received, 10)
                rec.conns[0].sendall(b"from the server \xff\xff")
                assert app.read(17) == b"from the server \xff"
                assert "TLS session with 127.0.0.1" in log_of(proc)
            finally:
                app.close()
    finally:
        rec.close()


def test_tls_with_a_server_it_does_not_trust_retries_and_says_why(tmp_path):
    tlsfiles = pytest.importorskip("tlsfiles")
    files = tlsfiles.TlsFiles(tmp_path / "tls")
    files.other_ca("other")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files.server.cert), str(files.server.key))
    rec = Recorder(tls=context)
    link = tmp_path / "ttyNET0"
    try:
        url = f"telnet(rfc2217),ssl(CA={tmp_path / 'tls' / 'other.pem'}),tcp,127.0.0.1,{rec.port}"
        with attach(url, link, tmp_path, "--connect", "always") as proc:
            assert wait_until(lambda: log_of(proc).count("certificate did not verify") >= 2, 20)
            assert rec.received == b""
            assert proc.poll() is None
    finally:
        rec.close()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyser2net",
            "attach",
            f"ssl(CA={tmp_path / 'missing.pem'}),tcp,127.0.0.1,1",
            "--link",
            str(link),
        ],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 1 and "missing.pem" in bad.stderr and bad.stderr.count("\n") == 1


def test_a_restarted_server_gets_the_next_write_without_reopening(tmp_path, devices):
    dev = devices[0]
    port, raw = free_port(), free_port()
    config = SERVER.format(port=port, raw=raw, dev=dev.path, dev2=devices[1].path)
    link = tmp_path / "ttyNET0"
    with daemon(config, tmp_path, [port, raw]) as first:
        with attach(f"rfc2217://127.0.0.1:{port}", link, tmp_path) as proc:
            app = serial.Serial(str(link), 57600, timeout=1)
            try:
                app.write(b"before")
                assert dev.read(6) == b"before"
                stop_process(first, signal.SIGKILL)
                assert wait_until(lambda: "lost" in log_of(proc), 10)
                app.write(b"while down")  # waits in the pty: no error
                with daemon(config, tmp_path, [port, raw]):
                    assert dev.read(10, timeout=40) == b"while down"
                    app.write(b"after")
                    assert dev.read(5) == b"after"
                    # The settings were applied again on the new connection.
                    assert wait_until(lambda: device_attrs(dev)[4] == termios.B57600, 10)
                    dev.write(b"reply")
                    assert app.read(5) == b"reply"
            finally:
                app.close()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.parametrize("kind", ["garbage", "endless-subnegotiation", "silent"])
def test_a_hostile_server_never_hangs_the_port_or_grows_memory(tmp_path, kind):
    """Garbage (random bytes, telnet commands among them), one subnegotiation
    that never ends, or a server that never says anything: the application
    keeps writing and changing settings, and attach's memory stays flat."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    stop = threading.Event()
    received = bytearray()
    sent = [0]

    def serve() -> None:
        listener.settimeout(10)
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.settimeout(0.01)
        rng = random.Random(7)
        junk = bytes(rng.getrandbits(8) for _ in range(65536))
        if kind == "endless-subnegotiation":
            conn.sendall(bytes((IAC, SB, 44)))
            junk = junk.replace(bytes((IAC, SE)), b"")
        while not stop.is_set():
            if kind != "silent" and sent[0] < 64 << 20:
                try:
                    sent[0] += conn.send(junk)
                except (socket.timeout, BlockingIOError):
                    pass
                except OSError:
                    break
            try:
                data = conn.recv(65536)
                if not data:
                    break
                received.extend(data)
            except socket.timeout:
                pass
            except OSError:
                break
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    link = tmp_path / "ttyNET0"
    try:
        with attach(f"rfc2217://127.0.0.1:{port}", link, tmp_path) as proc:
            app = serial.Serial(str(link), 9600, timeout=0.2, write_timeout=5)
            try:
                assert wait_until(lambda: len(received) > 0, 10)

                def drain_until(amount: int) -> None:
                    deadline = time.monotonic() + 60
                    while kind != "silent" and sent[0] < amount and time.monotonic() < deadline:
                        app.read(max(app.in_waiting, 1))

                drain_until(1 << 20)
                start = rss_kib(proc.pid)
                drain_until(16 << 20)
                if kind != "silent":
                    assert sent[0] >= 16 << 20, "attach stopped reading the server"
                for i in range(100):
                    app.write(b"still here %d\n" % i)
                    app.read(app.in_waiting)
                    app.baudrate = 1200 + i
                    time.sleep(0.01)
                assert wait_until(lambda: b"still here 99\n" in received, 20)
                assert proc.poll() is None
                assert rss_kib(proc.pid) - start < 8 * 1024
            finally:
                app.close()
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_errors_are_one_line_and_the_daemon_command_line_is_untouched(tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pyser2net", *args],
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            timeout=30,
        )

    bad = run("attach", "loop://", "--link", str(tmp_path / "x"))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "unknown scheme loop://" in bad.stderr
    fmt = run("attach", "rfc2217://h:1", "--link", "x", "--format", "9Z1")
    assert fmt.returncode == 1 and "invalid format" in fmt.stderr
    occupied = tmp_path / "file"
    occupied.write_text("")
    busy = run("attach", "rfc2217://127.0.0.1:1", "--link", str(occupied), "-n")
    assert busy.returncode == 1 and "not a symbolic link" in busy.stderr
    assert run("attach", "--help").stdout.startswith("Usage: pyser2net attach")
    check = run("-n", "-d", "--check", "-C", "2000:raw:0:/dev/ttyS0:9600")
    assert check.returncode == 0
