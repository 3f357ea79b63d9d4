"""The command line as a user types it."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from pyser2net import __version__
from pyser2net.cli import main


def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyser2net", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_version_flag():
    result = run("-v")
    assert result.returncode == 0
    assert result.stdout == f"pyser2net version {__version__}\n"


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
