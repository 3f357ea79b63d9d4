"""sysfs LEDs that show serial traffic and connections, driven the way ser2net does.

ser2net does not blink an LED itself: it hands the LED to the kernel's
"transient" trigger (``modprobe ledtrig-transient``) once, then on traffic
only writes ``1`` to ``activate`` and the kernel lights the LED for
``duration`` milliseconds.  That keeps the data path at one tiny write per
chunk, with no timers in the daemon.  Under ``<root>/class/leds/<device>/``
this module therefore writes, like ser2net:

* configure (at startup, or lazily on first use): check that ``trigger``
  lists ``transient``, then ``trigger`` = ``transient``, ``duration`` = the
  duration in ms, ``state`` = the state (0 or 1: the transient trigger
  accepts nothing else);
* flash (each chunk read from or written to the device): ``activate`` = ``1``;
* deconfigure (at shutdown): ``trigger`` = ``none``, ``brightness`` = ``0``.

``led-conn`` (ser2net 4.6.5) wants a steady light instead: the LED is
switched to ``trigger`` = ``none`` and ``brightness`` is set to
``max_brightness`` while a client is connected (the ``state`` value when
``max_brightness`` cannot be read) and to ``0`` otherwise.  An LED written
with ``mode: solid`` is set up that way at startup (dark, no trigger), one
with ``mode: transient`` (the default) for flashing; either is switched
over when it is used the other way.

Every write opens the file with O_TRUNC and writes the bare number, as
sysfs expects.  LEDs are decoration: errors are logged once per LED and
never raised, so a missing LED or a lack of permission cannot disturb a
connection.  The sysfs root is a parameter (and PYSER2NET_SYSFS_ROOT for
the factory) so tests can use a directory tree of plain files.
"""

from __future__ import annotations

import logging
import os
from typing import Mapping, Optional

from pyser2net.config import model

log = logging.getLogger(__name__)

#: Where sysfs is mounted, unless PYSER2NET_SYSFS_ROOT says otherwise.
DEFAULT_SYSFS_ROOT = "/sys"
SYSFS_ROOT_ENV = "PYSER2NET_SYSFS_ROOT"

DEFAULT_DURATION_MS = 10
DEFAULT_STATE = 1

TRANSIENT = "transient"
SOLID = "solid"


class Led:
    """One configured LED (``led:`` in the configuration) at run time."""

    def __init__(self, spec: model.Led, root: str = DEFAULT_SYSFS_ROOT) -> None:
        self.spec = spec
        self.directory = os.path.join(root, "class", "leds", spec.device)
        # ser2net replaces a duration <= 0 by the default, and the transient
        # trigger rejects any state but 0 and 1.
        self.duration_ms = spec.duration_ms if spec.duration_ms > 0 else DEFAULT_DURATION_MS
        self.state = spec.state if spec.state in (0, 1) else DEFAULT_STATE
        if spec.state != self.state:
            log.error("LED '%s': invalid state %d, using %d", spec.name, spec.state, self.state)
        #: TRANSIENT or SOLID once configured that way; None before.
        self.mode: Optional[str] = None
        #: Set when configuring failed: the LED is then left alone.
        self.broken = False
        self._complained = False
        self._on_value = str(self.state)

    # -- setup ---------------------------------------------------------------

    def configure(self, mode: str = TRANSIENT) -> bool:
        """Hand the LED to the transient trigger (or to none, for SOLID).

        Returns whether it worked.  Call it at startup to see errors early;
        flash() and on()/off() call it themselves when needed.
        """
        self.mode = mode
        self.broken = True
        triggers = self._read("trigger")
        if triggers is None:
            return False
        if mode == TRANSIENT:
            if TRANSIENT not in triggers:
                self._complain(
                    f"LED '{self.spec.name}': no transient trigger in "
                    f"{self._path('trigger')}, maybe 'modprobe ledtrig-transient' is needed"
                )
                return False
            ok = (
                self._write("trigger", TRANSIENT)
                and self._write("duration", str(self.duration_ms))
                and self._write("state", str(self.state))
            )
        else:
            maximum = self._read("max_brightness", quiet=True)
            if maximum is not None and maximum.strip().isdigit():
                self._on_value = maximum.strip()
            ok = self._write("trigger", "none") and self._write("brightness", "0")
        self.broken = not ok
        return ok

    def deconfigure(self) -> None:
        """Give the LED back dark and without a trigger (at shutdown)."""
        if self.mode is None:
            return
        self._write("trigger", "none")
        self._write("brightness", "0")
        self.mode = None
        self.broken = False

    # -- use -----------------------------------------------------------------

    def flash(self) -> None:
        """Light the LED for its duration: traffic on the device."""
        if self.mode != TRANSIENT and not self.configure(TRANSIENT):
            return
        if not self.broken:
            self._write("activate", "1")

    def on(self) -> None:
        """Light the LED until off(): a client is connected."""
        self._solid(True)

    def off(self) -> None:
        """Turn the LED off: no client is connected any more."""
        self._solid(False)

    def _solid(self, lit: bool) -> None:
        if self.mode != SOLID and not self.configure(SOLID):
            return
        if not self.broken:
            # Chosen after configure(), which reads max_brightness.
            self._write("brightness", self._on_value if lit else "0")

    # -- sysfs access --------------------------------------------------------

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _write(self, name: str, value: str) -> bool:
        """Write one attribute the way sysfs wants it: truncated, no newline."""
        path = self._path(name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0))
            try:
                os.write(fd, value.encode("ascii"))
            finally:
                os.close(fd)
        except OSError as exc:
            self._complain(
                f"Unable to write {value} to LED {self.spec.device} ({path}): {exc.strerror or exc}"
            )
            return False
        return True

    def _read(self, name: str, quiet: bool = False) -> Optional[str]:
        path = self._path(name)
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                return f.read(4096)
        except OSError as exc:
            if not quiet:
                self._complain(
                    f"Unable to read LED {self.spec.device} ({path}): {exc.strerror or exc}"
                )
            return None

    def _complain(self, message: str) -> None:
        """Log the first problem of this LED; later ones would only repeat it."""
        if self._complained:
            log.debug("%s", message)
            return
        self._complained = True
        log.error("%s", message)


def sysfs_root(environ: Optional[Mapping[str, str]] = None) -> str:
    """The sysfs mount point: PYSER2NET_SYSFS_ROOT if set, else /sys."""
    env = os.environ if environ is None else environ
    return env.get(SYSFS_ROOT_ENV) or DEFAULT_SYSFS_ROOT


def make_led(spec: model.Led, environ: Optional[Mapping[str, str]] = None) -> Led:
    """The run-time LED for a configured one, under the sysfs root in use."""
    return Led(spec, sysfs_root(environ))
