"""``--convert`` against ser2net 4.3: the converted file prints what the old one did.

ser2net serves a legacy file and pyser2net's conversion of it; the banners
of each connection are compared.  Where ser2net 4 has a substitution that
prints the old text it must have been used; where it has none, the warning
must name the text ser2net printed before and the text it prints now.
pyser2net itself must print the same as ser2net on both files.  Skipped
when ser2net is not installed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from helpers import ROOT, connect, daemon, free_port, new_pty, read_for
from ser2net_helpers import IMPLEMENTATIONS, SER2NET

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed")

LETTERS = "pNodB"
BANNER = "BANNER:b1:" + "".join(f"[\\{letter}]" for letter in LETTERS) + "\\r\\n"
WARNING = re.compile(
    r'^pyser2net: warning: .*:(\d+):1: banner: \\(\w) printed "([^"]*)" '
    r'and prints "([^"]*)" in ser2net 4 YAML'
)


def banners(
    command: List[str], config: str, suffix: str, ports: List[int], tmp_path: Path
) -> List[Dict[str, str]]:
    out = []
    with daemon(config, tmp_path, ports, suffix=suffix, command=command, extra_args=["-u"]):
        for port in ports:
            with connect(port) as sock:
                text = read_for(sock, 5, until=b"\r\n").decode()
            out.append(dict(zip(LETTERS, re.findall(r"\[([^\]]*)\]", text))))
    return out


def test_converted_banners_print_what_the_old_file_printed(tmp_path: Path) -> None:
    ptys = [new_pty(), new_pty()]
    ports = [free_port(), free_port()]
    try:
        legacy = (
            f"{BANNER}\nDEVICE:console:{ptys[1].path}\n"
            f"127.0.0.1,{ports[0]}:raw:0:{ptys[0].path}:9600 NONE b1\n"
            f"127.0.0.1,{ports[1]}:raw:0:console:19200 EVEN LOCAL b1\n"
        )
        conf = tmp_path / "old.conf"
        conf.write_text(legacy)
        converted = subprocess.run(
            IMPLEMENTATIONS["pyser2net"] + ["--convert", "-c", str(conf)],
            capture_output=True,
            text=True,
            timeout=20,
            cwd=str(ROOT),
        )
        assert converted.returncode == 0, converted.stderr
        results = {}
        for name, command in IMPLEMENTATIONS.items():
            for kind, text, suffix in (
                ("old", legacy, ".conf"),
                ("new", converted.stdout, ".yaml"),
            ):
                where = tmp_path / f"{name}-{kind}"
                where.mkdir()
                results[name, kind] = banners(command, text, suffix, ports, where)
    finally:
        for dev in ptys:
            dev.close()
    assert results["pyser2net", "old"] == results["ser2net", "old"]
    assert results["pyser2net", "new"] == results["ser2net", "new"]
    warned = {}
    for line in converted.stderr.splitlines():
        match = WARNING.match(line)
        assert match, line
        warned[int(match.group(1)) - 3, match.group(2)] = (match.group(3), match.group(4))
    for index in range(2):
        before, after = results["ser2net", "old"][index], results["ser2net", "new"][index]
        for letter in LETTERS:
            if (index, letter) in warned:
                assert warned[index, letter] == (before[letter], after[letter])
            else:
                assert after[letter] == before[letter], letter
    # Loopback addresses make names that YAML anchors cannot hold, so \p, \N
    # and \o (the name, or the DEVICE alias) have no equivalent here.
    assert sorted(warned) == [(i, letter) for i in range(2) for letter in sorted("Ndop")]
