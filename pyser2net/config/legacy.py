"""The legacy ``ser2net.conf`` format of ser2net 3.x, as ser2net 4.3 reads it.

A file is a list of lines, each either a port line::

    [ipv4,|ipv6,][tcp,|udp,][host,]port:state:timeout:device:options

or a directive (``BANNER:name:text``, ``TRACEFILE:name:file``,
``CONTROLPORT:spec``, ``DEFAULT:name:value[:class]``, ...).  The rules
below follow what ser2net 4.3.11 does rather than what the 3.x manual
says, because the point is that a file ser2net runs runs the same here:

* directives and states are case-sensitive (``BANNER``, ``telnet``); option
  words with a ``key=`` or boolean form (``kickolduser``, ``tr=``) are not,
  but the serial words are upper case only (``LOCAL``; ``local`` is
  "Unknown config item") except those starting with a digit (``9600n81``,
  ``8databits``), which go to the serial driver as they are;
* a name (banner, trace file, device, LED) must be defined on an earlier
  line; the last definition of a name wins, whatever its kind;
* a line ending in ``\\`` continues on the next one, joined without adding
  anything; a comment never continues;
* the options are split like a shell line (quotes, C escapes), so
  ``banner=hello\\r\\n`` carries a real CR LF.

Where ser2net logs a problem and goes on without the line, so does
pyser2net: each problem is collected with its position and costs only the
line it is in (``read_legacy``); ``parse_legacy`` refuses the file on any
problem instead.  A few deliberate differences (3.x words that 4.3 forgot,
lines ser2net mis-parses) are listed in the docstrings below.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Set, Tuple

from pyser2net.config.checks import Reading, device_loss_problem
from pyser2net.config.errors import ConfigError, ConfigIssue
from pyser2net.config.gensio import (
    Resolves,
    apply_serial_word,
    pamauth_refused,
    parse_accepter,
    parse_connector,
)
from pyser2net.config.hosts import host_problem
from pyser2net.config.limits import MAX_NUMBER_DIGITS, decimal, one_line
from pyser2net.config.mdnsopts import MDNS_DEFAULTS, is_mdns_option, mdns_option, mdns_settings
from pyser2net.config.model import (
    Accepter,
    Admin,
    Config,
    Connection,
    ConnectionOptions,
    Connector,
    Led,
    Position,
    RemoteAddress,
    Rotator,
    TraceFile,
)
from pyser2net.config.result import LoadResult, Rejected
from pyser2net.config.usb import is_selector
from pyser2net.config.vocabulary import (
    TCP_CLIENT_OPTIONS,
    TRACE_FLAGS,
    YAML_V1_KEYS,
    YAML_V2_KEYS,
    add_auth_option,
    device_loss_value_problem,
    tcp_option_problem,
)

__all__ = ["parse_legacy", "read_legacy", "split_words", "escape_controls"]

#: Directive names, matched case-sensitively and followed by ``:``.
DIRECTIVES = (
    "BANNER",
    "SIGNATURE",
    "OPENSTR",
    "CLOSESTR",
    "CLOSEON",
    "DEVICE",
    "TRACEFILE",
    "CONTROLPORT",
    "RS485CONF",
    "DEFAULT",
    "DELDEFAULT",
    "ROTATOR",
    "LED",
)
_STRING_KINDS = ("BANNER", "SIGNATURE", "OPENSTR", "CLOSESTR", "CLOSEON", "DEVICE")
_STRING_FIELD = {
    "BANNER": "banner",
    "SIGNATURE": "signature",
    "OPENSTR": "openstr",
    "CLOSESTR": "closestr",
    "CLOSEON": "closeon",
}

#: Serial words ser2net moves from the options onto the device string, and
#: the spelling it gives them there (``\\d`` and showport print it).
SERIAL_WORDS = {
    "XONXOFF": "XONXOFF",
    "-XONXOFF": "xonxoff=false",
    "RTSCTS": "RTSCTS",
    "-RTSCTS": "rtscts=false",
    "LOCAL": "LOCAL",
    "-LOCAL": "local=false",
    "HANGUP_WHEN_DONE": "hangup-when-done",
    "-HANGUP_WHEN_DONE": "hangup-when-done=false",
    "NOBREAK": "NOBREAK",
    "-NOBREAK": "nobreak=false",
    "NONE": "NONE",
    "EVEN": "EVEN",
    "ODD": "ODD",
    "MARK": "MARK",
    "SPACE": "SPACE",
}
_DIGIT_WORDS = ("1STOPBIT", "2STOPBITS", "5DATABITS", "6DATABITS", "7DATABITS", "8DATABITS")
_SPEED_RE = re.compile(r"^(\d+)(?:[NnEeOoMmSs](?:[5-8][12]?)?)?$")

_BOOL, _UINT, _STR = range(3)

#: Defaults ser2net registers: name -> (kind, ConnectionOptions field or
#: None when pyser2net has nothing to set, (min, max) for numbers).
_SER2NET_DEFAULTS: Dict[str, Tuple[int, Optional[str], Optional[Tuple[int, int]]]] = {
    "telnet-brk-on-sync": (_BOOL, "telnet_brk_on_sync", None),
    "kickolduser": (_BOOL, "kickolduser", None),
    "chardelay": (_BOOL, "chardelay", None),
    "chardelay-scale": (_UINT, "chardelay_scale", (1, 1000)),
    "chardelay-min": (_UINT, "chardelay_min", (1, 100000)),
    "chardelay-max": (_UINT, "chardelay_max", (1, 1000000)),
    "dev-to-net-bufsize": (_UINT, "dev_to_net_bufsize", (1, 65536)),
    "net-to-dev-bufsize": (_UINT, "net_to_dev_bufsize", (1, 65536)),
    "max-connections": (_UINT, "max_connections", (1, 65536)),
    "connector-retry-time": (_UINT, "connector_retry_time", (1, 10000000)),
    "accepter-retry-time": (_UINT, "accepter_retry_time", (1, 10000000)),
    "remaddr": (_STR, None, None),
    "connback": (_STR, None, None),
    "signature": (_STR, "signature", None),
    "openstr": (_STR, "openstr", None),
    "closestr": (_STR, "closestr", None),
    "closeon": (_STR, "closeon", None),
    "banner": (_STR, "banner", None),
    "sendon": (_STR, "sendon", None),
    "authdir": (_STR, None, None),
    "authdir-admin": (_STR, None, None),
    "pamauth": (_STR, None, None),
    "pamauth-admin": (_STR, None, None),
    "allowed-users": (_STR, None, None),
    "mdns": (_BOOL, None, None),
    "mdns-sysattrs": (_BOOL, None, None),
    "mdns-type": (_STR, None, None),
    "mdns-domain": (_STR, None, None),
    "mdns-host": (_STR, None, None),
    "mdns-interface": (_STR, None, None),
}
#: Serial defaults that gensio 2.6 reads when it opens a serial port (the
#: names are gensio's: ``hangup_when_done`` with underscores).  ``nobreak``
#: is registered but never read, so it is accepted and has no effect.
_SERIAL_DEFAULTS = {
    "speed": "speed",
    "xonxoff": "xonxoff",
    "rtscts": "rtscts",
    "local": "local",
    "hangup_when_done": "hangup-when-done",
    "rs485": "rs485",
}
#: Other gensio defaults: accepted, nothing pyser2net serves depends on them.
_OTHER_GENSIO_DEFAULTS = frozenset(
    {
        "nobreak",
        "wronly",
        "custspeed",
        "drain_time",
        "char_drain_wait",
        "readbuf",
        "writebuf",
        "nodelay",
        "laddr",
        "reuseaddr",
        "tcpd",
        "tcpdname",
        "rfc2217",
        "mode",
        "key",
        "cert",
        "ca",
        "clientauth",
        "allow-authfail",
        "retry-time",
        "discard-badwrites",
        "nocon",
        "mloop",
        "mttl",
        "mcast",
        "nouucplock",
    }
)

_KEYBOOLS = {
    "kickolduser": ("kickolduser",),
    "telnet-brk-on-sync": ("telnet_brk_on_sync",),
    "chardelay": ("chardelay",),
    "no-con-to-acc": ("no_con_to_acc",),
    "no-acc-to-con": ("no_acc_to_con",),
}
#: The ser2net 3.x trace words, exact spelling.  ser2net 4.3 only kept the
#: ``-`` forms and rejects ``hexdump``/``timestamp`` ("Unknown config
#: item"), losing the port; pyser2net keeps the 3.x meaning of all of them.
_LEGACY_TRACE_WORDS: Dict[str, Tuple[Tuple[str, ...], str, bool]] = {}
for _prefix, _which in (
    ("", ("read", "write", "both")),
    ("tr-", ("read",)),
    ("tw-", ("write",)),
    ("tb-", ("both",)),
):
    for _flag in ("hexdump", "timestamp"):
        _LEGACY_TRACE_WORDS[f"{_prefix}{_flag}"] = (_which, _flag, True)
        _LEGACY_TRACE_WORDS[f"-{_prefix}{_flag}"] = (_which, _flag, False)
_UINTS = {
    "chardelay-scale": ("chardelay_scale", 0),
    "chardelay-min": ("chardelay_min", 0),
    "chardelay-max": ("chardelay_max", 0),
    "dev-to-net-bufsize": ("dev_to_net_bufsize", 2),
    "net-to-dev-bufsize": ("net_to_dev_bufsize", 2),
    "max-connections": ("max_connections", 1),
    "accepter-retry-time": ("accepter_retry_time", 1),
    "connector-retry-time": ("connector_retry_time", 1),
}
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


# -- text helpers --------------------------------------------------------------

_SEPS = " \f\n\r\t\v"


def split_words(text: str) -> List[Tuple[str, int]]:
    """Split an option list as gensio's ``str_to_argv`` does.

    Returns ``(word, offset)`` pairs.  Quotes group and disappear; a
    backslash starts a C escape (``\\n``, up to three octal digits, ``\\x``
    and up to two hex digits, else the character itself).  gensio 2.6
    gives hex letters the value of their distance from ``a``/``A`` (so
    ``\\x4A`` is ``@``); that is reproduced.  An open quote or a trailing
    backslash raises ValueError.
    """
    words: List[Tuple[str, int]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _SEPS:
            i += 1
        if i >= n:
            return words
        start = i
        out: List[str] = []
        quote = ""
        while i < n:
            ch = text[i]
            if ch == "\\":
                i += 1
                if i >= n:
                    raise ValueError("a backslash ends the options")
                ch = text[i]
                if ch in "01234567" or ch == "x":
                    base = 8 if ch != "x" else 16
                    digits = "01234567" if base == 8 else "0123456789abcdefABCDEF"
                    value = int(ch) if base == 8 else 0
                    count = 1 if base == 8 else 0
                    i += 1
                    while count < 3 and i < n and text[i] in digits:
                        d = text[i]
                        if d.isdigit():
                            value = value * base + int(d)
                        else:
                            value = value * base + ord(d.lower()) - ord("a")
                        count += 1
                        i += 1
                    if base == 16 and count == 0 and i >= n:
                        raise ValueError("a backslash ends the options")
                    out.append(chr(value & 0xFF))
                    continue
                out.append(
                    {
                        "a": "\a",
                        "b": "\b",
                        "f": "\f",
                        "n": "\n",
                        "r": "\r",
                        "t": "\t",
                        "v": "\v",
                    }.get(ch, ch)
                )
                i += 1
                continue
            if quote:
                if ch == quote:
                    quote = ""
                else:
                    out.append(ch)
            elif ch in "'\"":
                quote = ch
            elif ch in _SEPS:
                break
            else:
                out.append(ch)
            i += 1
        if quote:
            raise ValueError("a quote is not closed")
        words.append(("".join(out), start))


def escape_controls(value: str) -> str:
    """Write control characters of a template as ser2net escapes.

    Option words arrive with their escapes already turned into characters;
    the model keeps templates, where ``\\r`` and a real CR print the same,
    in the one form a YAML file can also hold.
    """
    names = {"\r": "\\r", "\n": "\\n", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
    out = []
    for ch in value:
        code = ord(ch)
        if ch in names:
            out.append(names[ch])
        elif (code < 0x20 and ch != "\t") or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)


def _c_uint(text: str) -> Optional[int]:
    """strtoul(text, 0) that must use the whole text; None if it does not."""
    s = text.strip()
    negative = s.startswith("-")
    if s[:1] in "+-" and s:
        s = s[1:]
    try:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", s):
            value = int(s, 16)
        elif re.fullmatch(r"0[0-7]*", s):
            value = int(s, 8)
        elif re.fullmatch(r"[1-9][0-9]*", s):
            value = int(s)
        else:
            return None
    except ValueError:
        return None
    return (-value if negative else value) % (1 << 32)


@functools.cache
def _token_re(delims: str) -> re.Pattern[str]:
    return re.compile("[^" + re.escape(delims) + "]+")


def _strtok(s: str, i: int, delims: str) -> Tuple[Optional[str], int, int]:
    """C strtok_r: (token or None, token start, position after its end)."""
    n = len(s)
    found = _token_re(delims).search(s, i)  # delimiters skipped, then the token
    if found is None:
        return None, n, n
    j = found.end()
    return found.group(), found.start(), (j + 1 if j < n else j)


#: ser2net finds the state with a small automaton, so that a port spec may
#: hold colons (IPv6): the first ``:raw:``, ``:rawlp:``, ``:telnet:``,
#: ``:off:`` or ``:on:``.  It is reproduced as it is, quirk included: after
#: a partial match fails, the failing character is not looked at again, so
#: ``2000::raw:`` has no state.
_STATE_WORDS = ("telnet", "rawlp", "raw", "off", "on")
_AUTOMATON: Tuple[Dict[str, int], ...] = (
    {":": 1},  # 0
    {"t": 2, "r": 7, "o": 11},  # 1
    {"e": 3},
    {"l": 4},
    {"n": 5},
    {"e": 6},
    {"t": 13},  # 2-6: telnet
    {"a": 8},
    {"w": 9},
    {":": 0, "l": 10},
    {"p": 13},  # 7-10: raw, rawlp
    {"f": 12, "n": 13},
    {"f": 13},  # 11-12: off, on
    {":": 0},  # 13
)


def _scan_state(line: str) -> Optional[Tuple[int, str]]:
    """(index of the colon before the state, state) or None.

    In its start state the automaton only waits for a colon, so the scan
    jumps from colon to colon and steps through the few characters after.
    """
    at = 0
    n = len(line)
    while True:
        begin = line.find(":", at)
        if begin < 0:
            return None
        state = 1
        i = begin + 1
        while i < n:
            state = _AUTOMATON[state].get(line[i], -1)
            if state <= 0:
                break
            i += 1
        if state == 0:
            return begin, line[begin + 1 : i]
        at = i + 1  # the character that failed is not looked at again


# -- logical lines -------------------------------------------------------------


@dataclass
class _Line:
    text: str
    source: str
    #: (offset in text, physical line, column of that offset)
    segments: List[Tuple[int, int, int]] = field(default_factory=list)
    #: Offsets only grow (all but odd backslash runs), so a search finds the segment.
    sorted: bool = True

    def pos(self, offset: int = 0) -> Position:
        """Where ``offset`` in the joined text came from: the last segment
        starting at or before it."""
        line, col, base = self.segments[0][1], self.segments[0][2], 0
        if self.sorted:
            at = bisect.bisect_right(self.segments, (offset, math.inf, math.inf)) - 1
            if at >= 0:
                base, line, col = self.segments[at]
        else:
            for seg_offset, seg_line, seg_col in self.segments:
                if seg_offset <= offset:
                    base, line, col = seg_offset, seg_line, seg_col
        return Position(self.source, line, col + offset - base)


def _logical_lines(text: str, source: str) -> List[_Line]:
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    lines: List[_Line] = []
    current: Optional[_Line] = None
    parts: List[str] = []  # of the current line: joined once, not copied per segment
    length = 0
    for number, raw in enumerate(physical, 1):
        if raw.endswith("\r"):
            raw = raw[:-1]
        if current is None:
            stripped = raw.strip()
            # ser2net logs "No state given" for blank-looking and indented
            # comment lines and goes on; they define nothing, so skip them.
            if not stripped or stripped.startswith("#"):
                continue
            current = _Line("", source)
            parts, length = [], 0
        current.segments.append((length, number, 1))
        if raw:
            parts.append(raw)
        if parts and parts[-1].endswith("\\"):
            # The line so far ends in a backslash: drop it, and go on.
            parts[-1] = parts[-1][:-1]
            if not parts[-1]:
                parts.pop()
            if not raw:
                current.sorted = False
            length += len(raw) - 1
            continue
        current.text = "".join(parts)
        lines.append(current)
        current = None
    if current is not None:
        current.text = "".join(parts)
        lines.append(current)
    return lines


# -- the reader ----------------------------------------------------------------


class _Reader:
    def __init__(self, source: str, resolves: Optional[Resolves] = None) -> None:
        self.source = source
        #: Tells a host from a mistyped layer (see ``gensio.Resolves``).
        self.resolves = resolves
        self.issues: List[ConfigIssue] = []
        #: name -> (kind, text): BANNER... and DEVICE share one namespace.
        self.strings: Dict[str, Tuple[str, str]] = {}
        self.tracefiles: Dict[str, str] = {}
        #: RS485CONF name -> (setting, where it was defined); checked when used.
        self.rs485: Dict[str, Tuple[str, Position]] = {}
        self.leds: Dict[str, Led] = {}
        self.global_defaults: Dict[str, Optional[str]] = {}
        self.class_defaults: Dict[Tuple[str, str], Optional[str]] = {}
        self.connections: List[Connection] = []
        self.names: Set[str] = set()
        self.rotators: List[Tuple[Rotator, List[Tuple[str, Position]]]] = []
        self.admin: Optional[Admin] = None
        #: Lines with errors: the connections and rotators they cost.
        self.rejected: List[Rejected] = []
        self.rejected_names: Set[str] = set()
        #: Every name some directive defines anywhere, for better hints.
        self.defined_later: Dict[str, str] = {}

    def error(self, pos: Position, message: str) -> None:
        self.issues.append(ConfigIssue(pos, message))

    # -- directives --------------------------------------------------------

    def line(self, line: _Line) -> None:
        text = line.text
        for name in DIRECTIVES:
            if text.startswith(name) and text[len(name) : len(name) + 1] == ":":
                getattr(self, "d_" + name.lower())(line, len(name) + 1)
                return
        self.port_line(line)

    def _name_and_rest(self, line: _Line, at: int, what: str) -> Tuple[Optional[str], str, int]:
        name, start, after = _strtok(line.text, at, ":")
        if name is None:
            return None, "", start
        rest, _, _ = _strtok(line.text, after, "\n")
        return name, rest or "", start

    def _string(self, kind: str, line: _Line, at: int) -> None:
        name, value, _ = self._name_and_rest(line, at, kind)
        if name is None:
            self.error(line.pos(at), f"{kind} needs a name ({kind}:name:text)")
            return
        if kind == "CLOSEON":
            problem = _closeon_problem(value)
            if problem:
                self.error(line.pos(at), f"CLOSEON {name}: {problem}")
                return
        self.strings[name] = (kind, value)

    def d_banner(self, line: _Line, at: int) -> None:
        self._string("BANNER", line, at)

    def d_signature(self, line: _Line, at: int) -> None:
        self._string("SIGNATURE", line, at)

    def d_openstr(self, line: _Line, at: int) -> None:
        self._string("OPENSTR", line, at)

    def d_closestr(self, line: _Line, at: int) -> None:
        self._string("CLOSESTR", line, at)

    def d_closeon(self, line: _Line, at: int) -> None:
        self._string("CLOSEON", line, at)

    def d_device(self, line: _Line, at: int) -> None:
        self._string("DEVICE", line, at)

    def d_tracefile(self, line: _Line, at: int) -> None:
        name, value, _ = self._name_and_rest(line, at, "TRACEFILE")
        if name is None:
            self.error(line.pos(at), "TRACEFILE needs a name (TRACEFILE:name:file)")
        elif not value:
            self.error(line.pos(at), f"TRACEFILE {name} needs a file name (TRACEFILE:name:file)")
        else:
            self.tracefiles[name] = value

    def d_rs485conf(self, line: _Line, at: int) -> None:
        name, value, _ = self._name_and_rest(line, at, "RS485CONF")
        if name is None:
            self.error(line.pos(at), "RS485CONF needs a name (RS485CONF:name:before:after)")
        elif not value:
            self.error(
                line.pos(at),
                f"RS485CONF {name} needs a configuration (<delay before>:<delay after>[:flags])",
            )
        else:
            # ser2net reads the setting only when a port uses it: a definition
            # nobody uses (often the 3.x form) must not stop the file.
            self.rs485[name] = (value, line.pos(at))

    def d_controlport(self, line: _Line, at: int) -> None:
        spec, start, _ = _strtok(line.text, at, "\n")
        if spec is None:
            self.error(line.pos(at), "CONTROLPORT needs a port (CONTROLPORT:[host,]port)")
            return
        pos = line.pos(start)
        try:
            accepter = _accepter(spec, pos, self.resolves)
        except ConfigError as exc:
            self.issues.extend(exc.issues)
            return
        # As the 3.x manual says, only the first control port is used.
        if self.admin is None:
            found, authdir = self.default("ser2net", "authdir-admin")
            self.admin = Admin(accepter=accepter, position=line.pos(0))
            if found and authdir:
                self.admin = replace(self.admin, authdir=authdir)

    def d_default(self, line: _Line, at: int) -> None:
        text = line.text
        name, nstart, after = _strtok(text, at, ":")
        if name is None:
            self.error(line.pos(at), "DEFAULT needs a name (DEFAULT:name:value[:class])")
            return
        value, vstart, after = _strtok(text, after, ":\n")
        cls, _, _ = _strtok(text, after, "\n")
        pos = line.pos(nstart)
        if name in _SER2NET_DEFAULTS:
            kind, _, limits = _SER2NET_DEFAULTS[name]
        elif name in _SERIAL_DEFAULTS or name in _OTHER_GENSIO_DEFAULTS:
            kind = _STR if name in ("speed", "rs485") else _BOOL
            limits = None
            if name in ("readbuf", "writebuf", "mttl"):
                kind = _UINT
            if name in _OTHER_GENSIO_DEFAULTS and name not in (
                "nobreak",
                "wronly",
                "custspeed",
                "nodelay",
                "reuseaddr",
                "clientauth",
                "nocon",
                "mloop",
                "allow-authfail",
                "discard-badwrites",
            ):
                kind = _STR
        else:
            lower = name.lower()
            hint = ""
            if lower in _SER2NET_DEFAULTS or lower in _SERIAL_DEFAULTS:
                hint = f" (default names are case-sensitive: {lower})"
            elif lower.replace("-", "_") in _SERIAL_DEFAULTS:
                hint = f" (gensio spells it {lower.replace('-', '_')})"
            elif lower in ("databits", "stopbits", "parity"):
                hint = " (ser2net 4.3 sets these through speed, e.g. DEFAULT:speed:9600E71)"
            self.error(pos, f"unknown default {name!r}{hint}")
            return
        vpos = line.pos(vstart) if value is not None else pos
        if value is None:
            if kind != _STR:
                self.error(pos, f"DEFAULT:{name} needs a value")
                return
        elif kind == _BOOL:
            if value not in _TRUE + _FALSE:
                self.error(
                    vpos, f"invalid value {value!r} for default {name} (expected true or false)"
                )
                return
        elif kind == _UINT:
            number = _c_uint(value)
            if number is None or (limits and not limits[0] <= number <= limits[1]):
                rng = f" from {limits[0]} to {limits[1]}" if limits else ""
                self.error(
                    vpos, f"invalid value {value!r} for default {name} (expected a number{rng})"
                )
                return
        if name in ("pamauth", "pamauth-admin") and value:
            self.issues.extend(pamauth_refused(name, pos).issues)
            return
        if name == "speed" and value is not None:
            try:
                apply_serial_word({}, f"speed={value}", vpos)
            except ConfigError as exc:
                self.issues.extend(exc.issues)
                return
        if name == "rs485" and value is not None and cls is not None:
            # ser2net splits the value at its colon: the rest is a class.
            self.error(
                vpos,
                "an rs485 default cannot be given in the legacy format "
                "(its colon ends the value); use RS485CONF and rs485=name",
            )
            return
        if cls is None:
            self.global_defaults[name] = value
        else:
            self.class_defaults[(cls, name)] = value

    def d_deldefault(self, line: _Line, at: int) -> None:
        name, nstart, after = _strtok(line.text, at, ":")
        cls, _, _ = _strtok(line.text, after, "\n")
        if name is None:
            self.error(line.pos(at), "DELDEFAULT needs a name (DELDEFAULT:name:class)")
        elif cls is None or cls in ("ser2net", "default"):
            self.error(
                line.pos(nstart),
                "DELDEFAULT can only delete a class default "
                "(DELDEFAULT:name:class, class not ser2net)",
            )
        else:
            self.class_defaults.pop((cls, name), None)

    def d_rotator(self, line: _Line, at: int) -> None:
        name, nstart, after = _strtok(line.text, at, ":")
        rest, rstart, _ = _strtok(line.text, after, "\n")
        if name is None:
            self.error(line.pos(at), "ROTATOR needs a port (ROTATOR:port:connection ...)")
            return
        try:
            words = split_words(rest or "")
        except ValueError as exc:
            self.error(line.pos(rstart), f"ROTATOR {name}: {exc}")
            return
        if not words:
            self.error(
                line.pos(nstart),
                f"ROTATOR {name} needs a space-separated list of "
                "connections (ROTATOR:port:connection ...)",
            )
            return
        try:
            accepter = _accepter(name, line.pos(nstart), self.resolves)
        except ConfigError as exc:
            self.issues.extend(exc.issues)
            return
        members = [(word, line.pos(rstart + off)) for word, off in words]
        rotator = Rotator(
            name=name,
            accepter=accepter,
            connections=tuple(word for word, _ in words),
            position=line.pos(0),
        )
        self.rotators.append((rotator, members))

    def d_led(self, line: _Line, at: int) -> None:
        text = line.text
        name, nstart, after = _strtok(text, at, ":")
        driver, dstart, after = _strtok(text, after, ":")
        cfg, cstart, _ = _strtok(text, after, "\n")
        if name is None:
            self.error(line.pos(at), "LED needs a name (LED:name:sysfs:device=...)")
            return
        if driver is None:
            self.error(line.pos(nstart), f"LED {name} needs a driver (LED:name:sysfs:device=...)")
            return
        if driver != "sysfs":
            self.error(line.pos(dstart), f"unknown LED driver {driver!r} (expected sysfs)")
            return
        try:
            words = split_words(cfg or "")
        except ValueError as exc:
            self.error(line.pos(cstart), f"LED {name}: {exc}")
            return
        values: Dict[str, str] = {}
        ok = True
        for word, off in words:
            key, eq, value = word.partition("=")
            if not eq or not key or key.lower() not in ("device", "duration", "state"):
                self.error(
                    line.pos(cstart + off),
                    f"invalid LED option {word!r} (expected device=, duration= or state=)",
                )
                ok = False
                continue
            values[key.lower()] = value
        if not ok:
            return
        if not values.get("device"):
            self.error(line.pos(nstart), f"LED {name} needs device=<name in /sys/class/leds>")
            return
        if name in self.leds:
            self.error(line.pos(nstart), f"LED {name} already exists")
            return
        self.leds[name] = Led(
            name=name,
            device=values["device"],
            driver=driver,
            duration_ms=_atoi(values.get("duration", "10")),
            state=_atoi(values.get("state", "1")),
        )

    # -- port lines --------------------------------------------------------

    def default(self, cls: str, name: str) -> Tuple[bool, Optional[str]]:
        if (cls, name) in self.class_defaults:
            return True, self.class_defaults[(cls, name)]
        if name in self.global_defaults:
            return True, self.global_defaults[name]
        return False, None

    def port_line(self, line: _Line) -> None:
        text = line.text
        found = _scan_state(text)
        if found is None:
            self.error(line.pos(0), _no_state_message(text))
            return
        at, state = found
        portnum = text[:at]
        rest_at = at + len(state) + 2
        timeout_text, tstart, after = _strtok(text, rest_at, ":")
        if timeout_text is None:
            self.error(
                line.pos(rest_at), "no timeout given (expected port:state:timeout:device:options)"
            )
            return
        timeout = _c_uint(timeout_text)
        if timeout is None:
            self.error(
                line.pos(tstart), f"invalid timeout {timeout_text!r} (expected a number of seconds)"
            )
            return
        devname, dstart, after = _strtok(text, after, ":")
        if devname is None:
            self.error(
                line.pos(after), "no device given (expected port:state:timeout:device:options)"
            )
            return
        optstart = after
        devcfg = text[after:] if after < len(text) and after > dstart + len(devname) else ""
        pos = line.pos(0)
        try:
            words = split_words(devcfg)
        except ValueError as exc:
            self.error(line.pos(optstart), f"invalid options: {exc}")
            return
        if portnum in self.names:
            self.error(pos, f"duplicate connection name {portnum!r}")
            return
        before = len(self.issues)
        options = _PortOptions(self, line, optstart)
        for word, off in words:
            options.word(word, off)
        # The device: a DEVICE name stands for the text it was given.
        alias: Optional[str] = None
        device = devname
        entry = self.strings.get(devname)
        if entry is not None and entry[0] == "DEVICE":
            alias, device = devname, entry[1]
        display = [device] + options.display
        parse_words = list(options.serial)
        if state == "rawlp":
            display.append("WRONLY")
            parse_words.append("wronly")
        if options.rs485 is not None:
            display.append(f"rs485={options.rs485}")
            parse_words.append(f"rs485={options.rs485}")
        dpos = line.pos(dstart)
        connector: Optional[Connector] = None
        try:
            connector = _connector(device, parse_words, dpos, self.serial_defaults(), self.resolves)
        except ConfigError as exc:
            self.issues.extend(exc.issues)
        accepter: Optional[Accepter] = None
        try:
            accepter = _accepter(
                portnum,
                pos,
                self.resolves,
                telnet=state == "telnet",
                rfc2217=state == "telnet" and options.remctl,
            )
        except ConfigError as exc:
            self.issues.extend(exc.issues)
        conn_options = options.finish()
        if len(self.issues) > before or connector is None or accepter is None:
            return
        problem = device_loss_problem(connector, conn_options)
        if problem is not None:
            loss_at = options.device_loss_at
            self.error(
                line.pos(optstart + loss_at) if loss_at is not None else dpos,
                f"connection {portnum}: {problem}",
            )
            return
        self.names.add(portnum)
        self.connections.append(
            Connection(
                name=portnum,
                accepter=accepter,
                connector=replace(connector, text=",".join(display), alias=alias),
                timeout=timeout,
                enable=state != "off",
                options=conn_options,
                position=pos,
            )
        )

    def serial_defaults(self) -> Dict[str, object]:
        values: Dict[str, object] = {}
        for name, word in _SERIAL_DEFAULTS.items():
            found, value = self.default("serialdev", name)
            if found and value is not None:
                apply_serial_word(values, f"{word}={value}", None)
        return values

    def finish(self) -> LoadResult:
        return Reading(
            self.connections,
            self.rotators,
            self.admin,
            list(self.leds.values()),
            self.issues,
            self.rejected,
            self.rejected_names,
        ).finish(
            not_served="ROTATOR {rotator} refers to connection {member}, "
            "which is not served because of its errors",
            unknown="ROTATOR {rotator} refers to unknown connection {member} "
            "(ser2net would skip it at connect time)",
        )

    def reject(self, line: _Line) -> None:
        """Note the connection or rotator a line with errors would have made."""
        text = line.text
        if text.startswith("ROTATOR:"):
            name, _, _ = _strtok(text, len("ROTATOR:"), ":")
            self.rejected.append(Rejected("rotator", name, line.pos(0)))
            return
        if any(text.startswith(name + ":") for name in DIRECTIVES):
            return  # a definition: the lines that use it report their own errors
        found = _scan_state(text)
        name = text[: found[0]] if found is not None else None
        if name is not None:
            self.rejected_names.add(name)
        self.rejected.append(Rejected("connection", name, line.pos(0)))


class _PortOptions:
    """The option words of one port line, applied in order as ser2net does."""

    def __init__(self, reader: _Reader, line: _Line, base: int) -> None:
        self.reader = reader
        self.line = line
        self.base = base
        self.display: List[str] = []
        self.serial: List[str] = []
        self.values: Dict[str, Any] = {}
        self.trace: Dict[str, Optional[str]] = {"read": None, "write": None, "both": None}
        self.flags: Dict[Tuple[str, str], bool] = {}
        self.remaddr: List[RemoteAddress] = []
        self.connback: List[Connector] = []
        self.remctl = False
        self.rs485: Optional[str] = None
        #: Where ``device-loss=`` was written, for an error about it.
        self.device_loss_at: Optional[int] = None
        self.mdns: Dict[str, Any] = {}
        for option in MDNS_DEFAULTS + ("mdns",):
            found, value = reader.default("ser2net", option)
            if found and value is not None:
                try:
                    mdns_option(option, value, None, self.mdns)
                except ConfigError:
                    pass  # reported where the default was set
        for option, (kind, field_name, _) in _SER2NET_DEFAULTS.items():
            if field_name is None:
                continue
            found, value = reader.default("ser2net", option)
            if not found:
                continue
            if kind == _BOOL:
                self.values[field_name] = value in _TRUE
            elif kind == _UINT:
                self.values[field_name] = _c_uint(value or "0") or 0
            else:
                self.values[field_name] = value
        # The client-certificate settings of an ssl accepter (authdir and
        # allowed-users), as ser2net reads them on a port line or DEFAULT.
        found, value = reader.default("ser2net", "authdir")
        if found and value:
            self.values["authdir"] = value
        found, value = reader.default("ser2net", "allowed-users")
        if found and value is not None:
            self.values["allowed_users"] = tuple(value.split())

    def error(self, off: int, message: str) -> None:
        self.reader.error(self.line.pos(self.base + off), message)

    def word(self, w: str, off: int) -> None:
        low = w.lower()
        key, eq, value = w.partition("=")
        lkey = key.lower()
        if w[:1].isdigit() or w in SERIAL_WORDS:
            self.serial_word(w, off)
        elif is_mdns_option(lkey):
            try:
                mdns_option(lkey, value if eq else "", None, self.mdns)
            except ConfigError as exc:
                self.error(off, exc.issues[0].message)
        elif lkey in _KEYBOOLS or lkey in TRACE_FLAGS:
            flag = _keybool(w, lkey, eq, value)
            if flag is None:
                self.error(
                    off, f"invalid value in {w!r} (expected {lkey}, {lkey}=true or {lkey}=false)"
                )
            elif lkey in _KEYBOOLS:
                self.values[_KEYBOOLS[lkey][0]] = flag
            elif lkey in TRACE_FLAGS:
                which_all, kind = TRACE_FLAGS[lkey]
                for which in which_all:
                    self.flags[(which, kind)] = flag
        elif eq and lkey in ("trace-read", "trace-write", "trace-both"):
            if not value:
                self.error(off, f"{key} needs a file name")
            else:
                self.trace[lkey[6:]] = value
        elif eq and lkey in ("led-rx", "led-tx"):
            if value not in self.reader.leds:
                self.error(
                    off,
                    f"no LED named {value!r} defined before this line "
                    f"(LED:{value}:sysfs:device=...)",
                )
            else:
                self.values[lkey.replace("-", "_")] = value
        elif eq and lkey in TCP_CLIENT_OPTIONS:
            number = decimal(value.strip())
            problem = tcp_option_problem(lkey, number)
            if problem is not None:
                self.error(off, f"{problem}: {w!r}")
            else:
                self.values[TCP_CLIENT_OPTIONS[lkey][0]] = number
        elif eq and lkey in _UINTS:
            number = _c_uint(value) if value else None
            field_name, minimum = _UINTS[lkey]
            if number is None or value.strip().startswith("-"):
                self.error(off, f"invalid number in {w!r} (expected {lkey}=<number>)")
            else:
                self.values[field_name] = max(number, minimum)
        elif eq and lkey == "device-loss":
            problem = device_loss_value_problem(value)
            if problem is not None:
                self.error(off, problem)
            else:
                self.values["device_loss"] = value
                self.device_loss_at = off
        elif eq and lkey in ("authdir", "allowed-users"):
            try:
                add_auth_option(self.values, lkey, value, None)
            except ConfigError as exc:
                self.error(off, exc.issues[0].message)
        elif eq and lkey == "pamauth":
            if value:
                self.error(off, pamauth_refused(key, None).issues[0].message)
        elif eq and lkey == "remaddr":
            try:
                self.remaddr.extend(_remote_addresses(value))
            except ValueError as exc:
                self.error(off, str(exc))
        elif eq and lkey == "connback":
            for part in value.split(";"):
                if not part:
                    continue
                try:
                    self.connback.append(parse_connector(part, resolves=self.reader.resolves))
                except ConfigError as exc:
                    self.error(off, exc.issues[0].message)
        elif lkey in ("banner", "openstr", "closestr", "signature") and (eq or w == lkey):
            self.values[lkey] = escape_controls(value)
        elif eq and lkey in ("closeon", "sendon"):
            self.values[lkey] = escape_controls(value)
        elif w in ("remctl", "-remctl"):
            self.remctl = w == "remctl"
        elif w == "-kickolduser":
            self.values["kickolduser"] = False
        elif w in _LEGACY_TRACE_WORDS:
            which_all, kind, flag = _LEGACY_TRACE_WORDS[w]
            for which in which_all:
                self.flags[(which, kind)] = flag
        elif eq and lkey in ("tr", "tw", "tb"):
            if value not in self.reader.tracefiles:
                self.error(
                    off,
                    f"no TRACEFILE named {value!r} defined before this line "
                    f"(TRACEFILE:{value}:/path/file)",
                )
            else:
                which = {"tr": "read", "tw": "write", "tb": "both"}[lkey]
                self.trace[which] = self.reader.tracefiles[value]
        elif eq and lkey == "rs485":
            if value not in self.reader.rs485:
                self.error(
                    off,
                    f"no RS485CONF named {value!r} defined before this line "
                    f"(RS485CONF:{value}:<delay before>:<delay after>)",
                )
            else:
                self.use_rs485(value, off)
        elif w in ("telnet_brk_on_sync", "-telnet_brk_on_sync"):
            self.values["telnet_brk_on_sync"] = not w.startswith("-")
        elif w == "-chardelay":
            self.values["chardelay"] = False
        elif w in self.reader.strings and self.reader.strings[w][0] != "DEVICE":
            kind, text = self.reader.strings[w]
            self.values[_STRING_FIELD[kind]] = text
        else:
            self.error(off, self.unknown_message(w, low))

    def serial_word(self, w: str, off: int) -> None:
        if "," in w:
            self.serial_list(w, off)
            return
        if w in SERIAL_WORDS:
            self.display.append(SERIAL_WORDS[w])
            self.serial.append(SERIAL_WORDS[w])
            return
        self.display.append(w)
        if w.upper() in _DIGIT_WORDS:
            self.serial.append(w.upper())
            return
        match = _SPEED_RE.match(w)
        if not match or len(match.group(1)) > MAX_NUMBER_DIGITS or int(match.group(1)) < 10:
            self.error(
                off,
                f"invalid serial setting {w!r} (expected a speed such as 9600 or "
                "9600N81, 1STOPBIT, 2STOPBITS or 5DATABITS to 8DATABITS)",
            )
            return
        self.serial.append(w)

    def serial_list(self, w: str, off: int) -> None:
        """``9600,NONE,1STOPBIT,LOCAL``: ser2net hands a word that starts with a
        digit to the device as it is, so each comma-separated item must be a
        serial option, as the serialdev layer reads it."""
        items = [item for item in w.split(",") if item]
        for item in items:
            try:
                known = apply_serial_word({}, item, None)
            except ConfigError as exc:
                self.error(off, f"in {w!r}: {exc.issues[0].message}")
                return
            if not known:
                self.error(
                    off,
                    f"{item!r} in {w!r} is not a serial option: a word that "
                    "starts with a digit goes to the device whole, so separate "
                    "other options with spaces",
                )
                return
        self.display.append(w)
        self.serial.extend(items)

    def use_rs485(self, name: str, off: int) -> None:
        setting, where = self.reader.rs485[name]
        try:
            apply_serial_word({}, f"rs485={setting}", None)
        except ConfigError as exc:
            hint = ""
            if re.fullmatch(r"\d+:\d+:[01]:[01]", setting):
                flags = [
                    f
                    for f, on in zip(("rts_on_send", "rx_during_tx"), setting.split(":")[2:])
                    if on == "1"
                ]
                hint = (
                    " (this is the ser2net 3 form; ser2net 4 takes flag names: "
                    f"RS485CONF:{name}:{':'.join(setting.split(':')[:2] + flags)})"
                )
            self.error(
                off, f"rs485={name}: RS485CONF {name} at {where}: {exc.issues[0].message}{hint}"
            )
            return
        self.rs485 = setting

    def unknown_message(self, w: str, low: str) -> str:
        if w.upper() in SERIAL_WORDS:
            return (
                f"unknown option {w!r}: serial words are upper case in ser2net.conf "
                f"(write {w.upper()})"
            )
        if (
            low
            in (
                "remctl",
                "-remctl",
                "telnet_brk_on_sync",
                "-telnet_brk_on_sync",
                "-chardelay",
                "-kickolduser",
            )
            or low in _LEGACY_TRACE_WORDS
        ):
            return f"unknown option {w!r}: this word is lower case (write {low})"
        later = self.reader.defined_later.get(w)
        if later:
            return (
                f"unknown option {w!r}: {later} {w} is defined after this line; "
                "ser2net needs it defined before its first use"
            )
        return (
            f"unknown option {w!r} (expected a serial setting such as 9600N81, EVEN, "
            "LOCAL or XONXOFF, an option such as kickolduser, remctl, tr=name or "
            "max-connections=N, or the name of a BANNER, SIGNATURE, OPENSTR, CLOSESTR "
            "or CLOSEON defined above)"
        )

    def finish(self) -> ConnectionOptions:
        values = dict(self.values)
        for which, path in self.trace.items():
            if path is not None:
                values[f"trace_{which}"] = TraceFile(
                    path,
                    hexdump=self.flags.get((which, "hexdump"), False),
                    timestamp=self.flags.get((which, "timestamp"), False),
                )
        remaddr = list(self.remaddr)
        if not remaddr:
            found, value = self.reader.default("ser2net", "remaddr")
            if found and value:
                try:
                    remaddr = _remote_addresses(value)
                except ValueError as exc:
                    # ser2net refuses every port that would get it: a
                    # broken address list must not open the port to all.
                    raise ConfigError.at(
                        self.line.pos(0),
                        f"the remaddr default from DEFAULT:remaddr is invalid: {exc}",
                    ) from None
        if remaddr:
            values["remaddr"] = tuple(remaddr)
        connback = list(self.connback)
        if not connback:
            found, value = self.reader.default("ser2net", "connback")
            if found and value:
                connback = [
                    parse_connector(part, resolves=self.reader.resolves)
                    for part in value.split(";")
                    if part
                ]
        if connback:
            values["connback"] = tuple(connback)
        values["mdns"] = mdns_settings(self.mdns)
        return ConnectionOptions(**values)


# -- small parsers -----------------------------------------------------------


def _keybool(w: str, key: str, eq: str, value: str) -> Optional[bool]:
    if not eq:
        return True if w.lower() == key else None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


_ATOI_RE = re.compile(r"\s*([+-]?\d{1,%d})" % MAX_NUMBER_DIGITS)  # noqa: UP031


def _atoi(text: str) -> int:
    # At most MAX_NUMBER_DIGITS digits are read (C's atoi has no answer for more).
    match = _ATOI_RE.match(text)
    return int(match.group(1)) if match else 0


def _closeon_problem(value: str) -> Optional[str]:
    """What ser2net's CLOSEON escape check rejects, or None."""
    i, n = 0, len(value)
    while i < n:
        if value[i] != "\\":
            i += 1
            continue
        if i + 1 >= n:
            return "the text ends right after a backslash"
        ch = value[i + 1]
        if ch in "\\rntva":
            i += 2
        elif ch in "01234567":
            if i + 3 >= n + 0 and len(value[i + 1 : i + 4]) < 3:
                return "the text ends inside an octal escape"
            if any(c not in "01234567" for c in value[i + 2 : i + 4]):
                return f"invalid octal escape \\{value[i + 1 : i + 4]} (expected three digits)"
            i += 4
        elif ch == "x":
            if len(value[i + 2 : i + 4]) < 2:
                return "the text ends inside a hex escape"
            if any(c not in "0123456789abcdefABCDEF" for c in value[i + 2 : i + 4]):
                return f"invalid hex escape \\{value[i + 1 : i + 4]} (expected two hex digits)"
            i += 4
        else:
            return (
                f"unknown escape \\{ch} (a CLOSEON takes \\\\, \\r, \\n, \\t, \\v, \\a, "
                "\\NNN and \\xHH)"
            )
    return None


def _remote_addresses(value: str) -> List[RemoteAddress]:
    out: List[RemoteAddress] = []
    for entry in value.split(";"):
        if not entry:
            continue
        back = entry.startswith("!")
        parts = [p.strip() for p in (entry[1:] if back else entry).split(",")]
        if parts and parts[0] in ("tcp", "udp"):
            parts = parts[1:]
        if parts and parts[0] in ("ipv4", "ipv6"):
            parts = parts[1:]
        port = decimal(parts[1]) if len(parts) == 2 else None
        if len(parts) != 2 or not parts[0] or port is None or port > 65535:
            raise ValueError(
                f"invalid remote address {entry!r} (expected [!][ipv4,|ipv6,]"
                "host,port, port 0 for any port)"
            )
        problem = host_problem(parts[0])
        if problem is not None:
            raise ValueError(f"invalid host {parts[0]!r} in remote address {entry!r}: {problem}")
        out.append(RemoteAddress(host=parts[0], port=port, connect_back=back))
    return out


def _network_accepter(spec: str) -> Optional[str]:
    """``[ipv4,|ipv6,][tcp,|udp,][host,]port`` as a gensio accepter string."""
    rest = spec
    family = ""
    if rest.startswith(("ipv4,", "ipv6,")):
        family, rest = rest[:4], rest[5:]
    transport = "tcp"
    if rest.startswith(("tcp,", "udp,")):
        transport, rest = rest[:3], rest[4:]
    parts = rest.split(",")
    if len(parts) not in (1, 2) or not parts[-1].isdigit():
        return None
    if len(parts) == 1 and parts[0].strip("0") == "":
        return None  # ser2net turns an all-zero port into a stdio accepter
    return ",".join([transport] + ([family] if family else []) + parts)


def _accepter(
    spec: str,
    pos: Position,
    resolves: Optional[Resolves],
    telnet: bool = False,
    rfc2217: bool = False,
) -> Accepter:
    gensio = _network_accepter(spec)
    if gensio is None:
        stripped = spec.strip()
        if stripped and stripped.strip("0") == "":
            raise ConfigError.at(
                pos,
                f"port {spec!r} means a stdio accepter in ser2net, which pyser2net does not serve",
            )
        if "," not in stripped and not stripped.isdigit():
            raise ConfigError.at(
                pos, f"invalid port {spec!r} (expected [ipv4,|ipv6,][tcp,|udp,][host,]port)"
            )
        gensio = stripped
    accepter = parse_accepter(gensio, pos, resolves=resolves)
    if telnet:
        accepter = replace(accepter, telnet=True, rfc2217=accepter.rfc2217 or rfc2217)
    return replace(accepter, text=spec)


def _connector(
    device: str,
    words: List[str],
    pos: Position,
    defaults: Dict[str, object],
    resolves: Optional[Resolves],
) -> Connector:
    if device.startswith("/") or is_selector(device):
        return parse_connector(
            ",".join(["serialdev", device] + words), pos, defaults, resolves=resolves
        )
    if not device.strip():
        raise ConfigError.at(pos, "empty device (expected a path such as /dev/ttyS0)")
    try:
        return parse_connector(",".join([device] + words), pos, defaults, resolves=resolves)
    except ConfigError:
        raise ConfigError.at(
            pos,
            f"invalid device {device!r} (expected a path such as "
            "/dev/ttyS0, a DEVICE name defined above, or a gensio "
            "connector such as tcp,host,port)",
        ) from None


_YAML_KEY_RE = re.compile(r"^([A-Za-z_]+)\s*:(?:\s|&|$)")


def _yaml_start(text: str) -> Optional[Tuple[int, str]]:
    """The first significant line, if it starts a YAML file: ``---`` or a
    top-level key such as ``connection:``.  No legacy line looks like that
    (directives are upper case and followed by their fields)."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.rstrip() == "---":
            return number, "---"
        match = _YAML_KEY_RE.match(line)
        key = match.group(1) if match else ""
        if key.lower() in YAML_V1_KEYS + YAML_V2_KEYS + ("include",) and not key.isupper():
            return number, f"{key}:"
        return None
    return None


def _no_state_message(text: str) -> str:
    for word in _STATE_WORDS:
        if re.search(rf":{word}:", text, re.IGNORECASE):
            return (
                f"no state found: states are lower case (write :{word}:) "
                "in port:state:timeout:device:options"
            )
    head = text.split(":", 1)[0]
    if head.upper() in DIRECTIVES and head not in DIRECTIVES:
        return f"unknown line: directives are upper case (write {head.upper()}:...)"
    return (
        "expected port:state:timeout:device:options with state raw, rawlp, telnet or "
        "off, or a directive (" + ", ".join(DIRECTIVES) + ")"
    )


def read_legacy(text: str, source: str, resolves: Optional[Resolves] = None) -> LoadResult:
    """Read a legacy ``ser2net.conf``, as ser2net does, one line at a time.

    A line with an error costs that line only: the others are served, and
    the problems come back with the result.
    """
    found = _yaml_start(text)
    if found is not None:
        number, what = found
        raise ConfigError.at(
            Position(source, number, 1),
            f"this looks like a YAML configuration ({what}), but it is read as the legacy "
            "ser2net.conf format: ser2net reads a file as YAML only when its name ends in "
            ".yaml or it starts with %YAML; rename the file to end in .yaml, or put the two "
            "lines '%YAML 1.1' and '---' at its top",
        )
    reader = _Reader(source, resolves)
    lines = _logical_lines(text, source)
    for line in lines:
        for kind in _STRING_KINDS + ("TRACEFILE", "RS485CONF", "LED"):
            if line.text.startswith(kind + ":"):
                name, _, _ = _strtok(line.text, len(kind) + 1, ":")
                if name is not None:
                    reader.defined_later.setdefault(name, kind)
    for line in lines:
        before = len(reader.issues)
        try:
            reader.line(line)
        except ConfigError as exc:
            reader.issues.extend(exc.issues)
        except Exception as exc:
            # A reader bug must not become a traceback for the user.
            reader.error(line.pos(0), f"cannot read this line: {one_line(exc)}")
        if len(reader.issues) > before:
            reader.reject(line)
    try:
        return reader.finish()
    except ConfigError:
        raise
    except Exception as exc:  # the same, for the checks across lines
        raise ConfigError(
            reader.issues
            + [ConfigIssue(Position(source, 1, 1), f"cannot read this file: {one_line(exc)}")]
        ) from None


def parse_legacy(text: str, source: str) -> Config:
    """Read a legacy ``ser2net.conf`` into a Config, or raise ConfigError."""
    return read_legacy(text, source).strict()
