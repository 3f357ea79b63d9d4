"""The ``usb(...)`` device selector: reading it, matching it, writing it.

A selector stands where a device path goes (``serialdev,usb(vid=0403,
serial=A50285BI),115200n81``, or the device field of a legacy line: it
holds no ``:`` and no space) and names an adapter by its USB identity, so
that the name the kernel hands out (``ttyUSB0`` today, ``ttyUSB1`` after a
re-plug) does not matter.  Everything here is pure: which adapters exist
is the run time's business (``runtime/usbdevices.py``), which hands the
attributes of each one to ``matches``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from typing import Dict, Mapping, Optional, Sequence, Tuple

from pyser2net.config.errors import ConfigError
from pyser2net.config.model import USB_KEYS, Position, UsbSelector

#: The text a selector starts with; only the lower-case name is one, as
#: gensio layer names are case-sensitive.
PREFIX = "usb("

_GLOB = re.compile(r"[*?\[]")
_HEX = re.compile(r"^(?:0[xX])?([0-9A-Fa-f]{1,4})$")
#: Values that need quotes when a selector is written out.
_NEEDS_QUOTES = re.compile(r"[\s,()=\"'\\:]")


def is_selector(text: str) -> bool:
    """Whether a device field is a ``usb(...)`` selector rather than a path."""
    return text.startswith(PREFIX)


def selector_from_options(
    options: Sequence[Tuple[str, Optional[str]]], text: str, pos: Optional[Position]
) -> UsbSelector:
    """Build a selector from the ``key=value`` items of ``usb(...)``.

    ``text`` is the selector as written, for messages.  Keys are
    case-insensitive, as every gensio option key; each may appear once.
    """
    values: Dict[str, str] = {}
    expected = ", ".join(USB_KEYS)
    for key, value in options:
        low = key.lower()
        if low not in USB_KEYS:
            raise ConfigError.at(
                pos, f"unknown key {key!r} in {text} (expected one of: {expected})"
            )
        if value is None or not value.strip():
            raise ConfigError.at(pos, f"{low} needs a value in {text} (write {low}=...)")
        if low in values:
            raise ConfigError.at(pos, f"{low} is given twice in {text}")
        values[low] = _normalised(low, value.strip(), text, pos)
    if not values:
        raise ConfigError.at(
            pos,
            f"{text} selects nothing: give at least one of {expected} "
            "(pyser2net --list-devices prints a selector for each adapter)",
        )
    return UsbSelector(**values)


def _normalised(key: str, value: str, text: str, pos: Optional[Position]) -> str:
    """vid/pid as four lower-case hex digits, interface as a decimal number;
    globs are kept as written (lower case: matching ignores case anyway)."""
    if _GLOB.search(value):
        return value.lower()
    if key in ("vid", "pid"):
        match = _HEX.match(value)
        if match is None:
            raise ConfigError.at(
                pos,
                f"invalid {key} {value!r} in {text} "
                "(expected up to four hex digits, 0x optional, e.g. 0403)",
            )
        return match.group(1).lower().rjust(4, "0")
    if key == "interface":
        if not value.isdigit() or len(value) > 3:
            raise ConfigError.at(
                pos, f"invalid interface {value!r} in {text} (expected a number such as 0 or 1)"
            )
        return str(int(value))
    return value


def matches(selector: UsbSelector, attributes: Mapping[str, str]) -> bool:
    """Whether an adapter with these attributes (by USB_KEYS name; a missing
    one is empty) is selected: every given key matches, ignoring case."""
    for key in USB_KEYS:
        pattern = getattr(selector, key)
        if pattern is None:
            continue
        if not fnmatch.fnmatchcase(attributes.get(key, "").lower(), pattern.lower()):
            return False
    return True


def selector_text(selector: UsbSelector) -> str:
    """The selector written out, keys in their usual order: ``usb(vid=0403,...)``."""
    items = []
    for key in USB_KEYS:
        value = getattr(selector, key)
        if value is None:
            continue
        if _NEEDS_QUOTES.search(value):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        items.append(f"{key}={value}")
    return PREFIX + ",".join(items) + ")"


def exact(value: str) -> str:
    """A pattern that matches ``value`` only, even if it holds glob characters."""
    return re.sub(r"([*?\[])", r"[\1]", value)


def selector_of(values: Mapping[str, str]) -> UsbSelector:
    """A selector matching exactly these attribute values."""
    return dataclasses.replace(
        UsbSelector(), **{key: exact(value) for key, value in values.items()}
    )
