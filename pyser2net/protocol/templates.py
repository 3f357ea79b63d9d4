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

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Dict, Optional

from pyser2net.config.model import Connection, SerialDevice, SerialSettings

__all__ = [
    "StringContext",
    "render",
    "serial_params",
    "context_for",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # datetime.weekday() order

_SIMPLE = {
    "a": b"\x07", "b": b"\x08", "f": b"\x0c", "n": b"\n", "r": b"\r",
    "t": b"\t", "v": b"\x0b", "\\": b"\\", "?": b"?", "'": b"'", '"': b'"',
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
    if now is None:
        now = datetime.now()
    times = _time_fields(now)
    out = bytearray()
    s = template
    n = len(s)
    i = 0
    while i < n:
        ch = s[i]
        if ch != "\\":
            out += _text(ch)
            i += 1
            continue
        i += 1
        if i >= n:
            break  # a lone trailing backslash is dropped
        ch = s[i]
        if ch in _SIMPLE:
            out += _SIMPLE[ch]
        elif ch in "do":
            if ch == "o":
                value = ctx.orig_device if ctx.orig_device is not None else ctx.name
            else:
                value = ctx.device
            if filename:
                value = value[value.rfind("/") + 1:]
            out += _text(value)
        elif ch == "N":
            out += _text(ctx.name)
        elif ch == "p":
            out += _text(ctx.accepter)
        elif ch == "B":
            if not filename:
                out += _text(ctx.serial_params)
        elif ch == "I":
            out += _text(ctx.remote_address)
        elif "0" <= ch <= "7":
            val = ord(ch) - 48
            i += 1
            if i >= n:
                out.append(val)
                break
            if s[i] not in _DIGITS:
                continue  # incomplete escape: dropped, next char kept
            val = (val * 8 + ord(s[i]) - 48) & 0xFF
            i += 1
            if i >= n:
                out.append(val)
                break
            if s[i] not in _DIGITS:
                continue
            out.append((val * 8 + ord(s[i]) - 48) & 0xFF)
        elif ch == "x":
            i += 1
            if i >= n:
                break
            if s[i] not in _HEX:
                continue
            val = int(s[i], 16)
            i += 1
            if i >= n:
                out.append(val)
                break
            if s[i] not in _HEX:
                continue
            out.append(val * 16 + int(s[i], 16))
        elif ch in times:
            out += times[ch]().encode("ascii")
        else:
            out += _text(ch)
        i += 1
    return bytes(out)
