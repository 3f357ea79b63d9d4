"""Hostile configuration files: every one ends in FILE:LINE:COL errors,
quickly and in bounded memory, never in a hang or a traceback."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import List

import pytest

from pyser2net.config import ConfigError, load_file, load_text
from pyser2net.config.errors import ConfigIssue
from pyser2net.config.hosts import host_problem
from pyser2net.config.limits import MAX_FILE_BYTES, MAX_FILES, MAX_VALUE_CHARS
from pyser2net.config.model import Position

ECHO = "connection: &c\n  accepter: tcp,3001\n  connector: echo\n"


def problems(path: Path) -> List[str]:
    with pytest.raises(ConfigError) as info:
        load_file(str(path))
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.issues)  # one line each
    assert all(issue.position is not None for issue in info.value.issues)
    return lines


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- includes and inserted files ----------------------------------------------


def test_include_of_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    conf = write(tmp_path / "c.yaml", "include: fifo\n" + ECHO)
    [line] = problems(conf)
    assert line.startswith(f"{conf}:1:10: cannot include '{tmp_path}/fifo': not a regular file")


def test_inserted_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    conf = write(tmp_path / "c.yaml", ECHO + "  options:\n    banner: '*{fifo}'\n")
    [line] = problems(conf)
    assert line.startswith(f"{conf}:5:13: cannot read file 'fifo': not a regular file")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_include_of_a_device_is_refused(tmp_path: Path, device: str) -> None:
    conf = write(tmp_path / "c.yaml", f"include: {device}\n" + ECHO)
    assert "not a regular file" in problems(conf)[0]


def test_include_of_a_directory_is_refused(tmp_path: Path) -> None:
    conf = write(tmp_path / "c.yaml", f"include: {tmp_path}\n" + ECHO)
    assert "Is a directory" in problems(conf)[0]


def test_a_file_including_itself_twice_ends_at_once(tmp_path: Path) -> None:
    conf = write(tmp_path / "c.yaml", "include: c.yaml\ninclude: c.yaml\n" + ECHO)
    lines = problems(conf)
    assert len(lines) == 2
    assert all("includes itself" in line for line in lines)


def test_includes_that_multiply_stop_at_the_file_budget(tmp_path: Path) -> None:
    # Each level includes the next twice: 2**14 paths without a loop.
    for level in range(14):
        write(tmp_path / f"l{level}.yaml", f"include: l{level + 1}.yaml l{level + 1}.yaml\n")
    write(tmp_path / "l14.yaml", "define: &x y\n")
    conf = write(tmp_path / "c.yaml", "include: l0.yaml\n" + ECHO)
    lines = problems(conf)
    assert len(lines) == 1
    assert f"more than {MAX_FILES} files read" in lines[0]


def test_an_included_file_too_big_is_refused(tmp_path: Path) -> None:
    with open(tmp_path / "big.yaml", "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    conf = write(tmp_path / "c.yaml", "include: big.yaml\n" + ECHO)
    assert "larger than 4 MiB" in problems(conf)[0]


def test_a_huge_include_line_is_refused_quickly(tmp_path: Path) -> None:
    conf = write(tmp_path / "c.yaml", "include: " + "a " * 500_000 + "\n" + ECHO)
    [line] = problems(conf)
    assert line == f"{conf}:1:10: include longer than 4096 characters"


def test_an_include_glob_matching_too_many_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "many").mkdir()
    for i in range(MAX_FILES + 1):
        (tmp_path / "many" / f"{i}.yaml").write_text("")
    conf = write(tmp_path / "c.yaml", "include: many/*.yaml\n" + ECHO)
    assert f"matches more than {MAX_FILES} files" in problems(conf)[0]


# -- the configuration file itself --------------------------------------------


def test_the_configuration_may_come_through_a_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)

    def writer() -> None:
        with open(fifo, "w") as f:
            f.write(ECHO)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert load_file(str(fifo)).connections[0].name == "c"
    finally:
        thread.join(timeout=10)


def test_an_endless_configuration_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_file("/dev/zero")
    assert str(info.value) == "/dev/zero: cannot read configuration: larger than 4 MiB"


# -- substitutions ------------------------------------------------------------


def test_defines_that_double_themselves_stop_at_the_value_bound(tmp_path: Path) -> None:
    text = "define: &d0 0123456789abcdef\n" + "".join(
        f"define: &d{i} '*(d{i - 1})*(d{i - 1})'\n" for i in range(1, 40)
    )
    conf = write(tmp_path / "c.yaml", text + ECHO)
    lines = problems(conf)
    assert lines[0].startswith(f"{conf}:17:")
    assert "grows beyond 1 MiB" in lines[0]


def test_version_2_substitutions_are_bounded_too(tmp_path: Path) -> None:
    big = "x" * (MAX_VALUE_CHARS // 4)
    text = (
        "%YAML 1.1\n---\ndefines:\n"
        f"  a: {big}\n  b: =(a)=(a)=(a)=(a)=(a)\n"
        "connections:\n  c:\n    accepter: tcp,3001\n    connector: echo\n"
    )
    conf = write(tmp_path / "c.yaml", text)
    assert "grows beyond 1 MiB" in problems(conf)[0]


# -- numbers and hosts ---------------------------------------------------------


def test_a_number_of_5000_digits_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    conf = write(
        tmp_path / "c.yaml", ECHO + "  options:\n    max-connections: " + "9" * 5000 + "\n"
    )
    [line] = problems(conf)
    assert line.startswith(f"{conf}:5:5: invalid value '9999")
    assert line.endswith("for max-connections (expected a non-negative integer)")


@pytest.mark.parametrize(
    "where,text",
    [
        ("accepter", "connection: &c\n  accepter: tcp,127..0.0.1,3001\n  connector: echo\n"),
        ("connector", "connection: &c\n  accepter: tcp,3001\n  connector: tcp,x..y,22\n"),
        ("remaddr", ECHO + "  options:\n    remaddr: 127..0.0.1,0\n"),
        ("connback", ECHO + "  options:\n    connback: tcp,10.0.0.256,22\n"),
        (
            "long label",
            "connection: &c\n  accepter: tcp," + "a" * 64 + ",3001\n  connector: echo\n",
        ),
        ("admin", ECHO + "admin:\n  accepter: tcp,.local,3002\n"),
    ],
)
def test_yaml_host_typos_are_found_by_check(tmp_path: Path, where: str, text: str) -> None:
    conf = write(tmp_path / "c.yaml", text)
    [line] = problems(conf)
    assert "invalid host" in line, where
    assert line.startswith(f"{conf}:"), where


@pytest.mark.parametrize(
    "text",
    [
        "127..0.0.1,3001:raw:0:/dev/ttyS0:9600\n",
        "3001:raw:0:/dev/ttyS0:9600 remaddr=127..0.0.1,0\n",
        "CONTROLPORT:127..0.0.1,3002\n",
    ],
)
def test_legacy_host_typos_are_found_by_check(tmp_path: Path, text: str) -> None:
    conf = write(tmp_path / "c.conf", text)
    lines = problems(conf)
    assert any("invalid host '127..0.0.1'" in line for line in lines), lines


def test_legacy_device_host_typo_is_found_by_check(tmp_path: Path) -> None:
    conf = write(tmp_path / "c.conf", "3001:raw:0:tcp,bad..host,22:\n")
    [line] = problems(conf)
    assert line.startswith(f"{conf}:1:12: invalid device 'tcp,bad..host,22'")


@pytest.mark.parametrize(
    "host,ok",
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("localhost", True),
        ("serial-1.example.com.", True),
        ("127.1", True),
        ("0x7f.1", True),
        ("b\u00fccher.example", True),
        ("127..0.0.1", False),
        (".local", False),
        ("a" * 64 + ".example", False),
        ("10.0.0.256", False),
        ("a b", False),
        (":::1", False),
        ("x" * 254, False),
        ("bad\udcffbyte", False),
    ],
)
def test_host_problem(host: str, ok: bool) -> None:
    assert (host_problem(host) is None) is ok
    if ok:
        host.encode("idna")  # what the resolver will be given


# -- whatever goes wrong, one line ----------------------------------------------


def test_an_unexpected_failure_is_one_line_with_its_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyser2net.config import yaml as yaml_reader

    def broken(self: object, *args: object) -> None:
        raise RuntimeError("reader defect\nwith two lines")

    monkeypatch.setattr(yaml_reader._Reader, "v1_define", broken)
    conf = write(tmp_path / "c.yaml", "define: &a b\n" + ECHO)
    assert problems(conf) == [
        f"{conf}:1:1: cannot read this entry: RuntimeError: reader defect with two lines"
    ]


def test_control_characters_of_a_file_are_escaped_in_messages() -> None:
    issue = ConfigIssue(Position("f", 1, 2), "unknown name 'a\r\nb\x1b[2J'")
    assert str(issue) == "f:1:2: unknown name 'a\\r\\nb\\x1b[2J'"


def test_legacy_reader_keeps_one_line_per_problem() -> None:
    with pytest.raises(ConfigError) as info:
        load_text("3001:raw:0:/dev/ttyS0:9600 tr=x\r\n\n", "t.conf")
    assert all("\n" not in str(issue) for issue in info.value.issues)


def test_admin_port_host_typo_on_the_command_line() -> None:
    import click

    from pyser2net.cli import parse_admin

    with pytest.raises(click.BadParameter, match="invalid host '127..0.0.1'"):
        parse_admin("127..0.0.1,3002")
    with pytest.raises(click.BadParameter, match="invalid port"):
        parse_admin("localhost," + "9" * 5000)
    assert parse_admin("localhost,3002").accepter.host == "localhost"


def test_an_unexpected_legacy_failure_is_one_line_with_its_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyser2net.config import legacy

    def broken(self: object, *args: object) -> None:
        raise MemoryError()

    monkeypatch.setattr(legacy._Reader, "d_banner", broken)
    conf = write(tmp_path / "c.conf", "\nBANNER:b:text\n2000:raw:0:/dev/ttyS0:9600\n")
    assert problems(conf) == [f"{conf}:2:1: cannot read this line: MemoryError"]


def test_long_continued_legacy_lines_keep_their_positions(tmp_path: Path) -> None:
    text = "2000:raw:0:/dev/ttyS0:9600 \\\n" + "LOCAL \\\n" * 20000 + "NOSUCHWORD\n"
    conf = write(tmp_path / "c.conf", text)
    [line] = problems(conf)
    assert line.startswith(f"{conf}:20002:1: ")


@pytest.mark.parametrize(
    "name,text",
    [
        (
            "speed.yaml",
            "connection: &c\n  accepter: tcp,3001\n  connector: serialdev,/dev/ttyS0,{D}n81\n",
        ),
        (
            "time.yaml",
            "connection: &c\n  accepter: tcp,3001\n  connector: keepopen(retry-time={D}),echo\n",
        ),
        ("default.yaml", "default:\n  name: speed\n  value: {D}\n"),
        ("speed.conf", "3001:raw:0:/dev/ttyS0:{D}\n"),
        ("word.conf", "3001:raw:0:/dev/ttyS0:9600 {D}\n"),
        ("default.conf", "DEFAULT:speed:{D}\n"),
    ],
)
def test_numbers_too_long_for_any_field_are_plain_errors(
    tmp_path: Path, name: str, text: str
) -> None:
    conf = write(tmp_path / name, text.format(D="9" * 5000))
    lines = problems(conf)
    assert not any("cannot read this" in line for line in lines), lines
    assert any("invalid" in line for line in lines), lines
