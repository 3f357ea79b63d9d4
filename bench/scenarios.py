"""The measurements.  Each one is a function ``(target, sizes) -> metrics``.

``target`` is a ``daemons.Target``: the scenario writes the configuration
it needs, starts the daemon with ``target.run`` (the daemon launcher), drives
it through ptys and loopback sockets, and returns a flat ``{metric: value}``
dictionary.  Nothing here knows which implementation it is measuring.

Devices are ptys opened here: the benchmark holds the master side (raw
mode) and the daemon opens the slave path.  The slave is kept open here
too, so the master never sees a hang-up while the daemon reopens it.

Every loop has a deadline; a transfer that makes no progress for
``STALL_SECONDS`` fails the run instead of hanging the benchmark.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import socket
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
import tty
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from daemons import CLOCK_TICKS, Target

Metrics = Dict[str, float]
Scenario = Callable[[Target, "Sizes"], Metrics]
#: A scenario that runs every daemon at once and measures them side by side.
PairedScenario = Callable[[Sequence[Target], "Sizes"], Dict[str, Metrics]]

HOST = "127.0.0.1"
MB = 1_000_000
MIB = 1 << 20
STALL_SECONDS = 10.0
#: Bytes handed to one send()/write() call by the benchmark itself.
CHUNK = 1 << 16
BLOCK = MIB


class BenchError(RuntimeError):
    """A run failed: wrong data, a stall, a port that never answered."""


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does (``--quick`` uses smaller sizes)."""

    payload_mib: int = 32
    fanout_mib: int = 8
    fanout_clients: int = 8
    #: Round trips per round with chardelay off (they take ~0.1 ms each),
    #: and with it on (~1-3 ms each).
    round_trips: int = 2000
    round_trips_chardelay: int = 500
    hold_samples: int = 200
    startup_ports: int = 200
    idle_clients: int = 20
    idle_seconds: float = 10.0
    flood_seconds: float = 10.0
    speed: int = 115200
    farm_ports: int = 128
    farm_seconds: float = 10.0


# -- building blocks ------------------------------------------------------


@dataclass
class Pty:
    master: int
    slave: int
    path: str

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@contextlib.contextmanager
def ptys(count: int) -> Iterator[List[Pty]]:
    opened: List[Pty] = []
    try:
        for _ in range(count):
            master, slave = os.openpty()
            opened.append(Pty(master, slave, os.ttyname(slave)))
            tty.setraw(master)
            os.set_blocking(master, False)
        yield opened
    finally:
        for p in opened:
            p.close()


def free_ports(count: int) -> List[int]:
    """``count`` distinct loopback ports nobody listens on right now."""
    holders: List[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            holders.append(s)
        return [s.getsockname()[1] for s in holders]
    finally:
        for s in holders:
            s.close()


def connection(name: str, port: int, connector: str, accepter: str = "", **options: object) -> str:
    lines = [
        f"connection: &{name}",
        f"  accepter: {accepter}tcp,{HOST},{port}",
        f"  connector: {connector}",
    ]
    if options:
        lines.append("  options:")
        for key, value in options.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            lines.append(f"    {key.replace('_', '-')}: {text}")
    return "\n".join(lines) + "\n"


def serialdev(p: Pty, speed: int) -> str:
    return f"serialdev,{p.path},{speed}n81,local"


def connect(port: int, rcvbuf: Optional[int] = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(5.0)
        s.connect((HOST, port))
    except OSError:
        s.close()
        raise
    s.setblocking(False)
    return s


@contextlib.contextmanager
def clients(port: int, count: int, rcvbuf: Optional[int] = None) -> Iterator[List[socket.socket]]:
    socks: List[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(connect(port, rcvbuf))
        yield socks
    finally:
        for s in socks:
            s.close()


def drain_socket(s: socket.socket) -> int:
    total = 0
    while True:
        try:
            data = s.recv(CHUNK)
        except BlockingIOError:
            return total
        if not data:
            raise BenchError("the daemon closed a client connection")
        total += len(data)


def drain_fd(fd: int) -> int:
    total = 0
    while True:
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return total
        total += len(data)


def sync_device_to_clients(
    dev: Pty,
    socks: Sequence[socket.socket],
    timeout: float = 10.0,
) -> None:
    """Return once the daemon has the device open and forwards to every client.

    A byte is written to the device every 50 ms until each client has seen
    one; then whatever is still in flight is read and thrown away.
    """
    pending = set(socks)
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise BenchError(f"{len(pending)} clients never received device data")
        with contextlib.suppress(BlockingIOError):
            os.write(dev.master, b"\x00")
        window = time.monotonic() + 0.05
        while pending and time.monotonic() < window:
            ready, _, _ = select.select(list(pending), [], [], max(0.0, window - time.monotonic()))
            for s in ready:
                drain_socket(s)
                pending.discard(s)
    time.sleep(0.1)
    for s in socks:
        drain_socket(s)


def sync_client_to_device(sock: socket.socket, dev: Pty, timeout: float = 10.0) -> None:
    """Return once bytes a client sends reach the device."""
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            raise BenchError("client data never reached the device")
        sock.send(b"\x00")
        ready, _, _ = select.select([dev.master], [], [], 0.05)
        if ready and drain_fd(dev.master):
            break
    time.sleep(0.1)
    drain_fd(dev.master)


class Payload:
    """``size`` bytes: one random 1 MiB block repeated, with its CRC-32."""

    _block = random.Random(2217).randbytes(BLOCK)

    def __init__(self, mib: int) -> None:
        self.size = mib * MIB
        self.view = memoryview(self._block)
        crc = 0
        for _ in range(mib):
            crc = zlib.crc32(self._block, crc)
        self.crc = crc

    def chunk(self, offset: int) -> memoryview:
        """The next bytes to send once ``offset`` bytes were sent (empty at the end)."""
        start = offset % BLOCK
        return self.view[start : min(BLOCK, start + CHUNK, start + self.size - offset)]

    def endless(self, offset: int) -> memoryview:
        """Like ``chunk``, for a stream that never ends."""
        start = offset % BLOCK
        return self.view[start : min(BLOCK, start + CHUNK)]


class Stall:
    """Raises BenchError when no progress was made for STALL_SECONDS."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.last = time.monotonic()

    def progress(self) -> None:
        self.last = time.monotonic()

    def check(self) -> None:
        if time.monotonic() - self.last > STALL_SECONDS:
            raise BenchError(f"{self.what}: no progress for {STALL_SECONDS:.0f}s")


def cpu_per_100mb(ticks: int, nbytes: int) -> float:
    """CPU seconds the daemon would spend moving 100 MB at this rate."""
    return ticks / CLOCK_TICKS * (100 * MB) / nbytes


# -- throughput -------------------------------------------------------------


def _net_to_dev(sock: socket.socket, dev: Pty, payload: Payload) -> float:
    """Send the payload from the client, read it from the pty; wall seconds."""
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    poller.register(dev.master, select.POLLIN)
    sent = got = crc = 0
    stall = Stall("net->device transfer")
    start = time.perf_counter()
    while got < payload.size:
        for fd, _ in poller.poll(100):
            if fd == dev.master:
                try:
                    data = os.read(dev.master, CHUNK)
                except BlockingIOError:
                    continue
                got += len(data)
                crc = zlib.crc32(data, crc)
                stall.progress()
            elif sent < payload.size:
                try:
                    sent += sock.send(payload.chunk(sent))
                except BlockingIOError:
                    continue
                if sent >= payload.size:
                    poller.unregister(sock)
        stall.check()
    elapsed = time.perf_counter() - start
    if got != payload.size or crc != payload.crc:
        raise BenchError("net->device: the device received different bytes")
    return elapsed


def _dev_to_net(dev: Pty, socks: Sequence[socket.socket], payload: Payload) -> float:
    """Write the payload to the pty, read it on every client; wall seconds."""
    poller = select.poll()
    poller.register(dev.master, select.POLLOUT)
    by_fd = {s.fileno(): s for s in socks}
    got = dict.fromkeys(by_fd, 0)
    crcs = dict.fromkeys(by_fd, 0)
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    buf = bytearray(4 * CHUNK)
    view = memoryview(buf)
    written = 0
    unfinished = len(socks)
    stall = Stall("device->net transfer")
    start = time.perf_counter()
    # The first write happens right here, so that "start" is the first byte.
    written += os.write(dev.master, payload.chunk(0))
    while unfinished:
        for fd, _ in poller.poll(100):
            if fd == dev.master:
                try:
                    written += os.write(dev.master, payload.chunk(written))
                except BlockingIOError:
                    continue
                if written >= payload.size:
                    poller.unregister(dev.master)
                continue
            try:
                n = by_fd[fd].recv_into(buf)
            except BlockingIOError:
                continue
            if n == 0:
                raise BenchError("device->net: the daemon closed a client")
            got[fd] += n
            crcs[fd] = zlib.crc32(view[:n], crcs[fd])
            stall.progress()
            if got[fd] >= payload.size:
                poller.unregister(fd)
                unfinished -= 1
        stall.check()
    elapsed = time.perf_counter() - start
    for fd in by_fd:
        if got[fd] != payload.size or crcs[fd] != payload.crc:
            raise BenchError("device->net: a client received different bytes")
    return elapsed


def throughput(direction: str, chardelay: bool) -> Scenario:
    """Bulk transfer in one direction over one connection."""

    def run(target: Target, sizes: Sizes) -> Metrics:
        payload = Payload(sizes.payload_mib)
        (port,) = free_ports(1)
        with ptys(1) as (dev,):
            config = connection("p1", port, serialdev(dev, sizes.speed), chardelay=chardelay)
            with target.run(config, [port]) as daemon, clients(port, 1) as (sock,):
                if direction == "net->dev":
                    sync_client_to_device(sock, dev)
                    before = daemon.cpu_ticks()
                    elapsed = _net_to_dev(sock, dev, payload)
                else:
                    sync_device_to_clients(dev, [sock])
                    before = daemon.cpu_ticks()
                    elapsed = _dev_to_net(dev, [sock], payload)
                ticks = daemon.cpu_ticks() - before
        return {
            "mbps": payload.size / elapsed / MB,
            "cpu": cpu_per_100mb(ticks, payload.size),
        }

    run.__name__ = f"throughput {direction} chardelay {'on' if chardelay else 'off'}"
    return run


def fanout(target: Target, sizes: Sizes) -> Metrics:
    """The device floods; N clients of one connection each read everything."""
    payload = Payload(sizes.fanout_mib)
    n = sizes.fanout_clients
    (port,) = free_ports(1)
    with ptys(1) as (dev,):
        config = connection(
            "fan", port, serialdev(dev, sizes.speed), chardelay=False, max_connections=n
        )
        with target.run(config, [port]) as daemon, clients(port, n) as socks:
            sync_device_to_clients(dev, socks)
            before = daemon.cpu_ticks()
            elapsed = _dev_to_net(dev, socks, payload)
            ticks = daemon.cpu_ticks() - before
    return {
        "mbps": n * payload.size / elapsed / MB,
        "cpu": cpu_per_100mb(ticks, n * payload.size),
    }


# -- TLS --------------------------------------------------------------------


def make_tls_key(directory: str) -> Tuple[str, str]:
    """A self-signed P-256 key and certificate for 127.0.0.1, made with
    ``openssl req`` (as the manual tells users to)."""
    key, cert = os.path.join(directory, "bench.key"), os.path.join(directory, "bench.crt")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return key, cert


def tls_connect(port: int, cafile: str) -> ssl.SSLSocket:
    """A blocking TLS client (Python's ssl), handshake done."""
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    raw = socket.create_connection((HOST, port), timeout=STALL_SECONDS)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        return context.wrap_socket(raw, server_hostname=HOST)
    except (OSError, ssl.SSLError):
        raw.close()
        raise


def _in_thread(work: Callable[[], None]) -> Callable[[], None]:
    """Run ``work`` in a thread; the returned call joins it and re-raises."""
    failed: List[BaseException] = []

    def body() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed to the joiner
            failed.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()

    def join() -> None:
        # Called once every byte arrived, so the sender is done or about to be.
        thread.join(STALL_SECONDS)
        if thread.is_alive():
            raise BenchError("the sending side never finished")
        if failed:
            raise BenchError(f"the sending side failed: {failed[0]}")

    return join


def _tls_net_to_dev(tls: ssl.SSLSocket, dev: Pty, payload: Payload) -> float:
    """A thread sends over TLS, this one reads the pty; wall seconds."""

    def send() -> None:
        sent = 0
        while sent < payload.size:
            chunk = payload.chunk(sent)
            tls.sendall(chunk)
            sent += len(chunk)

    got = crc = 0
    stall = Stall("TLS net->device transfer")
    start = time.perf_counter()
    join = _in_thread(send)
    while got < payload.size:
        ready, _, _ = select.select([dev.master], [], [], 0.1)
        if ready:
            try:
                data = os.read(dev.master, CHUNK)
            except BlockingIOError:
                continue
            got += len(data)
            crc = zlib.crc32(data, crc)
            stall.progress()
        stall.check()
    elapsed = time.perf_counter() - start
    join()
    if got != payload.size or crc != payload.crc:
        raise BenchError("TLS net->device: the device received different bytes")
    return elapsed


def _tls_dev_to_net(dev: Pty, tls: ssl.SSLSocket, payload: Payload) -> float:
    """A thread writes the pty, this one reads the TLS client; wall seconds."""

    def write() -> None:
        written = 0
        stall = Stall("TLS device->net: writing the pty")
        while written < payload.size:
            select.select([], [dev.master], [], 0.1)
            with contextlib.suppress(BlockingIOError):
                written += os.write(dev.master, payload.chunk(written))
                stall.progress()
            stall.check()

    buf = bytearray(4 * CHUNK)
    view = memoryview(buf)
    got = crc = 0
    start = time.perf_counter()
    join = _in_thread(write)
    while got < payload.size:
        n = tls.recv_into(buf)  # blocking, with the socket's timeout
        if n == 0:
            raise BenchError("TLS device->net: the daemon closed the client")
        got += n
        crc = zlib.crc32(view[:n], crc)
    elapsed = time.perf_counter() - start
    join()
    if got != payload.size or crc != payload.crc:
        raise BenchError("TLS device->net: the client received different bytes")
    return elapsed


def tls_throughput(direction: str) -> Scenario:
    """Bulk transfer through ``ssl,tcp`` (TLS 1.3 with both daemons), one
    direction, chardelay off; the client is Python's ssl in this process."""

    def run(target: Target, sizes: Sizes) -> Metrics:
        payload = Payload(sizes.payload_mib)
        (port,) = free_ports(1)
        with tempfile.TemporaryDirectory(prefix="bench-tls-") as keys, ptys(1) as (dev,):
            key, cert = make_tls_key(keys)
            config = connection(
                "tls",
                port,
                serialdev(dev, sizes.speed),
                accepter=f"ssl(key={key},cert={cert}),",
                chardelay=False,
            )
            with target.run(config, [port]) as daemon:
                with contextlib.closing(tls_connect(port, cert)) as tls:
                    if direction == "net->dev":
                        tls.sendall(b"\x00")
                        if not select.select([dev.master], [], [], STALL_SECONDS)[0]:
                            raise BenchError("TLS client data never reached the device")
                        time.sleep(0.1)
                        drain_fd(dev.master)
                        before = daemon.cpu_ticks()
                        elapsed = _tls_net_to_dev(tls, dev, payload)
                    else:
                        os.write(dev.master, b"\x00")
                        if tls.recv(1) != b"\x00":
                            raise BenchError("TLS: the device's byte never reached the client")
                        before = daemon.cpu_ticks()
                        elapsed = _tls_dev_to_net(dev, tls, payload)
                    ticks = daemon.cpu_ticks() - before
        return {
            "mbps": payload.size / elapsed / MB,
            "cpu": cpu_per_100mb(ticks, payload.size),
        }

    run.__name__ = f"TLS throughput {direction}"
    return run


# -- latency ----------------------------------------------------------------


def _round_trip(sock: socket.socket, dev: Pty, byte: bytes) -> float:
    """One byte client -> device, echoed by the benchmark, device -> client."""
    start = time.perf_counter()
    sock.send(byte)
    ready, _, _ = select.select([dev.master], [], [], STALL_SECONDS)
    if not ready:
        raise BenchError("latency: the byte never reached the device")
    data = os.read(dev.master, 16)
    os.write(dev.master, data)
    back = sock.recv(16)
    elapsed = time.perf_counter() - start
    if data != byte or back != byte:
        raise BenchError(f"latency: sent {byte!r}, device saw {data!r}, got back {back!r}")
    return elapsed


#: Round trips (or hold samples) taken before measuring, not counted.
WARM_UP = 100

Link = Tuple[socket.socket, Pty]


def _blocking_client(stack: contextlib.ExitStack, port: int, dev: Pty) -> Link:
    """A client of ``port`` once data flows both ways, with blocking reads."""
    (sock,) = stack.enter_context(clients(port, 1))
    sync_client_to_device(sock, dev)
    sync_device_to_clients(dev, [sock])
    sock.setblocking(True)
    sock.settimeout(STALL_SECONDS)
    return sock, dev


def _in_turns(
    links: Sequence[Link],
    measure: Callable[[socket.socket, Pty, bytes], float],
    count: int,
    warm_up: int,
    pace: float = 0.0,
) -> List[List[float]]:
    """``count`` samples of every link, taken in turns (A B B A A B ...).

    The first ``warm_up`` turns are not kept; ``pace`` is a quiet time
    before every sample.
    """
    samples: List[List[float]] = [[] for _ in links]
    indexes = range(len(links))
    for i in range(-warm_up, count):
        byte = bytes([0x20 + i % 0x5F])
        for k in indexes if i % 2 else reversed(indexes):
            if pace:
                time.sleep(pace)
            elapsed = measure(*links[k], byte)
            if i >= 0:
                samples[k].append(elapsed)
    return samples


def latency(chardelay: bool) -> PairedScenario:
    """Every daemon at once, each on its own pty, round trips taken in turns.

    Measured one daemon after the other, the ratio of the medians ranged
    from 0.93x to 1.24x over 14 runs on a 2-core VM: where the scheduler
    happened to put the processes weighed more than the daemons.  Taking
    the round trips in turns (A B B A A B ...) gives both daemons the same
    machine at the same moment.  Even so, the placement found after a start
    can favour one daemon for some hundred round trips, hence many round
    trips per round.
    """

    def run(targets: Sequence[Target], sizes: Sizes) -> Dict[str, Metrics]:
        ports = free_ports(len(targets))
        with ptys(len(targets)) as devs, contextlib.ExitStack() as stack:
            links = []
            for target, port, dev in zip(targets, ports, devs):
                config = connection("lat", port, serialdev(dev, sizes.speed), chardelay=chardelay)
                stack.enter_context(target.run(config, [port]))
                links.append(_blocking_client(stack, port, dev))
            count = sizes.round_trips_chardelay if chardelay else sizes.round_trips
            samples = _in_turns(links, _round_trip, count, WARM_UP)
        return {t.name: _latency_metrics(s) for t, s in zip(targets, samples)}

    run.__name__ = f"latency chardelay {'on' if chardelay else 'off'}"
    return run


def _latency_metrics(samples: List[float]) -> Metrics:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(round(0.99 * (len(samples) - 1))))]
    return {"median_us": statistics.median(samples) * 1e6, "p99_us": p99 * 1e6}


#: Quiet time before every sample of the hold measurement.
HOLD_PACE = 0.003


def _device_to_client(sock: socket.socket, dev: Pty, byte: bytes) -> float:
    """One byte written to the device until the client has it."""
    start = time.perf_counter()
    os.write(dev.master, byte)
    back = sock.recv(16)
    elapsed = time.perf_counter() - start
    if back != byte:
        raise BenchError(f"hold: the device said {byte!r}, the client got {back!r}")
    return elapsed


def chardelay_hold(targets: Sequence[Target], sizes: Sizes) -> Dict[str, Metrics]:
    """How long chardelay holds device bytes: device -> client, on minus off.

    Each daemon serves two ptys, one connection with chardelay and one
    without; the samples go round all of them in turns, each after the
    same quiet time.  A round trip measured with chardelay on also starts
    after a millisecond of idleness, and waking an idle machine is slower
    than waking a busy one, so "round trip on minus round trip off" counts
    that too; here both sides wake the same way and only the hold differs.
    """
    ports = free_ports(2 * len(targets))
    with ptys(2 * len(targets)) as devs, contextlib.ExitStack() as stack:
        links = []  # per daemon: chardelay off, then on
        for k, target in enumerate(targets):
            off, on = devs[2 * k], devs[2 * k + 1]
            config = connection(
                "off", ports[2 * k], serialdev(off, sizes.speed), chardelay=False
            ) + connection("on", ports[2 * k + 1], serialdev(on, sizes.speed), chardelay=True)
            stack.enter_context(target.run(config, ports[2 * k : 2 * k + 2]))
            links.append(_blocking_client(stack, ports[2 * k], off))
            links.append(_blocking_client(stack, ports[2 * k + 1], on))
        samples = _in_turns(
            links, _device_to_client, sizes.hold_samples, WARM_UP // 10, pace=HOLD_PACE
        )
    result = {}
    for k, target in enumerate(targets):
        off_us = statistics.median(samples[2 * k]) * 1e6
        on_us = statistics.median(samples[2 * k + 1]) * 1e6
        result[target.name] = {"off_us": off_us, "on_us": on_us, "added_us": on_us - off_us}
    return result


# -- resources --------------------------------------------------------------


def startup(target: Target, sizes: Sizes) -> Metrics:
    """Start on ``startup_ports`` pty connections: time until all accept, RSS then.

    The clock starts just before the daemon is forked.  Every port is
    polled by connecting (a refused connect is retried 1 ms later); each
    successful connection stays open, so the daemon opens every device.
    Then one byte sent on every connection must reach its device.
    """
    n = sizes.startup_ports
    ports = free_ports(n)
    socks: Dict[int, socket.socket] = {}
    with ptys(n) as devs:
        config = "".join(
            connection(f"s{i}", port, serialdev(dev, sizes.speed))
            for i, (port, dev) in enumerate(zip(ports, devs))
        )
        try:
            with target.run(config, wait=False) as daemon:
                pending = list(ports)
                deadline = time.monotonic() + 20.0
                last = daemon.started
                while pending:
                    waiting = []
                    for port in pending:
                        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        s.settimeout(2.0)
                        try:
                            s.connect((HOST, port))
                        except ConnectionRefusedError:
                            s.close()
                            waiting.append(port)
                            continue
                        last = time.perf_counter()
                        socks[port] = s
                    pending = waiting
                    if pending:
                        daemon.check_alive()
                        if time.monotonic() > deadline:
                            raise BenchError(f"{len(pending)} ports never accepted")
                        time.sleep(0.001)
                accept_s = last - daemon.started
                daemon.check_owns(ports)  # not another process that bound one first
                rss = daemon.rss_kib()
                for s in socks.values():
                    s.sendall(b"!")
                waiting_devs = {dev.master for dev in devs}
                while waiting_devs:
                    ready, _, _ = select.select(list(waiting_devs), [], [], STALL_SECONDS)
                    if not ready:
                        raise BenchError(f"{len(waiting_devs)} devices never got their byte")
                    for fd in ready:
                        if drain_fd(fd):
                            waiting_devs.discard(fd)
                serve_s = time.perf_counter() - daemon.started
                rss_serving = daemon.rss_kib()
        finally:
            for s in socks.values():
                s.close()
    return {
        "accept_s": accept_s,
        "serve_s": serve_s,
        "rss_mib": rss / 1024,
        "rss_serving_mib": rss_serving / 1024,
    }


def idle(target: Target, sizes: Sizes) -> Metrics:
    """CPU ticks used while ``idle_clients`` clients sit on open, silent ports."""
    n = sizes.idle_clients
    ports = free_ports(n)
    with ptys(n) as devs:
        config = "".join(
            connection(f"i{i}", port, serialdev(dev, sizes.speed))
            for i, (port, dev) in enumerate(zip(ports, devs))
        )
        with target.run(config, ports) as daemon, contextlib.ExitStack() as stack:
            for port, dev in zip(ports, devs):
                socks = stack.enter_context(clients(port, 1))
                sync_device_to_clients(dev, socks)
            time.sleep(0.5)  # let connection set-up work finish
            before = daemon.cpu_ticks()
            time.sleep(sizes.idle_seconds)
            ticks = daemon.cpu_ticks() - before
    return {"ticks": float(ticks)}


def stalled_reader(target: Target, sizes: Sizes) -> Metrics:
    """The device floods; one client never reads (tiny SO_RCVBUF), one reads.

    Returns the peak RSS growth over the flood, and what the reading client
    received meanwhile.
    """
    (port,) = free_ports(1)
    block = Payload(1)
    with ptys(1) as (dev,):
        config = connection("st", port, serialdev(dev, sizes.speed), max_connections=2)
        with (
            target.run(config, [port]) as daemon,
            clients(port, 1, rcvbuf=4096) as (stuck,),
            clients(port, 1) as (reader,),
        ):
            sync_device_to_clients(dev, [stuck, reader])
            time.sleep(0.2)
            exact_peak = daemon.reset_peak_rss()
            baseline = daemon.rss_kib()
            peak = baseline
            written = received = 0
            poller = select.poll()
            poller.register(dev.master, select.POLLOUT)
            poller.register(reader, select.POLLIN)
            end = time.monotonic() + sizes.flood_seconds
            next_sample = 0.0
            while time.monotonic() < end:
                for fd, _ in poller.poll(50):
                    if fd == dev.master:
                        with contextlib.suppress(BlockingIOError):
                            written += os.write(dev.master, block.endless(written))
                    else:
                        with contextlib.suppress(BlockingIOError):
                            data = reader.recv(CHUNK)
                            if not data:
                                raise BenchError("the daemon closed the reading client")
                            received += len(data)
                now = time.monotonic()
                if now >= next_sample:
                    peak = max(peak, daemon.rss_kib())
                    next_sample = now + 0.05
            daemon.check_alive()
            peak = max(peak, daemon.rss_kib())
            if exact_peak:
                peak = max(peak, daemon.peak_rss_kib())
    return {
        "growth_kib": float(peak - baseline),
        "reader_kib": received / 1024,
        "written_kib": written / 1024,
    }


#: A USB UART at 115200 baud hands over 64-byte chunks; 64 bytes take
#: 5.6 ms on the wire (10 bits a byte).
FARM_CHUNK = 64
FARM_PERIOD = 0.0056
#: How often each console's user types a key.
FARM_TYPING_PERIOD = 1.0


def console_farm(target: Target, sizes: Sizes) -> Metrics:
    """A console server's everyday life: many slow devices, one quiet user each.

    ``farm_ports`` ptys, one client each, every device writing a 64-byte
    chunk every 5.6 ms (staggered, so the daemon sees a steady trickle of
    small reads rather than bursts), every client typing one byte a second,
    for ``farm_seconds``.  The connections use the default options, as a
    console configuration would.  Every byte is checked, in order, at the
    client, and every typed byte must reach its device.
    """
    n = sizes.farm_ports
    ports = free_ports(n)
    pattern = random.Random(2217).randbytes(1 << 16)
    doubled = pattern + pattern
    with ptys(n) as devs:
        config = "".join(
            connection(f"f{i}", port, serialdev(dev, sizes.speed))
            for i, (port, dev) in enumerate(zip(ports, devs))
        )
        with target.run(config, ports) as daemon, contextlib.ExitStack() as stack:
            socks: List[socket.socket] = []
            for port, dev in zip(ports, devs):
                sock = stack.enter_context(clients(port, 1))[0]
                sync_device_to_clients(dev, [sock])
                socks.append(sock)
            poller = select.epoll()
            stack.callback(poller.close)
            client_of = {s.fileno(): i for i, s in enumerate(socks)}
            device_of = {d.master: i for i, d in enumerate(devs)}
            for fd in list(client_of) + list(device_of):
                poller.register(fd, select.EPOLLIN)
            sent = [0] * n
            received = [0] * n
            typed = [0] * n
            arrived = [0] * n
            overruns = 0
            write_step = FARM_PERIOD / n
            type_step = FARM_TYPING_PERIOD / n

            def on_readable(fd: int) -> None:
                if fd in client_of:
                    i = client_of[fd]
                    data = socks[i].recv(CHUNK)
                    if not data:
                        raise BenchError(f"the daemon closed console {i}")
                    at = received[i] % len(pattern)
                    if data != doubled[at : at + len(data)]:
                        raise BenchError(f"console {i}: bytes lost or reordered at {received[i]}")
                    received[i] += len(data)
                else:
                    i = device_of[fd]
                    data = os.read(fd, CHUNK)
                    if data.strip(b"k"):
                        raise BenchError(f"device {i} got bytes nobody typed")
                    arrived[i] += len(data)

            before = daemon.cpu_split()
            sleeps = daemon.sleeps()
            began = time.perf_counter()
            end = began + sizes.farm_seconds
            writes = keys = 0
            while True:
                now = time.perf_counter()
                if now >= end:
                    break
                while began + writes * write_step <= now:
                    i = writes % n
                    at = sent[i] % len(pattern)
                    try:
                        sent[i] += os.write(devs[i].master, pattern[at : at + FARM_CHUNK])
                    except BlockingIOError:
                        overruns += 1
                    writes += 1
                while began + keys * type_step <= now:
                    i = keys % n
                    typed[i] += socks[i].send(b"k")
                    keys += 1
                wake = min(began + writes * write_step, began + keys * type_step, end)
                for fd, _ in poller.poll(max(0.0, wake - time.perf_counter())):
                    on_readable(fd)
            user, system = (a - b for a, b in zip(daemon.cpu_split(), before))
            ticks = user + system
            sleeps = daemon.sleeps() - sleeps
            rss = daemon.rss_kib()
            deadline = time.monotonic() + STALL_SECONDS
            while received != sent or arrived != typed:
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"after the run {sum(sent) - sum(received)} device bytes and "
                        f"{sum(typed) - sum(arrived)} typed bytes never arrived"
                    )
                for fd, _ in poller.poll(0.1):
                    on_readable(fd)
    return {
        "cpu_pct": 100.0 * ticks / CLOCK_TICKS / sizes.farm_seconds,
        "user_pct": 100.0 * user / CLOCK_TICKS / sizes.farm_seconds,
        "system_pct": 100.0 * system / CLOCK_TICKS / sizes.farm_seconds,
        "delivered_mb": sum(received) / MB,
        "scheduled_mb": sizes.farm_seconds / FARM_PERIOD * FARM_CHUNK * n / MB,
        "overruns": float(overruns),
        "wakeups_per_s": sleeps / sizes.farm_seconds,
        "rss_mib": rss / 1024,
    }


SCENARIOS: Dict[str, Union[Scenario, PairedScenario]] = {
    "tput_n2d_off": throughput("net->dev", chardelay=False),
    "tput_d2n_off": throughput("dev->net", chardelay=False),
    "tput_n2d_on": throughput("net->dev", chardelay=True),
    "tput_d2n_on": throughput("dev->net", chardelay=True),
    "tls_n2d": tls_throughput("net->dev"),
    "tls_d2n": tls_throughput("dev->net"),
    "latency_off": latency(chardelay=False),
    "latency_on": latency(chardelay=True),
    "hold": chardelay_hold,
    "fanout": fanout,
    "startup": startup,
    "idle": idle,
    "stalled": stalled_reader,
    "farm": console_farm,
}
#: The scenarios of SCENARIOS that are PairedScenarios.
PAIRED = frozenset({"latency_off", "latency_on", "hold"})
