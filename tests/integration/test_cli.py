"""The command line as a user types it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pyser2net import SER2NET_VERSION, __version__, cli
from pyser2net.cli import main

from tlsfiles import TlsFiles


def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyser2net", *args], capture_output=True, text=True, timeout=timeout
    )


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


def test_check_accepts_tls_accepters(tmp_path):
    files = TlsFiles(tmp_path / "tls")
    conf = tmp_path / "tls.yaml"
    conf.write_text(
        "connection: &tls\n"
        f"  accepter: ssl(key={files.server.key},cert={files.server.cert}),tcp,127.0.0.1,39517\n"
        "  connector: echo\n"
    )
    result = run("--check", "-c", str(conf), "-p", "ssl,tcp,127.0.0.1,39518")
    assert result.returncode == 0, result.stderr
    assert "ssl" in result.stdout
    assert result.stderr == ""


def tls_check(tmp_path, accepter_ssl: str, *, admin: str = "") -> subprocess.CompletedProcess:
    conf = tmp_path / "tls.yaml"
    conf.write_text(
        "connection: &tls\n"
        f"  accepter: ssl({accepter_ssl}),tcp,127.0.0.1,39517\n"
        "  connector: echo\n" + admin
    )
    return run("--check", "-c", str(conf))


def test_check_reads_keys_as_the_daemon_does(tmp_path):
    """A key that is missing, or does not belong to its certificate, is an
    error naming the file and the configuration line, not a surprise at start."""
    files = TlsFiles(tmp_path / "tls")
    other = files.identity("other")
    conf = tmp_path / "tls.yaml"
    missing = tls_check(tmp_path, f"key={tmp_path}/none.key,cert={files.server.cert}")
    assert missing.returncode == 1
    assert missing.stderr == (
        f"pyser2net: {conf}:1:13: tls: cannot read key file {tmp_path}/none.key: "
        "No such file or directory\n"
    )
    assert missing.stdout == ""
    mismatch = tls_check(tmp_path, f"key={other.key},cert={files.server.cert}")
    assert mismatch.returncode == 1
    assert mismatch.stderr == (
        f"pyser2net: {conf}:1:13: tls: key file {other.key} does not match "
        f"certificate {files.server.cert}\n"
    )


def test_check_names_an_unreadable_key(tmp_path):
    files = TlsFiles(tmp_path / "tls")
    unreadable = tmp_path / "key.pem"
    unreadable.mkdir()  # cannot be read, whoever runs the test
    result = tls_check(tmp_path, f"key={unreadable},cert={files.server.cert}")
    assert result.returncode == 1
    assert result.stderr == (
        f"pyser2net: {tmp_path}/tls.yaml:1:13: tls: cannot read key file {unreadable}: "
        "Is a directory\n"
    )


def test_check_warns_of_an_expired_certificate(tmp_path):
    import datetime

    files = TlsFiles(tmp_path / "tls")
    old = files.identity(
        "old",
        None,
        "127.0.0.1",
        not_after=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
    )
    conf = tmp_path / "tls.yaml"
    result = tls_check(tmp_path, f"key={old.key},cert={old.cert}")
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"pyser2net: warning: {conf}:1:13: tls: certificate {old.cert} expired on "
        "2020-01-01: clients that check it will refuse the connection (make a new one)\n"
    )
    assert result.stdout.endswith(f"{conf}: configuration OK\n")


def test_check_reads_the_admin_port_s_key(tmp_path):
    files = TlsFiles(tmp_path / "tls")
    admin = f"admin:\n  accepter: ssl(key={tmp_path}/gone.key),tcp,127.0.0.1,39518\n"
    result = tls_check(tmp_path, f"key={files.server.key},cert={files.server.cert}", admin=admin)
    assert result.returncode == 1
    assert f"tls.yaml:5:3: admin port: cannot read key file {tmp_path}/gone.key" in result.stderr


def test_check_refuses_allow_authfail(tmp_path):
    conf = tmp_path / "tls.yaml"
    conf.write_text(
        "connection: &tls\n"
        "  accepter: ssl(clientauth,allow-authfail),tcp,127.0.0.1,39517\n"
        "  connector: echo\n"
    )
    result = run("--check", "-c", str(conf))
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"pyser2net: {conf}:2:13: ssl option 'allow-authfail' is not supported by pyser2net"
    )


@pytest.fixture
def defaults(tmp_path, monkeypatch):
    """ser2net's default file names, moved into the test's directory."""
    yaml_file, legacy = tmp_path / "ser2net" / "ser2net.yaml", tmp_path / "ser2net.conf"
    monkeypatch.setattr(cli, "DEFAULT_YAML", str(yaml_file))
    monkeypatch.setattr(cli, "DEFAULT_LEGACY", str(legacy))
    return yaml_file, legacy


def test_without_c_the_error_names_every_file_looked_for(defaults):
    yaml_file, legacy = defaults
    result = CliRunner().invoke(main, ["-n"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"pyser2net: cannot read configuration: {yaml_file}: No such file or directory; "
        f"{legacy}: No such file or directory (name a file with -c FILE)\n"
    )


def test_without_c_the_old_file_is_read_when_the_yaml_file_is_missing(defaults):
    _, legacy = defaults
    legacy.write_text("2000:raw:0:/dev/ttyS0:9600\n")
    result = CliRunner().invoke(main, ["--check"])
    assert result.exit_code == 0
    assert result.stdout.endswith(f"{legacy}: configuration OK\n")
    assert result.stderr == f"pyser2net: {cli.legacy_warning(str(legacy))}\n"


def test_without_c_an_unreadable_yaml_file_is_named_not_skipped(defaults):
    yaml_file, legacy = defaults
    yaml_file.mkdir(parents=True)  # exists, cannot be read as a file
    legacy.write_text("2000:raw:0:/dev/ttyS0:9600\n")
    result = CliRunner().invoke(main, ["--check"])
    assert result.exit_code == 1
    assert result.stderr == (f"pyser2net: {yaml_file}: cannot read configuration: Is a directory\n")


def test_without_c_the_real_default_names(tmp_path):
    if os.path.exists(cli.DEFAULT_YAML) or os.path.exists(cli.DEFAULT_LEGACY):
        pytest.skip("this machine has a default ser2net configuration")
    result = run("-n", "-P", str(tmp_path / "pid"))
    assert result.returncode == 1
    assert result.stderr == (
        "pyser2net: cannot read configuration: /etc/ser2net/ser2net.yaml: No such file or "
        "directory; /etc/ser2net.conf: No such file or directory (name a file with -c FILE)\n"
    )


def test_legacy_file_warns_once_and_points_to_convert(tmp_path):
    conf = tmp_path / "old.conf"
    conf.write_text("2000:raw:0:/dev/ttyS0:9600\n")
    result = run("--check", "-c", str(conf))
    assert result.returncode == 0
    assert result.stderr == (
        f"pyser2net: warning: {conf} is in the old ser2net.conf format, which ser2net 4 "
        f"deprecates; 'pyser2net --convert -c {conf}' prints it as YAML\n"
    )
    converted = run("--convert", "-c", str(conf))
    assert converted.returncode == 0 and converted.stderr == ""
    yaml_conf = tmp_path / "new.yaml"
    yaml_conf.write_text(converted.stdout)
    assert run("--check", "-c", str(yaml_conf)).stderr == ""
    # -C lines are not a file in the old format.
    assert run("--check", "-C", "2000:raw:0:/dev/ttyS0:9600").stderr == ""


def test_check_with_convert_is_a_usage_error(tmp_path):
    conf = tmp_path / "old.conf"
    conf.write_text("2000:raw:0:/dev/ttyS0:9600\n")
    result = run("--check", "--convert", "-c", str(conf))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "pyser2net: --check and --convert cannot be used together (try --help)\n"
    )
