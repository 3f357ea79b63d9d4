#!/usr/bin/env python3
"""Hostile clients: ``python bench/hostile.py [--rounds N] [--seconds S] [--only NAMES]``.

One daemon serves two ports: an idle echo port (a pty the benchmark echoes,
as in the latency scenario of ``run.py``) and an attacked port (telnet with
RFC 2217, on a pty of its own).  While one attack runs on the attacked
port, from a separate process, the benchmark measures the one-byte round
trip of the echo port, and samples the daemon's RSS.  pyser2net and
ser2net get the same configuration shape and the same attacks, in
interleaved rounds (attack by attack, the daemon order alternating), each
run on a freshly started daemon.  See README.md in this directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemons import Running, Target, pyser2net_target, ser2net_target  # noqa: E402
from run import loadavg, machine  # noqa: E402
from scenarios import (  # noqa: E402
    HOST,
    BenchError,
    _blocking_client,
    _round_trip,
    free_ports,
    ptys,
    serialdev,
)

IAC, SB, SE = 255, 250, 240
WILL, WONT, DO, DONT = 251, 252, 253, 254
COM_PORT = 44
SPEED = 115200
#: The goal: no attack raises the other port's p99 round trip by more than this.
GOAL_P99_RISE_MS = 5.0
#: The goal for the daemon's RSS while 100 hostile clients run.
GOAL_RSS_MB = 64.0
MANY = 100


def sb(code: int, payload: bytes) -> bytes:
    return bytes([IAC, SB, COM_PORT, code]) + payload + bytes([IAC, SE])


def baud_request(baud: int) -> bytes:
    return sb(1, baud.to_bytes(4, "big"))


# -- the attacks (each a block of bytes sent over and over) ---------------------


def ff_payload(size: int = 1 << 20, seed: int = 3) -> bytes:
    """Random payload of which half the bytes are 0xFF, escaped for telnet."""
    rng = random.Random(seed)
    data = bytearray(rng.randbytes(size))
    for i in rng.sample(range(size), size // 2):
        data[i] = IAC
    return bytes(data).replace(b"\xff", b"\xff\xff")


@dataclass(frozen=True)
class Attack:
    """``block``: what one client sends again and again; ``reads``: whether
    it reads what the daemon sends back; ``drains_device``: the attacker
    empties the attacked pty (data attacks would otherwise fill it and be
    held back, which is no attack)."""

    name: str
    what: str
    block: Callable[[], bytes]
    reads: bool = True
    drains_device: bool = False


BAUDS = (9600, 19200, 38400, 57600, 115200)

ATTACKS: Dict[str, Attack] = {
    a.name: a
    for a in (
        Attack(
            "baud-change",
            "RFC 2217 SET-BAUDRATE loop, changing baud, answers read",
            lambda: b"".join(baud_request(BAUDS[i % len(BAUDS)]) for i in range(6000)),
        ),
        Attack(
            "baud-same",
            "RFC 2217 SET-BAUDRATE loop, same baud, answers read",
            lambda: baud_request(SPEED) * 6000,
        ),
        Attack(
            "answers-unread",
            "SIGNATURE requests and IAC DO 99, answers never read",
            lambda: (sb(0, b"") * 5000) + bytes([IAC, DO, 99]) * 10000,
            reads=False,
        ),
        Attack(
            "ff-data",
            "telnet data, half of its bytes 0xFF",
            ff_payload,
            drains_device=True,
        ),
        Attack(
            "flip-storm",
            "IAC DO 1 / IAC DONT 1 flip storm",
            lambda: bytes([IAC, DO, 1, IAC, DONT, 1]) * 10000,
        ),
    )
}
#: The mix of the 100-client attack: 20 clients of each kind at once.
MIX = ("baud-change", "baud-same", "answers-unread", "ff-data", "flip-storm")
ORDER = ["none", *ATTACKS, "100-clients"]


def attacker(port: int, names: Sequence[str], dev_fd: Optional[int]) -> None:
    """The attack loop, in a process of its own, until SIGTERM.

    One connection per name in ``names``; each sends its attack's block as
    fast as the daemon takes it, and reads (and drops) what comes back if
    its attack reads.  Prints what it sent and received as one JSON line.
    """
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    blocks = {name: memoryview(ATTACKS[name].block()) for name in set(names)}
    sent = received = 0
    conns = []
    for name in names:
        sock = socket.create_connection((HOST, port), timeout=10)
        sock.setblocking(False)
        # Say we speak COM-PORT-OPTION, as an RFC 2217 client does.
        sock.send(bytes([IAC, WILL, COM_PORT]))
        attack = ATTACKS[name]
        state = {"sock": sock, "block": blocks[name], "pos": 0, "reads": attack.reads}
        events = selectors.EVENT_WRITE | (selectors.EVENT_READ if attack.reads else 0)
        sel.register(sock, events, state)
        conns.append(sock)
    if dev_fd is not None:
        os.set_blocking(dev_fd, False)
        sel.register(dev_fd, selectors.EVENT_READ, None)
    print("ready", flush=True)
    while not stop:
        for key, mask in sel.select(0.2):
            state = key.data
            if state is None:  # the attacked pty: drop what the daemon wrote
                with contextlib.suppress(BlockingIOError, OSError):
                    os.read(dev_fd, 1 << 16)  # type: ignore[arg-type]
                continue
            sock = state["sock"]
            try:
                if mask & selectors.EVENT_READ:
                    data = sock.recv(1 << 16)
                    if not data:
                        sel.unregister(sock)
                        continue
                    received += len(data)
                if mask & selectors.EVENT_WRITE:
                    block, pos = state["block"], state["pos"]
                    n = sock.send(block[pos : pos + (1 << 16)])
                    sent += n
                    state["pos"] = (pos + n) % len(block)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                sel.unregister(sock)
    print(json.dumps({"sent": sent, "received": received}), flush=True)
    for sock in conns:
        sock.close()


@contextlib.contextmanager
def attacking(port: int, names: Sequence[str], dev_fd: Optional[int]) -> Iterator[Dict]:
    """Run the attacker process for the ``with`` block; yields its counters
    (filled in when it ends).  Ended by its pid: SIGTERM, then SIGKILL."""
    stats: Dict = {}
    if not names:
        yield stats
        return
    argv = [sys.executable, __file__, "--attack", ",".join(names), "--port", str(port)]
    pass_fds: Tuple[int, ...] = ()
    if dev_fd is not None:
        argv += ["--dev-fd", str(dev_fd)]
        pass_fds = (dev_fd,)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, pass_fds=pass_fds)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ready" once every client is connected
        if line.strip() != "ready":
            raise BenchError(f"the attacker did not start: {line!r}")
        yield stats
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=10)
        with contextlib.suppress(ValueError, IndexError):
            stats.update(json.loads(out.strip().splitlines()[-1]))


# -- one run ------------------------------------------------------------------------


def config(echo_port: int, echo_dev: str, attacked_port: int, attacked_dev: str) -> str:
    return (
        "connection: &echo\n"
        f"  accepter: tcp,{HOST},{echo_port}\n"
        f"  connector: {echo_dev}\n"
        "  options:\n"
        "    chardelay: false\n"
        "connection: &attacked\n"
        f"  accepter: telnet(rfc2217),tcp,{HOST},{attacked_port}\n"
        f"  connector: {attacked_dev}\n"
        "  options:\n"
        f"    max-connections: {MANY}\n"
    )


def clients_of(attack: str) -> List[str]:
    if attack == "none":
        return []
    if attack == "100-clients":
        return [MIX[i % len(MIX)] for i in range(MANY)]
    return [attack]


def run_one(target: Target, attack: str, seconds: float) -> Dict[str, float]:
    """Round trips on the echo port for ``seconds`` while ``attack`` runs."""
    echo_port, attacked_port = free_ports(2)
    with ptys(2) as (echo_dev, attacked_dev), contextlib.ExitStack() as stack:
        text = config(
            echo_port, serialdev(echo_dev, SPEED), attacked_port, serialdev(attacked_dev, SPEED)
        )
        running: Running = stack.enter_context(target.run(text, [echo_port, attacked_port]))
        sock, dev = _blocking_client(stack, echo_port, echo_dev)
        for i in range(50):  # warm up
            _round_trip(sock, dev, bytes([0x20 + i % 0x5F]))
        base_rss = running.rss_kib()
        names = clients_of(attack)
        drains = any(ATTACKS[n].drains_device for n in names)
        samples: List[float] = []
        peak = base_rss
        with attacking(attacked_port, names, attacked_dev.master if drains else None) as stats:
            time.sleep(0.5)  # let the attack get going
            end = time.monotonic() + seconds
            i = 0
            while time.monotonic() < end:
                samples.append(_round_trip(sock, dev, bytes([0x20 + i % 0x5F])))
                i += 1
                if i % 20 == 0:
                    peak = max(peak, running.rss_kib())
                    running.check_alive()
            peak = max(peak, running.rss_kib())
        peak = max(peak, running.peak_rss_kib())
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(round(0.99 * (len(samples) - 1))))]
    return {
        "median_ms": statistics.median(samples) * 1e3,
        "p99_ms": p99 * 1e3,
        "samples": float(len(samples)),
        "rss_mb": base_rss / 1024,
        "peak_rss_mb": peak / 1024,
        "attack_sent_mb": stats.get("sent", 0) / 1e6,
        "attack_received_mb": stats.get("received", 0) / 1e6,
    }


# -- the table ----------------------------------------------------------------------


def median_of(runs: List[Dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def table(results: Dict[str, Dict[str, List[Dict[str, float]]]], names: List[str]) -> List[str]:
    head = "| attack |"
    rule = "|---|"
    for name in names:
        head += f" {name} median ms | p99 ms | p99 rise ms | peak RSS MB |"
        rule += "---:|---:|---:|---:|"
    head += " goal met (pyser2net) |"
    rule += "---|"
    lines = [head, rule]
    for attack in ORDER:
        if attack not in results:
            continue
        row = f"| {attack} |"
        verdict = ""
        for name in names:
            runs = results[attack].get(name)
            if not runs:
                row += " - | - | - | - |"
                continue
            p99 = median_of(runs, "p99_ms")
            base = results.get("none", {}).get(name)
            rise = p99 - median_of(base, "p99_ms") if base else None
            peak = median_of(runs, "peak_rss_mb")
            rise_text = "-" if rise is None else f"{rise:+.2f}"
            row += f" {median_of(runs, 'median_ms'):.2f} | {p99:.2f} | {rise_text} | {peak:.1f} |"
            if name == "pyser2net" and attack != "none":
                ok = rise is not None and rise <= GOAL_P99_RISE_MS
                if attack == "100-clients":
                    ok = ok and peak < GOAL_RSS_MB
                verdict = "yes" if ok else "no"
        lines.append(row + f" {verdict} |")
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring time per run")
    parser.add_argument("--only", help="attacks, comma-separated (none is always run)")
    parser.add_argument("--no-ser2net", action="store_true")
    parser.add_argument("--ser2net", help="path of ser2net")
    parser.add_argument("--json", help="also write every run to this file")
    parser.add_argument("--pyser2net", help="command that runs pyser2net (default: this Python)")
    # The attacker process (internal).
    parser.add_argument("--attack", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dev-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.attack:
        attacker(args.port, args.attack.split(","), args.dev_fd)
        return 0

    attacks = ORDER if not args.only else ["none", *args.only.split(",")]
    unknown = set(attacks) - set(ORDER)
    if unknown:
        parser.error(f"unknown attacks: {', '.join(sorted(unknown))}")
    pycache = tempfile.mkdtemp(prefix="pyser2net-bench-pycache-")
    targets = [pyser2net_target(args.pyser2net, pycache=pycache)]
    if not args.no_ser2net:
        c = ser2net_target(args.ser2net)
        if c is not None:
            targets.append(c)
    for t in targets:
        t.warm_up()
    names = [t.name for t in targets]
    info = machine(targets)
    load_before = loadavg()
    started = time.monotonic()
    started_at = datetime_now()
    results: Dict[str, Dict[str, List[Dict[str, float]]]] = {}
    errors: List[str] = []
    for rnd in range(args.rounds):
        for attack in attacks:
            order = targets if (rnd + attacks.index(attack)) % 2 == 0 else targets[::-1]
            for target in order:
                print(f"round {rnd + 1}: {attack} on {target.name}", file=sys.stderr, flush=True)
                try:
                    result = run_one(target, attack, args.seconds)
                except (BenchError, OSError, RuntimeError) as exc:
                    errors.append(f"{attack} on {target.name}: {exc}")
                    continue
                results.setdefault(attack, {}).setdefault(target.name, []).append(result)
    header = [
        f"# hostile clients, {started_at}",
        "",
        ", ".join(f"{k}: {v}" for k, v in info.items()),
        f"{args.rounds} rounds of {args.seconds:g} s per attack and daemon; "
        f"load average before {load_before}, after {loadavg()}; "
        f"{time.monotonic() - started:.0f} s",
        "",
        "The echo port's one-byte round trip while the attack runs on the other port "
        "(medians over the rounds); p99 rise: against the same daemon with no attack. "
        f"Goal: a rise of at most {GOAL_P99_RISE_MS:g} ms, and under {GOAL_RSS_MB:g} MB "
        f"with {MANY} clients.",
        "",
    ]
    print("\n".join(header + table(results, names)))
    for attack in attacks:
        if attack == "none":
            continue
        print(f"\n{attack}: " + (ATTACKS[attack].what if attack in ATTACKS else "20 of each"))
        for name in names:
            runs = results.get(attack, {}).get(name)
            if runs:
                print(
                    f"  {name}: attacker sent {median_of(runs, 'attack_sent_mb'):.1f} MB, "
                    f"received {median_of(runs, 'attack_received_mb'):.1f} MB; "
                    f"{median_of(runs, 'samples'):.0f} round trips"
                )
    for error in errors:
        print(f"error: {error}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=1))
    return 1 if errors else 0


def datetime_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


if __name__ == "__main__":
    sys.exit(main())
