"""A fake sysfs and /dev with USB serial adapters, for tests without hardware.

The layout is the kernel's: ``sys/class/tty/<name>`` links into
``sys/devices/.../<usb device>/<interface>/...``; a usb-serial tty
(``ttyUSB*``) has its port device under the interface, a cdc-acm tty
(``ttyACM*``) hangs off the interface itself.  Device nodes under ``dev/``
are symlinks to pty slaves, so the daemon opens a real tty.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Dict, List, Optional

HUB = "devices/pci0000:00/0000:00:14.0/usb1"


class UsbTree:
    def __init__(self, root: Path) -> None:
        self.sys = root / "sys"
        self.dev = root / "dev"
        (self.sys / "class" / "tty").mkdir(parents=True, exist_ok=True)
        for kind in ("by-id", "by-path"):
            (self.dev / "serial" / kind).mkdir(parents=True, exist_ok=True)

    def env(self) -> Dict[str, str]:
        """The environment that points pyser2net at this tree."""
        return {"PYSER2NET_SYSFS_ROOT": str(self.sys), "PYSER2NET_DEV_ROOT": str(self.dev)}

    def add(
        self,
        name: str,
        target: str,
        *,
        vid: str = "0403",
        pid: str = "6001",
        serial: Optional[str] = "A50285BI",
        manufacturer: str = "FTDI",
        product: str = "FT232R USB UART",
        location: str = "1-1.2",
        interface: int = 0,
        interfaces: int = 1,
        acm: bool = False,
    ) -> Path:
        """Plug in one tty of an adapter; ``target`` is the pty slave its node leads to."""
        usbdev = self.sys / HUB / location
        usbdev.mkdir(parents=True, exist_ok=True)
        attrs = {
            "idVendor": vid,
            "idProduct": pid,
            "manufacturer": manufacturer,
            "product": product,
            "bNumInterfaces": f"{interfaces:2d}",
        }
        if serial is not None:
            attrs["serial"] = serial
        for key, value in attrs.items():
            (usbdev / key).write_text(value + "\n")
        iface = usbdev / f"{location}:1.{interface}"
        iface.mkdir(exist_ok=True)
        (iface / "bInterfaceNumber").write_text(f"{interface:02x}\n")
        device = iface if acm else iface / name
        ttydir = device / "tty" / name
        ttydir.mkdir(parents=True)
        os.symlink(os.path.relpath(device, ttydir), ttydir / "device")
        classlink = self.sys / "class" / "tty" / name
        os.symlink(os.path.relpath(ttydir, classlink.parent), classlink)
        os.symlink(target, self.dev / name)
        kind = "ACM" if acm else "USB"
        ident = f"usb-{manufacturer}_{product}_{serial}-if{interface:02d}".replace(" ", "_")
        port = "" if acm else "-port0"
        by_id = self.dev / "serial" / "by-id" / (ident + port)
        if not by_id.is_symlink():  # adapters alike without a serial share one name
            os.symlink(f"../../{name}", by_id)
        where = location.split("-", 1)[1]
        os.symlink(
            f"../../{name}",
            self.dev / "serial" / "by-path" / f"pci-0000:00:14.0-usb-0:{where}:1.{interface}{port}",
        )
        assert name.startswith("tty" + kind)
        return self.dev / name

    def add_machine(self, targets: List[str]) -> None:
        """FTDI, CDC-ACM, a two-port chip, two CP2102 alike but for their serial,
        two CH340 alike but for where they are plugged in, and a UART."""
        self.add("ttyUSB0", targets[0])
        self.add(
            "ttyACM0",
            targets[1],
            vid="2e8a",
            pid="000a",
            serial="E6614C311B4A7B2D",
            manufacturer="Raspberry Pi",
            product="Pico",
            location="1-1.3",
            acm=True,
        )
        for n in (0, 1):
            self.add(
                f"ttyUSB{1 + n}",
                targets[2 + n],
                pid="6010",
                serial="FT2232X",
                product="Dual RS232-HS",
                location="1-1.4",
                interface=n,
                interfaces=2,
            )
        for n, serial in ((3, "0001"), (4, "0002")):
            self.add(
                f"ttyUSB{n}",
                targets[n + 1],
                vid="10c4",
                pid="ea60",
                serial=serial,
                manufacturer="Silicon Labs",
                product="CP2102 USB to UART Bridge Controller",
                location=f"1-1.{n + 2}",
            )
        for n, location in ((5, "1-2"), (6, "1-3")):
            self.add(
                f"ttyUSB{n}",
                targets[n + 1],
                vid="1a86",
                pid="7523",
                serial=None,
                manufacturer="QinHeng",
                product="USB Serial",
                location=location,
            )
        # A UART on the main board: a tty, but no USB above it.
        uart = self.sys / "devices" / "platform" / "serial8250" / "tty" / "ttyS0"
        uart.mkdir(parents=True)
        os.symlink("../..", uart / "device")
        os.symlink(
            os.path.relpath(uart, self.sys / "class" / "tty"), self.sys / "class" / "tty" / "ttyS0"
        )

    def unplug(self, location: str) -> None:
        """Pull the adapter at ``location`` out: every tty of it disappears."""
        usbdev = (self.sys / HUB / location).resolve()
        for link in list((self.sys / "class" / "tty").iterdir()):
            if str(link.resolve()).startswith(str(usbdev) + os.sep):
                name = link.name
                link.unlink()
                (self.dev / name).unlink()
                for kind in ("by-id", "by-path"):
                    for alias in (self.dev / "serial" / kind).iterdir():
                        if os.readlink(alias) == f"../../{name}":
                            alias.unlink()
        shutil.rmtree(usbdev)
