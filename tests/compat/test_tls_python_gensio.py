"""``telnet(rfc2217),ssl`` through python3-gensio: gensio's own RFC 2217 client
inside its own TLS client, against pyser2net and against ser2net 4.3.11 on
the same configuration.  The client changes the baud rate (the device's
termios must follow and the server must answer with the new rate), then
sends and receives bytes including 0xFF.

python3-gensio is a Debian package for the system's Python, so the client
runs as its own process under that interpreter.  Skipped when it is
missing (CI installs it), and for ser2net when ser2net is not installed.
"""

from __future__ import annotations

import os
import subprocess
import termios
from pathlib import Path

import pytest

from helpers import daemon, free_port, stop_process, wait_until
from ser2net_helpers import IMPLEMENTATIONS, SER2NET
from tlsfiles import TlsFiles

SYSTEM_PYTHON = "/usr/bin/python3"

#: The client: open, set 57600 baud (RFC 2217 SET-BAUDRATE, waiting for the
#: server's answer), send PAYLOAD, then print what comes back.
CLIENT = r"""
import sys
import gensio

class Log:
    def gensio_log(self, level, text):
        print("gensio:", level, text, file=sys.stderr)

class Handler:
    def __init__(self):
        self.data = b""
    def read_callback(self, io, err, buf, auxdata):
        if err:
            io.read_cb_enable(False)
            return 0
        self.data += buf
        return len(buf)
    def write_callback(self, io):
        io.write_cb_enable(False)

o = gensio.alloc_gensio_selector(Log())
h = Handler()
g = gensio.gensio(o, sys.argv[1], h)
g.open_s()
g.read_cb_enable(True)
print("baud", g.cast_to_sergensio().sg_baud_s(57600), flush=True)
payload = bytes.fromhex(sys.argv[2])
w = gensio.waiter(o)
sent = 0
while sent < len(payload):
    sent += g.write(payload[sent:], None)
    w.wait_timeout(1, 10)
for _ in range(1000):
    if len(h.data) >= int(sys.argv[3]):
        break
    w.wait_timeout(1, 10)
print("read", h.data.hex(), flush=True)
g.close_s()
"""

PAYLOAD = b"gensio \xff over tls \x00\xff"
BACK = b"back \xff\xff\x00"


def has_python_gensio() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gensio"], capture_output=True, timeout=30)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not has_python_gensio(), reason="python3-gensio is not installed for /usr/bin/python3"
)


@pytest.mark.parametrize("name", sorted(IMPLEMENTATIONS))
def test_rfc2217_baud_change_and_bytes_over_tls(tmp_path: Path, pty_pair, name: str) -> None:
    if name == "ser2net" and SER2NET is None:
        pytest.skip("ser2net is not installed")
    files = TlsFiles(tmp_path / "tls")
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    port = free_port()
    config = (
        "connection: &tls\n"
        f"  accepter: telnet(rfc2217),ssl(key={files.server.key},cert={files.server.cert}),"
        f"tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{pty_pair.path},9600n81,local\n"
    )
    with daemon(config, tmp_path, [port], command=IMPLEMENTATIONS[name]):
        client = subprocess.Popen(
            [
                SYSTEM_PYTHON,
                str(script),
                f"telnet(rfc2217),ssl(CA={files.ca_pem}),tcp,127.0.0.1,{port}",
                PAYLOAD.hex(),
                str(len(BACK)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert pty_pair.read(len(PAYLOAD), timeout=15) == PAYLOAD
            assert wait_until(
                lambda: termios.tcgetattr(pty_pair.slave)[4] == termios.B57600, timeout=5
            )
            pty_pair.write(BACK)
            out, _ = client.communicate(timeout=30)
        finally:
            stop_process(client)
    assert out.splitlines()[-2:] == ["baud 57600", f"read {BACK.hex()}"], out
