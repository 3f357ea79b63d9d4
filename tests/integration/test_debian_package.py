"""The Debian package: build it, look inside, and check what it installs.

The build runs ``packaging/build-deb.sh`` (the script behind ``make deb``),
which also fails on lintian errors.  It needs dpkg-dev and the build
dependencies listed in packaging/debian/control; when some are missing, the
package tests are skipped, and the reason names them (``build-deb.sh
--check-deps`` tells).  The tests never install anything.  The man page
checks only need groff.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from helpers import connect, listening, recv_exact, stop_process, wait_for_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
BUILD_DEB = PACKAGING / "build-deb.sh"
MAN_PAGES = [
    ROOT / "man" / "pyser2net.8",
    ROOT / "man" / "pyser2net.yaml.5",
    ROOT / "man" / "pyser2net-attach.8",
]
EXAMPLE_CONFIG = PACKAGING / "debian" / "examples" / "ser2net.yaml"
BUILD_TIMEOUT = 900
NO_DPKG_DEV = "dpkg-dev is not installed (sudo apt-get install dpkg-dev)"

needs_dpkg_dev = pytest.mark.skipif(shutil.which("dpkg-checkbuilddeps") is None, reason=NO_DPKG_DEV)


def _build_env(**extra: str) -> Dict[str, str]:
    env = dict(os.environ, **extra)
    for name in ("KEEP_BUILD", "NO_LINTIAN"):
        if name not in extra:
            env.pop(name, None)
    return env


def _why_no_build() -> Optional[str]:
    """None when the package can be built here, else what is missing."""
    if shutil.which("dpkg-checkbuilddeps") is None:
        return NO_DPKG_DEV
    proc = subprocess.run(
        ["bash", str(BUILD_DEB), "--check-deps"],
        cwd=str(ROOT),
        env=_build_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    if proc.returncode == 0:
        return None
    lines = [line.strip().removeprefix("build-deb: ") for line in proc.stdout.splitlines()]
    return "; ".join(line for line in lines if line)


def _program_version() -> str:
    text = (ROOT / "pyser2net" / "__init__.py").read_text()
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.M)
    assert match, "no __version__ in pyser2net/__init__.py"
    return match.group(1)


@pytest.fixture(scope="module")
def deb_build(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, str]:
    """Build the package once for this module: the .deb and the build's output."""
    why = _why_no_build()
    if why:
        pytest.skip(why)
    dist = tmp_path_factory.mktemp("dist")
    try:
        proc = subprocess.run(
            ["bash", str(BUILD_DEB)],
            cwd=str(ROOT),
            env=_build_env(DIST_DIR=str(dist)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        tail = (exc.output or b"")[-4000:].decode(errors="replace")
        pytest.fail(f"build-deb.sh did not finish in {BUILD_TIMEOUT}s:\n{tail}")
    output = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, f"build-deb.sh failed ({proc.returncode}):\n{output[-6000:]}"
    debs = sorted(dist.glob("pyser2net_*.deb"))
    assert len(debs) == 1, f"expected one .deb in {dist}, found {debs}\n{output[-3000:]}"
    return debs[0], output


@pytest.fixture(scope="module")
def deb(deb_build: Tuple[Path, str]) -> Path:
    return deb_build[0]


@pytest.fixture(scope="module")
def deb_files(deb: Path) -> List[str]:
    """Paths in the package, without the leading ``./``."""
    out = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    paths = []
    for line in out.splitlines():
        name = line.split(None, 5)[5]
        name = name.split(" -> ")[0]
        paths.append(name[2:] if name.startswith("./") else name)
    return paths


@pytest.fixture(scope="module")
def deb_root(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    yield root


def _fields(deb: Path) -> Dict[str, str]:
    out = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture", "Depends", "Recommends"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    fields: Dict[str, str] = {}
    key = ""
    for line in out.splitlines():
        if line[:1] in (" ", "\t") and key:  # a folded field goes on
            fields[key] += " " + line.strip()
            continue
        key, _, value = line.partition(":")
        key = key.strip()
        fields[key] = value.strip()
    return fields


def _unit_path(root_files: List[str]) -> str:
    for candidate in (
        "lib/systemd/system/pyser2net.service",
        "usr/lib/systemd/system/pyser2net.service",
    ):
        if candidate in root_files:
            return candidate
    pytest.fail("the package has no pyser2net.service unit")


@pytest.mark.slow
def test_package_contents(deb_files: List[str]) -> None:
    files = set(deb_files)
    expected = [
        "usr/bin/pyser2net",
        "usr/lib/python3/dist-packages/pyser2net/__init__.py",
        "usr/lib/python3/dist-packages/pyser2net/cli.py",
        "usr/share/man/man8/pyser2net.8.gz",
        "usr/share/man/man5/pyser2net.yaml.5.gz",
        "usr/share/man/man8/pyser2net-attach.8.gz",
        "usr/share/doc/pyser2net/examples/pyser2net-attach-ttyNET0",
        "etc/default/pyser2net",
        "etc/pyser2net/ser2net.yaml",
        "usr/share/doc/pyser2net/examples/ser2net.yaml",
        "usr/share/doc/pyser2net/copyright",
    ]
    missing = [path for path in expected if path not in files]
    assert not missing, f"missing from the package: {missing}"
    _unit_path(deb_files)
    assert {
        "lib/systemd/system/pyser2net-attach@.service",
        "usr/lib/systemd/system/pyser2net-attach@.service",
    } & files
    # Nothing from a development tree may leak in.
    leaked = [p for p in files if re.search(r"(^|/)(\.venv|\.git|tests|__pycache__)(/|$)", p)]
    assert not leaked, f"unexpected files in the package: {leaked}"


@pytest.mark.slow
def test_build_has_no_deprecation_warnings(deb_build: Tuple[Path, str]) -> None:
    """Debian's own setuptools reads pyproject.toml as it is, without warnings
    about deprecated forms (the licence, above all: see debian/rules)."""
    output = deb_build[1]
    flagged = [line for line in output.splitlines() if "deprecat" in line.lower()]
    assert not flagged, "\n".join(flagged)


@pytest.mark.slow
def test_package_fields(deb: Path) -> None:
    fields = _fields(deb)
    assert fields["Package"] == "pyser2net"
    assert fields["Architecture"] == "all"
    assert fields["Version"].split("-")[0] == _program_version()
    depends = {re.split(r"[\s(]", dep.strip())[0] for dep in fields["Depends"].split(",")}
    for dep in ("python3-serial", "python3-yaml", "python3-click", "python3-daemon", "adduser"):
        assert dep in depends, f"{dep} missing from Depends: {fields['Depends']}"
    assert "ser2net" not in depends
    # Optional features: mDNS announcements need zeroconf, --metrics
    # prometheus_client.
    recommends = {dep.strip() for dep in fields.get("Recommends", "").split(",")}
    assert {"python3-zeroconf", "python3-prometheus-client"} <= recommends, recommends


@pytest.mark.slow
def test_conffiles(deb: Path, tmp_path: Path) -> None:
    subprocess.run(["dpkg-deb", "-e", str(deb), str(tmp_path / "DEBIAN")], check=True)
    conffiles = (tmp_path / "DEBIAN" / "conffiles").read_text().split()
    assert "/etc/default/pyser2net" in conffiles
    assert "/etc/pyser2net/ser2net.yaml" in conffiles


@pytest.mark.slow
def test_default_file(deb_root: Path) -> None:
    values = {}
    for line in (deb_root / "etc" / "default" / "pyser2net").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    assert values == {"CONFFILE": "/etc/ser2net.yaml", "OPTIONS": ""}


UNIT = PACKAGING / "debian" / "pyser2net.service"


def _unit_settings() -> List[str]:
    return [
        line.strip()
        for line in UNIT.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    ]


def _unit_values(key: str) -> List[str]:
    """Every value of ``key`` in the unit, split on spaces as systemd does."""
    return [
        word
        for line in _unit_settings()
        if line.startswith(key + "=")
        for word in line.split("=", 1)[1].split()
    ]


def test_unit_file() -> None:
    settings = _unit_settings()
    for wanted in (
        "ExecStart=/usr/bin/pyser2net -n -c $CONFFILE -P /run/pyser2net/pyser2net.pid $OPTIONS",
        "EnvironmentFile=-/etc/default/pyser2net",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=pyser2net",
        "Group=dialout",
        "RuntimeDirectory=pyser2net",
        "Conflicts=ser2net.service",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateDevices=no",
        "DevicePolicy=closed",
        "Restart=on-failure",
    ):
        assert wanted in settings, f"{wanted!r} not in the unit"
    # Ports below 1024 with this one capability and no other.
    assert _unit_values("AmbientCapabilities") == ["CAP_NET_BIND_SERVICE"]
    assert _unit_values("CapabilityBoundingSet") == ["CAP_NET_BIND_SERVICE"]
    # The serial groups are resolved from /proc/devices when the service
    # starts: the USB serial drivers are loaded first, so that adapters
    # plugged in later belong to a group already allowed.
    allowed = set(_unit_values("DeviceAllow"))
    assert {"char-ttyS", "char-ttyUSB", "char-ttyACM", "char-pts"} <= allowed
    for module in ("usbserial", "cdc_acm"):
        assert f"modprobe@{module}.service" in _unit_values("Wants")
        assert f"modprobe@{module}.service" in _unit_values("After")


def _unit_copy(tmp_path: Path) -> Path:
    """The unit with its program replaced by a stand-in executable, so that
    systemd-analyze's check that the program exists does not need it installed."""
    program = tmp_path / "pyser2net"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    copy = tmp_path / "pyser2net.service"
    copy.write_text(UNIT.read_text().replace("/usr/bin/pyser2net", str(program)))
    return copy


def _systemd_analyze() -> str:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return analyze


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    proc = subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", str(_unit_copy(tmp_path))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout


#: "systemd-analyze security" rates the unit from 0 (locked down) to 10; the
#: unit is at 1.8. What is left is what the service is for (network access,
#: serial devices, low ports) and the settings the unit explains.
MAX_EXPOSURE = 2.0


def test_unit_exposure_is_low(tmp_path: Path) -> None:
    proc = subprocess.run(
        [_systemd_analyze(), "security", "--offline=yes", "--no-pager", str(_unit_copy(tmp_path))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0 and "offline" in proc.stdout:
        pytest.skip(f"this systemd-analyze cannot rate a unit file: {proc.stdout.strip()}")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert proc.returncode == 0 and match, proc.stdout
    assert float(match.group(1)) <= MAX_EXPOSURE, proc.stdout


def _capabilities(key: str) -> str:
    """A unit's capability list as setpriv writes it: +net_bind_service,..."""
    return ",".join("+" + cap.lower().removeprefix("cap_") for cap in _unit_values(key))


def _python_for(user: str, env: Dict[str, str]) -> Optional[str]:
    """A Python that ``user`` can run with pyser2net and its modules importable."""
    for python in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run(
            [
                "setpriv",
                f"--reuid={user}",
                "--regid=nogroup",
                "--clear-groups",
                python,
                "-c",
                "import pyser2net.cli, serial, yaml, click, daemon",
            ],
            env=env,
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        if probe.returncode == 0:
            return python
    return None


def _free_low_port() -> int:
    for port in range(1023, 511, -1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024 on 127.0.0.1")


def test_service_user_serves_a_port_below_1024_with_the_units_capability(
    tmp_path: Path,
) -> None:
    """The daemon, run as an unprivileged user with exactly the capabilities the
    unit grants (ambient and bounding set) and no new privileges, listens on a
    port below 1024; without the ambient capability it cannot (and retries)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (util-linux) to start a process as another user")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("there is no user nobody")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    python = _python_for("nobody", env)
    if python is None:
        pytest.skip("user nobody cannot run a Python with pyser2net and its modules")
    port = _free_low_port()
    config = f"connection: &echo#  accepter: tcp,127.0.0.1,{port}#  connector: echo"
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--no-new-privs"]
    granted = [
        f"--inh-caps={_capabilities('AmbientCapabilities')}",
        f"--ambient-caps={_capabilities('AmbientCapabilities')}",
        f"--bounding-set=-all,{_capabilities('CapabilityBoundingSet')}",
    ]
    daemon_argv = [python, "-m", "pyser2net", "-n", "-d", "-Y", config]

    # Without it, the bind is refused; as ser2net, the daemon keeps trying.
    refused_log = tmp_path / "refused.log"
    with open(refused_log, "wb") as log:
        refused = subprocess.Popen(
            as_nobody + daemon_argv,
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            assert wait_until(
                lambda: "Permission denied" in refused_log.read_text(errors="replace"), timeout=60
            ), refused_log.read_text(errors="replace")
            assert refused.poll() is None and not listening(port)
        finally:
            stop_process(refused)

    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            as_nobody + granted + daemon_argv,
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                wait_for_port(port, proc=proc)
            except (RuntimeError, TimeoutError) as exc:
                pytest.fail(f"{exc}: {log_path.read_text(errors='replace')}")
            with connect(port) as sock:
                sock.sendall(b"low port\r\n")
                assert recv_exact(sock, 10) == b"low port\r\n"
        finally:
            stop_process(proc)


@pytest.mark.slow
def test_packaged_unit_is_the_source_unit(deb_files: List[str], deb_root: Path) -> None:
    assert (deb_root / _unit_path(deb_files)).read_text() == UNIT.read_text()


@pytest.fixture
def missing_dependency(tmp_path: Path) -> Tuple[Path, Dict[str, str], Path]:
    """build-deb.sh in a copy of packaging/ whose control file also asks for a
    package that does not exist, an environment whose apt-get and sudo only
    write down how they were called, and the file they write to."""
    copy = tmp_path / "packaging"
    shutil.copytree(PACKAGING, copy)
    control = copy / "debian" / "control"
    text = control.read_text()
    assert "Build-Depends: " in text
    control.write_text(
        text.replace(
            "Build-Depends: ", "Build-Depends: pyser2net-test-no-such-package (>= 1),\n    ", 1
        )
    )
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("apt-get", "sudo"):
        stand_in = bin_dir / name
        stand_in.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\n')
        stand_in.chmod(0o755)
    env = _build_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return copy / "build-deb.sh", env, calls


def _run_script(script: Path, env: Dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(script), *args],
        cwd=str(script.parent.parent),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )


@needs_dpkg_dev
def test_build_deb_names_missing_dependencies_and_installs_nothing(
    missing_dependency: Tuple[Path, Dict[str, str], Path],
) -> None:
    script, env, calls = missing_dependency
    for args in ((), ("--check-deps",)):
        proc = _run_script(script, env, *args)
        assert proc.returncode == 1, proc.stdout
        wanted = re.search(r"^build-deb: missing build dependencies: (.*)$", proc.stdout, re.M)
        assert wanted and "pyser2net-test-no-such-package" in wanted.group(1).split(), proc.stdout
        assert (
            f"build-deb: install them with: sudo apt-get install --no-install-recommends "
            f"{wanted.group(1)}\n"
        ) in proc.stdout
        assert "--install-deps" in proc.stdout
        assert not calls.exists(), calls.read_text()


@needs_dpkg_dev
def test_build_deb_installs_dependencies_only_when_asked(
    missing_dependency: Tuple[Path, Dict[str, str], Path],
) -> None:
    script, env, calls = missing_dependency
    proc = _run_script(script, env, "--install-deps", "--check-deps")
    assert proc.returncode == 0, proc.stdout
    (call,) = calls.read_text().splitlines()
    prefix = "apt-get" if os.geteuid() == 0 else "sudo apt-get"
    assert call.startswith(f"{prefix} install -y --no-install-recommends "), call
    assert "pyser2net-test-no-such-package" in call.split()


DEBIAN_PYTHON = "/usr/bin/python3"
DEBIAN_MODULES = ("serial", "yaml", "click", "daemon")


def _debian_python_has_dependencies() -> bool:
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        return False
    probe = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import " + ", ".join(DEBIAN_MODULES)],
        env={"PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )
    return probe.returncode == 0


@pytest.mark.slow
def test_installed_program_runs(deb_root: Path) -> None:
    """The packaged script runs on Debian's Python with Debian's modules only."""
    script = deb_root / "usr" / "bin" / "pyser2net"
    assert script.read_text().startswith("#!/usr/bin/python3")
    if not _debian_python_has_dependencies():
        pytest.skip("Debian's python3 or python3-serial/-yaml/-click/-daemon are not installed")
    site = deb_root / "usr" / "lib" / "python3" / "dist-packages"
    # A clean environment: no virtual environment, no user site, only the
    # unpacked package added to Debian's own module path.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"}
    proc = subprocess.run(
        [DEBIAN_PYTHON, str(script), "-v"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=str(deb_root),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout
    assert _program_version() in proc.stdout


def test_changelog_version_matches_program() -> None:
    first = (PACKAGING / "debian" / "changelog").read_text().splitlines()[0]
    match = re.match(r"^pyser2net \(([^)]+)\)", first)
    assert match, first
    assert match.group(1).split("-")[0] == _program_version()


@pytest.mark.parametrize("page", MAN_PAGES, ids=lambda p: p.name)
def test_man_page_names_the_program_version(page: Path) -> None:
    header = next(line for line in page.read_text().splitlines() if line.startswith(".TH "))
    assert f'"pyser2net {_program_version()}"' in header, header


def test_example_config_takes_no_port() -> None:
    """The shipped example is valid and opens nothing when used as is."""
    from pyser2net.config import load_file

    config = load_file(str(EXAMPLE_CONFIG))
    assert config.connections, "the example should show at least one connection"
    assert all(not conn.enable for conn in config.connections)
    assert not config.rotators
    assert config.admin is None


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
@pytest.mark.parametrize("page", MAN_PAGES, ids=lambda p: p.name)
@pytest.mark.parametrize("device", [[], ["-Tutf8", "-rLL=78n"]], ids=["print", "terminal"])
def test_man_page_renders_without_warnings(page: Path, device: List[str]) -> None:
    """On paper and on an 80-column terminal, where long words cannot break."""
    proc = subprocess.run(
        ["groff", "-ww", "-z", "-man", *device, str(page)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout


ATTACH_UNIT = PACKAGING / "debian" / "pyser2net.pyser2net-attach@.service"


def _attach_settings() -> List[str]:
    return [
        line.strip()
        for line in ATTACH_UNIT.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    ]


def test_attach_unit_file() -> None:
    settings = _attach_settings()
    for wanted in (
        "ExecStart=/usr/bin/pyser2net attach ${URL} --link ${LINK} -n $OPTIONS",
        "Environment=LINK=/dev/%i",
        "EnvironmentFile=/etc/default/pyser2net-attach-%i",
        "RuntimeDirectory=pyser2net-attach-%i",
        "CapabilityBoundingSet=CAP_CHOWN",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "DevicePolicy=closed",
        "DeviceAllow=/dev/ptmx rw",
        "DeviceAllow=char-pts rw",
        "Restart=on-failure",
    ):
        assert wanted in settings, f"{wanted!r} not in the unit"
    # The example defaults file names the variables the unit reads.
    example = (PACKAGING / "debian" / "examples" / "pyser2net-attach-ttyNET0").read_text()
    assert re.search(r"^URL=", example, re.M) and re.search(r"^OPTIONS=", example, re.M)


def _attach_instance(tmp_path: Path) -> Path:
    program = tmp_path / "pyser2net"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    copy = tmp_path / "pyser2net-attach@ttyNET0.service"
    copy.write_text(ATTACH_UNIT.read_text().replace("/usr/bin/pyser2net", str(program)))
    return copy


def test_attach_unit_verifies_and_is_locked_down(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    unit = _attach_instance(tmp_path)
    proc = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout
    proc = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0 and "offline" in proc.stdout:
        pytest.skip(f"this systemd-analyze cannot rate a unit file: {proc.stdout.strip()}")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert proc.returncode == 0 and match, proc.stdout
    assert float(match.group(1)) <= MAX_EXPOSURE, proc.stdout
