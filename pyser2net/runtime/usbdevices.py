"""USB serial adapters as sysfs describes them, and ``usb(...)`` resolved to one.

Every tty is a directory under ``<sysfs>/class/tty/``; its ``device``
link leads to what the driver bound to.  For usb-serial drivers (FTDI,
CP210x, PL2303: ``ttyUSB*``) that is the port device, whose parent is the
USB interface; for cdc-acm (``ttyACM*``) it is the interface itself.  The
interface's parent is the USB device, which holds ``idVendor``,
``idProduct``, ``serial``, ``manufacturer`` and ``product``; its directory
name is the port path (``1-1.2``).  Nothing here needs udev: the
``/dev/serial/by-id`` and ``by-path`` links are shown when they exist.

The sysfs root (``PYSER2NET_SYSFS_ROOT``, as for LEDs) and the device
root (``PYSER2NET_DEV_ROOT``) can be moved, so that tests build a whole
tree of adapters in a temporary directory.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from pyser2net.config.model import USB_KEYS, UsbSelector
from pyser2net.config.usb import matches, selector_of, selector_text
from pyser2net.runtime.leds import sysfs_root

DEV_ROOT_ENV = "PYSER2NET_DEV_ROOT"
DEFAULT_DEV_ROOT = "/dev"

#: The order keys are tried in for a device's shortest selector, and
#: named in to tell candidates apart: what stays with the adapter first,
#: where it is plugged in last.
_PREFERENCE = ("serial", "vid", "pid", "interface", "product", "manufacturer", "location")


def dev_root(environ: Optional[Mapping[str, str]] = None) -> str:
    """Where device nodes are: PYSER2NET_DEV_ROOT if set, else /dev."""
    env = os.environ if environ is None else environ
    return env.get(DEV_ROOT_ENV) or DEFAULT_DEV_ROOT


@dataclass(frozen=True)
class UsbSerial:
    """One tty of a USB adapter (a multi-port chip has one per interface)."""

    name: str  # ttyUSB0
    node: str  # /dev/ttyUSB0
    vid: str
    pid: str
    serial: str
    manufacturer: str
    product: str
    location: str
    interface: str
    by_id: Tuple[str, ...] = ()
    by_path: Tuple[str, ...] = ()

    def attributes(self) -> Dict[str, str]:
        """The values a selector matches against, by key."""
        return {key: getattr(self, key) for key in USB_KEYS}


class UsbResolveError(Exception):
    """A selector matched no adapter, or more than one.

    ``reason`` is for the client (after ``Device open failure: ``),
    ``detail`` for the log.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _read(directory: str, name: str) -> str:
    try:
        with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def _usb_interface(device: str) -> Optional[str]:
    """The USB interface directory behind a tty's ``device``, or None (not USB)."""
    for candidate in (device, os.path.dirname(device)):
        if os.path.isfile(os.path.join(candidate, "bInterfaceNumber")):
            return candidate
    return None


def _links(directory: str) -> Dict[str, List[str]]:
    """The symlinks of a ``/dev/serial/by-*`` directory, by the node name they lead to."""
    found: Dict[str, List[str]] = {}
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return found
    for name in names:
        link = os.path.join(directory, name)
        try:
            target = os.readlink(link)
        except OSError:
            continue
        node = os.path.basename(os.path.normpath(os.path.join(directory, target)))
        found.setdefault(node, []).append(link)
    return found


def enumerate_usb(sysfs: Optional[str] = None, dev: Optional[str] = None) -> List[UsbSerial]:
    """Every USB serial tty on this machine, by name (ttyACM0 before ttyUSB0)."""
    sysfs = sysfs_root() if sysfs is None else sysfs
    dev = dev_root() if dev is None else dev
    classdir = os.path.join(sysfs, "class", "tty")
    try:
        names = sorted(os.listdir(classdir))
    except OSError:
        return []
    by_id = _links(os.path.join(dev, "serial", "by-id"))
    by_path = _links(os.path.join(dev, "serial", "by-path"))
    found = []
    for name in names:
        link = os.path.join(classdir, name, "device")
        if not os.path.exists(link):
            continue
        interface = _usb_interface(os.path.realpath(link))
        if interface is None:
            continue
        usbdev = os.path.dirname(interface)
        vid = _read(usbdev, "idVendor").lower()
        if not vid:
            continue
        number = _read(interface, "bInterfaceNumber")
        try:
            number = str(int(number, 16))
        except ValueError:
            pass
        found.append(
            UsbSerial(
                name=name,
                node=os.path.join(dev, name),
                vid=vid,
                pid=_read(usbdev, "idProduct").lower(),
                serial=_read(usbdev, "serial"),
                manufacturer=_read(usbdev, "manufacturer"),
                product=_read(usbdev, "product"),
                location=os.path.basename(usbdev),
                interface=number,
                by_id=tuple(by_id.get(name, ())),
                by_path=tuple(by_path.get(name, ())),
            )
        )
    return found


def telling_apart(devices: Sequence[UsbSerial]) -> List[str]:
    """The keys whose values differ between these adapters."""
    return [key for key in _PREFERENCE if len({d.attributes()[key].lower() for d in devices}) > 1]


def _describe(device: UsbSerial, keys: Sequence[str]) -> str:
    values = ", ".join(f"{key}={device.attributes()[key] or '(none)'}" for key in keys)
    return f"{device.node} ({values})" if values else device.node


def resolve(
    selector: UsbSelector, sysfs: Optional[str] = None, dev: Optional[str] = None
) -> UsbSerial:
    """The one adapter a selector picks; UsbResolveError for none or several."""
    text = selector_text(selector)
    candidates = [d for d in enumerate_usb(sysfs, dev) if matches(selector, d.attributes())]
    if not candidates:
        raise UsbResolveError(
            f"no USB serial device matches {text}",
            f"no USB serial device matches {text} (unplugged? pyser2net --list-devices "
            "shows what is there)",
        )
    if len(candidates) > 1:
        keys = telling_apart(candidates)
        raise UsbResolveError(
            f"more than one USB serial device matches {text}",
            f"{text} matches {len(candidates)} devices, so none is opened: "
            + "; ".join(_describe(d, keys) for d in candidates)
            + (
                f"; add {' or '.join(k + '=' for k in keys)} to the selector to pick one"
                if keys
                else "; nothing tells them apart"
            ),
        )
    return candidates[0]


def shortest_selector(device: UsbSerial, devices: Sequence[UsbSerial]) -> Tuple[UsbSelector, bool]:
    """The selector with the fewest keys that picks ``device`` alone among
    ``devices``, and whether it is unique (two adapters alike in every
    attribute cannot be told apart).

    It always names the adapter itself: its serial number, or vid and pid
    when it has none, so that ``interface=1`` or ``location=1-3`` alone
    (unique today) never picks whatever is plugged in next.
    """
    values = device.attributes()
    keys = [k for k in _PREFERENCE if values[k]]
    anchor = {"serial"} if values["serial"] else {"vid", "pid"}
    others = [d for d in devices if d is not device and d.node != device.node]
    for size in range(1, len(keys) + 1):
        for combo in itertools.combinations(keys, size):
            if not anchor <= set(combo):
                continue
            selector = selector_of({k: values[k] for k in combo})
            if not any(matches(selector, d.attributes()) for d in others):
                return selector, True
    return selector_of({k: values[k] for k in keys}), False


def described(devices: Sequence[UsbSerial]) -> List[Dict[str, Union[str, List[str]]]]:
    """What ``--list-devices`` prints of each adapter: its node, its udev
    links, its attributes and the selector that picks it alone."""
    entries: List[Dict[str, Union[str, List[str]]]] = []
    for device in devices:
        selector, unique = shortest_selector(device, devices)
        entry: Dict[str, Union[str, List[str]]] = {"node": device.node}
        entry["by-id"] = list(device.by_id)
        entry["by-path"] = list(device.by_path)
        entry.update(device.attributes())
        text = selector_text(selector)
        entry["selector"] = text if unique else f"{text} (not unique: alike in every attribute)"
        entries.append(entry)
    return entries


#: What ``mdns-sysattrs`` adds, as ser2net's manual lists it: of the USB
#: interface, then of the USB device.
SYSATTRS_INTERFACE = ("bInterfaceNumber", "interface")
SYSATTRS_DEVICE = ("idProduct", "idVendor", "serial", "manufacturer", "product")


def sysattrs(node: str, sysfs: Optional[str] = None) -> List[str]:
    """The ``name=value`` TXT strings ``mdns-sysattrs`` announces for a tty.

    ``devicetype=serialusb`` and the raw sysfs values present, for a USB
    adapter; ``devicetype=serial`` for another tty; nothing for a node
    sysfs does not know (a pty).  ``node`` is followed through its symlinks
    (``/dev/serial/by-id/...``) to the kernel's name.
    """
    sysfs = sysfs_root() if sysfs is None else sysfs
    name = _tty_name(node, sysfs)
    if name is None:
        return []
    link = os.path.join(sysfs, "class", "tty", name, "device")
    if not os.path.exists(link):
        return ["devicetype=serial"]
    interface = _usb_interface(os.path.realpath(link))
    if interface is None:
        return ["devicetype=serial"]
    out = ["devicetype=serialusb"]
    for directory, names in (
        (interface, SYSATTRS_INTERFACE),
        (os.path.dirname(interface), SYSATTRS_DEVICE),
    ):
        for attr in names:
            if os.path.isfile(os.path.join(directory, attr)):
                out.append(f"{attr}={_read(directory, attr)}")
    return out


def _tty_name(node: str, sysfs: str) -> Optional[str]:
    """The first name along ``node``'s chain of symlinks that sysfs has a tty for."""
    path = node
    for _hop in range(40):
        name = os.path.basename(path)
        if name and os.path.lexists(os.path.join(sysfs, "class", "tty", name)):
            return name
        try:
            path = os.path.join(os.path.dirname(path), os.readlink(path))
        except OSError:
            return None
    return None
