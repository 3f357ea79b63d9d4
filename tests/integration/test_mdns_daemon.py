"""mDNS announcements of a running daemon, seen by a zeroconf browser on loopback.

Everything stays on the loopback interface: the daemon is told to announce
on it alone (``mdns-interface`` = its index, IPv4) and the browser listens
on 127.0.0.1, so nothing is sent to any other network.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from helpers import ROOT, connect, daemon, free_port, read_for, recv_exact, stop_process, wait_until
from usbtree import UsbTree

zeroconf = pytest.importorskip("zeroconf", reason="the zeroconf package is not installed")

TYPE = "_iostream._tcp.local."
MDNS_GROUP = "224.0.0.251"


def _loopback_multicast_works() -> Optional[str]:
    """None when a multicast datagram sent on lo comes back; else why not."""
    recv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        recv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        recv.bind(("", 0))
        port = recv.getsockname()[1]
        mreq = struct.pack("4s4s", socket.inet_aton(MDNS_GROUP), socket.inet_aton("127.0.0.1"))
        recv.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        send.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        send.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        send.sendto(b"probe", (MDNS_GROUP, port))
        recv.settimeout(2)
        recv.recv(16)
        return None
    except OSError as exc:
        return f"multicast does not work on the loopback interface here: {exc}"
    finally:
        recv.close()
        send.close()


@pytest.fixture(scope="module")
def loopback_multicast() -> None:
    why = _loopback_multicast_works()
    if why is not None:
        pytest.skip(why)


class Browser:
    """A zeroconf browser on 127.0.0.1 that remembers which services are up."""

    def __init__(self) -> None:
        self.zc = zeroconf.Zeroconf(interfaces=["127.0.0.1"], ip_version=zeroconf.IPVersion.V4Only)
        self.lock = threading.Lock()
        self.present: Dict[str, int] = {}
        self.events: List[Tuple[str, str]] = []
        zeroconf.ServiceBrowser(self.zc, TYPE, self)

    def add_service(self, _zc: object, _type: str, name: str) -> None:
        with self.lock:
            self.present[name] = self.present.get(name, 0) + 1
            self.events.append(("add", name))

    def update_service(self, _zc: object, _type: str, name: str) -> None:
        pass

    def remove_service(self, _zc: object, _type: str, name: str) -> None:
        with self.lock:
            self.present.pop(name, None)
            self.events.append(("remove", name))

    def up(self, name: str) -> bool:
        with self.lock:
            return f"{name}.{TYPE}" in self.present

    def info(self, name: str) -> zeroconf.ServiceInfo:
        info = self.zc.get_service_info(TYPE, f"{name}.{TYPE}", timeout=3000)
        assert info is not None, f"{name} does not resolve"
        return info

    def close(self) -> None:
        self.zc.close()


@pytest.fixture
def browser(loopback_multicast: None) -> Iterator[Browser]:
    b = Browser()
    try:
        yield b
    finally:
        b.close()


def config(name: str, port: int, dev: str, admin: Optional[int] = None) -> str:
    text = f"""connection: &{name}
  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}
  connector: serialdev,{dev},115200n81,local
  options:
    mdns: true
    mdns-interface: {socket.if_nametoindex("lo")}
    mdns-nettype: ipv4
    mdns-txt: rack=4
"""
    if admin is not None:
        text = f"admin: &ctl\n  accepter: tcp,127.0.0.1,{admin}\n" + text
    return text


def unique(stem: str) -> str:
    """A service name no other test run on this machine announces."""
    return f"{stem}-{os.getpid()}-{free_port()}"


def admin_command(sock: socket.socket, line: bytes) -> bytes:
    sock.sendall(line + b"\r")
    return read_for(sock, 5, until=b"-> ")


def test_announced_withdrawn_on_disable_and_exit(tmp_path, pty_pair, browser: Browser) -> None:
    name, port, admin = unique("ttyA"), free_port(), free_port()
    with daemon(config(name, port, pty_pair.path, admin), tmp_path, [port, admin]) as proc:
        assert wait_until(lambda: browser.up(name), 10), proc.log_path.read_text()
        info = browser.info(name)
        assert info.port == port
        assert info.parsed_addresses() == ["127.0.0.1"]
        assert info.server == socket.gethostname().split(".")[0] + ".local."
        assert info.text == (
            b"\x06rack=4\x10provider=ser2net\x16gensiostack=telnet,tcp\x18implementation=pyser2net"
        )
        with connect(admin) as adm:
            read_for(adm, 5, until=b"-> ")
            assert admin_command(adm, f"setportenable {name} off".encode()).endswith(b"\r\n-> ")
            assert wait_until(lambda: not browser.up(name), 10)
            assert admin_command(adm, f"setportenable {name} on".encode()).endswith(b"\r\n-> ")
            assert wait_until(lambda: browser.up(name), 10)
        # The port itself serves as before.
        with connect(port) as client:
            read_for(client, 0.5)
            pty_pair.write(b"hello")
            assert recv_exact(client, 5) == b"hello"
        stop_process(proc)
        assert proc.returncode == 0
        assert wait_until(lambda: not browser.up(name), 10)
    log = proc.log_path.read_text()
    assert f"{name}: mdns: announced as {name}.{TYPE}" in log
    assert f"{name}: mdns: withdrawn" in log


def test_reload_withdraws_a_removed_connection(tmp_path, pty_pair, browser: Browser) -> None:
    name, port, other = unique("ttyB"), free_port(), free_port()
    path = tmp_path / "ser2net.yaml"
    path.write_text(config(name, port, pty_pair.path))
    argv = [sys.executable, "-m", "pyser2net", "-n", "-d", "-u", "-c", str(path)]
    log = open(tmp_path / "d.log", "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))
    try:
        assert wait_until(lambda: browser.up(name), 10)
        path.write_text(
            f"connection: &plain\n  accepter: tcp,127.0.0.1,{other}\n  connector: echo\n"
        )
        os.kill(proc.pid, signal.SIGHUP)
        # The reload reads the file in a child process: seconds on a busy machine.
        assert wait_until(lambda: not browser.up(name), 30)
        assert proc.poll() is None
    finally:
        stop_process(proc)
        log.close()


def test_browse_lists_the_port(tmp_path, pty_pair, browser: Browser) -> None:
    name, port = unique("ttyC"), free_port()
    with daemon(config(name, port, pty_pair.path), tmp_path, [port]):
        assert wait_until(lambda: browser.up(name), 10)
        out = subprocess.run(
            [sys.executable, "-m", "pyser2net", "--browse", "--browse-interface", "lo"]
            + ["--browse-timeout", "3"],
            capture_output=True,
            timeout=30,
            cwd=str(ROOT),
        )
    assert out.returncode == 0, out.stderr
    host = socket.gethostname().split(".")[0] + ".local."
    line = (
        f"{name}\t_iostream._tcp\t{host}:{port}\t127.0.0.1\t"
        "rack=4 provider=ser2net gensiostack=telnet,tcp implementation=pyser2net"
    )
    assert line in out.stdout.decode().splitlines()


def test_announced_after_detaching(tmp_path, pty_pair, browser: Browser) -> None:
    """Without -n the daemon forks; zeroconf's thread is started in the child."""
    name, port = unique("ttyD"), free_port()
    path = tmp_path / "ser2net.yaml"
    path.write_text(config(name, port, pty_pair.path))
    pidfile = tmp_path / "p.pid"
    env = dict(os.environ, PYSER2NET_SYSLOG=str(tmp_path / "no-syslog"))
    argv = [sys.executable, "-m", "pyser2net", "-u", "-c", str(path), "-P", str(pidfile)]
    subprocess.run(argv, timeout=30, cwd=str(ROOT), env=env, capture_output=True)
    assert wait_until(pidfile.exists, 10)
    pid = int(pidfile.read_text())
    try:
        assert wait_until(lambda: browser.up(name), 10)
        assert browser.info(name).port == port
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pidfile.exists(), 10)
    assert wait_until(lambda: not browser.up(name), 10)


def test_without_zeroconf_the_ports_are_served(tmp_path, pty_pair) -> None:
    port = free_port()
    hide = "import sys; sys.modules['zeroconf'] = None; from pyser2net.cli import main; main()"
    with daemon(
        config("ttyE", port, pty_pair.path), tmp_path, [port], command=[sys.executable, "-c", hide]
    ) as proc:
        with connect(port) as client:
            read_for(client, 0.5)
            pty_pair.write(b"still here")
            assert recv_exact(client, 10) == b"still here"
        assert wait_until(lambda: b"zeroconf" in proc.log_path.read_bytes(), 5)
    lines = [line for line in proc.log_path.read_text().splitlines() if "zeroconf" in line]
    assert len(lines) == 1
    assert lines[0].endswith(
        "mdns: announcing ports needs the zeroconf package (pip install zeroconf, or apt "
        "install python3-zeroconf); the ports are served without announcements"
    )


def test_sysattrs_announce_the_usb_adapter(tmp_path, pty_pair, browser: Browser) -> None:
    tree = UsbTree(tmp_path)
    node = tree.add("ttyUSB0", pty_pair.path, serial="A50285BI")
    name, port = unique("ttyG"), free_port()
    text = config(name, port, str(node)) + "    mdns-sysattrs: true\n"
    with daemon(text, tmp_path, [port], env=tree.env()):
        assert wait_until(lambda: browser.up(name), 10)
        txt = zeroconf_txt(browser.info(name).text)
    assert txt == [
        "rack=4",
        "provider=ser2net",
        "gensiostack=telnet,tcp",
        "implementation=pyser2net",
        "devicetype=serialusb",
        "bInterfaceNumber=00",
        "idProduct=6001",
        "idVendor=0403",
        "serial=A50285BI",
        "manufacturer=FTDI",
        "product=FT232R USB UART",
    ]


def zeroconf_txt(record: bytes) -> List[str]:
    out, at = [], 0
    while at < len(record):
        out.append(record[at + 1 : at + 1 + record[at]].decode())
        at += 1 + record[at]
    return out


def test_the_admin_port_is_announced_by_its_name(tmp_path, browser: Browser) -> None:
    """ser2net 4.3.13: ``admin: &name`` names the admin port's announcement."""
    name, admin, echo = unique("ctl").replace("-", "_"), free_port(), free_port()
    index = socket.if_nametoindex("lo")
    text = (
        f"admin: &{name}\n  accepter: tcp,127.0.0.1,{admin}\n  options:\n    mdns: true\n"
        f"    mdns-interface: {index}\n    mdns-nettype: ipv4\n"
        f"connection: &e\n  accepter: tcp,127.0.0.1,{echo}\n  connector: echo\n"
    )
    with daemon(text, tmp_path, [admin, echo]):
        assert wait_until(lambda: browser.up(name), 10)
        info = browser.info(name)
        assert info.port == admin
        assert zeroconf_txt(info.text) == [
            "provider=ser2net",
            "gensiostack=tcp",
            "implementation=pyser2net",
        ]
    assert wait_until(lambda: not browser.up(name), 10)


def test_browse_without_zeroconf_says_how_to_install_it() -> None:
    hide = "import sys; sys.modules['zeroconf'] = None; from pyser2net.cli import main; main()"
    out = subprocess.run(
        [sys.executable, "-c", hide, "--browse", "--browse-timeout", "0"],
        capture_output=True,
        timeout=60,
        cwd=str(ROOT),
    )
    assert out.returncode == 1
    assert out.stdout == b""
    assert out.stderr.decode() == (
        "pyser2net: --browse needs the zeroconf package "
        "(pip install zeroconf, or apt install python3-zeroconf)\n"
    )


def test_browse_names_an_unknown_interface() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pyser2net", "--browse", "--browse-interface", "nosuch0"],
        capture_output=True,
        timeout=60,
        cwd=str(ROOT),
    )
    assert out.returncode == 1
    assert out.stderr.decode() == "pyser2net: no network interface 'nosuch0'\n"
