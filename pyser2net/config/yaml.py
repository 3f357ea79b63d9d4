"""The ser2net 4.x YAML configuration, both dialects.

Version 1 (ser2net 4.3, Debian's) is not plain YAML: it repeats top-level
keys (``connection:`` once per connection), their order matters (a
``default:`` only affects what follows it), anchors name things, and any
alias may refer to an anchor defined earlier, even one that is redefined.
A loader that builds a dict would keep only the last connection, and
PyYAML refuses repeated anchors, so this module composes the node tree
with a loader that leaves aliases unresolved and walks it in document
order, resolving aliases against ser2net's own alias table as ser2net does.

Version 2 (ser2net >= 4.5) is standard YAML: one ``connections:`` mapping
per document, names as mapping keys, ``=(name)`` instead of ``*(name)``.
ser2net tells the two apart by the first version-specific top-level key it
meets, and so do we; mixing both in one file is an error.

Every problem of a file is collected, with 1-based ``FILE:LINE:COLUMN``
positions (ser2net itself prints 0-based ones), and costs only the entry it
is in: a connection, a rotator, a define.  ser2net stops reading the file at
some of them (an invalid key or value in a connection, an unknown alias);
pyser2net reads on and serves every connection that is valid.  Two kinds of
problem cost more, as in ser2net: after a syntax error nothing more of the
file can be read, and after a default that cannot be set no connection is
served, since what it should have had is unknown.
"""

from __future__ import annotations

import glob
import itertools
import os
import shlex
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

import yaml

from pyser2net.config.checks import Reading, device_loss_problem
from pyser2net.config.errors import ConfigError, ConfigIssue
from pyser2net.config.gensio import (
    SSL_DEFAULT_NAMES,
    Resolves,
    apply_serial_word,
    pamauth_refused,
    parse_accepter,
    parse_bool,
    parse_c_uint,
    parse_connector,
    split_top,
)
from pyser2net.config.hosts import host_problem
from pyser2net.config.limits import (
    MAX_FILES,
    Budget,
    BudgetExhausted,
    LimitExceeded,
    decimal,
    one_line,
    read_file_text,
)
from pyser2net.config.mdnsopts import MDNS_DEFAULTS, is_mdns_option, mdns_option, mdns_settings
from pyser2net.config.model import (
    Admin,
    Config,
    Connection,
    ConnectionOptions,
    Connector,
    Led,
    NetworkDevice,
    Position,
    RemoteAddress,
    Rotator,
    TraceFile,
)
from pyser2net.config.result import LoadResult, Rejected
from pyser2net.config.vocabulary import (
    TCP_CLIENT_OPTIONS,
    TRACE_FLAGS,
    YAML_V1_KEYS,
    YAML_V2_KEYS,
    add_auth_option,
    device_loss_value_problem,
    tcp_option_problem,
)

#: ser2net follows includes this deep before suspecting a loop.
MAX_INCLUDE_DEPTH = 100
#: Longest include value (a list of names or globs): PATH_MAX.
MAX_INCLUDE_CHARS = 4096

_V1_KEYS = YAML_V1_KEYS
_V2_KEYS = YAML_V2_KEYS
_TWIN_KEYS = {**dict(zip(_V1_KEYS, _V2_KEYS)), **dict(zip(_V2_KEYS, _V1_KEYS))}
#: How each top-level key is written, for messages that suggest one.
_KEY_SHAPES = {
    "define": "one 'define: &name text' per define",
    "default": "one 'default:' per default, with name:, value: and class: under it",
    "delete_default": "one 'delete_default:' per default, with name: and class: under it",
    "connection": "one 'connection: &name' per connection",
    "rotator": "one 'rotator: &name' per rotator",
    "led": "one 'led: &name' per LED",
    "admin": "with accepter: under it",
    "defines": "a mapping of name: text",
    "defaults": "a mapping of name: with value: and class: under each",
    "delete_defaults": "a mapping of name: [classes]",
    "connections": "a mapping of name: connection",
    "rotators": "a mapping of name: rotator",
    "leds": "a mapping of name: LED",
    "admins": "a mapping of name: admin port",
}


class _AliasNode(yaml.ScalarNode):
    """An unresolved ``*name``: ser2net looks it up where it is used."""

    def __init__(self, name: str, start_mark: Any, end_mark: Any) -> None:
        super().__init__("tag:pyser2net:alias", "", start_mark, end_mark)
        self.alias_name = name


class _Composer(yaml.composer.Composer):
    """Composes without resolving aliases and allows redefining anchors."""

    # Provided by the parser of the loader this class is mixed into.
    check_event: Callable[..., bool]
    get_event: Callable[[], Any]
    peek_event: Callable[[], Any]

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.get_event()
            return _AliasNode(event.anchor, event.start_mark, event.end_mark)
        anchor = getattr(self.peek_event(), "anchor", None)
        if anchor is not None:
            self.anchors.pop(anchor, None)
        node: Any = super().compose_node(parent, index)
        if anchor is not None:
            node.anchor_name = anchor
        return node


class _Loader(_Composer, yaml.SafeLoader):
    """The pure-Python reader: without libyaml, and for text libyaml refuses
    (bytes that are not UTF-8, kept as surrogates)."""


_FastLoader: Any = None
if getattr(yaml, "__with_libyaml__", False):
    # Replaces the None above when PyYAML has libyaml.
    class _FastLoader(_Composer, yaml.CSafeLoader):  # type: ignore[no-redef]
        """libyaml scans and parses (ten times faster on big files); the
        nodes are still composed here, to keep aliases and anchors as ser2net
        reads them."""

        def __init__(self, stream: Any) -> None:
            yaml.CSafeLoader.__init__(self, stream)
            _Composer.__init__(self)


def _compose_all(text: str) -> List[Any]:
    if _FastLoader is not None:
        try:
            return list(yaml.compose_all(text, Loader=_FastLoader))
        except UnicodeEncodeError:
            pass
    return list(yaml.compose_all(text, Loader=_Loader))


# -- ser2net option table ---------------------------------------------------

_BOOL, _UINT, _STR, _STR_EMPTY_OK, _IGNORE_BOOL, _IGNORE_UINT, _IGNORE_INT, _IGNORE_STR = range(8)

#: Options that map onto ConnectionOptions fields: name -> (kind, field).
_OPTION_FIELDS: Dict[str, Tuple[int, str]] = {
    "kickolduser": (_BOOL, "kickolduser"),
    "telnet-brk-on-sync": (_BOOL, "telnet_brk_on_sync"),
    "chardelay": (_BOOL, "chardelay"),
    "no-con-to-acc": (_BOOL, "no_con_to_acc"),
    "no-acc-to-con": (_BOOL, "no_acc_to_con"),
    "timeout-on-os-queue": (_BOOL, "timeout_on_os_queue"),
    "chardelay-scale": (_UINT, "chardelay_scale"),
    "chardelay-min": (_UINT, "chardelay_min"),
    "chardelay-max": (_UINT, "chardelay_max"),
    "dev-to-net-bufsize": (_UINT, "dev_to_net_bufsize"),
    "net-to-dev-bufsize": (_UINT, "net_to_dev_bufsize"),
    "max-connections": (_UINT, "max_connections"),
    "accepter-retry-time": (_UINT, "accepter_retry_time"),
    "connector-retry-time": (_UINT, "connector_retry_time"),
    "connback-timeout": (_UINT, "connback_timeout"),
    "client-buffer-limit": (_UINT, "client_buffer_limit"),
    "banner": (_STR_EMPTY_OK, "banner"),
    "signature": (_STR_EMPTY_OK, "signature"),
    "openstr": (_STR_EMPTY_OK, "openstr"),
    "closestr": (_STR_EMPTY_OK, "closestr"),
    "closeon": (_STR, "closeon"),
    "sendon": (_STR, "sendon"),
}

#: Options ser2net accepts that change nothing pyser2net serves (none at
#: present: ``pamauth`` is refused by name, as the certauth layer that
#: reads it is).
_OPTION_IGNORED: Dict[str, int] = {}


#: ser2net's own clamping of option values (it never rejects these).
_CLAMP_MIN = {
    "dev_to_net_bufsize": 2,
    "net_to_dev_bufsize": 2,
    "max_connections": 1,
    "accepter_retry_time": 1,
    "connector_retry_time": 1,
}

#: Defaults ser2net registers, with the range it checks on ``default:``.
_SER2NET_DEFAULTS: Dict[str, Tuple[int, Optional[Tuple[int, int]]]] = {
    "telnet-brk-on-sync": (_BOOL, None),
    "kickolduser": (_BOOL, None),
    "chardelay": (_BOOL, None),
    "chardelay-scale": (_UINT, (1, 1000)),
    "chardelay-min": (_UINT, (1, 100000)),
    "chardelay-max": (_UINT, (1, 1000000)),
    "dev-to-net-bufsize": (_UINT, (1, 65536)),
    "net-to-dev-bufsize": (_UINT, (1, 65536)),
    "max-connections": (_UINT, (1, 65536)),
    "connector-retry-time": (_UINT, (1, 10000000)),
    "accepter-retry-time": (_UINT, (1, 10000000)),
    "remaddr": (_STR, None),
    "connback": (_STR, None),
    "authdir": (_STR, None),
    "authdir-admin": (_STR, None),
    "pamauth": (_STR, None),
    "pamauth-admin": (_STR, None),
    "allowed-users": (_STR, None),
    "signature": (_STR, None),
    "openstr": (_STR, None),
    "closestr": (_STR, None),
    "closeon": (_STR, None),
    "banner": (_STR, None),
    "sendon": (_STR, None),
    "mdns": (_BOOL, None),
    "mdns-sysattrs": (_BOOL, None),
    "mdns-type": (_STR, None),
    "mdns-domain": (_STR, None),
    "mdns-host": (_STR, None),
    "mdns-interface": (_IGNORE_INT, (-1, 100000)),
}

#: Defaults gensio itself registers (serial ports, sockets, ssl, telnet...).
_GENSIO_DEFAULTS: Dict[str, int] = {
    "speed": _STR,
    "xonxoff": _BOOL,
    "rtscts": _BOOL,
    "local": _BOOL,
    "hangup-when-done": _BOOL,
    "nobreak": _BOOL,
    "rs485": _STR,
    "wronly": _BOOL,
    "custspeed": _BOOL,
    "drain_time": _STR,
    "char_drain_wait": _STR,
    "readbuf": _UINT,
    "writebuf": _UINT,
    "nodelay": _BOOL,
    "laddr": _STR,
    "reuseaddr": _BOOL,
    "tcpd": _STR,
    "tcpdname": _STR,
    "rfc2217": _BOOL,
    "mode": _STR,
    "key": _STR,
    "cert": _STR,
    "ca": _STR,
    "clientauth": _BOOL,
    "allow-authfail": _BOOL,
    "retry-time": _STR,
    "discard-badwrites": _BOOL,
    "nocon": _BOOL,
    "mloop": _BOOL,
    "mttl": _UINT,
    "mcast": _STR,
}

_SERIAL_DEFAULT_NAMES = (
    "speed",
    "xonxoff",
    "rtscts",
    "local",
    "hangup-when-done",
    "nobreak",
    "rs485",
    "wronly",
)

#: Legacy upper-case serial words ser2net moves from the options onto the
#: device string.
_SERIAL_OPTION_WORDS = frozenset(
    {
        "XONXOFF",
        "-XONXOFF",
        "RTSCTS",
        "-RTSCTS",
        "LOCAL",
        "-LOCAL",
        "HANGUP_WHEN_DONE",
        "-HANGUP_WHEN_DONE",
        "NOBREAK",
        "-NOBREAK",
        "NONE",
        "EVEN",
        "ODD",
        "MARK",
        "SPACE",
    }
)


#: Spellings kept from ser2net 3.x that 4.x still takes in options.
_LEGACY_FLAG_OPTIONS: Dict[str, Callable[[Dict[str, Any]], None]] = {
    "-kickolduser": lambda s: s.__setitem__("kickolduser", False),
    "telnet_brk_on_sync": lambda s: s.__setitem__("telnet_brk_on_sync", True),
    "-telnet_brk_on_sync": lambda s: s.__setitem__("telnet_brk_on_sync", False),
    "-chardelay": lambda s: s.__setitem__("chardelay", False),
    "remctl": lambda s: None,
    "-remctl": lambda s: None,
}
_LEGACY_TRACE_OFF = {
    "-hexdump": (("read", "write", "both"), "hexdump"),
    "-timestamp": (("read", "write", "both"), "timestamp"),
    "-tr-hexdump": (("read",), "hexdump"),
    "-tr-timestamp": (("read",), "timestamp"),
    "-tw-hexdump": (("write",), "hexdump"),
    "-tw-timestamp": (("write",), "timestamp"),
    "-tb-hexdump": (("both",), "hexdump"),
    "-tb-timestamp": (("both",), "timestamp"),
}
_LEGACY_TRACE_FILES = {"tr": "read", "tw": "write", "tb": "both"}


class _Skip(Exception):
    """A problem already recorded; abandon the current item."""


class _Reader:
    """One walk over a configuration file and the files it includes."""

    def __init__(self, source: str, resolves: Optional[Resolves] = None) -> None:
        self.source = source
        #: Tells a host from a mistyped layer (see ``gensio.Resolves``).
        self.resolves = resolves
        self.issues: List[ConfigIssue] = []
        self.version: Optional[int] = None
        self.version_key: Optional[Tuple[str, Position]] = None
        #: ser2net's alias table: defines, and names of connections etc.
        self.aliases: Dict[str, str] = {}
        self.files: Dict[str, str] = {}
        #: (class or "", name) -> value (None: set without a value).
        self.defaults: Dict[Tuple[str, str], Optional[str]] = {}
        self.connections: List[Connection] = []
        self.connection_names: Set[str] = set()
        self.rotators: List[Tuple[Rotator, List[Tuple[str, Position]]]] = []
        self.leds: Dict[str, Led] = {}
        self.admin: Optional[Admin] = None
        self.include_depth = 0
        self.files_stack: List[str] = [source]
        #: What the file made us read and expand (see ``limits``).
        self.budget = Budget()
        self.budget_reported = False
        #: Connections and rotators that are not served, and why.
        self.rejected: List[Rejected] = []
        #: The first default that could not be set: ser2net stops reading
        #: there, so no connection after it is served (what it would have
        #: been given is unknown: a remaddr, say).
        self.broken_default: Optional[Position] = None
        #: False once some text could not be read at all.
        self.complete = True
        #: Why the entry being built is not served, when no error of its own says.
        self.reject_reason = ""

    # -- plumbing -----------------------------------------------------------

    @property
    def current_file(self) -> str:
        return self.files_stack[-1]

    def pos(self, node: Any) -> Position:
        mark = node.start_mark
        return Position(self.current_file, mark.line + 1, mark.column + 1)

    def error(self, where: Any, message: str) -> None:
        pos = where if isinstance(where, Position) or where is None else self.pos(where)
        self.issues.append(ConfigIssue(pos, message))

    def fail(self, where: Any, message: str) -> _Skip:
        self.error(where, message)
        return _Skip()

    def absorb(self, exc: ConfigError) -> None:
        self.issues.extend(exc.issues)

    @property
    def actchar(self) -> str:
        return "=" if self.version == 2 else "*"

    def substitute(self, value: str, pos: Position) -> str:
        """Expand ``*(define)`` and ``*{file}`` (``=`` in version 2).

        Mirrors ser2net's scanner: ``*(*`` and ``*{*`` stand for a literal
        ``*(`` / ``*{``; version 1 turns ``**`` into ``*`` and version 2
        ``==`` into ``=``; a lone trailing marker is dropped.
        """
        act = self.actchar
        if act not in value:
            return value
        out: List[str] = []
        i = 0
        n = len(value)
        size = 0  # of what ``out`` holds from substitutions
        while i < n:
            at = value.find(act, i)
            if at < 0:
                out.append(value[i:])
                break
            if at > i:
                out.append(value[i:at])
            i = at + 1
            # Version 1 treats a run of markers as literal markers.
            while self.version != 2 and i < n and value[i] == act:
                out.append(act)
                i += 1
            if i >= n:
                break
            nxt = value[i]
            if nxt == act:  # version 2: "==" is a literal "="
                out.append(act)
                i += 1
            elif nxt in "({":
                close = ")" if nxt == "(" else "}"
                if i + 1 < n and value[i + 1] == act:
                    out.append(act + nxt)
                    i += 2
                    continue
                end = value.find(close, i + 1)
                if end < 0:
                    what = "define name" if nxt == "(" else "file name"
                    raise ConfigError.at(
                        pos,
                        f"missing {close!r} after {act}{nxt} in {value!r} (expected "
                        f"{act}{nxt}{what}{close})",
                    )
                name = value[i + 1 : end]
                if nxt == "(":
                    if name not in self.aliases:
                        raise ConfigError.at(
                            pos,
                            f"unknown define {name!r} in {act}({name}) "
                            "(defines must come before their use)",
                        )
                    out.append(self.aliases[name])
                else:
                    out.append(self.read_file(name, pos))
                size += len(out[-1])
                self.charge_expansion(size + n, pos)
                i = end + 1
            else:
                out.append(act + nxt)
                i += 1
        result = "".join(out)
        self.charge_expansion(len(result), pos, total=True)
        return result

    def charge_expansion(self, chars: int, pos: Position, total: bool = False) -> None:
        """Bound what substitutions produce (a define may repeat another)."""
        try:
            if total:
                self.budget.charge_expansion(chars)
            else:
                self.budget.check_value(chars)
        except LimitExceeded as exc:
            raise ConfigError.at(pos, str(exc)) from None

    def read_file(self, name: str, pos: Position) -> str:
        path = self.resolve(name)
        if path not in self.files:
            try:
                self.files[path] = read_file_text(path, self.budget)
            except OSError as exc:
                raise ConfigError.at(pos, f"cannot read file {name!r}: {exc.strerror}") from None
            except LimitExceeded as exc:
                raise ConfigError.at(pos, f"cannot read file {name!r}: {exc}") from None
        return self.files[path]

    def resolve(self, name: str) -> str:
        """Relative paths are taken from the directory of the current file."""
        name = os.path.expanduser(name)
        if os.path.isabs(name) or self.current_file.startswith("<"):
            return name
        return os.path.join(os.path.dirname(os.path.abspath(self.current_file)), name)

    def text(self, node: Any, what: str) -> str:
        """The string value of a scalar or alias, substituted."""
        if isinstance(node, _AliasNode):
            if node.alias_name not in self.aliases:
                raise self.fail(
                    node,
                    f"unknown alias *{node.alias_name} in {what} "
                    "(aliases must refer to an earlier define, connection or led)",
                )
            value = self.aliases[node.alias_name]
        elif isinstance(node, yaml.ScalarNode):
            value = node.value
        else:
            kind = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
            raise self.fail(node, f"{what} must be a single value, not {kind}")
        try:
            return self.substitute(str(value), self.pos(node))
        except ConfigError as exc:
            self.absorb(exc)
            raise _Skip() from None

    def mapping(self, node: Any, what: str) -> List[Tuple[Any, Any]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping of key: value lines")
        return list(node.value)

    # -- top level ----------------------------------------------------------

    def detect_version(self, root: Any) -> None:
        """ser2net decides by the first version-specific top-level key."""
        if self.version is not None or not isinstance(root, yaml.MappingNode):
            return
        for key, _ in root.value:
            if isinstance(key, yaml.ScalarNode) and not isinstance(key, _AliasNode):
                word = key.value.lower()
                if word in _V1_KEYS:
                    self.version = 1
                    return
                if word in _V2_KEYS:
                    self.version = 2
                    return

    def document(self, root: Any, index: int) -> None:
        if root is None:
            return
        self.detect_version(root)
        if index > 0 and self.version != 2:
            self.error(
                root,
                "several YAML documents in one file need the version 2 format "
                "(connections:, defines:, ...)",
            )
            return
        if not isinstance(root, yaml.MappingNode):
            self.error(root, "expected a mapping of top-level keys (connection:, define:, ...)")
            return
        for key_node, value_node in root.value:
            try:
                self.top_level(key_node, value_node)
            except _Skip:
                pass
            except Exception as exc:  # a reader defect: a line about the entry, no traceback
                self.error(key_node, f"cannot read this entry: {one_line(exc)}")

    def top_level(self, key_node: Any, value: Any) -> None:
        key = self.text(key_node, "a top-level key").lower()
        pos = self.pos(key_node)
        if key in _V1_KEYS or key in _V2_KEYS:
            version = 1 if key in _V1_KEYS else 2
            if self.version_key is None:
                self.version_key = (key, pos)
            if version != self.version:
                raise self.fail(key_node, self.mixed_versions(key, version))
        handler = {
            "define": self.v1_define,
            "include": self.include,
            "default": self.v1_default,
            "delete_default": self.v1_delete_default,
            "connection": self.v1_named(self.connection, "connection"),
            "rotator": self.v1_named(self.rotator, "rotator"),
            "led": self.v1_named(self.led, "led"),
            "admin": lambda node: self.admin_entry(node),
            "defines": self.v2_defines,
            "defaults": self.v2_defaults,
            "delete_defaults": self.v2_delete_defaults,
            "connections": self.v2_named(self.connection, "connection"),
            "rotators": self.v2_named(self.rotator, "rotator"),
            "leds": self.v2_named(self.led, "led"),
            "admins": self.v2_named(lambda name, node, p: self.admin_entry(node, name), "admin"),
        }.get(key)
        if handler is None:
            expected = ", ".join(_V1_KEYS if self.version != 2 else _V2_KEYS)
            where = "connection: &name" if self.version != 2 else "connections: name:"
            hint = (
                f"; it belongs to a connection: indent it under {where}"
                if key in _CONNECTION_KEYS
                else "; it is a connection option: indent it under the options: of a "
                "connection, or set it for every connection with a default"
                if _is_option(key)
                else ""
            )
            raise self.fail(
                key_node, f"unknown top-level key {key!r} (expected {expected} or include{hint})"
            )
        handler(value)

    def mixed_versions(self, key: str, version: int) -> str:
        """A version 2 key in a version 1 file (or the reverse) is most often a
        misspelling of its twin; say which spelling the file needs."""
        assert self.version_key is not None
        first, first_pos = self.version_key
        twin = _TWIN_KEYS[key]
        message = (
            f"{key!r} is the version {version} spelling of {twin!r}, but this file "
            f"uses version {self.version} keys (first {first!r} at {first_pos}): "
            f"write '{twin}:' ({_KEY_SHAPES[twin]})"
        )
        if first in ("defaults", "delete_defaults", "default", "delete_default"):
            # The first key, not this one, may be the misspelt one.
            message += (
                f", or if {first!r} at {first_pos} is the mistake, write "
                f"'{_TWIN_KEYS[first]}:' there"
            )
        return message

    def v1_named(
        self, build: Callable[[str, Any, Position], None], what: str
    ) -> Callable[[Any], None]:
        def handle(node: Any) -> None:
            if not isinstance(node, yaml.MappingNode):
                raise self.fail(node, f"a {what} must be a mapping (write {what}: &name)")
            name = getattr(node, "anchor_name", None)
            if not name:
                self.note_rejected(what, None, self.pos(node))
                raise self.fail(
                    node, f"a {what} needs an anchor for its name (write {what}: &name)"
                )
            self.aliases[name] = name
            self.entry(build, what, name, node, self.pos(node))

        return handle

    def v2_named(
        self, build: Callable[[str, Any, Position], None], what: str
    ) -> Callable[[Any], None]:
        def handle(node: Any) -> None:
            for key_node, value in self.mapping(node, f"{what}s"):
                try:
                    name = self.text(key_node, f"a {what} name")
                    if not name:
                        raise self.fail(key_node, f"empty {what} name")
                    self.aliases[name] = name
                    self.entry(build, what, name, value, self.pos(key_node))
                except _Skip:
                    pass

        return handle

    def entry(
        self,
        build: Callable[[str, Any, Position], None],
        what: str,
        name: str,
        node: Any,
        pos: Position,
    ) -> None:
        """Build one named entry; one with any error is dropped (and noted).

        Builders record some problems and go on, to find the next one: an
        entry is only made when none was found in it.
        """
        counts = (len(self.issues), len(self.connections), len(self.rotators))
        leds = dict(self.leds)
        self.reject_reason = ""
        try:
            build(name, node, pos)
        finally:
            if len(self.issues) > counts[0]:
                del self.connections[counts[1] :]
                del self.rotators[counts[2] :]
                self.leds = leds
            if len(self.connections) + len(self.rotators) == counts[1] + counts[2]:
                self.note_rejected(what, name, pos, self.reject_reason)

    def note_rejected(
        self, what: str, name: Optional[str], pos: Optional[Position], reason: str = ""
    ) -> None:
        if what in ("connection", "rotator"):
            self.rejected.append(Rejected(what, name, pos, reason))

    def v1_define(self, node: Any) -> None:
        anchor = getattr(node, "anchor_name", None)
        value = self.text(node, "a define")
        if not anchor:
            raise self.fail(node, "a define needs an anchor (write define: &name text)")
        self.aliases[anchor] = value

    def v2_defines(self, node: Any) -> None:
        for key_node, value_node in self.mapping(node, "defines"):
            try:
                name = self.text(key_node, "a define name")
                self.aliases[name] = self.text(value_node, f"define {name}")
            except _Skip:
                pass

    def include(self, node: Any) -> None:
        pattern = self.text(node, "include")
        pos = self.pos(node)
        if self.include_depth >= MAX_INCLUDE_DEPTH:
            raise self.fail(node, "too many nested includes (is a file including itself?)")
        if len(pattern) > MAX_INCLUDE_CHARS:
            raise self.fail(node, f"include longer than {MAX_INCLUDE_CHARS} characters")
        try:
            words = shlex.split(os.path.expandvars(pattern))
        except ValueError as exc:
            raise self.fail(node, f"invalid include {pattern!r}: {exc}") from None
        if not words:
            raise self.fail(node, "empty include (expected a file name or glob)")
        for word in words:
            path = self.resolve(word)
            if glob.has_magic(path):
                found = list(itertools.islice(glob.iglob(path), MAX_FILES + 1))
                if len(found) > MAX_FILES:
                    raise self.fail(node, f"include {word!r} matches more than {MAX_FILES} files")
                matches = sorted(found)
            else:
                matches = [path]
            for match in matches:
                self.include_file(match, pos)

    def include_file(self, path: str, pos: Position) -> None:
        real = os.path.realpath(path)
        if any(os.path.realpath(f) == real for f in self.files_stack if not f.startswith("<")):
            self.error(
                pos,
                f"too many nested includes: {path!r} includes itself (directly "
                "or through other files)",
            )
            return
        try:
            text = read_file_text(path, self.budget)
        except OSError as exc:
            self.error(pos, f"cannot open included file {path!r}: {exc.strerror}")
            self.complete = False
            return
        except BudgetExhausted as exc:
            if not self.budget_reported:  # once: every later include would say it again
                self.budget_reported = True
                self.error(pos, f"cannot include {path!r}: {exc}")
            return
        except LimitExceeded as exc:
            self.error(pos, f"cannot include {path!r}: {exc}")
            return
        self.include_depth += 1
        self.files_stack.append(path)
        try:
            self.read_text(text)
        finally:
            self.files_stack.pop()
            self.include_depth -= 1

    def read_text(self, text: str) -> int:
        """Compose and walk every document of one file; return how many are not empty.

        After a syntax error, the top-level entries that end before it are
        still read (ser2net, reading as it goes, has set them up by then);
        nothing from the entry holding the error on is.  -1: not all read.
        """
        try:
            documents = _compose_all(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            pos = (
                Position(self.current_file, mark.line + 1, mark.column + 1)
                if mark is not None
                else Position(self.current_file, 1, 1)
            )
            problem = exc.problem or exc.context or "invalid YAML"
            context = f" ({exc.context})" if exc.context and exc.problem else ""
            documents, cut = _readable_prefix(text, pos.line)
            rest = (
                f"; nothing from line {cut + 1} on is read"
                if documents
                else "; nothing in this file is read"
            )
            for index, root in enumerate(documents):
                self.document(root, index)
            tab = _tab_near(text, pos.line, pos.column)
            if tab is not None:
                self.error(
                    Position(pos.file, pos.line, tab),
                    "tab character: YAML indents with spaces only, replace the tab "
                    f"with spaces{rest}",
                )
            else:
                self.error(pos, f"YAML syntax error: {problem}{context}{rest}")
            self.complete = False
            return -1
        except yaml.YAMLError as exc:
            line = column = 1
            position = getattr(exc, "position", None)
            if isinstance(position, int):
                line = text.count("\n", 0, position) + 1
                column = position - (text.rfind("\n", 0, position) + 1) + 1
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.error(Position(self.current_file, line, column), f"YAML error: {first}")
            self.complete = False
            return -1
        except RecursionError:
            self.error(Position(self.current_file, 1, 1), "YAML nested too deeply")
            self.complete = False
            return -1
        for index, root in enumerate(documents):
            self.document(root, index)
        return sum(root is not None for root in documents)

    # -- defaults -----------------------------------------------------------

    def set_default(self, name: str, value: Optional[str], cls: str, pos: Position) -> None:
        low = name.lower()
        if low in _SER2NET_DEFAULTS:
            kind, bounds = _SER2NET_DEFAULTS[low]
        elif low in _GENSIO_DEFAULTS:
            kind, bounds = _GENSIO_DEFAULTS[low], None
        else:
            raise ConfigError.at(
                pos,
                f"unknown default {name!r} (expected a ser2net option "
                "such as kickolduser or a gensio option such as speed)",
            )
        if low in ("pamauth", "pamauth-admin") and value:
            raise pamauth_refused(name, pos)
        if value is not None:
            if kind == _BOOL:
                parse_bool(value, pos, f"default {name}")
            elif kind in (_UINT, _IGNORE_INT):
                number = _c_int(value) if kind == _IGNORE_INT else parse_c_uint(value)
                if number is None:
                    raise ConfigError.at(pos, f"invalid number {value!r} for default {name}")
                if bounds and not bounds[0] <= number <= bounds[1]:
                    raise ConfigError.at(
                        pos,
                        f"default {name} value {number} out of range "
                        f"(expected {bounds[0]} to {bounds[1]})",
                    )
            elif low in _SERIAL_DEFAULT_NAMES:
                apply_serial_word({}, f"{low}={value}", pos)
        self.defaults[(cls, low)] = value

    def default_value(self, name: str, cls: str) -> Tuple[bool, Optional[str]]:
        for key in ((cls, name), ("", name)):
            if key in self.defaults:
                return True, self.defaults[key]
        return False, None

    def default_failed(self, pos: Position) -> None:
        if self.broken_default is None:
            self.broken_default = pos

    def v1_default(self, node: Any) -> None:
        try:
            fields = self.simple_fields(node, "default", ("name", "value", "class"))
            if "name" not in fields:
                raise self.fail(node, "a default needs a name (expected name:, value: and class:)")
            self.set_default(
                fields["name"][0],
                fields.get("value", (None,))[0] or None,
                (fields.get("class", ("",))[0] or "").lower(),
                self.pos(node),
            )
        except ConfigError as exc:
            self.absorb(exc)
            self.default_failed(self.pos(node))
        except _Skip:
            self.default_failed(self.pos(node))
            raise

    def v1_delete_default(self, node: Any) -> None:
        fields = self.simple_fields(node, "delete_default", ("name", "class"))
        if "name" not in fields or "class" not in fields:
            raise self.fail(
                node, "a delete_default needs name: and class: (base defaults cannot be deleted)"
            )
        self.defaults.pop((fields["class"][0].lower(), fields["name"][0].lower()), None)

    def v2_defaults(self, node: Any) -> None:
        items = self.mapping(node, "defaults")
        keys = {k.value.lower() for k, _ in items if isinstance(k, yaml.ScalarNode)}
        if "name" in keys and keys <= {"name", "value", "class"}:
            raise self.fail(
                node,
                "'defaults:' holds name:, value: and class: as one version 1 "
                "default does: write 'default:' (version 2 writes defaults: "
                "as a mapping of name: with value: and class: under each)",
            )
        for key_node, value_node in items:
            try:
                name = self.text(key_node, "a default name")
                fields = self.simple_fields(value_node, f"default {name}", ("value", "class"))
                self.set_default(
                    name,
                    fields.get("value", (None,))[0] or None,
                    (fields.get("class", ("",))[0] or "").lower(),
                    self.pos(key_node),
                )
            except ConfigError as exc:
                self.absorb(exc)
                self.default_failed(self.pos(key_node))
            except _Skip:
                self.default_failed(self.pos(key_node))

    def v2_delete_defaults(self, node: Any) -> None:
        for key_node, value_node in self.mapping(node, "delete_defaults"):
            try:
                name = self.text(key_node, "a default name").lower()
                if not isinstance(value_node, yaml.SequenceNode) or not value_node.value:
                    raise self.fail(value_node, f"delete_defaults {name} needs a list of classes")
                for cls_node in value_node.value:
                    self.defaults.pop((self.text(cls_node, "a class").lower(), name), None)
            except _Skip:
                pass

    def simple_fields(
        self, node: Any, what: str, allowed: Tuple[str, ...]
    ) -> Dict[str, Tuple[str, Position]]:
        fields: Dict[str, Tuple[str, Position]] = {}
        for key_node, value_node in self.mapping(node, what):
            key = self.text(key_node, f"a {what} key").lower()
            if key not in allowed:
                raise self.fail(
                    key_node, f"invalid key {key!r} in {what} (expected {', '.join(allowed)})"
                )
            if key in fields:
                raise self.fail(key_node, f"{what} {key} given twice")
            fields[key] = (self.text(value_node, f"{what} {key}"), self.pos(value_node))
        return fields

    # -- connections ----------------------------------------------------------

    def connection(self, name: str, node: Any, pos: Position) -> None:
        items = self.mapping(node, f"connection {name}")
        fields: Dict[str, Tuple[str, Position]] = {}
        timeout = 0
        enable = True
        options: List[Tuple[str, str, Position]] = []
        given: Set[str] = set()
        for key_node, value_node in items:
            try:
                key = self.text(key_node, "a connection key").lower()
                if key in ("accepter", "connector"):
                    given.add(key)
                    value = self.text(value_node, key)
                    if key in fields:
                        raise self.fail(key_node, f"connection {name} has {key} twice")
                    if not value.strip():
                        raise self.fail(value_node, f"empty {key} in connection {name}")
                    fields[key] = (value, self.pos(value_node))
                elif key == "timeout":
                    timeout = self.c_timeout(value_node)
                elif key == "enable":
                    word = self.text(value_node, "enable").lower()
                    if word not in ("on", "off"):
                        raise self.fail(value_node, f"enable must be on or off, not {word!r}")
                    enable = word == "on"
                elif key == "options":
                    options.extend(self.option_list(value_node, f"connection {name}"))
                elif _is_option(key):
                    raise self.fail(
                        key_node,
                        f"{key!r} is an option of connection {name}: indent it under options:",
                    )
                else:
                    hint = (
                        " (the name of a connection is its anchor: connection: &name)"
                        if key == "name"
                        else " (expected accepter, connector, timeout, enable or options)"
                    )
                    raise self.fail(key_node, f"invalid key {key!r} in connection {name}{hint}")
            except _Skip:
                pass
        if name in self.connection_names:
            self.error(pos, f"duplicate connection name {name!r}")
            return
        self.connection_names.add(name)
        for required in ("accepter", "connector"):
            if required not in given:
                misplaced = [p for k, _, p in options if k.lower() == required]
                hint = (
                    f" (the {required}: at {misplaced[0]} is indented under options:; "
                    "outdent it to the level of options:)"
                    if misplaced
                    else ""
                )
                self.error(pos, f"connection {name} has no {required}{hint}")
        if "accepter" not in fields or "connector" not in fields:
            return
        extra_words: List[str] = []
        try:
            conn_options = self.connection_options(options, extra_words)
        except ConfigError as exc:
            self.absorb(exc)
            conn_options = None
        accepter = connector = None
        try:
            accepter = parse_accepter(
                *fields["accepter"],
                self.ssl_defaults(),
                self.serial_defaults(),
                allow_conacc=True,
                resolves=self.resolves,
            )
        except ConfigError as exc:
            self.absorb(exc)
        try:
            text, cpos = fields["connector"]
            if extra_words:
                text = ",".join([text] + extra_words)
            connector = parse_connector(
                text, cpos, self.serial_defaults(), self.ssl_defaults(), resolves=self.resolves
            )
        except ConfigError as exc:
            self.absorb(exc)
        if accepter is None or connector is None or conn_options is None:
            return
        if self.broken_default is not None:
            self.reject_reason = (
                f"it follows the default at {self.broken_default}, which could not be set"
            )
            return
        problem = device_loss_problem(connector, conn_options)
        if problem is not None:
            where = [p for k, _, p in options if k.lower() == "device-loss"]
            self.error(where[-1] if where else pos, f"connection {name}: {problem}")
            return
        self.connections.append(
            Connection(
                name=name,
                accepter=accepter,
                connector=connector,
                timeout=timeout,
                enable=enable,
                options=conn_options,
                position=pos,
            )
        )

    def c_timeout(self, node: Any) -> int:
        """ser2net reads the timeout with strtoul: ``-1`` wraps around."""
        value = self.text(node, "timeout").strip()
        negative = value.startswith("-")
        number = parse_c_uint(value[1:] if negative else value)
        if number is None:
            raise self.fail(node, f"invalid timeout {value!r} (expected a number of seconds)")
        return (-number if negative else number) % (1 << 32)

    def option_list(self, node: Any, what: str) -> List[Tuple[str, str, Position]]:
        out: List[Tuple[str, str, Position]] = []
        for key_node, value_node in self.mapping(node, f"the options of {what}"):
            try:
                key = self.text(key_node, "an option name")
                if not key:
                    raise self.fail(key_node, "empty option name")
                out.append((key, self.text(value_node, f"option {key}"), self.pos(key_node)))
            except _Skip:
                pass
        return out

    def serial_defaults(self) -> Dict[str, object]:
        values: Dict[str, object] = {}
        if not self.defaults:
            return values  # the usual file: no default: entries
        for name in _SERIAL_DEFAULT_NAMES:
            found, value = self.default_value(name, "serialdev")
            if found:
                if value is None:
                    continue
                apply_serial_word(values, f"{name}={value}", None)
        return values

    def ssl_defaults(self) -> Dict[str, Optional[str]]:
        """The ``default:`` values an ssl layer written here starts from."""
        values: Dict[str, Optional[str]] = {}
        if not self.defaults:
            return values
        for name in SSL_DEFAULT_NAMES:
            found, value = self.default_value(name, "ssl")
            if found and value is not None:
                values[name] = value
        return values

    def connection_options(
        self, options: List[Tuple[str, str, Position]], extra_words: List[str]
    ) -> ConnectionOptions:
        issues: List[ConfigIssue] = []
        values: Dict[str, Any] = {}
        trace_files: Dict[str, Optional[str]] = {"read": None, "write": None, "both": None}
        flags: Dict[Tuple[str, str], bool] = {}
        remaddr: List[RemoteAddress] = []
        connback: List[Connector] = []
        # Defaults first, as ser2net fills a new port from them (a file
        # without default: entries, the usual one, has none to look up).
        for option, (kind, field_name) in _OPTION_FIELDS.items() if self.defaults else ():
            found, value = self.default_value(option, "ser2net")
            if found and option in _SER2NET_DEFAULTS:
                if value is None:
                    values[field_name] = (
                        None if kind in (_STR, _STR_EMPTY_OK) else (False if kind == _BOOL else 0)
                    )
                else:
                    values[field_name] = self.typed(option, kind, value, None)
        values.update(self.auth_defaults("authdir"))
        values["mdns"] = self.mdns_defaults(connection=True)
        for name, value, pos in options:
            try:
                self.one_option(
                    name, value, pos, values, trace_files, flags, remaddr, connback, extra_words
                )
            except ConfigError as exc:
                issues.extend(exc.issues)
        if issues:
            raise ConfigError(issues)
        for field_name, minimum in _CLAMP_MIN.items():
            if field_name in values and values[field_name] < minimum:
                values[field_name] = minimum
        for which, path in trace_files.items():
            if path is not None:
                values[f"trace_{which}"] = TraceFile(
                    path,
                    hexdump=flags.get((which, "hexdump"), False),
                    timestamp=flags.get((which, "timestamp"), False),
                )
        if remaddr:
            values["remaddr"] = tuple(remaddr)
        if connback:
            values["connback"] = tuple(connback)
        values["mdns"] = mdns_settings(values["mdns"])
        return ConnectionOptions(**values)

    def mdns_defaults(self, connection: bool) -> Dict[str, Any]:
        """The mDNS settings ``default:`` gives; ``mdns`` itself only to connections
        (the admin port must ask for it, as in ser2net)."""
        values: Dict[str, Any] = {}
        for option in MDNS_DEFAULTS + (("mdns",) if connection else ()):
            found, value = self.default_value(option, "ser2net")
            if found and value is not None:
                mdns_option(option, value, None, values)
        return values

    def auth_defaults(self, authdir_name: str) -> Dict[str, Any]:
        """``authdir`` (or ``authdir-admin``) and ``allowed-users`` from ``default:``."""
        values: Dict[str, Any] = {}
        found, value = self.default_value(authdir_name, "ser2net")
        if found and value:
            values["authdir"] = value
        if authdir_name == "authdir":
            found, value = self.default_value("allowed-users", "ser2net")
            if found and value is not None:
                values["allowed_users"] = tuple(value.split())
        return values

    def typed(self, option: str, kind: int, value: str, pos: Optional[Position]) -> Any:
        if kind == _BOOL or kind == _IGNORE_BOOL:
            return parse_bool(value if value != "" else None, pos, option)
        if kind in (_UINT, _IGNORE_UINT):
            number = parse_c_uint(value)
            if number is None:
                raise ConfigError.at(
                    pos, f"invalid value {value!r} for {option} (expected a non-negative integer)"
                )
            return number
        if kind == _IGNORE_INT:
            number = _c_int(value)
            if number is None:
                raise ConfigError.at(
                    pos, f"invalid value {value!r} for {option} (expected an integer)"
                )
            return number
        if kind == _STR and value == "":
            raise ConfigError.at(pos, f"option {option} needs a value")
        return value

    def one_option(
        self,
        name: str,
        value: str,
        pos: Position,
        values: Dict[str, Any],
        trace_files: Dict[str, Optional[str]],
        flags: Dict[Tuple[str, str], bool],
        remaddr: List[RemoteAddress],
        connback: List[Connector],
        extra_words: List[str],
    ) -> None:
        low = name.lower()
        word = f"{name}={value}" if value else name
        if name[:1].isdigit() or word in _SERIAL_OPTION_WORDS:
            # ser2net moves serial words found among the options onto the device.
            extra_words.append(word)
        elif low in _OPTION_FIELDS:
            kind, field_name = _OPTION_FIELDS[low]
            values[field_name] = self.typed(low, kind, value, pos)
        elif low in TRACE_FLAGS:
            which_all, flag = TRACE_FLAGS[low]
            on = parse_bool(value or None, pos, low)
            for which in which_all:
                flags[(which, flag)] = on
        elif low in ("trace-read", "trace-write", "trace-both"):
            trace_files[low[6:]] = self.typed(low, _STR, value, pos)
        elif is_mdns_option(low):
            mdns_option(low, value, pos, values.setdefault("mdns", {}))
        elif low in ("authdir", "allowed-users"):
            add_auth_option(values, low, value, pos)
        elif low == "pamauth":
            if value:
                raise pamauth_refused(name, pos)
        elif low in _OPTION_IGNORED:
            self.typed(low, _OPTION_IGNORED[low], value, pos)
        elif low in ("led-tx", "led-rx", "led-conn"):
            if value not in self.leds:
                raise ConfigError.at(
                    pos, f"{low}: no led named {value!r} defined before this connection"
                )
            values[low.replace("-", "_")] = value
        elif low == "remaddr":
            remaddr.extend(_remote_addresses(value, pos))
        elif low == "connback":
            connback.extend(
                _connback(part, pos, self.resolves) for part in value.split(";") if part
            )
        elif low in TCP_CLIENT_OPTIONS:
            number = decimal(value.strip())
            problem = tcp_option_problem(low, number)
            if problem is not None:
                raise ConfigError.at(pos, f"{problem}: {value!r}")
            values[TCP_CLIENT_OPTIONS[low][0]] = number
        elif low == "device-loss":
            problem = device_loss_value_problem(value)
            if problem is not None:
                raise ConfigError.at(pos, problem)
            values["device_loss"] = value
        elif low == "client-send-timeout":
            try:
                seconds = float(value)
            except ValueError:
                seconds = -1.0
            if not seconds > 0 or seconds != seconds or seconds == float("inf"):
                raise ConfigError.at(
                    pos,
                    f"invalid client-send-timeout {value!r} "
                    "(expected a positive number of seconds)",
                )
            values["client_send_timeout"] = seconds
        elif not value and name in _LEGACY_FLAG_OPTIONS:
            _LEGACY_FLAG_OPTIONS[name](values)
        elif not value and name in _LEGACY_TRACE_OFF:
            which_all, flag = _LEGACY_TRACE_OFF[name]
            for which in which_all:
                flags[(which, flag)] = False
        elif value and name in _LEGACY_TRACE_FILES:
            trace_files[_LEGACY_TRACE_FILES[name]] = value
        elif value and name == "rs485":
            extra_words.append(word)
        elif low in _CONNECTION_KEYS:
            raise ConfigError.at(
                pos,
                f"{name!r} belongs to the connection, not to its options: "
                "outdent it to the level of options:",
            )
        else:
            raise ConfigError.at(
                pos,
                f"unknown option {name!r} (see ser2net.yaml(5) for the options of a connection)",
            )

    # -- rotators, leds, admin ---------------------------------------------

    def rotator(self, name: str, node: Any, pos: Position) -> None:
        accepter_text: Optional[Tuple[str, Position]] = None
        members: List[Tuple[str, Position]] = []
        auth: Dict[str, Any] = self.auth_defaults("authdir")
        for key_node, value_node in self.mapping(node, f"rotator {name}"):
            try:
                key = self.text(key_node, "a rotator key").lower()
                if key == "accepter":
                    if accepter_text is not None:
                        raise self.fail(key_node, f"rotator {name} has accepter twice")
                    accepter_text = (self.text(value_node, "accepter"), self.pos(value_node))
                elif key == "connections":
                    if not isinstance(value_node, yaml.SequenceNode):
                        raise self.fail(
                            value_node, "rotator connections must be a list ([*con1, *con2])"
                        )
                    for item in value_node.value:
                        try:
                            members.append(
                                (self.text(item, "a rotator connection"), self.pos(item))
                            )
                        except _Skip:
                            pass
                elif key == "options":
                    for oname, ovalue, opos in self.option_list(value_node, f"rotator {name}"):
                        low = oname.lower()
                        if low in ("authdir", "allowed-users"):
                            try:
                                add_auth_option(auth, low, ovalue, opos)
                            except ConfigError as exc:
                                self.absorb(exc)
                            continue
                        if low == "pamauth":
                            if ovalue:
                                self.absorb(pamauth_refused(oname, opos))
                            continue
                        if low == "accepter-retry-time" and parse_c_uint(ovalue) is not None:
                            continue
                        self.error(
                            opos,
                            f"invalid option {oname!r} for rotator {name} "
                            "(expected authdir, pamauth, allowed-users or "
                            "accepter-retry-time)",
                        )
                else:
                    raise self.fail(
                        key_node,
                        f"invalid key {key!r} in rotator {name} "
                        "(expected accepter, connections or options)",
                    )
            except _Skip:
                pass
        if accepter_text is None:
            self.error(pos, f"rotator {name} has no accepter")
            return
        if not members:
            self.error(pos, f"rotator {name} has no connections")
            return
        try:
            accepter = parse_accepter(*accepter_text, self.ssl_defaults(), resolves=self.resolves)
        except ConfigError as exc:
            self.absorb(exc)
            return
        rotator = Rotator(
            name=name,
            accepter=accepter,
            connections=tuple(m for m, _ in members),
            position=pos,
            **auth,
        )
        self.rotators.append((rotator, members))

    def led(self, name: str, node: Any, pos: Position) -> None:
        driver: Optional[str] = None
        device: Optional[str] = None
        duration = 10
        state = 1
        mode = "transient"
        for key_node, value_node in self.mapping(node, f"led {name}"):
            try:
                key = self.text(key_node, "a led key").lower()
                if key == "driver":
                    driver = self.text(value_node, "driver")
                    if driver != "sysfs":
                        raise self.fail(
                            value_node, f"unknown led driver {driver!r} (expected sysfs)"
                        )
                elif key == "options":
                    for oname, ovalue, opos in self.option_list(value_node, f"led {name}"):
                        low = oname.lower()
                        if low == "device" and ovalue:
                            device = ovalue
                        elif low in ("duration", "state") and parse_c_uint(ovalue) is not None:
                            if low == "duration":
                                duration = parse_c_uint(ovalue) or 0
                            else:
                                state = parse_c_uint(ovalue) or 0
                        elif low == "mode" and ovalue.lower() in ("transient", "solid"):
                            mode = ovalue.lower()
                        elif low == "mode":
                            self.error(
                                opos,
                                f"invalid mode {ovalue!r} for led {name} "
                                "(expected transient or solid)",
                            )
                        else:
                            self.error(
                                opos,
                                f"invalid option {oname}={ovalue!r} for led "
                                f"{name} (expected device, duration, state or mode)",
                            )
                else:
                    raise self.fail(
                        key_node, f"invalid key {key!r} in led {name} (expected driver or options)"
                    )
            except _Skip:
                pass
        if driver is None:
            self.error(pos, f"led {name} has no driver (expected driver: sysfs)")
            return
        if device is None:
            self.error(pos, f"led {name} has no device option")
            return
        if name in self.leds:
            self.error(pos, f"duplicate led name {name!r}")
            return
        self.leds[name] = Led(
            name=name, device=device, driver=driver, duration_ms=duration, state=state, mode=mode
        )

    def admin_entry(self, node: Any, name: Optional[str] = None) -> None:
        pos = self.pos(node)
        before = len(self.issues)
        accepter_text: Optional[Tuple[str, Position]] = None
        auth: Dict[str, Any] = self.auth_defaults("authdir-admin")
        mdns = self.mdns_defaults(connection=False)
        if name is None and isinstance(node, yaml.MappingNode):
            name = getattr(node, "anchor_name", None)
        for key_node, value_node in self.mapping(node, "admin"):
            try:
                key = self.text(key_node, "an admin key").lower()
                if key == "accepter":
                    accepter_text = (self.text(value_node, "accepter"), self.pos(value_node))
                elif key == "options":
                    for oname, ovalue, opos in self.option_list(value_node, "admin"):
                        low = oname.lower()
                        if is_mdns_option(low):
                            try:
                                mdns_option(low, ovalue, opos, mdns)
                            except ConfigError as exc:
                                self.absorb(exc)
                        elif low == "authdir-admin" and ovalue:
                            auth["authdir"] = ovalue
                        elif low == "pamauth-admin" and ovalue:
                            self.absorb(pamauth_refused(oname, opos))
                        elif low not in ("authdir-admin", "pamauth-admin"):
                            self.error(
                                opos,
                                f"invalid option {oname!r} for admin "
                                "(expected authdir-admin, pamauth-admin or an mdns option)",
                            )
                else:
                    raise self.fail(
                        key_node, f"invalid key {key!r} in admin (expected accepter or options)"
                    )
            except _Skip:
                pass
        if accepter_text is None:
            self.error(pos, "admin has no accepter")
            return
        if len(self.issues) > before:
            return
        if self.admin is not None:
            self.error(pos, "admin port already configured")
            return
        try:
            self.admin = Admin(
                accepter=parse_accepter(
                    *accepter_text, self.ssl_defaults(), resolves=self.resolves
                ),
                position=pos,
                name=name,
                mdns=mdns_settings(mdns),
                **auth,
            )
        except ConfigError as exc:
            self.absorb(exc)

    def finish(self) -> LoadResult:
        return Reading(
            self.connections,
            self.rotators,
            self.admin,
            list(self.leds.values()),
            self.issues,
            self.rejected,
            self.connection_names,
            self.complete,
        ).finish(
            not_served="rotator {rotator} refers to connection {member}, "
            "which is not served because of errors",
            unknown="rotator {rotator} refers to unknown connection {member}",
        )


#: The keys of a connection itself, as opposed to its options.
_CONNECTION_KEYS = ("accepter", "connector", "timeout", "enable", "options")


def _is_option(key: str) -> bool:
    """Whether ``key`` (lower case) is a connection option of the options: mapping."""
    return (
        key in _OPTION_FIELDS
        or key in TRACE_FLAGS
        or key in _OPTION_IGNORED
        or is_mdns_option(key)
        or key
        in (
            "trace-read",
            "trace-write",
            "trace-both",
            "led-tx",
            "led-rx",
            "led-conn",
            "remaddr",
            "connback",
            "client-send-timeout",
            "device-loss",
        )
        or key in TCP_CLIENT_OPTIONS
    )


def _tab_near(text: str, line: int, column: int) -> Optional[int]:
    """The 1-based column of the tab that explains a syntax error, if any:
    one at the error's position or in the indentation of its line."""
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return None
    row = lines[line - 1]
    if row[column - 1 : column] == "\t":
        return column
    indent = row[: len(row) - len(row.lstrip(" \t"))]
    return indent.index("\t") + 1 if "\t" in indent else None


def _c_int(value: str) -> Optional[int]:
    text = value.strip()
    negative = text.startswith("-")
    number = parse_c_uint(text[1:] if negative else text)
    if number is None:
        return None
    return -number if negative else number


def _connback(text: str, pos: Optional[Position], resolves: Optional[Resolves]) -> Connector:
    """A connect-back target: a tcp or udp connector, nothing else."""
    connector = parse_connector(text, pos, resolves=resolves)
    if not isinstance(connector.device, NetworkDevice):
        raise ConfigError.at(pos, f"connback {text!r} must be a tcp or udp connector")
    return connector


def _remote_addresses(value: str, pos: Position) -> List[RemoteAddress]:
    """``[!][ipv4|ipv6,]host,port[;...]``; port 0 accepts any port."""
    out: List[RemoteAddress] = []
    for entry in value.split(";"):
        if not entry:
            continue
        back = entry.startswith("!")
        parts = split_top(entry[1:] if back else entry)
        if parts and parts[0].lower() in ("tcp", "udp", "sctp"):
            parts = parts[1:]
        if parts and parts[0].lower() in ("ipv4", "ipv6", "ipv6n4"):
            parts = parts[1:]
        port = decimal(parts[1]) if len(parts) == 2 else None
        if len(parts) != 2 or not parts[0] or port is None or port > 65535:
            raise ConfigError.at(
                pos,
                f"invalid remote address {entry!r} "
                "(expected [!]host,port with port 0 for any port)",
            )
        problem = host_problem(parts[0])
        if problem is not None:
            raise ConfigError.at(
                pos, f"invalid host {parts[0]!r} in remote address {entry!r}: {problem}"
            )
        out.append(RemoteAddress(host=parts[0], port=port, connect_back=back))
    return out


def _readable_prefix(text: str, error_line: int) -> Tuple[List[Any], int]:
    """The documents of the longest prefix of ``text`` that ends before an
    entry starting at the left margin at or before ``error_line`` (1-based)
    and reads without error, and how many lines it has.

    The position PyYAML gives may be past the entry at fault (an unclosed
    bracket is noticed on a later line), so earlier cuts are tried in turn.
    """
    lines = text.split("\n")
    cuts = [
        i
        for i in range(min(error_line, len(lines)) - 1, 0, -1)
        if lines[i][:1] not in ("", " ", "\t", "#")
    ]
    for cut in cuts[:_MAX_PREFIX_TRIES]:
        try:
            return _compose_all("\n".join(lines[:cut]) + "\n"), cut
        except (yaml.YAMLError, RecursionError):
            continue
    return [], 0


#: How many earlier cut points ``_readable_prefix`` tries before giving up.
_MAX_PREFIX_TRIES = 20


def read_yaml(
    text: str,
    source: str,
    defaults: Optional[Mapping[Tuple[str, str], str]] = None,
    resolves: Optional[Resolves] = None,
) -> LoadResult:
    """Read a ser2net YAML configuration (either version).

    A problem costs the entry it is in; everything else is in the result.
    ``defaults`` are in force before the file's own ``default:`` entries,
    keyed by (class or "", name): what the command line sets, as ser2net
    sets ``authdir``, ``authdir-admin`` and the ssl key and certificate
    from ``-a``, ``-A`` and ``-C``.  ``resolves`` tells a host from a
    mistyped layer (see ``gensio.Resolves``).
    """
    reader = _Reader(source, resolves)
    reader.defaults.update(defaults or {})
    try:
        if reader.read_text(text) == 0:
            # ser2net: "yaml file ended in invalid state".
            line = text.count("\n") + 1
            column = len(text) - (text.rfind("\n") + 1) + 1
            reader.error(
                Position(source, line, column),
                "no configuration in this file (expected connection:, define:, ...)",
            )
        return reader.finish()
    except ConfigError:
        raise
    except Exception as exc:  # a reader defect: one line, no traceback
        raise ConfigError(
            reader.issues
            + [
                ConfigIssue(
                    Position(reader.current_file, 1, 1), f"cannot read this file: {one_line(exc)}"
                )
            ]
        ) from None


def parse_yaml(text: str, source: str) -> Config:
    """Read a ser2net YAML configuration into a Config, or raise ConfigError."""
    return read_yaml(text, source).strict()


__all__ = ["parse_yaml", "read_yaml", "MAX_INCLUDE_DEPTH"]
