"""What programs that start ser2net read from it: ``-v``, ``-r``, the admin ``version``.

Each scenario runs against both daemons; the answers must be the same,
except that pyser2net adds its own version where a parser does not look.
Skipped when ser2net is not installed.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import List

import pytest

from pyser2net import SER2NET_VERSION, __version__

from helpers import (
    ROOT,
    connect,
    daemon,
    free_port,
    listening,
    read_for,
    read_line,
    stop_process,
)
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")

ECHO = """%YAML 1.1
---
connection: &echo
  accepter: tcp,127.0.0.1,{port}
  connector: echo
"""

#: What a client of the admin port may match to learn the version.
ADMIN_VERSION = re.compile(rb"version: (\d+\.\d+(?:\.\d+)?)")


def test_version_line_is_ser2nets() -> None:
    # ser2net prints its argv[0]; started as plain "ser2net" that is the word.
    theirs = subprocess.run(
        ["ser2net", "-v"], executable=SER2NET, capture_output=True, text=True, timeout=10
    )
    ours = subprocess.run(
        IMPLEMENTATIONS["pyser2net"] + ["-v"],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=str(ROOT),
    )
    assert (ours.returncode, theirs.returncode) == (0, 0)
    assert theirs.stdout == f"ser2net version {SER2NET_VERSION}\n"
    assert ours.stdout == theirs.stdout
    assert ours.stderr == f"pyser2net version {__version__}\n"
    # labgrid's reading: exactly three words, the third compared as a tuple.
    for out in (ours.stdout, theirs.stdout):
        _, _, version = out.split(" ")
        assert tuple(map(int, version.strip().split("."))) == (4, 3, 11)


@pytest.mark.parametrize("name", ["ser2net", "pyser2net"])
def test_ready_line(tmp_path: Path, name: str) -> None:
    port = free_port()
    config = tmp_path / "echo.yaml"
    config.write_text(ECHO.format(port=port))
    argv: List[str] = IMPLEMENTATIONS[name] + [
        "-n",
        "-r",
        "-c",
        str(config),
        "-P",
        str(tmp_path / "pid"),
    ]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=str(ROOT),
        env=dict(os.environ, PYSER2NET_LOCKDIR=str(tmp_path)),
    )
    try:
        assert proc.stdout is not None
        assert read_line(proc.stdout.fileno()) == b"Ready\n"
        assert listening(port)  # "Ready" comes once the ports listen
    finally:
        stop_process(proc)
        assert proc.stdout is not None
        proc.stdout.close()


def _admin_versions(command: List[str], tmp_path: Path) -> List[bytes]:
    port, admin = free_port(), free_port()
    with daemon(
        ECHO.format(port=port),
        tmp_path,
        [port, admin],
        command=command,
        extra_args=["-p", f"127.0.0.1,{admin}"],
    ):
        with connect(admin) as adm:
            read_for(adm, 5, until=b"-> ")
            adm.sendall(b"version\r")
            text = read_for(adm, 5, until=b"\r\n-> ")
            adm.sendall(b"yaml\r")
            read_for(adm, 5, until=b"yaml\r\n")
            adm.sendall(b"version\r")
            yaml_mode = read_for(adm, 5, until=b"...\r\n")
    return [text, yaml_mode]


def test_admin_version(tmp_path: Path) -> None:
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    ours = _admin_versions(IMPLEMENTATIONS["pyser2net"], tmp_path / "ours")
    theirs = _admin_versions(IMPLEMENTATIONS["ser2net"], tmp_path / "theirs")
    assert theirs[0] == f"version\r\nversion: {SER2NET_VERSION}\r\n-> ".encode()
    own = f"{SER2NET_VERSION} (pyser2net {__version__})".encode()
    for mine, real in zip(ours, theirs):
        assert mine == real.replace(SER2NET_VERSION.encode(), own)
    for answer in (ours[0], theirs[0]):
        match = ADMIN_VERSION.search(answer)
        assert match is not None and match.group(1) == SER2NET_VERSION.encode()


def test_without_c_both_name_the_same_default_files(tmp_path: Path) -> None:
    if any(os.path.exists(p) for p in ("/etc/ser2net/ser2net.yaml", "/etc/ser2net.conf")):
        pytest.skip("this machine has a default ser2net configuration")
    named = []
    for name in ("ser2net", "pyser2net"):
        result = subprocess.run(
            IMPLEMENTATIONS[name] + ["-n", "-d", "-P", str(tmp_path / "pid")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=20,
            cwd=str(ROOT),
        )
        assert result.returncode == 1
        named.append(re.findall(r"/etc/[\w./]+(?=['; :])", result.stdout))
    assert named[0] == named[1] == ["/etc/ser2net/ser2net.yaml", "/etc/ser2net.conf"]


#: What each daemon says about a file in the old format.
OLD_FORMAT_WARNINGS = {
    "ser2net": "ser2net:WARNING: Using old config file format",
    "pyser2net": "is in the old ser2net.conf format, which ser2net 4 deprecates; "
    "'pyser2net --convert -c",
}


@pytest.mark.parametrize("name", ["ser2net", "pyser2net"])
def test_both_warn_about_the_old_format_once(tmp_path: Path, name: str) -> None:
    port, yaml_port = free_port(), free_port()
    for config, suffix, ports, warned in (
        (f"127.0.0.1,{port}:raw:0:/dev/null:9600\n", ".conf", [port], 1),
        (ECHO.format(port=yaml_port), ".yaml", [yaml_port], 0),
    ):
        with daemon(
            config, tmp_path, ports, suffix=suffix, command=IMPLEMENTATIONS[name], extra_args=["-u"]
        ) as proc:
            pass
        log = Path(proc.log_path).read_text()  # type: ignore[attr-defined]
        assert log.count(OLD_FORMAT_WARNINGS[name]) == warned, log
