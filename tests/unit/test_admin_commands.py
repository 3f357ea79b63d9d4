"""The admin command processor, byte for byte, without any socket."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

import yaml

from pyser2net.protocol.admin import (
    MAX_LINE,
    MAX_YAML_DOC,
    SHORT_HEADER,
    AdminBackend,
    AdminSession,
)
from pyser2net.protocol.adminapi import ClientStatus, PortStatus, ReloadOutcome


class FakeBackend(AdminBackend):
    version = "pyser2net 9.9"

    def __init__(self) -> None:
        self.ports: Dict[str, PortStatus] = {
            "con1": PortStatus(
                "con1",
                "tcp,127.0.0.1,2000",
                True,
                0,
                "serialdev,/dev/ttyS0,115200n81,local",
                device_config="115200N81,CLOCAL",
                device_state="/dev/ttyS0,115200N81,CLOCAL offline",
            ),
            "echo1": PortStatus(
                "echo1", "tcp,127.0.0.1,2001", True, 0, "echo", device_state="echo"
            ),
        }
        self.calls: List[tuple] = []
        self.reload_problems: List[str] = []
        self.reload_applies = True
        self.monitored: Dict[str, AdminSession] = {}

    def port_names(self) -> List[str]:
        return list(self.ports)

    def port_status(self, name: str) -> Optional[PortStatus]:
        return self.ports.get(name)

    def disconnect(self, name: str) -> Optional[str]:
        self.calls.append(("disconnect", name))
        return None if self.ports[name].clients else f"Port not connected - {name}"

    def set_timeout(self, name: str, seconds: int) -> Optional[str]:
        self.calls.append(("timeout", name, seconds))
        self.ports[name].timeout = seconds
        return None

    def set_control(self, name: str, controls: Sequence[str]) -> Optional[str]:
        self.calls.append(("control", name, tuple(controls)))
        return None

    def set_enable(self, name: str, enable: bool) -> Optional[str]:
        if self.ports[name].enabled == enable:
            return "port was already in the given state"
        self.ports[name].enabled = enable
        return None

    def reload(self, done: Callable[[ReloadOutcome], None]) -> None:
        self.calls.append(("reload",))
        done(ReloadOutcome(list(self.reload_problems), self.reload_applies))

    def monitor(self, session: AdminSession, kind: str, name: str) -> Optional[str]:
        if name in self.monitored and self.monitored[name] is not session:
            return "Port is already being monitored"
        self.monitored[name] = session
        return None

    def unmonitor(self, session: AdminSession) -> None:
        for name in [n for n, s in self.monitored.items() if s is session]:
            del self.monitored[name]


def session(backend: Optional[FakeBackend] = None) -> AdminSession:
    s = AdminSession(backend or FakeBackend())
    assert s.take_output() == b"-> "
    return s


def run(s: AdminSession, data: bytes) -> bytes:
    s.feed(data)
    return s.take_output()


def test_version_echo_and_prompt():
    assert run(session(), b"version\r") == b"version\r\nversion: pyser2net 9.9\r\n-> "


def test_lf_and_crlf_end_lines_like_ser2net():
    s = session()
    assert run(s, b"version\n") == b"version\r\nversion: pyser2net 9.9\r\n-> "
    assert run(s, b"\r\n") == b"\r\n-> \r\n-> "


def test_backspace_and_delete_erase():
    out = run(session(), b"ver\x08\x08\x08x\x7fversion\r")
    assert out == (
        b"ver\x08 \x08\x08 \x08\x08 \x08x\x08 \x08version\r\nversion: pyser2net 9.9\r\n-> "
    )


def test_unknown_command():
    assert run(session(), b"bogus\r") == b"bogus\r\nerror: Unknown command - bogus\r\n-> "


def test_control_bytes_are_not_echoed_and_shown_escaped():
    out = run(session(), b"\x01\x02ab\r")
    assert out == b"ab\r\nerror: Unknown command - \\x01\\x02ab\r\n-> "


def test_telnet_negotiation_is_dropped():
    out = run(session(), b"\xff\xfd\x01\xff\xfb\x03ver\xff\xf1sion\r")
    assert out == b"version\r\nversion: pyser2net 9.9\r\n-> "


def test_split_telnet_sequence_across_feeds():
    s = session()
    assert run(s, b"ver\xff") == b"ver"
    assert run(s, b"\xfa\x18\x01") == b""
    assert run(s, b"\xff\xf0sion\r") == b"sion\r\nversion: pyser2net 9.9\r\n-> "


def test_overlong_line_is_discarded_with_an_error():
    s = session()
    out = run(s, b"x" * (MAX_LINE + 500) + b"\r")
    assert out.endswith(b"\r\nerror: line too long (more than 1024 bytes), ignored\r\n-> ")
    assert len(out) < MAX_LINE + 200
    assert run(s, b"version\r").endswith(b"version: pyser2net 9.9\r\n-> ")


def test_showport_layout():
    b = FakeBackend()
    b.ports["echo1"].clients = [ClientStatus("ipv4,127.0.0.1,47274", 5, 5)]
    b.ports["echo1"].tcp_to_device_state = "waiting output"
    b.ports["echo1"].device_to_tcp_state = "waiting output"
    out = run(session(b), b"showport\r")
    assert out == (
        b"showport\r\n"
        b"port: con1\r\n  accepter: tcp,127.0.0.1,2000\r\n  enable state: on\r\n"
        b"  timeout: 0\r\n  device: serialdev,/dev/ttyS0,115200n81,local\r\n"
        b"  device config: 115200N81,CLOCAL\r\n  tcp to device state: waiting input\r\n"
        b"  device to tcp state: waiting input\r\n  bytes read from device: 0\r\n"
        b"  bytes written to device: 0\r\n"
        b"port: echo1\r\n  accepter: tcp,127.0.0.1,2001\r\n  enable state: on\r\n"
        b"  timeout: 0\r\n  connected to: ipv4,127.0.0.1,47274\r\n"
        b"    bytes read from TCP: 5\r\n    bytes written to TCP: 5\r\n"
        b"    bytes in queue to TCP: 0\r\n"
        b"  device: echo\r\n  tcp to device state: waiting output\r\n"
        b"  device to tcp state: waiting output\r\n  bytes read from device: 0\r\n"
        b"  bytes written to device: 0\r\n-> "
    )


def test_showport_unknown():
    assert run(session(), b"showport nope\r") == (
        b"showport nope\r\nerror: Invalid port number - nope\r\n-> "
    )


def test_showshortport_columns_match_ser2net():
    out = run(session(), b"showshortport\r").split(b"\r\n")
    assert out[1] == SHORT_HEADER.encode()
    assert out[2] == (
        b"con1                   on           0 unconnected                         "
        b"                tcp,127.0.0.1,2000     serialdev,/dev/ttyS0,115200n81,local "
        b"waiting input  waiting input          0         0         0         0 "
        b"/dev/ttyS0,115200N81,CLOCAL offline"
    )
    assert out[3].startswith(b"echo1                  on           0 unconnected")


def test_showshortport_unknown_keeps_header():
    out = run(session(), b"showshortport nope\r")
    assert out == (
        b"showshortport nope\r\n"
        + SHORT_HEADER.encode()
        + b"\r\nerror: Invalid port number: nope\r\n-> "
    )


def test_argument_errors():
    s = session()
    cases = {
        b"disconnect": b"error: No port given",
        b"disconnect nope": b"error: Invalid port number - nope",
        b"disconnect echo1": b"error: Port not connected - echo1",
        b"setporttimeout": b"error: No port given",
        b"setporttimeout echo1": b"error: No timeout given",
        b"setporttimeout echo1 -5": b"error: Invalid timeout - -5",
        b"setporttimeout echo1 5x": b"error: Invalid timeout - 5x",
        b"setporttimeout nope 3": b"error: Invalid port number - nope",
        b"setportcontrol": b"error: No port given",
        b"setportcontrol con1": b"error: No device controls",
        b"setportenable": b"error: No port given",
        b"setportenable nope off": b"error: Invalid port - nope",
        b"setportenable echo1": b"error: No enable given",
        b"setportenable echo1 bogus": b"error: Invalid enable - bogus",
        b"setportenable echo1 telnet": b"error: Invalid enable - telnet",
        b"setportenable echo1 on": b"error: port was already in the given state",
        b"setportenable echo1 raw": b"error: port was already in the given state",
        b"monitor": b"error: No monitor type given",
        b"monitor tcp": b"error: No monitor port given",
        b"monitor foo echo1": b"error: Invalid monitor type - foo",
        b"monitor tcp nope": b"error: Invalid port number - nope",
    }
    for command, error in cases.items():
        assert run(s, command + b"\r") == command + b"\r\n" + error + b"\r\n-> ", command


def test_successful_actions_print_nothing():
    b = FakeBackend()
    s = session(b)
    assert run(s, b"setporttimeout echo1 30\r") == b"setporttimeout echo1 30\r\n-> "
    assert b.ports["echo1"].timeout == 30
    assert run(s, b"setportcontrol con1 DTRHI RTSLO\r") == b"setportcontrol con1 DTRHI RTSLO\r\n-> "
    assert ("control", "con1", ("DTRHI", "RTSLO")) in b.calls
    assert run(s, b"setportenable echo1 off\r") == b"setportenable echo1 off\r\n-> "
    assert not b.ports["echo1"].enabled


def test_monitor_flow():
    b = FakeBackend()
    s = session(b)
    assert run(s, b"monitor tcp echo1\r") == b"monitor tcp echo1\r\n-> "
    s.monitor_data(b"abc")
    assert s.take_output() == b"abc"
    assert run(s, b"monitor term con1\r").endswith(b"error: Already monitoring a port\r\n-> ")
    other = session(b)
    assert run(other, b"monitor tcp echo1\r").endswith(
        b"error: Port is already being monitored\r\n-> "
    )
    assert run(s, b"monitor stop\r") == b"monitor stop\r\n-> "
    s.monitor_data(b"lost")
    assert s.take_output() == b""


def test_monitor_is_best_effort():
    s = session()
    run(s, b"monitor tcp echo1\r")
    s.monitor_data(b"x" * 100000)
    assert s.take_output() == b""


def test_help_and_exit():
    s = session()
    out = run(s, b"help\r")
    assert out.startswith(b"help\r\nexit - leave the program.\r\n")
    assert out.endswith(b"reload - Reload the configuration file.\r\n-> ")
    assert b"\n" not in out.replace(b"\r\n", b"")
    assert run(s, b"exit\r") == b""
    assert s.closed
    assert run(s, b"version\r") == b""


class SlowReloadBackend(FakeBackend):
    """Answers a reload only when the test says so, as the daemon does
    once its child has read the file."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: List[Callable[[ReloadOutcome], None]] = []

    def reload(self, done: Callable[[ReloadOutcome], None]) -> None:
        self.pending.append(done)


def test_a_reload_answered_later_keeps_the_commands_in_order():
    b = SlowReloadBackend()
    s = session(b)
    woken: List[bool] = []
    s.on_output = lambda: woken.append(True)
    # The line typed after reload waits, unread, for the reload's answer.
    assert run(s, b"reload\rversion\r") == b"reload\r\n"
    assert s.waiting and not woken
    assert run(s, b"showshortport\r") == b""
    (done,) = b.pending
    done(ReloadOutcome(["f.yaml:3:1: bad"], applied=False))
    assert woken == [True] and not s.waiting
    out = s.take_output()
    assert out.startswith(
        b"error: f.yaml:3:1: bad\r\n"
        b"error: reload failed, the previous configuration stays in use\r\n"
        b"-> version\r\nversion: pyser2net 9.9\r\n-> showshortport\r\n"
    )
    done(ReloadOutcome())  # a second answer is ignored
    assert s.take_output() == b""


def test_a_yaml_reload_answered_later_carries_its_id():
    b = SlowReloadBackend()
    s = session(b)
    assert run(s, b"%YAML 1.1\r") == b""
    assert run(s, b"---\rcommand:\r  name: reload\r  id: 7\r...\r") == b""
    b.pending[0](ReloadOutcome())
    assert s.take_output() == (
        b"\r\n%YAML 1.1\r\n---\r\nresponse: \r\n  name: !!str 'reload'\r\n"
        b"  id: !!str '7'\r\n...\r\n"
    )


def test_reload_reports():
    b = FakeBackend()
    s = session(b)
    assert run(s, b"reload\r") == b"reload\r\nreload done\r\n-> "
    b.reload_problems = ["f.yaml:3:1: bad"]
    assert run(s, b"reload\r") == (
        b"reload\r\nerror: f.yaml:3:1: bad\r\n"
        b"reload done; entries with errors are not served\r\n-> "
    )
    b.reload_applies = False
    assert run(s, b"reload\r") == (
        b"reload\r\nerror: f.yaml:3:1: bad\r\n"
        b"error: reload failed, the previous configuration stays"
        b" in use\r\n-> "
    )


def test_yaml_output_mode():
    s = session()
    assert run(s, b"yaml\r") == b"yaml\r\n"
    assert run(s, b"version\r") == (
        b"\r\n%YAML 1.1\r\n---\r\nresponse: \r\n"
        b"  name: !!str 'version'\r\n"
        b"  version: !!str 'pyser2net 9.9'\r\n...\r\n"
    )
    assert run(s, b"bogus\r") == (
        b"\r\n%YAML 1.1\r\n---\r\nresponse: \r\n"
        b"  name: !!str 'bogus'\r\n"
        b"  error: !!str 'Unknown command - bogus'\r\n...\r\n"
    )
    assert b"Unknown command - help" in run(s, b"help\r")
    assert run(s, b"setporttimeout echo1 5\r") == (
        b"\r\n%YAML 1.1\r\n---\r\nresponse: \r\n  name: !!str 'setporttimeout'\r\n...\r\n"
    )
    out = run(s, b"showport echo1\r")
    doc = yaml.safe_load(out.decode())
    assert doc["response"]["port"]["name"] == "echo1"
    assert doc["response"]["port"]["timeout"] == 5


def test_yaml_input_mode():
    s = session()
    assert run(s, b"%YAML 1.1\r") == b""
    out = run(s, b"---\rcommand:\r  name: version\r  id: 7\r...\r")
    assert out == (
        b"\r\n%YAML 1.1\r\n---\r\nresponse: \r\n  name: !!str 'version'\r\n"
        b"  id: !!str '7'\r\n  version: !!str 'pyser2net 9.9'\r\n...\r\n"
    )
    out = run(s, b"---\ncommand:\n  name: showport\n  parms: [ echo1 ]\n...\n")
    assert yaml.safe_load(out.decode())["response"]["port"]["name"] == "echo1"
    assert run(s, b"garbage between documents\r") == b""
    out = run(s, b"---\rcommand: [\r...\r")
    assert b"error: !!str 'Invalid YAML command document'" in out
    assert not s.closed
    run(s, b"---\rcommand:\r  name: exit\r...\r")
    assert s.closed


def test_yaml_input_refuses_structured_words():
    # Nine levels of aliases: 10**9 words once written out, in 500 bytes.
    levels = ["    - &a0 [x,x,x,x,x,x,x,x,x,x]\n"] + [
        f"    - &a{i} [{','.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
    ]
    s = session()
    run(s, b"%YAML 1.1\r")
    doc = "---\ncommand:\n  name: showport\n  parms:\n" + "".join(levels) + "...\n"
    out = run(s, doc.encode())
    assert out.endswith(b"  error: !!str 'Invalid YAML command document'\r\n...\r\n")
    out = run(s, b"---\ncommand:\n  name: version\n  id: {a: b}\n...\n")
    assert b"Invalid YAML command document" in out


def test_yaml_input_of_many_short_lines_is_cut_at_its_bound():
    s = session()
    run(s, b"%YAML 1.1\r---\r")
    out = run(s, b"a\r" * (MAX_YAML_DOC + 2))
    assert out.count(b"command document too long") == 1


def test_yaml_connection_events():
    s = session()
    s.notify("new connection", "con1", "ipv4,127.0.0.1,1")
    assert s.take_output() == b""  # only in YAML mode
    run(s, b"yaml\r")
    s.notify("disconnect", "con1", "ipv6,::1,59072")
    assert s.take_output() == (
        b"\r\n%YAML 1.1\r\n---\r\ndisconnect: \r\n"
        b"  name: !!str 'con1'\r\n  remaddr: !!str 'ipv6,::1,59072'\r\n"
        b"...\r\n"
    )


def test_random_garbage_never_raises():
    import random

    rng = random.Random(1)
    s = session()
    for _ in range(200):
        s.feed(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
        s.take_output()


def test_percent_line_that_is_not_yaml_is_echoed():
    assert run(session(), b"%YA") == b""
    s = session()
    assert run(s, b"%x\r") == b"%x\r\nerror: Unknown command - %x\r\n-> "


# -- what the metrics count, on the admin port ---------------------------------

#: 2026-01-02T03:04:05Z
SINCE = 1767323045.0


def _busy_backend() -> FakeBackend:
    b = FakeBackend()
    echo = b.ports["echo1"]
    echo.clients = [
        ClientStatus("ipv4,127.0.0.1,47274", 5, 7, 3, SINCE),
        ClientStatus("ipv6,::1,50000", 0, 12, 0, SINCE + 60),
    ]
    echo.device_open = True
    echo.device_bytes_in = 100
    echo.device_bytes_out = 40
    echo.network_bytes_in = 41
    echo.network_bytes_out = 300
    echo.connections_accepted = 4
    echo.connections_refused = {"remaddr": 2}
    echo.disconnects = {"timeout": 1, "peer": 1}
    con1 = b.ports["con1"]
    con1.baud = 115200
    con1.waiting_for_device = True
    con1.device_open_failures = {"ENOENT": 3}
    con1.device_retries = {"failed": 2, "opened": 1}
    return b


def test_showclients_lists_every_client_with_its_counters():
    out = run(session(_busy_backend()), b"showclients\r")
    assert out == (
        b"showclients\r\n"
        b"Port name              Remote address                                      "
        b"Connected since         TCP in   TCP out    Queued\r\n"
        b"echo1                  ipv4,127.0.0.1,47274                                "
        b"2026-01-02T03:04:05Z         5         7         3\r\n"
        b"echo1                  ipv6,::1,50000                                      "
        b"2026-01-02T03:05:05Z         0        12         0\r\n"
        b"-> "
    )
    header, first = out.split(b"\r\n")[1:3]
    # The numbers end where their column titles end.
    assert header.index(b"TCP in") + len(b"TCP in") == first.index(b" 5 ") + 2
    assert run(session(_busy_backend()), b"showclients con1\r") == (
        b"showclients con1\r\n"
        b"Port name              Remote address                                      "
        b"Connected since         TCP in   TCP out    Queued\r\n-> "
    )
    assert run(session(_busy_backend()), b"showclients nope\r") == (
        b"showclients nope\r\nerror: Invalid port number - nope\r\n-> "
    )


def test_showclients_in_yaml_mode():
    s = session(_busy_backend())
    run(s, b"yaml\r")
    assert run(s, b"showclients echo1\r") == (
        b"\r\n%YAML 1.1\r\n---\r\nresponse: \r\n"
        b"  name: !!str 'showclients'\r\n"
        b"  client: \r\n"
        b"    port: !!str 'echo1'\r\n"
        b"    name: !!str 'ipv4,127.0.0.1,47274'\r\n"
        b"    connected since: !!str '2026-01-02T03:04:05Z'\r\n"
        b"    bytes read from TCP: !!int 5\r\n"
        b"    bytes written to TCP: !!int 7\r\n"
        b"    bytes in queue to TCP: !!int 3\r\n"
        b"  client: \r\n"
        b"    port: !!str 'echo1'\r\n"
        b"    name: !!str 'ipv6,::1,50000'\r\n"
        b"    connected since: !!str '2026-01-02T03:05:05Z'\r\n"
        b"    bytes read from TCP: !!int 0\r\n"
        b"    bytes written to TCP: !!int 12\r\n"
        b"    bytes in queue to TCP: !!int 0\r\n"
        b"...\r\n"
    )


def test_showport_yaml_has_every_field_the_metrics_have():
    s = session(_busy_backend())
    run(s, b"yaml\r")
    assert run(s, b"showport echo1\r") == (
        b"\r\n%YAML 1.1\r\n---\r\nresponse: \r\n"
        b"  name: !!str 'showport'\r\n"
        b"  port: \r\n"
        b"    name: !!str 'echo1'\r\n"
        b"    accepter: !!str 'tcp,127.0.0.1,2001'\r\n"
        b"    enable state: !!str 'on'\r\n"
        b"    timeout: !!int 0\r\n"
        b"    connected: \r\n"
        b"      name: !!str 'ipv4,127.0.0.1,47274'\r\n"
        b"      bytes read from TCP: !!int 5\r\n"
        b"      bytes written to TCP: !!int 7\r\n"
        b"      bytes in queue to TCP: !!int 3\r\n"
        b"      connected since: !!str '2026-01-02T03:04:05Z'\r\n"
        b"    connected: \r\n"
        b"      name: !!str 'ipv6,::1,50000'\r\n"
        b"      bytes read from TCP: !!int 0\r\n"
        b"      bytes written to TCP: !!int 12\r\n"
        b"      bytes in queue to TCP: !!int 0\r\n"
        b"      connected since: !!str '2026-01-02T03:05:05Z'\r\n"
        b"    device: !!str 'echo'\r\n"
        b"    tcp to device state: !!str 'waiting input'\r\n"
        b"    device to tcp state: !!str 'waiting input'\r\n"
        b"    bytes read from device: !!int 0\r\n"
        b"    bytes written to device: !!int 0\r\n"
        b"    close state: !!str 'retained'\r\n"
        b"    device open: !!bool true\r\n"
        b"    waiting for device: !!bool false\r\n"
        b"    bytes in queue to TCP: !!int 3\r\n"
        b"    total bytes read from device: !!int 100\r\n"
        b"    total bytes written to device: !!int 40\r\n"
        b"    total bytes read from TCP: !!int 41\r\n"
        b"    total bytes written to TCP: !!int 300\r\n"
        b"    connections accepted: !!int 4\r\n"
        b"    connections refused: \r\n"
        b"      !!str 'remaddr': !!int 2\r\n"
        b"    disconnects: \r\n"
        b"      !!str 'peer': !!int 1\r\n"
        b"      !!str 'timeout': !!int 1\r\n"
        b"    device open failures: {}\r\n"
        b"    device retries: {}\r\n"
        b"...\r\n"
    )
    doc = yaml.safe_load(run(s, b"showport con1\r").decode())["response"]["port"]
    assert doc["baud"] == 115200
    assert doc["waiting for device"] is True
    assert doc["device open failures"] == {"ENOENT": 3}
    assert doc["device retries"] == {"failed": 2, "opened": 1}
    assert doc["connections refused"] == {}  # none yet: an empty mapping, not null
