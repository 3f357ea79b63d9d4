"""``pyser2net attach URL --link PATH``: a remote serial port as a local device.

A subcommand of ``pyser2net`` rather than a program of its own, so that the
package that serves a port also provides it at the other end; ser2net's
own command line takes no positional argument, so ``attach`` as the first
word cannot be mistaken for one of its options (``pyser2net -n -d -c FILE``
reads as before).
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import replace
from typing import Optional

import click

from pyser2net import __version__
from pyser2net.oneline import OneLineCommand

log = logging.getLogger("pyser2net")


def _octal(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    try:
        mode = int(value, 8)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an octal mode such as 0660") from None
    if not 0 <= mode <= 0o777:
        raise click.BadParameter(f"{value!r} is not a permission mode (0 to 0777)")
    return mode


class AttachCommand(OneLineCommand):
    label = "pyser2net attach"


@click.command(cls=AttachCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("url")
@click.option(
    "--link",
    required=True,
    metavar="PATH",
    help="The symbolic link applications open, e.g. /dev/ttyNET0.",
)
@click.option(
    "--mode",
    default="0660",
    callback=_octal,
    show_default=True,
    help="Permissions of the port (octal).",
)
@click.option(
    "--group",
    default="dialout",
    show_default=True,
    help="Group of the port; '' leaves it as it is.",
)
@click.option(
    "--format",
    "frame",
    default="8N1",
    show_default=True,
    metavar="FORMAT",
    help="Data bits, parity and stop bits of the remote line (a pty cannot carry "
    "data bits and parity): 8N1, 7E1, 8N2...",
)
@click.option(
    "--connect",
    type=click.Choice(["on-open", "always"]),
    default="on-open",
    show_default=True,
    help="Connect when an application opens the port, or at once.",
)
@click.option(
    "--buffer",
    "buffer_size",
    type=click.IntRange(0, 1 << 24),
    default=0,
    show_default=True,
    metavar="BYTES",
    help="Keep the last BYTES received while no application has the port open.",
)
@click.option(
    "--control", metavar="SOCKET", help="A Unix socket taking dtr, rts, break and status commands."
)
@click.option("-n", "nofork", is_flag=True, help="Do not detach.")
@click.option("-d", "debug", is_flag=True, help="Do not detach; log to standard output.")
@click.option("-l", "verbosity", count=True, help="More debug output (repeatable).")
@click.option("-P", "pidfile", metavar="PIDFILE", help="Write the process id here.")
def attach(
    url: str,
    link: str,
    mode: int,
    group: str,
    frame: str,
    connect: str,
    buffer_size: int,
    control: Optional[str],
    nofork: bool,
    debug: bool,
    verbosity: int,
    pidfile: Optional[str],
) -> int:
    """Make the remote serial port at URL a local serial device at PATH.

    URL is rfc2217://HOST:PORT (telnet with RFC 2217: settings, flushes and
    DTR/RTS follow the application), socket://HOST:PORT (raw TCP: bytes
    only), or a gensio stack such as telnet(rfc2217),tcp,HOST,PORT, with TLS
    telnet(rfc2217),ssl(CA=FILE),tcp,HOST,PORT.
    """
    from pyser2net import daemon
    from pyser2net.config.attach import parse_format, parse_target
    from pyser2net.config.errors import ConfigError
    from pyser2net.runtime.attach import Attachment, AttachOptions
    from pyser2net.runtime.attach_control import ControlServer
    from pyser2net.runtime.ptyport import VirtualPortError
    from pyser2net.runtime.reactor import Reactor

    try:
        target = parse_target(url)
        options = AttachOptions(
            target=target,
            link=link,
            mode=mode,
            group=group or None,
            frame=parse_format(frame),
            connect=connect,
            buffer=buffer_size,
        )
    except ConfigError as exc:
        click.echo(f"pyser2net attach: {exc}", err=True)
        return 1
    tls = None
    if target.ssl is not None:
        from pyser2net.runtime.tlsconfig import TlsSetupError, client_tls

        try:
            tls = client_tls(target.ssl)
        except TlsSetupError as exc:
            click.echo(f"pyser2net attach: {exc}", err=True)
            return 1
        options = replace(options, tls=tls)
    foreground = nofork or debug
    if pidfile:
        try:
            daemon.check_pidfile(pidfile)
        except daemon.PidfileError as exc:
            click.echo(f"pyser2net attach: {exc}", err=True)
            return 1
    daemon.setup_logging(debug, verbosity, foreground)
    for warning in tls.warnings if tls is not None else ():
        log.warning("%s", warning)
    reactor = Reactor()
    attachment = Attachment(reactor, options)
    try:
        attachment.start()
    except VirtualPortError as exc:
        click.echo(f"pyser2net attach: {exc}", err=True)
        return 1
    server = None
    if control:
        server = ControlServer(reactor, control, attachment, mode=mode, group=group or None)
        try:
            server.start()
        except OSError as exc:
            attachment.stop()
            click.echo(
                f"pyser2net attach: cannot listen on {control}: {exc.strerror or exc}", err=True
            )
            return 1
    daemon.attach_logging(reactor)
    if not foreground:
        daemon.detach()
    _stop_on_signals(reactor)
    if pidfile:
        try:
            daemon.write_pidfile(pidfile)
        except daemon.PidfileError as exc:
            log.error("%s", exc)
            attachment.stop()
            return 1
    log.info("pyser2net %s attach started", __version__)
    try:
        reactor.run()
    finally:
        if server is not None:
            server.stop()
        attachment.stop()
        if pidfile:
            daemon.remove_pidfile(pidfile)
        log.info("%s: stopped", link)
    return 0


def _stop_on_signals(reactor: object) -> None:
    """SIGTERM, SIGINT and SIGHUP end the loop; the wakeup pipe makes it notice."""
    from pyser2net.runtime.reactor import Reactor

    assert isinstance(reactor, Reactor)
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)

    def drain() -> None:
        try:
            while os.read(rfd, 512):
                pass
        except BlockingIOError:
            pass

    reactor.add_reader(rfd, drain)

    def stop(_signum: int, _frame: object) -> None:
        reactor.stop()  # no logging here: a handler may interrupt a log call

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
