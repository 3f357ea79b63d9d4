"""gensio's shorthand stacks: an address where a layer is expected means tcp.

``telnet,2000`` listens like ``telnet,tcp,2000``, ``127.0.0.1,2000`` like
``tcp,127.0.0.1,2000``; a connector ``/dev/ttyS0,9600`` is a serialdev and
``host,port`` a tcp peer.  Each form runs under ser2net and pyser2net, and
what a loopback client can reach (and what the daemon connects to) must be
the same.  Forms without a host bind every address, so the daemons run in a
private network namespace that has only the loopback interface (nothing
outside the namespace can reach them).  Skipped
without ser2net or without unprivileged namespaces (``unshare -rn``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from ser2net_helpers import IMPLEMENTATIONS, SER2NET

PROBE = Path(__file__).resolve().parent / "stack_probe.py"
UNSHARE = shutil.which("unshare")
IP = shutil.which("ip") or "/usr/sbin/ip"

ACCEPTERS = [
    "telnet,PORT",
    "telnet(rfc2217),PORT",
    "telnet,127.0.0.1,PORT",
    "telnet,localhost,PORT",
    "telnet,ipv4,127.0.0.1,PORT",
    "PORT",
    "127.0.0.1,PORT",
    "::1,PORT",
    "localhost,PORT",
    "ipv4,PORT",
    "ipv6,PORT",
    "ipv6,::1,PORT",
    "ipv4,127.0.0.1,PORT",
    "ipv6n4,PORT",
    "ipv4,tcp,127.0.0.1,PORT",
    "ipv6,tcp,PORT",
    "tcp,ipv4,PORT",
    "udp,PORT",
    "ipv4,udp,127.0.0.1,PORT",
    "ipv6,udp,PORT",
]
CONNECTORS = [
    "127.0.0.1,TARGET",
    "ipv4,127.0.0.1,TARGET",
    "ipv4,tcp,127.0.0.1,TARGET",
    "keepopen,127.0.0.1,TARGET",
    "PTY",
    "PTY,9600n81,local",
    "keepopen,PTY,9600n81",
]


#: The namespace's loopback interface, up, with one more address of each
#: family: getaddrinfo(AI_ADDRCONFIG), which gensio uses, finds no address at
#: all for a wildcard bind when only 127.0.0.1 and ::1 exist.
NETNS_SETUP = (
    f'"{IP}" link set lo up && "{IP}" addr add 10.200.0.1/32 dev lo && '
    f'"{IP}" addr add fd00:200::1/128 dev lo'
)


def _namespaces_work() -> bool:
    if UNSHARE is None:
        return False
    try:
        return (
            subprocess.run(
                [UNSHARE, "-rn", "sh", "-c", NETNS_SETUP], capture_output=True, timeout=10
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = [
    pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed"),
    pytest.mark.skipif(
        not _namespaces_work(),
        reason="unprivileged network namespaces (unshare -rn) are not available",
    ),
]


def probe(command: List[str]) -> Dict[Tuple[str, str], Dict[str, object]]:
    job = json.dumps({"command": command, "accepters": ACCEPTERS, "connectors": CONNECTORS})
    script = f'{NETNS_SETUP} && exec "{sys.executable}" "{PROBE}"'
    done = subprocess.run(
        [str(UNSHARE), "-rn", "sh", "-c", script],
        input=job,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    results = {}
    for line in done.stdout.splitlines():
        item = json.loads(line)
        kind = "accepter" if "accepter" in item else "connector"
        results[(kind, item[kind])] = item["seen"]
    return results


@pytest.fixture(scope="module")
def both() -> Tuple[Dict, Dict]:
    return probe(IMPLEMENTATIONS["ser2net"]), probe(IMPLEMENTATIONS["pyser2net"])


@pytest.mark.parametrize("form", ACCEPTERS)
def test_accepter_listens_where_ser2net_does(both: Tuple[Dict, Dict], form: str) -> None:
    theirs, ours = (r[("accepter", form)] for r in both)
    assert theirs["listens"], f"ser2net does not serve {form}"
    assert ours == theirs


@pytest.mark.parametrize("form", CONNECTORS)
def test_connector_reaches_what_ser2net_does(both: Tuple[Dict, Dict], form: str) -> None:
    theirs, ours = (r[("connector", form)] for r in both)
    assert theirs["listens"] and (theirs["connected_to_target"] or theirs["opened_pty"])
    assert ours == theirs


def test_the_shorthand_means_tcp_on_every_address(both: Tuple[Dict, Dict]) -> None:
    """What the brief forms do, spelled out: ``telnet,PORT`` takes both families."""
    theirs, _ = both
    assert theirs[("accepter", "telnet,PORT")] == {"listens": True, "127.0.0.1": True, "::1": True}
    assert theirs[("accepter", "telnet,127.0.0.1,PORT")] == {
        "listens": True,
        "127.0.0.1": True,
        "::1": False,
    }
