"""The admin (control) port: ``showport``, ``disconnect``, ``monitor``...

Scripts written for ser2net 4.3 talk to this port, so the bytes follow
ser2net's: a ``-> `` prompt, ``\\r\\n`` line ends, input echoed as typed
(backspace and DEL erase), ``error: <text>`` for failures, the same
showport layout and the same fixed-width showshortport table, and the
YAML modes of ser2net(8) (``yaml`` command; ``%YAML`` input).

Deliberate differences, each because ser2net's behaviour is a defect:

* ``version`` answers ``version: <ser2net version> (pyser2net <version>)``: the
  ser2net release whose behaviour is reproduced comes first, where scripts
  look for it, and pyser2net's own version follows;
* a line longer than ``MAX_LINE`` bytes is discarded with an error
  (ser2net 4.3 overruns its buffer and echoes memory contents);
* telnet negotiation bytes (IAC sequences) are dropped instead of being
  echoed and taken as part of a command, so a telnet client works;
* other control characters are neither echoed nor kept; they appear as
  ``\\xNN`` in an "Unknown command" error;
* a successful ``reload`` says ``reload done`` without an ``error:`` prefix,
  after an ``error:`` line for each problem of the file read (whose valid
  entries are applied all the same, as ser2net applies them);
* a malformed ``%YAML`` document gets an error response instead of the
  connection being dropped.

``AdminSession`` is sans-IO: bytes in (``feed``), bytes out (``take_output``),
and everything it asks of the daemon goes through ``AdminBackend``; the
socket side is ``runtime.admin``.  The records it prints are in
``adminapi``.
"""

from __future__ import annotations

import datetime
import functools
import logging
from typing import Callable, List, Optional, Protocol, Sequence, Tuple, Union

from pyser2net.protocol.adminapi import ClientStatus, PortStatus, ReloadOutcome, utc_text

log = logging.getLogger(__name__)

PROMPT = b"-> "
CRLF = b"\r\n"
#: Longest accepted command line (bytes, without the line end).
MAX_LINE = 1024
#: Monitor data is best effort: beyond this much unsent output it is dropped.
MONITOR_BACKLOG = 65536
#: Longest %YAML command document.
MAX_YAML_DOC = 16384

SHORT_HEADER = (
    "Port name              Type   Timeout Remote address"
    "                                      Accepter               Device"
    "                 TCP to device  Device to TCP     TCP in   TCP out    Dev in   Dev out State"
)

HELP_TEXT = """\
exit - leave the program.
help - display this help.
version - display the version of this program.
yaml - Go into yaml output mode.  In this mode there is no echo or
       line processing is done.  Some commands are disabled.  Output
       is yaml, beginning with --- and ending with ... for each
       response to a command.
monitor <type> <tcp port> - display all the input for a given port on
       the calling control port.  Only one direction may be monitored
       at a time.  The type field may be 'tcp' or 'term' and specifies
       whether to monitor data from the net port or from the serial port
       Note that data monitoring is best effort, if the controller port
       cannot keep up the data will be silently dropped.  A controller
       may only monitor one thing and a port may only be monitored by
       one controller.
monitor stop - stop the current monitor.
disconnect <tcp port> - disconnect the tcp connection on the port.
showport [<tcp port>] - Show information about a port. If no port is
       given, all ports are displayed.
showshortport [<tcp port>] - Show information about a port in a one-line
       format. If no port is given, all ports are displayed.
showclients [<tcp port>] - Show who is connected to a port, since when,
       and the bytes each way.  If no port is given, all ports are shown.
setporttimeout <tcp port> <timeout> - Set the amount of time in seconds
       before the port connection will be shut down if no activity
       has been seen on the port.
setportcontrol <tcp port> <controls>
       Dynamically modify the characteristics of the port.  These are
       immediate and won't live between connections.  Valid controls are
       DTRHI, DTRLO, RTSHI, and RTSLO.
setportenable <tcp port> <enable state> - Sets the port operation state.
       Valid states are:
         off - The port is shut down
         on - The port is up and all I/O is transferred
reload - Reload the configuration file.
"""

#: Commands that YAML output mode serves (as ser2net 4.3 does).
YAML_COMMANDS = {
    "exit",
    "version",
    "showport",
    "showclients",
    "disconnect",
    "setporttimeout",
    "setportenable",
    "setportcontrol",
    "reload",
}
ENABLES = {"on": True, "raw": True, "off": False}

IAC, SB, SE = 255, 250, 240


class AdminBackend(Protocol):
    """What the admin port may ask of the daemon; the engine implements it.

    Each action returns None on success or the error text to show.
    """

    version: str

    def port_names(self) -> List[str]:
        raise NotImplementedError

    def port_status(self, name: str) -> Optional[PortStatus]:
        raise NotImplementedError

    def disconnect(self, name: str) -> Optional[str]:
        raise NotImplementedError

    def set_timeout(self, name: str, seconds: int) -> Optional[str]:
        raise NotImplementedError

    def set_control(self, name: str, controls: Sequence[str]) -> Optional[str]:
        """Apply DTRHI/DTRLO/RTSHI/RTSLO words; checks connection, then words."""
        raise NotImplementedError

    def set_enable(self, name: str, enable: bool) -> Optional[str]:
        raise NotImplementedError

    def reload(self, done: Callable[[ReloadOutcome], None]) -> None:
        """Re-read the configuration and apply what is valid of it; then
        call ``done`` (at once, or later: reading a large file takes time)."""
        raise NotImplementedError

    def monitor(self, session: AdminSession, kind: str, name: str) -> Optional[str]:
        """Start copying ``kind`` ("tcp" or "term") data of ``name`` to ``session``."""
        raise NotImplementedError

    def unmonitor(self, session: AdminSession) -> None:
        raise NotImplementedError


#: What a word of a %YAML command may be (YAML reads ``1`` as int, ``on`` as bool...).
_SCALARS = (str, int, float, bool, type(None), datetime.date)


def _printable(raw: bytes) -> str:
    """Text of a command word, control bytes shown as ``\\xNN``."""
    return "".join(chr(b) if 32 <= b < 127 or b >= 160 else f"\\x{b:02x}" for b in raw)


def _yaml_str(value: str) -> str:
    return "!!str '" + value.replace("'", "''") + "'"


def _yaml_scalar(value: Union[str, int]) -> str:
    return _yaml_str(value) if isinstance(value, str) else f"!!int {value}"


class AdminSession:
    """One admin connection's protocol state (no I/O here)."""

    def __init__(self, backend: AdminBackend, *, greeting: bool = True) -> None:
        self.backend = backend
        self._out = bytearray()
        self._line = bytearray()
        self._overflow = False
        self._telnet: List[int] = []  # partial IAC sequence
        self._last_cr = False
        self.yaml_output = False
        self.yaml_input = False
        self._yaml_doc: Optional[List[str]] = None
        self._yaml_size = 0  # characters of _yaml_doc so far
        self.monitoring: Optional[Tuple[str, str]] = None
        #: Where the echo of the current line starts in the unsent output.
        self._echo_mark = 0
        #: Set by ``exit``: the glue closes once the output is sent.
        self.closed = False
        #: A command is waiting for its answer (``reload``): input is held
        #: in ``_held`` meanwhile, so that answers keep the commands' order.
        self.waiting = False
        self._held = b""
        self._asking = False
        #: Called when output appears outside ``feed`` (the answer of a
        #: command that waited); the glue sends it.
        self.on_output: Callable[[], None] = lambda: None
        if greeting:
            self._out += PROMPT

    # -- output -------------------------------------------------------------

    def take_output(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        self._echo_mark = 0
        return data

    def _text(self, text: str) -> None:
        self._out += text.replace("\n", "\r\n").encode("utf-8", "surrogateescape")

    def _line_out(self, text: str) -> None:
        self._text(text + "\n")

    def monitor_data(self, data: bytes, backlog: int = 0) -> None:
        """Data of the monitored port; dropped when the reader lags behind."""
        if self.closed or self.monitoring is None:
            return
        if backlog + len(self._out) + len(data) > MONITOR_BACKLOG:
            return
        self._out += data

    def notify(self, event: str, name: str, remote: str) -> None:
        """Asynchronous ``new connection`` / ``disconnect`` report (YAML mode only)."""
        if not self.yaml_output or self.closed:
            return
        self._text(
            f"\n%YAML 1.1\n---\n{event}: \n  name: {_yaml_str(name)}\n"
            f"  remaddr: {_yaml_str(remote)}\n...\n"
        )

    # -- input --------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.waiting:
            self._held += data
            return
        for i, byte in enumerate(data):
            if self.closed:
                return
            if self._telnet or byte == IAC:
                self._telnet_byte(byte)
                continue
            self._byte(byte)
            if self.waiting:
                self._held = data[i + 1 :]
                return

    def _answered(self) -> None:
        """The command that waited has its answer: go on with held input."""
        self.waiting = False
        if not self._silent and not self.closed:
            self._out += PROMPT
        held, self._held = self._held, b""
        if held:
            self.feed(held)
        self.on_output()

    def _telnet_byte(self, byte: int) -> None:
        seq = self._telnet
        seq.append(byte)
        if len(seq) == 2:
            if seq[1] == IAC:  # an escaped 0xff: a data byte
                self._telnet = []
                self._byte(IAC)
            elif seq[1] not in (SB, 251, 252, 253, 254):
                self._telnet = []  # two-byte command (NOP, AYT, ...)
        elif len(seq) == 3 and seq[1] != SB:
            self._telnet = []  # WILL/WONT/DO/DONT option
        elif len(seq) > 3 and seq[1] == SB and seq[-2:] == [IAC, SE]:
            self._telnet = []
        elif len(seq) > 512:
            self._telnet = []  # a runaway subnegotiation: give up on it

    def _byte(self, byte: int) -> None:
        if byte in (13, 10):
            if byte == 10 and self._last_cr and self.yaml_input:
                self._last_cr = False
                return
            self._last_cr = byte == 13
            self._end_line()
            return
        self._last_cr = False
        if not self._line:
            self._echo_mark = len(self._out)
        if byte in (8, 127):
            if self._line and not self._overflow:
                held = b"%YAML".startswith(bytes(self._line))
                self._line.pop()
                if not self._silent and not held:
                    self._out += b"\x08 \x08"
            return
        if self._overflow:
            return
        if len(self._line) >= MAX_LINE:
            self._overflow = True
            return
        if byte < 32 and byte != 9:
            self._line.append(byte)  # kept for the error message, not echoed
            return
        self._line.append(byte)
        if self._silent:
            return
        if b"%YAML".startswith(bytes(self._line)):
            # Possibly the start of YAML input, which is never echoed: hold
            # the echo until the line says which it is.
            if self._line == b"%YAML":
                self.yaml_input = self.yaml_output = True
                self._yaml_doc = None
                self._line.clear()
                self._overflow = True  # the rest of this line is ignored
            return
        if len(self._line) <= len(b"%YAML") and self._line.startswith(b"%"):
            self._out += self._line  # it was not %YAML after all
        else:
            self._out.append(byte)

    @property
    def _silent(self) -> bool:
        return self.yaml_output or self.yaml_input

    def _end_line(self) -> None:
        raw = bytes(self._line)
        self._line.clear()
        overflow, self._overflow = self._overflow, False
        if self.yaml_input:
            self._yaml_line(raw, overflow)
            return
        if not self._silent:
            self._out += CRLF
        if overflow:
            self._error(None, f"line too long (more than {MAX_LINE} bytes), ignored")
        else:
            words = [w for w in raw.replace(b"\t", b" ").split(b" ") if w]
            if words:
                self._command([_printable(w) for w in words], None)
            elif self.yaml_output:
                return
        if not self._silent and not self.closed and not self.waiting:
            self._out += PROMPT

    # -- %YAML input ----------------------------------------------------------

    def _yaml_line(self, raw: bytes, overflow: bool) -> None:
        text = raw.decode("utf-8", "replace")
        if self._yaml_doc is None:
            if text.strip() == "---":
                self._yaml_doc = []
                self._yaml_size = 0
            return  # anything between documents is ignored
        if text.rstrip() == "...":
            doc, self._yaml_doc = self._yaml_doc, None
            self._yaml_command(doc)
            return
        # A running total: summing the lines each time made a document of
        # many short lines cost its square.
        if overflow or self._yaml_size > MAX_YAML_DOC:
            self._yaml_doc = None
            self._yaml_response("", None, [], "command document too long")
            return
        self._yaml_doc.append(text)
        self._yaml_size += len(text)

    def _yaml_command(self, lines: List[str]) -> None:
        import yaml  # not loaded by a daemon whose file and admin clients are not YAML

        try:
            doc = yaml.safe_load("\n".join(lines))
        except yaml.YAMLError:
            self._yaml_response("", None, [], "Invalid YAML command document")
            return
        command = doc.get("command") if isinstance(doc, dict) else None
        if not isinstance(command, dict) or not isinstance(command.get("name"), str):
            self._yaml_response("", None, [], "No command name given")
            return
        ident = command.get("id")
        parms = command.get("parms") or []
        if not isinstance(parms, list):
            parms = [parms]
        # Words are scalars.  A list or mapping is refused before str() sees
        # it: YAML aliases make a few hundred bytes into a structure whose
        # text would take the loop (and every other port) minutes to build.
        if not all(isinstance(p, _SCALARS) for p in [ident, *parms]):
            self._yaml_response("", None, [], "Invalid YAML command document")
            return
        self._command(
            [command["name"]] + [str(p) for p in parms], None if ident is None else str(ident)
        )

    # -- commands -------------------------------------------------------------

    def _error(self, name: Optional[str], message: str, ident: Optional[str] = None) -> None:
        if self.yaml_output:
            self._yaml_response(name or "", ident, [], message)
        else:
            self._line_out(f"error: {message}")

    def _yaml_response(
        self, name: str, ident: Optional[str], body: List[str], error: Optional[str] = None
    ) -> None:
        lines = ["", "%YAML 1.1", "---", "response: ", f"  name: {_yaml_str(name)}"]
        if ident is not None:
            lines.append(f"  id: {_yaml_str(ident)}")
        lines += body
        if error is not None:
            lines.append(f"  error: {_yaml_str(error)}")
        lines.append("...")
        self._text("\n".join(lines) + "\n")

    def _done(self, name: str, ident: Optional[str], error: Optional[str]) -> None:
        """The answer of a command that prints nothing on success."""
        if error is not None:
            self._error(name, error, ident)
        elif self.yaml_output:
            self._yaml_response(name, ident, [])

    def _command(self, words: List[str], ident: Optional[str]) -> None:
        name, args = words[0], words[1:]
        if self.yaml_output and name not in YAML_COMMANDS:
            self._error(name, f"Unknown command - {name}", ident)
            return
        handler: Optional[Callable[[List[str], Optional[str]], None]] = (
            getattr(self, "_cmd_" + name, None) if name.isalpha() else None
        )
        if handler is None:
            self._error(name, f"Unknown command - {name}", ident)
            return
        try:
            handler(args, ident)
        except Exception:  # noqa: BLE001 - one bad command must not end the session
            log.exception("admin command %r failed", name)
            self._error(name, "Internal error, see logs", ident)

    def _cmd_exit(self, _args: List[str], _ident: Optional[str]) -> None:
        # ser2net closes at once: the echo of the exit line is never seen.
        if not self._silent:
            del self._out[self._echo_mark :]
        self.backend.unmonitor(self)
        self.monitoring = None
        self.closed = True

    def _cmd_help(self, _args: List[str], _ident: Optional[str]) -> None:
        self._text(HELP_TEXT)

    def _cmd_yaml(self, _args: List[str], _ident: Optional[str]) -> None:
        self.yaml_output = True

    def _cmd_version(self, _args: List[str], ident: Optional[str]) -> None:
        if self.yaml_output:
            self._yaml_response("version", ident, [f"  version: {_yaml_str(self.backend.version)}"])
        else:
            self._line_out(f"version: {self.backend.version}")

    def _cmd_showport(self, args: List[str], ident: Optional[str]) -> None:
        statuses = self._statuses(args)
        if statuses is None:
            self._error("showport", f"Invalid port number - {args[0]}", ident)
            return
        if self.yaml_output:
            body: List[str] = []
            for st in statuses:
                body += _showport_yaml(st)
            self._yaml_response("showport", ident, body)
        else:
            for st in statuses:
                self._text(_showport_text(st))

    def _cmd_showclients(self, args: List[str], ident: Optional[str]) -> None:
        statuses = self._statuses(args)
        if statuses is None:
            self._error("showclients", f"Invalid port number - {args[0]}", ident)
            return
        if self.yaml_output:
            body: List[str] = []
            for st in statuses:
                for client in st.clients:
                    body += _client_yaml(st.name, client)
            self._yaml_response("showclients", ident, body)
            return
        self._line_out(CLIENTS_HEADER)
        for st in statuses:
            for client in st.clients:
                self._line_out(_client_line(st.name, client))

    def _cmd_showshortport(self, args: List[str], _ident: Optional[str]) -> None:
        self._line_out(SHORT_HEADER)
        statuses = self._statuses(args)
        if statuses is None:
            self._line_out(f"error: Invalid port number: {args[0]}")
            return
        for st in statuses:
            self._line_out(_short_line(st))

    def _statuses(self, args: List[str]) -> Optional[List[PortStatus]]:
        names = args[:1] if args else self.backend.port_names()
        found = [self.backend.port_status(n) for n in names]
        if any(st is None for st in found):
            return None
        return [st for st in found if st is not None]

    def _known(self, name: str) -> bool:
        return self.backend.port_status(name) is not None

    def _cmd_monitor(self, args: List[str], _ident: Optional[str]) -> None:
        if not args:
            self._line_out("error: No monitor type given")
            return
        kind = args[0]
        if kind == "stop":
            self.backend.unmonitor(self)
            self.monitoring = None
            return
        if kind not in ("tcp", "term"):
            self._line_out(f"error: Invalid monitor type - {kind}")
            return
        if len(args) < 2:
            self._line_out("error: No monitor port given")
            return
        if not self._known(args[1]):
            self._line_out(f"error: Invalid port number - {args[1]}")
            return
        if self.monitoring is not None:
            self._line_out("error: Already monitoring a port")
            return
        error = self.backend.monitor(self, kind, args[1])
        if error is not None:
            self._line_out(f"error: {error}")
            return
        self.monitoring = (kind, args[1])

    def _cmd_disconnect(self, args: List[str], ident: Optional[str]) -> None:
        if not args:
            self._error("disconnect", "No port given", ident)
        elif not self._known(args[0]):
            self._error("disconnect", f"Invalid port number - {args[0]}", ident)
        else:
            self._done("disconnect", ident, self.backend.disconnect(args[0]))

    def _cmd_setporttimeout(self, args: List[str], ident: Optional[str]) -> None:
        if not args:
            self._error("setporttimeout", "No port given", ident)
        elif not self._known(args[0]):
            self._error("setporttimeout", f"Invalid port number - {args[0]}", ident)
        elif len(args) < 2:
            self._error("setporttimeout", "No timeout given", ident)
        elif not args[1].isdigit() or not args[1].isascii() or len(args[1]) > 9:
            self._error("setporttimeout", f"Invalid timeout - {args[1]}", ident)
        else:
            self._done("setporttimeout", ident, self.backend.set_timeout(args[0], int(args[1])))

    def _cmd_setportcontrol(self, args: List[str], ident: Optional[str]) -> None:
        if not args:
            self._error("setportcontrol", "No port given", ident)
        elif not self._known(args[0]):
            self._error("setportcontrol", f"Invalid port number - {args[0]}", ident)
        elif len(args) < 2:
            self._error("setportcontrol", "No device controls", ident)
        else:
            self._done("setportcontrol", ident, self.backend.set_control(args[0], args[1:]))

    def _cmd_setportenable(self, args: List[str], ident: Optional[str]) -> None:
        if not args:
            self._error("setportenable", "No port given", ident)
        elif not self._known(args[0]):
            self._error("setportenable", f"Invalid port - {args[0]}", ident)
        elif len(args) < 2:
            self._error("setportenable", "No enable given", ident)
        elif args[1] not in ENABLES:
            self._error("setportenable", f"Invalid enable - {args[1]}", ident)
        else:
            self._done("setportenable", ident, self.backend.set_enable(args[0], ENABLES[args[1]]))

    def _cmd_reload(self, _args: List[str], ident: Optional[str]) -> None:
        # The daemon reads the file without stopping its loop: the answer
        # may come later, and the session waits for it.
        self.waiting = self._asking = True
        try:
            self.backend.reload(functools.partial(self._reload_done, ident))
        except BaseException:
            self.waiting = False
            raise
        finally:
            self._asking = False

    def _reload_done(self, ident: Optional[str], outcome: ReloadOutcome) -> None:
        if not self.waiting:
            return  # answered already
        self._reload_answer(outcome, ident)
        if self._asking:
            self.waiting = False  # at once: the line's end adds the prompt
        else:
            self._answered()

    def _reload_answer(self, outcome: ReloadOutcome, ident: Optional[str]) -> None:
        problems = outcome.problems
        if self.yaml_output:
            error = "; ".join(problems) if problems else None
            self._yaml_response("reload", ident, [], error)
            return
        for problem in problems:
            self._line_out(f"error: {problem}")
        if not outcome.applied:
            self._line_out("error: reload failed, the previous configuration stays in use")
        elif problems:
            self._line_out("reload done; entries with errors are not served")
        else:
            self._line_out("reload done")


def _showport_text(st: PortStatus) -> str:
    lines = [f"port: {st.name}", *_text_rows(_port_rows(st), "  ")]
    for client in st.clients:
        lines.append(f"  connected to: {client.remote}")
        lines += _text_rows(_client_counts(client), "    ")
    lines += _text_rows(_device_rows(st), "  ")
    return "\n".join(lines) + "\n"


#: A showport line: its label and value, written as text or as YAML.
Row = Tuple[str, Union[str, int]]


def _text_rows(rows: List[Row], indent: str) -> List[str]:
    return [f"{indent}{label}: {value}" for label, value in rows]


def _yaml_rows(rows: List[Row], indent: str) -> List[str]:
    return [f"{indent}{label}: {_yaml_scalar(value)}" for label, value in rows]


def _port_rows(st: PortStatus) -> List[Row]:
    """What showport says of the connection itself, in both modes."""
    return [
        ("accepter", st.accepter),
        ("enable state", "on" if st.enabled else "off"),
        ("timeout", st.timeout),
    ]


def _client_counts(client: ClientStatus) -> List[Row]:
    """A client's counts, as showport (both modes) and showclients list them."""
    return [
        ("bytes read from TCP", client.bytes_in),
        ("bytes written to TCP", client.bytes_out),
        ("bytes in queue to TCP", client.queued),
    ]


def _device_rows(st: PortStatus) -> List[Row]:
    """The device part of showport, in the same order in both modes; the
    optional lines are left out when the port has nothing to say."""
    optional = (
        ("device node", st.device_node),
        ("device state", st.device_waiting),
        ("device config", st.device_config),
        ("device controls", st.device_controls),
    )
    return [
        ("device", st.device),
        *((label, value) for label, value in optional if value is not None),
        ("tcp to device state", st.tcp_to_device_state),
        ("device to tcp state", st.device_to_tcp_state),
        ("bytes read from device", st.bytes_from_device),
        ("bytes written to device", st.bytes_to_device),
    ]


def _showport_yaml(st: PortStatus) -> List[str]:
    lines = ["  port: ", f"    name: {_yaml_str(st.name)}", *_yaml_rows(_port_rows(st), "    ")]
    for client in st.clients:
        lines += ["    connected: ", f"      name: {_yaml_str(client.remote)}"]
        lines += _yaml_rows(_client_counts(client), "      ")
        lines.append(f"      connected since: {_yaml_str(utc_text(client.since))}")
    lines += _yaml_rows(_device_rows(st), "    ")
    lines += [
        f"    close state: {_yaml_str(st.close_state)}",
        # What the metrics say, under the same names as /status.
        f"    device open: !!bool {_yaml_bool(st.device_open)}",
        f"    waiting for device: !!bool {_yaml_bool(st.waiting_for_device)}",
    ]
    if st.baud is not None:
        lines.append(f"    baud: !!int {st.baud}")
    lines += [
        f"    bytes in queue to TCP: !!int {st.client_queue_bytes}",
        f"    total bytes read from device: !!int {st.device_bytes_in}",
        f"    total bytes written to device: !!int {st.device_bytes_out}",
        f"    total bytes read from TCP: !!int {st.network_bytes_in}",
        f"    total bytes written to TCP: !!int {st.network_bytes_out}",
        f"    connections accepted: !!int {st.connections_accepted}",
    ]
    for key, counts in (
        ("connections refused", st.connections_refused),
        ("disconnects", st.disconnects),
        ("device open failures", st.device_open_failures),
        ("device retries", st.device_retries),
    ):
        lines.append(f"    {key}: " + ("" if counts else "{}"))
        lines += [f"      {_yaml_str(k)}: !!int {v}" for k, v in sorted(counts.items())]
    return lines


#: The header of showclients' table; the columns line up with it.
CLIENTS_HEADER = (
    "Port name              Remote address                                      "
    "Connected since         TCP in   TCP out    Queued"
)


def _client_line(port: str, client: ClientStatus) -> str:
    return (
        f"{port:<22} {client.remote:<51} {utc_text(client.since):<20} "
        f"{client.bytes_in:>9} {client.bytes_out:>9} {client.queued:>9}"
    )


def _client_yaml(port: str, client: ClientStatus) -> List[str]:
    return [
        "  client: ",
        f"    port: {_yaml_str(port)}",
        f"    name: {_yaml_str(client.remote)}",
        f"    connected since: {_yaml_str(utc_text(client.since))}",
        *_yaml_rows(_client_counts(client), "    "),
    ]


def _yaml_bool(value: bool) -> str:
    return "true" if value else "false"


def _short_line(st: PortStatus) -> str:
    first = st.clients[0] if st.clients else None
    remote = first.remote if first else "unconnected"
    tcp_in = first.bytes_in if first else 0
    tcp_out = first.bytes_out if first else 0
    enable = "on" if st.enabled else "off"
    return (
        f"{st.name:<22} {enable:<6} {st.timeout:>7} {remote:<51} {st.accepter:<22} "
        f"{st.device:<22} {st.tcp_to_device_state:<14} {st.device_to_tcp_state:<14} "
        f"{tcp_in:>9} {tcp_out:>9} {st.bytes_from_device:>9} {st.bytes_to_device:>9} "
        f"{st.device_state}"
    )
