"""ser2net's command line, so that unit files and scripts need no change."""

from __future__ import annotations

import logging
import os
import sys
from typing import List, Optional, Tuple

import click

from pyser2net import __version__
from pyser2net.model import Config
from pyser2net.parsers import ConfigError, load_file, load_legacy_lines, load_yaml_fragments

DEFAULT_YAML = "/etc/ser2net/ser2net.yaml"
DEFAULT_LEGACY = "/etc/ser2net.conf"

log = logging.getLogger("pyser2net")


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"pyser2net version {__version__}")
        ctx.exit(0)


def load_config(
    config_file: Optional[str], lines: Tuple[str, ...], fragments: Tuple[str, ...]
) -> Tuple[Config, str]:
    """Pick the configuration source the way ser2net does."""
    if lines and fragments:
        raise click.UsageError("-C and -Y cannot be mixed")
    if lines:
        return load_legacy_lines(lines), "-C"
    if fragments:
        return load_yaml_fragments(fragments), "-Y"
    if config_file is None:
        config_file = DEFAULT_YAML if os.path.exists(DEFAULT_YAML) else DEFAULT_LEGACY
    return load_file(config_file), config_file


def setup_logging(to_stdout: bool, verbosity: int) -> None:
    level = logging.DEBUG if verbosity else logging.INFO
    if to_stdout:
        handler: logging.Handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("pyser2net[%(process)d]: %(message)s"))
    else:
        from logging.handlers import SysLogHandler

        try:
            handler = SysLogHandler(address="/dev/log", facility=SysLogHandler.LOG_DAEMON)
        except OSError:
            handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("pyser2net[%(process)d]: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "config_file", metavar="FILE", help="Configuration file ('-' for stdin).")
@click.option("-C", "lines", multiple=True, metavar="LINE", help="A legacy configuration line.")
@click.option("-Y", "fragments", multiple=True, metavar="YAML",
              help="A YAML fragment; '#' outside quotes is a newline.")
@click.option("-n", "nofork", is_flag=True, help="Do not detach.")
@click.option("-d", "debug", is_flag=True, help="Do not detach; log to standard output.")
@click.option("-l", "verbosity", count=True, help="More debug output (repeatable).")
@click.option("-P", "pidfile", metavar="PIDFILE", help="Write the process id here.")
@click.option("-p", "admin", metavar="ADMIN", help="Admin port: [host,]port or an accepter.")
@click.option("-u", "no_uucp", is_flag=True, help="Do not use UUCP lock files.")
@click.option("-s", "signature", metavar="SIG", help="Default RFC 2217 signature.")
@click.option("-b", "cisco", is_flag=True, hidden=True, help="Accepted for compatibility.")
@click.option("-t", "threads", type=int, metavar="N", hidden=True, help="Accepted; ignored.")
@click.option("-r", "ready", is_flag=True, help="Print 'ready' once every port is set up.")
@click.option("-v", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the version and exit.")
@click.option("--check", is_flag=True, help="Check the configuration, print a summary, exit.")
@click.option("--convert", is_flag=True, help="Print the configuration as ser2net 4.x YAML.")
def main(
    config_file: Optional[str],
    lines: Tuple[str, ...],
    fragments: Tuple[str, ...],
    nofork: bool,
    debug: bool,
    verbosity: int,
    pidfile: Optional[str],
    admin: Optional[str],
    no_uucp: bool,
    signature: Optional[str],
    cisco: bool,
    threads: Optional[int],
    ready: bool,
    check: bool,
    convert: bool,
) -> None:
    """Serve serial ports over the network, reading ser2net's configuration."""
    try:
        config, source = load_config(config_file, lines, fragments)
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(f"pyser2net: {issue}", err=True)
        sys.exit(1)
    if check:
        from pyser2net.summary import summarize

        click.echo(summarize(config), nl=False)
        click.echo(f"{source}: configuration OK")
        return
    if convert:
        from pyser2net.convert import to_yaml

        click.echo(to_yaml(config), nl=False)
        return
    setup_logging(debug, verbosity)
    from pyser2net.engine import Engine, EngineError

    engine = Engine(config)
    try:
        engine.start()
    except EngineError as exc:
        click.echo(f"pyser2net: {exc}", err=True)
        sys.exit(1)
    if not (nofork or debug):
        _detach()
    engine.install_signal_handlers()
    if pidfile:
        _write_pidfile(pidfile)
    if ready:
        click.echo("ready")
        sys.stdout.flush()
    try:
        engine.run()
    finally:
        if pidfile:
            _remove_pidfile(pidfile)


def _detach() -> None:
    """Become a daemon, keeping every descriptor already open (the ports)."""
    import daemon

    keep: List[int] = [int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2]
    context = daemon.DaemonContext(files_preserve=keep, working_directory="/", umask=0o022)
    context.open()


def _write_pidfile(path: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError as exc:
        log.error("cannot write pid file %s: %s", path, exc.strerror)


def _remove_pidfile(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
