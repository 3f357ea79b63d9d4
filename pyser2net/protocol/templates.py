"""Escapes and substitutions of banners, open/close strings and file names.

ser2net 4.3 expands these templates byte by byte when a client connects
(banners, open/close strings, trace file names) or when the configuration
is read (closeon/sendon).  The rules below reproduce what the real program
sends, including its quirks, because clients and scripts that match on a
banner see the exact bytes:

* an incomplete octal (``\\1x``) or hex (``\\x4z``) escape is dropped and
  the following character is kept; an octal digit may be ``8`` or ``9``
  after the first one, and the value wraps at 256;
* an unknown escape yields the character itself (``\\z`` -> ``z``); this
  includes ``\\s``, which the manual describes but 4.3 prints as ``s``;
* ``\\o`` is the DEVICE name a legacy line used, else the connection name;
* trace files are opened before the device, so ``\\B`` is empty in a file
  name, and ``\\d``/``\\o`` drop everything up to the last ``/`` there;
* ``\\T`` (``HH:MM:SS``) works although the manual does not list it.

Nothing here does I/O; the engine supplies the context and the time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

from pyser2net.config.model import Connection, SerialDevice, SerialSettings

__all__ = [
    "StringContext",
    "Translation",
    "render",
    "translate",
    "yaml_context",
    "serial_params",
    "context_for",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # datetime.weekday() order

_SIMPLE = {
    "a": b"\x07",
    "b": b"\x08",
    "f": b"\x0c",
    "n": b"\n",
    "r": b"\r",
    "t": b"\t",
    "v": b"\x0b",
    "\\": b"\\",
    "?": b"?",
    "'": b"'",
    '"': b'"',
}
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"


@dataclass(frozen=True)
class StringContext:
    """What the substitutions of one connection print."""

    #: ``\\d``: the device as ser2net prints it, e.g. ``/dev/ttyS0,9600,LOCAL``
    #: for a legacy line or ``serialdev,/dev/ttyS0,9600n81`` for YAML.
    device: str = ""
    #: ``\\o``: the DEVICE name a legacy line used; None prints the name.
    orig_device: Optional[str] = None
    #: ``\\N``: the connection name.
    name: str = ""
    #: ``\\p``: the accepter as written.
    accepter: str = ""
    #: ``\\B``: ``,9600N81[,XONXOFF][,RTSCTS][,CLOCAL][,HANGUP_WHEN_DONE]``
    #: (see :func:`serial_params`); empty for devices without termios.
    serial_params: str = ""
    #: ``\\I``: the client address as gensio prints it (``ipv4,1.2.3.4,5678``).
    remote_address: str = ""


def serial_params(settings: SerialSettings, wronly: bool = False) -> str:
    """The ``\\B`` text, built as gensio's serialdev reports its settings.

    It starts with a comma because ser2net prints the device's remote
    address from its first comma on; a write-only device reports no
    settings at all, so ``\\B`` prints nothing for it.
    """
    if wronly:
        return ""
    text = f",{settings.short}"
    if settings.xonxoff:
        text += ",XONXOFF"
    if settings.rtscts:
        text += ",RTSCTS"
    if settings.local:
        text += ",CLOCAL"
    if settings.hangup_when_done:
        text += ",HANGUP_WHEN_DONE"
    return text


def context_for(conn: Connection, remote: str = "") -> StringContext:
    """The context of a configured connection, for the engine and tests."""
    device = conn.connector.device
    params = ""
    if isinstance(device, SerialDevice):
        params = serial_params(device.serial, device.wronly)
    return StringContext(
        device=conn.connector.text,
        orig_device=getattr(conn.connector, "alias", None),
        name=conn.name,
        accepter=conn.accepter.text,
        serial_params=params,
        remote_address=remote,
    )


def yaml_context(conn: Connection, anchor: str) -> StringContext:
    """The context of ``conn`` once ``--convert`` wrote it as YAML named ``anchor``.

    Its accepter and connector are then written as gensio strings and it has
    no DEVICE alias, so ``\\p``, ``\\d``, ``\\o`` and ``\\N`` may print
    other text than before (see :func:`translate`).
    """
    from pyser2net.config.convert import accepter_string, connector_string  # --convert only

    return replace(
        context_for(conn),
        device=connector_string(conn.connector),
        orig_device=None,
        name=anchor,
        accepter=accepter_string(conn.accepter),
    )


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _time_fields(now: datetime) -> Dict[str, Callable[[], str]]:
    hour12 = now.hour % 12 or 12
    return {
        "Y": lambda: str(now.year),
        "y": lambda: str(now.timetuple().tm_yday - 1),
        "M": lambda: _MONTHS[now.month - 1],
        "m": lambda: str(now.month),
        "A": lambda: _DAYS[now.weekday()],
        "D": lambda: str(now.day),
        "H": lambda: f"{now.hour:02d}",
        "h": lambda: f"{hour12:02d}",
        "i": lambda: f"{now.minute:02d}",
        "S": lambda: f"{now.second:02d}",
        "q": lambda: "am" if now.hour < 12 else "pm",
        "P": lambda: "AM" if now.hour < 12 else "PM",
        "T": lambda: f"{now.hour:02d}:{now.minute:02d}:{now.second:02d}",
        "e": lambda: str(int(now.timestamp())),
        "U": lambda: f"{now.microsecond:06d}",
    }


#: Letters of the substitutions (``\\d``, ``\\p``...), times included.
_SUBSTITUTIONS = frozenset("doNpBIYyMmADHhiSqPTeU")

#: What :func:`_pieces` yields: a span of the template and what it prints,
#: bytes or the letter of a substitution.
_Piece = Tuple[int, int, Union[bytes, str]]


def _pieces(s: str) -> Iterator[_Piece]:
    """The template cut into what ser2net 4.3 prints, piece by piece.

    Spans of dropped text (a lone trailing backslash, the start of an
    incomplete octal or hex escape) are not yielded.
    """
    n = len(s)
    i = 0
    while i < n:
        ch = s[i]
        if ch != "\\":
            yield i, i + 1, _text(ch)
            i += 1
            continue
        start = i
        i += 1
        if i >= n:
            return  # a lone trailing backslash is dropped
        ch = s[i]
        if ch in _SIMPLE:
            yield start, i + 1, _SIMPLE[ch]
        elif ch in _SUBSTITUTIONS:
            yield start, i + 1, ch
        elif "0" <= ch <= "7":
            val = ord(ch) - 48
            i += 1
            if i >= n:
                yield start, i, bytes((val,))
                return
            if s[i] not in _DIGITS:
                continue  # incomplete escape: dropped, next char kept
            val = (val * 8 + ord(s[i]) - 48) & 0xFF
            i += 1
            if i >= n:
                yield start, i, bytes((val,))
                return
            if s[i] not in _DIGITS:
                continue
            yield start, i + 1, bytes(((val * 8 + ord(s[i]) - 48) & 0xFF,))
        elif ch == "x":
            i += 1
            if i >= n:
                return
            if s[i] not in _HEX:
                continue
            val = int(s[i], 16)
            i += 1
            if i >= n:
                yield start, i, bytes((val,))
                return
            if s[i] not in _HEX:
                continue
            yield start, i + 1, bytes((val * 16 + int(s[i], 16),))
        else:
            yield start, i + 1, _text(ch)
        i += 1


def _substitute(
    letter: str, ctx: StringContext, filename: bool, times: Dict[str, Callable[[], str]]
) -> bytes:
    if letter in "do":
        if letter == "o":
            value = ctx.orig_device if ctx.orig_device is not None else ctx.name
        else:
            value = ctx.device
        if filename:
            value = value[value.rfind("/") + 1 :]
        return _text(value)
    if letter == "N":
        return _text(ctx.name)
    if letter == "p":
        return _text(ctx.accepter)
    if letter == "B":
        return b"" if filename else _text(ctx.serial_params)
    if letter == "I":
        return _text(ctx.remote_address)
    return times[letter]().encode("ascii")


def render(
    template: str,
    ctx: StringContext,
    *,
    filename: bool = False,
    now: Optional[datetime] = None,
) -> bytes:
    """Expand ``template`` the way ser2net 4.3 does and return the bytes.

    ``filename`` selects the rules of trace file names; ``now`` is the
    local time to print (default: the current local time).
    """
    times = _time_fields(now if now is not None else datetime.now())
    out = bytearray()
    for _, _, piece in _pieces(template):
        if isinstance(piece, bytes):
            out += piece
        else:
            out += _substitute(piece, ctx, filename, times)
    return bytes(out)


#: The substitutions that name the connection, which a conversion changes.
_NAMING = "pNdo"


@dataclass(frozen=True)
class Translation:
    """A template rewritten for another context (see :func:`translate`)."""

    template: str
    #: ``(letter, before, after)`` of each substitution no other one can
    #: stand in for: it stays, and prints ``after`` instead of ``before``.
    changed: Tuple[Tuple[str, str, str], ...] = ()


def translate(
    template: str, old: StringContext, new: StringContext, filename: bool = False
) -> Translation:
    """``template`` rewritten to print under ``new`` what it printed under ``old``.

    A connection written anew (a legacy line as ser2net 4 YAML, say) has a
    different accepter string, device string or name, so ``\\p``, ``\\d``,
    ``\\o`` and ``\\N`` may print other text.  Each such substitution is
    replaced by one that prints the old text in the new context (the old
    ``\\p`` of ``3001`` is the new ``\\N`` of a connection named ``3001``);
    where none does, it is kept and reported.
    """
    times = _time_fields(datetime.now())

    def value(ctx: StringContext, letter: str) -> str:
        return _substitute(letter, ctx, filename, times).decode("utf-8", "surrogateescape")

    out: List[str] = []
    changed: List[Tuple[str, str, str]] = []
    last = 0
    for start, end, piece in _pieces(template):
        if not isinstance(piece, str) or piece not in _NAMING:
            continue
        before, after = value(old, piece), value(new, piece)
        if before == after:
            continue
        same = next((letter for letter in _NAMING if value(new, letter) == before), None)
        if same is None:
            if (piece, before, after) not in changed:
                changed.append((piece, before, after))
            continue
        out.append(template[last:start] + "\\" + same)
        last = end
    out.append(template[last:])
    return Translation("".join(out), tuple(changed))
