"""``pyser2net attach`` against the real ser2net 4.3.11 as the server.

The same application settings must arrive on ser2net's device as on
pyser2net's: the speed, stop bits and flow control on the device pty's
termios, a non-standard rate (read with TCGETS2: ser2net's showport prints ``?`` for
a pty's configuration), ``--format``'s data bits
and parity acknowledged by ser2net, payload both ways, and raw
``socket://`` bytes.  ser2net prints ``?`` for the modem lines of a pty and
leaves a DTR change on a pty unanswered, so DTR is only checked against
pyser2net (tests/integration/test_attach.py).
"""

from __future__ import annotations

import os
import random
import termios

import pytest
import serial
from attach_helpers import attach, log_of, pump_both_ways

from pyser2net.runtime.ptyport import get_termios2

from helpers import daemon, free_port, new_pty, wait_until
from ser2net_helpers import SER2NET

pytestmark = pytest.mark.skipif(
    SER2NET is None, reason="ser2net is not installed (sudo apt-get install ser2net)"
)

CONFIG = """%YAML 1.1
---
connection: &dev
  accepter: {accepter}
  connector: serialdev,{dev},9600n81,local
connection: &raw
  accepter: tcp,127.0.0.1,{raw}
  connector: serialdev,{dev2},9600n81,local
"""


@pytest.fixture
def ser2net(tmp_path):
    """ser2net serving two pty devices, a telnet(rfc2217) and a raw port."""
    dev, dev2 = new_pty(), new_pty()
    port, raw = free_port(), free_port()
    config = CONFIG.format(
        accepter=f"telnet(rfc2217),tcp,127.0.0.1,{port}", raw=raw, dev=dev.path, dev2=dev2.path
    )
    try:
        with daemon(config, tmp_path, [port, raw], command=[SER2NET]) as proc:
            proc.port, proc.raw = port, raw  # type: ignore[attr-defined]
            proc.dev, proc.dev2 = dev, dev2  # type: ignore[attr-defined]
            yield proc
    finally:
        dev.close()
        dev2.close()


def test_settings_arrive_on_ser2nets_device(tmp_path, ser2net):
    dev = ser2net.dev
    link = tmp_path / "ttyNET0"
    with attach(f"rfc2217://127.0.0.1:{ser2net.port}", link, tmp_path):
        app = serial.Serial(str(link), 57600, stopbits=2, rtscts=True, timeout=2)
        try:

            def device_has(speed: int, flags: int) -> bool:
                attrs = termios.tcgetattr(dev.master)
                return attrs[4] == speed and attrs[2] & flags == flags

            assert wait_until(
                lambda: device_has(termios.B57600, termios.CSTOPB | termios.CRTSCTS), 10
            )
            app.rtscts = False
            app.xonxoff = True
            assert wait_until(
                lambda: (
                    termios.tcgetattr(dev.master)[0] & termios.IXON
                    and not termios.tcgetattr(dev.master)[2] & termios.CRTSCTS
                ),
                10,
            )
            # ser2net's showport prints "device config: ?" for a pty, so the
            # non-standard rate is read on the device itself.
            app.baudrate = 12345
            assert wait_until(lambda: get_termios2(dev.master).ospeed == 12345, 10)
        finally:
            app.close()


def test_format_and_purges_are_acknowledged_by_ser2net(tmp_path, ser2net):
    link = tmp_path / "ttyNET0"
    with attach(
        f"rfc2217://127.0.0.1:{ser2net.port}", link, tmp_path, "--format", "7E1", "-l"
    ) as proc:
        app = serial.Serial(str(link), 9600, timeout=2)
        try:
            # -l -l logs each answer; a different value would be a warning.
            assert wait_until(
                lambda: "SET_DATASIZE 7" in log_of(proc) and "SET_PARITY 3" in log_of(proc), 10
            )
            app.reset_output_buffer()
            assert wait_until(lambda: "PURGE_DATA 2" in log_of(proc), 10)
            assert "asked for" not in log_of(proc)
        finally:
            app.close()


def test_data_both_ways_through_ser2net(tmp_path, ser2net):
    dev = ser2net.dev
    link = tmp_path / "ttyNET0"
    rng = random.Random(4311)
    to_dev = bytes(rng.getrandbits(8) for _ in range(256 * 1024)) + b"\xff\x00\xff\xff"
    to_app = bytes(rng.getrandbits(8) for _ in range(256 * 1024)) + b"\x00\xff\xff\xff"
    with attach(f"telnet(rfc2217),tcp,127.0.0.1,{ser2net.port}", link, tmp_path) as proc:
        app = serial.Serial(str(link), 115200, timeout=1)
        try:
            assert wait_until(lambda: "RFC 2217 agreed" in log_of(proc), 10)
            got_dev, got_app = pump_both_ways(app.fileno(), dev.master, to_dev, to_app)
        finally:
            app.close()
    assert got_dev == to_dev
    assert got_app == to_app


def test_raw_socket_moves_bytes_through_ser2net(tmp_path, ser2net):
    dev2 = ser2net.dev2
    link = tmp_path / "ttyRAW"
    with attach(f"socket://127.0.0.1:{ser2net.raw}", link, tmp_path):
        app = serial.Serial(str(link), 9600, timeout=2)
        try:
            app.write(b"raw \xff\x00 bytes")
            assert dev2.read(12) == b"raw \xff\x00 bytes"
            dev2.write(b"\xff\xfd\x2cback")
            assert app.read(7) == b"\xff\xfd\x2cback"
        finally:
            app.close()


def test_tls_to_ser2nets_ssl_accepter(tmp_path):
    tlsfiles = pytest.importorskip("tlsfiles")
    files = tlsfiles.TlsFiles(tmp_path / "tls")
    dev, dev2 = new_pty(), new_pty()
    port, raw = free_port(), free_port()
    accepter = (
        f"telnet(rfc2217),ssl(key={files.server.key},cert={files.server.cert}),tcp,127.0.0.1,{port}"
    )
    config = CONFIG.format(accepter=accepter, raw=raw, dev=dev.path, dev2=dev2.path)
    link = tmp_path / "ttyTLS"
    try:
        with daemon(config, tmp_path, [port, raw], command=[SER2NET]):
            url = f"telnet(rfc2217),ssl(CA={files.ca_pem}),tcp,127.0.0.1,{port}"
            with attach(url, link, tmp_path) as proc:
                app = serial.Serial(str(link), 57600, timeout=2)
                try:
                    assert wait_until(
                        lambda: termios.tcgetattr(dev.master)[4] == termios.B57600, 10
                    ), log_of(proc)
                    app.write(b"over TLS \xff")
                    assert dev.read(10) == b"over TLS \xff"
                    dev.write(b"\xff back")
                    assert app.read(6) == b"\xff back"
                    assert "TLS session with 127.0.0.1" in log_of(proc)
                finally:
                    app.close()
    finally:
        dev.close()
        dev2.close()
        assert not os.path.lexists(link)
