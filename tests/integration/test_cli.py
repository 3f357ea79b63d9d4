"""The command line as a user types it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from pyser2net import SER2NET_VERSION, __version__
from pyser2net.cli import main


def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyser2net", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("flag", ["-v", "-V", "--version"])
def test_version_flag(flag):
    result = run(flag)
    assert result.returncode == 0
    assert result.stdout == f"ser2net version {SER2NET_VERSION}\n"
    assert result.stderr == f"pyser2net version {__version__}\n"


def test_version_reads_as_ser2net_4_to_labgrid():
    # labgrid's exporter: three words exactly, the third a dotted version
    # compared with (4, 2, 0) to choose ser2net 4 command lines.
    result = run("-v")
    _, _, version = str(result.stdout).split(" ")
    assert tuple(map(int, version.strip().split("."))) == (4, 3, 11)
    assert result.stdout.split()[2] == SER2NET_VERSION


def test_missing_config_file_is_one_line_and_exit_1(tmp_path):
    missing = tmp_path / "nope.yaml"
    result = run("-n", "-d", "-c", str(missing))
    assert result.returncode == 1
    expected = f"pyser2net: {missing}: cannot read configuration: No such file or directory\n"
    assert result.stderr == expected
    assert "Traceback" not in result.stdout + result.stderr


def test_unreadable_config_is_a_directory(tmp_path):
    result = run("-n", "-c", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Is a directory" in result.stderr


def test_mixing_C_and_Y_is_a_usage_error():
    result = CliRunner().invoke(main, ["-C", "2000:raw:0:/dev/null:9600", "-Y", "x: y"])
    assert result.exit_code == 2
    assert "-C and -Y cannot be mixed" in result.output


def test_unknown_option_is_a_usage_error():
    result = run("--no-such-flag")
    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_tls_admin_port_is_refused_not_served_in_clear():
    result = CliRunner().invoke(main, ["--check", "-p", "ssl(key=/k,cert=/c),tcp,127.0.0.1,39517",
                                       "-C", "2000:raw:0:/dev/null:9600"])
    assert result.exit_code == 2
    assert "accepter layer 'ssl': TLS is not supported yet" in result.output


def test_check_refuses_a_tls_accepter(tmp_path):
    conf = tmp_path / "tls.yaml"
    conf.write_text("connection: &tls\n"
                    "  accepter: ssl(key=/etc/k.pem,cert=/etc/c.pem),tcp,127.0.0.1,39517\n"
                    "  connector: echo\n")
    result = run("--check", "-c", str(conf))
    assert result.returncode == 1
    assert result.stderr == (f"pyser2net: {conf}:2:13: accepter layer 'ssl': TLS is not "
                             "supported yet in pyser2net (remove the ssl layer, or keep ser2net "
                             "for this connection)\n")
