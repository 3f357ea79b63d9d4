"""ser2net's command line, so that unit files and scripts need no change."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import click

from pyser2net import SER2NET_VERSION, __version__
from pyser2net.config import (
    ConfigError,
    LoadResult,
    hash_to_newline,
    is_yaml,
    read_config,
    read_legacy_lines,
    read_text,
    read_yaml_fragments,
)
from pyser2net.config.gensio import parse_accepter
from pyser2net.config.hosts import host_problem
from pyser2net.config.limits import LimitExceeded, decimal, read_file_text
from pyser2net.config.model import Accepter, Admin, Config, Connection
from pyser2net.oneline import OneLineCommand
from pyser2net.runtime.hostlookup import host_resolves

DEFAULT_YAML = "/etc/ser2net/ser2net.yaml"
DEFAULT_LEGACY = "/etc/ser2net.conf"

log = logging.getLogger("pyser2net")


class Ser2netCommand(OneLineCommand):
    """ser2net's command line, and ``pyser2net attach`` in front of it."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        argv = list(args[0] if args else kwargs.pop("args", None) or sys.argv[1:])
        if argv[:1] == ["attach"]:  # ser2net takes no positional argument
            from pyser2net.attach_cli import attach

            return attach.main(argv[1:], prog_name="pyser2net attach")
        return super().main(argv, *args[1:], **kwargs)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``-v``: standard output is exactly ser2net's line, our own version goes to stderr.

    Tools split ser2net's answer on spaces and take the third word as the
    version (labgrid unpacks exactly three words and falls back to ser2net 3
    command lines below 4.2), so any further word on standard output would
    break them.
    """
    if value and not ctx.resilient_parsing:
        click.echo(f"ser2net version {SER2NET_VERSION}")
        click.echo(f"pyser2net version {__version__}", err=True)
        ctx.exit(0)


def read_default_file(confdir: Optional[str] = None) -> Tuple[str, str]:
    """The text and name of the file ser2net reads when given none.

    That is ser2net 4's YAML file, or the old ``ser2net.conf`` when the YAML
    file does not exist.  When neither can be read the error names both, as
    ser2net's does, and says how to name another.  With ``-C DIR`` it is
    ``DIR/ser2net.yaml`` alone, as in ser2net 4.5.
    """
    failures = []
    paths = (os.path.join(confdir, "ser2net.yaml"),) if confdir else (DEFAULT_YAML, DEFAULT_LEGACY)
    for path in paths:
        try:
            return read_file_text(path, regular_only=False), path
        except FileNotFoundError as exc:
            failures.append(f"{path}: {exc.strerror}")
        except (OSError, LimitExceeded) as exc:
            if path == paths[0]:
                # It exists: falling back to an old file would hide the problem.
                return read_text(path), path  # raises, saying why
            failures.append(f"{path}: {getattr(exc, 'strerror', None) or exc}")
    raise ConfigError.at(
        None, "cannot read configuration: " + "; ".join(failures) + " (name a file with -c FILE)"
    )


def legacy_warning(name: str) -> str:
    """What is said once about a file in the old format (ser2net 4 warns too)."""
    return (
        f"warning: {name} is in the old ser2net.conf format, which ser2net 4 deprecates; "
        f"'pyser2net --convert -c {name}' prints it as YAML"
    )


def is_confdir(arg: str) -> bool:
    """Whether a ``-C`` argument is ser2net 4.5's configuration directory
    rather than a legacy configuration line, which always has a ``:``."""
    return ":" not in arg or os.path.isdir(arg)


def base_defaults(
    confdir: Optional[str], authdir: Optional[str], admin_authdir: Optional[str]
) -> Dict[Tuple[str, str], str]:
    """What ``-C DIR``, ``-a`` and ``-A`` change, as the defaults ser2net sets
    from them: ``authdir``, ``authdir-admin`` (``DIR/auth``) and the ssl key
    and certificate (``DIR/ser2net.key``, ``DIR/ser2net.crt``)."""
    out: Dict[Tuple[str, str], str] = {}
    if confdir:
        out[("", "authdir-admin")] = os.path.join(confdir, "auth")
        out[("ssl", "key")] = os.path.join(confdir, "ser2net.key")
        out[("ssl", "cert")] = os.path.join(confdir, "ser2net.crt")
    if authdir:
        out[("", "authdir")] = authdir
    if admin_authdir:
        out[("", "authdir-admin")] = admin_authdir
    return out


def make_loader(
    config_file: Optional[str],
    lines: Sequence[str],
    fragments: Sequence[str],
    on_legacy: Optional[Callable[[str], None]] = None,
    confdir: Optional[str] = None,
    defaults: Optional[Dict[Tuple[str, str], str]] = None,
    stdin_text: Optional[str] = None,
) -> Tuple[Callable[[], LoadResult], str]:
    """A function reading the configuration from where ser2net would, and its name.

    ``-C`` and ``-Y`` disable the default file; ``-c`` given with them adds
    the file (``-Y`` strings are appended to the YAML file's text, ``-C``
    lines are read after it).  Standard input is read once (unless its
    text is given as ``stdin_text``) and kept for re-reads.  ``on_legacy``
    is called with the file's name the first time a file in the old format
    is read.
    """
    if lines and fragments:
        raise click.UsageError("-C and -Y cannot be mixed")
    use_default = config_file is None and not lines and not fragments
    stdin_cache: List[str] = [] if stdin_text is None else [stdin_text]
    warned: List[str] = []

    def file_text() -> Tuple[str, str]:
        if use_default:
            return read_default_file(confdir)
        assert config_file is not None
        if config_file == "-":
            if not stdin_cache:
                stdin_cache.append(read_text("-"))
            return stdin_cache[0], "<stdin>"
        return read_text(config_file), config_file

    def load() -> LoadResult:
        if fragments:
            if config_file is None:
                return read_yaml_fragments(fragments, defaults, host_resolves)
            extra = "\n".join(hash_to_newline(f) for f in fragments)
            text, name = file_text()
            name = name if config_file != "-" else "<stdin>.yaml"
            return read_config(text + "\n" + extra, name, defaults, host_resolves)
        from_lines = read_legacy_lines(lines, host_resolves) if lines else None
        if config_file is None and from_lines is not None:
            return from_lines
        text, name = file_text()
        if on_legacy is not None and not warned and not is_yaml(name, text):
            warned.append(name)
            on_legacy(name)
        result = read_config(text, name, defaults, host_resolves)
        return result if from_lines is None else result.merged(from_lines)

    if use_default and confdir:
        source = os.path.join(confdir, "ser2net.yaml")
    elif use_default:
        source = DEFAULT_YAML if os.path.exists(DEFAULT_YAML) else DEFAULT_LEGACY
    else:
        source = config_file if config_file else ("-Y" if fragments else "-C")
    return load, source


def convert_config(config: Config) -> str:
    """``--convert``: the configuration as ser2net 4 YAML, strings printing as before.

    A substitution that printed the accepter, device or name is rewritten to
    one that prints the same text in the YAML form; where ser2net 4 has
    none, a warning names the connection's line and both texts.
    """
    from pyser2net.config.convert import to_yaml
    from pyser2net.protocol import templates

    def rewrite(conn: Connection, anchor: str, option: str, text: str, filename: bool) -> str:
        result = templates.translate(
            text, templates.context_for(conn), templates.yaml_context(conn, anchor), filename
        )
        where = f"{conn.position}: " if conn.position is not None else ""
        for letter, before, after in result.changed:
            click.echo(
                f'pyser2net: warning: {where}{option}: \\{letter} printed "{before}" '
                f'and prints "{after}" in ser2net 4 YAML, which has no substitution '
                f"for the old text",
                err=True,
            )
        return result.template

    return to_yaml(config, rewrite=rewrite)


def device_listing(as_yaml: bool) -> str:
    """``--list-devices``: every USB serial adapter, with a selector for each."""
    from pyser2net.runtime.usbdevices import described, enumerate_usb, sysfs_root

    entries = described(enumerate_usb())
    if as_yaml:
        import yaml

        return str(yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=1000))
    if not entries:
        return f"no USB serial devices (none under {sysfs_root()}/class/tty)\n"
    out = []
    for entry in entries:
        out.append(f"{entry['node']}\n")
        for key, value in entry.items():
            if key == "node":
                continue
            for item in value if isinstance(value, list) else [value]:
                out.append(f"  {key + ':':<13} {item}\n")
        out.append("\n")
    return "".join(out)


_HOST_PORT = re.compile(r"^(?:(?P<host>[^,]+),)?(?P<port>\d+)$")


def _listen_spec(text: str, hint: str) -> Accepter:
    """``[host,]port``, or a 4.x accepter string (``ssl(...),tcp,host,port``)."""
    match = _HOST_PORT.match(text.strip())
    if match and match.group("host") not in ("tcp", "telnet", "udp"):
        port = decimal(match.group("port"))
        if port is None or not 0 < port < 65536:
            raise click.BadParameter(f"invalid port {match.group('port')}", param_hint=hint)
        problem = host_problem(match.group("host")) if match.group("host") else None
        if problem is not None:
            raise click.BadParameter(
                f"invalid host {match.group('host')!r}: {problem}", param_hint=hint
            )
        return Accepter(text=text, host=match.group("host"), port=port)
    try:
        return parse_accepter(text, resolves=host_resolves)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


def parse_admin(text: str) -> Admin:
    """``-p``: ``[host,]port`` as ser2net 3 took it, or a 4.x accepter string."""
    return Admin(_listen_spec(text, "-p"))


def parse_metrics(text: str) -> Accepter:
    """``--metrics``: ``[host,]port`` or a tcp accepter (with ssl if wanted).

    Without a host it listens on 127.0.0.1 only: nothing new is reachable
    from the network unless asked for (``0.0.0.0,9100``, ``::,9100``).
    """
    accepter = _listen_spec(text, "--metrics")
    if accepter.transport != "tcp" or accepter.telnet or accepter.conacc is not None:
        raise click.BadParameter(
            "metrics are served over tcp (optionally ssl,tcp), not telnet, udp or conacc",
            param_hint="--metrics",
        )
    if accepter.host is None:
        accepter = replace(accepter, host="127.0.0.1")
    return accepter


def browse_ports(seconds: float, interface: Optional[str]) -> int:
    """``--browse``: one line per announced port; 1 when none was found."""
    from pyser2net.browse import BrowseError, browse

    try:
        found = browse(seconds, interface)
    except BrowseError as exc:
        click.echo(f"pyser2net: {exc}", err=True)
        return 1
    for port in found:
        click.echo(port.line())
    if not found:
        click.echo(f"pyser2net: no serial port announced (listened {seconds:g} s)", err=True)
        return 1
    return 0


def _refusal(result: LoadResult, source: str, strict: bool) -> Optional[str]:
    """Why the daemon must not start on this reading, or None.

    ser2net serves what it could read, even nothing at all; pyser2net
    serves every valid connection too, but stops when there is none
    because of errors (a service that serves nothing is better restarted
    by its supervisor, or fixed), and with ``--strict`` on any error.
    """
    count = len(result.issues)
    if not count:
        return None
    errors = f"{count} error{'' if count == 1 else 's'}"
    if strict:
        return f"{source}: {errors}; not starting (--strict)"
    if not result.config.connections:
        return f"{source}: no valid connection ({errors}); nothing to serve"
    return None


@click.command(cls=Ser2netCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "config_file", metavar="FILE", help="Configuration file ('-' for stdin).")
@click.option(
    "-C",
    "lines",
    multiple=True,
    metavar="LINE|DIR",
    help="A legacy configuration line; or, without ':', the configuration directory (ser2net 4.5).",
)
@click.option("-a", "authdir", metavar="DIR", help="Default authentication directory.")
@click.option(
    "-A", "admin_authdir", metavar="DIR", help="The admin port's authentication directory."
)
@click.option(
    "-Y",
    "fragments",
    multiple=True,
    metavar="YAML",
    help="A YAML fragment; '#' outside quotes is a newline.",
)
@click.option("-n", "nofork", is_flag=True, help="Do not detach.")
@click.option("-d", "debug", is_flag=True, help="Do not detach; log to standard output.")
@click.option("-l", "verbosity", count=True, help="More debug output (repeatable).")
@click.option("-P", "pidfile", metavar="PIDFILE", help="Write the process id here.")
@click.option("-p", "admin", metavar="ADMIN", help="Admin port: [host,]port or an accepter.")
@click.option("-u", "no_uucp", is_flag=True, help="Do not use UUCP lock files.")
@click.option("-s", "signature", metavar="SIG", help="Default RFC 2217 signature.")
@click.option("-b", "cisco", is_flag=True, hidden=True, help="Accepted for compatibility.")
@click.option(
    "-t", "threads", type=click.IntRange(min=1), metavar="N", hidden=True, help="Accepted; ignored."
)
@click.option("-r", "ready", is_flag=True, help="Print 'Ready' once every port is set up.")
@click.option(
    "-v",
    "-V",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version and exit.",
)
@click.option("--check", is_flag=True, help="Check the configuration, print a summary, exit.")
@click.option("--convert", is_flag=True, help="Print the configuration as ser2net 4.x YAML.")
@click.option(
    "--strict", is_flag=True, help="Refuse to start (or reload) on any configuration error."
)
@click.option(
    "--list-devices",
    "--usb",
    "list_devices",
    is_flag=True,
    help="List USB serial adapters, each with a usb(...) selector, and exit.",
)
@click.option("--yaml", "as_yaml", is_flag=True, help="With --list-devices: print YAML.")
@click.option("--browse", is_flag=True, help="List the serial ports announced over mDNS, exit.")
@click.option(
    "--browse-timeout",
    type=click.FloatRange(min=0, max=600),
    default=3.0,
    show_default=True,
    metavar="SECONDS",
    help="How long --browse listens.",
)
@click.option(
    "--browse-interface",
    metavar="IFACE",
    help="Listen on this interface (name, index or address) only.",
)
@click.option(
    "--metrics",
    "metrics",
    metavar="[HOST,]PORT",
    help="Serve Prometheus metrics (/metrics) and a JSON status (/status) over HTTP "
    "(127.0.0.1 unless a host is given; an ssl,tcp accepter for HTTPS).",
)
def main(
    config_file: Optional[str],
    lines: Tuple[str, ...],
    authdir: Optional[str],
    admin_authdir: Optional[str],
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
    strict: bool,
    list_devices: bool,
    as_yaml: bool,
    browse: bool,
    browse_timeout: float,
    browse_interface: Optional[str],
    metrics: Optional[str],
) -> int:
    """Serve serial ports over the network, reading ser2net's configuration."""
    if as_yaml and not list_devices:
        raise click.UsageError("--yaml goes with --list-devices")
    if list_devices:
        click.echo(device_listing(as_yaml), nl=False)
        return 0
    if check and convert:
        raise click.UsageError("--check and --convert cannot be used together")
    if browse:
        return browse_ports(browse_timeout, browse_interface)
    confdir = None
    for arg in lines:
        if is_confdir(arg):
            confdir = arg  # the last one wins, as in ser2net
    lines = tuple(arg for arg in lines if not is_confdir(arg))
    if confdir is not None and not os.path.isdir(confdir):
        raise click.BadParameter(
            f"{confdir!r} is not a directory (a legacy configuration line has ':' in it)",
            param_hint="-C",
        )
    defaults = base_defaults(confdir, authdir, admin_authdir)
    admin_override = parse_admin(admin) if admin else None
    if admin_override is not None and ("", "authdir-admin") in defaults:
        admin_override = replace(admin_override, authdir=defaults[("", "authdir-admin")])
    metrics_accepter = parse_metrics(metrics) if metrics else None
    if metrics_accepter is not None and not convert:
        from pyser2net.runtime.exposition import INSTALL_HINT, available

        if not available():
            click.echo(f"pyser2net: {INSTALL_HINT}", err=True)
            return 1

    def say_legacy(name: str) -> None:
        click.echo(f"pyser2net: {legacy_warning(name)}", err=True)

    try:
        # Standard input is read once: reloads read the same text again.
        stdin_text = read_text("-") if config_file == "-" else None
        # --convert is the answer to the warning: no need to give it.
        loader, source = make_loader(
            config_file,
            lines,
            fragments,
            on_legacy=None if convert else say_legacy,
            confdir=confdir,
            defaults=defaults,
            stdin_text=stdin_text,
        )
        result = loader()
        # --check and --convert take a file as a whole or not at all.
        config = result.strict() if check or convert else result.config
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(f"pyser2net: {issue}", err=True)
        return 1
    refusal = _refusal(result, source, strict)
    if refusal is not None:
        for issue in result.issues:
            click.echo(f"pyser2net: {issue}", err=True)
        click.echo(f"pyser2net: {refusal}", err=True)
        return 1
    if check:
        from pyser2net.config.summary import summarize
        from pyser2net.runtime.tlsconfig import check_files

        # Keys and certificates are read as the daemon reads them at start.
        tls_errors, tls_warnings = check_files(config)
        for warning in tls_warnings:
            click.echo(f"pyser2net: warning: {warning}", err=True)
        if tls_errors:
            for error in tls_errors:
                click.echo(f"pyser2net: {error}", err=True)
            return 1
        click.echo(summarize(config, metrics_accepter), nl=False)
        click.echo(f"{source}: configuration OK")
        return 0
    if convert:
        click.echo(convert_config(config), nl=False)
        return 0
    from pyser2net import daemon

    foreground = nofork or debug
    if pidfile:
        try:
            daemon.check_pidfile(pidfile)
        except daemon.PidfileError as exc:
            click.echo(f"pyser2net: {exc}", err=True)
            return 1
    daemon.setup_logging(debug, verbosity, foreground)
    daemon.raise_fd_limit()
    for issue in result.issues:
        log.error("%s", issue)

    from pyser2net.reread import ChildConfigSource, ConfigSpec
    from pyser2net.runtime.engine import Engine, EngineError
    from pyser2net.runtime.reactor import Reactor

    reactor = Reactor()
    spec = ConfigSpec(
        config_file,
        tuple(lines),
        tuple(fragments),
        stdin_text,
        confdir,
        tuple(sorted(defaults.items())),
    )
    engine = Engine(
        config,
        reactor,
        loader=ChildConfigSource(reactor, spec),
        admin=admin_override,
        uucp_locks=not no_uucp,
        default_signature=signature,
        strict=strict,
        metrics=metrics_accepter,
    )
    # A reload or stop asked for while the ports open (an ExecReload, a
    # script that signals as soon as the port answers) waits for the
    # handlers, instead of ending the daemon by the signal's default action.
    held = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        try:
            engine.start(result.rejected)
        except EngineError as exc:
            click.echo(f"pyser2net: {exc}", err=True)
            return 1
        daemon.attach_logging(engine.reactor)
        if not foreground:
            daemon.detach()
        engine.install_signal_handlers()
        engine.start_announcements()  # zeroconf's thread would not survive detach()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
    if pidfile:
        try:
            daemon.write_pidfile(pidfile)
        except daemon.PidfileError as exc:
            log.error("%s", exc)
            return 1
    if ready:
        click.echo("Ready")
        sys.stdout.flush()
    log.info("pyser2net %s started", __version__)
    try:
        return engine.run()
    finally:
        if pidfile:
            daemon.remove_pidfile(pidfile)


def reread_main() -> int:
    """The child process of a reload (see ``reread.py``): a pickled
    ``ConfigSpec`` on standard input; on standard output, what
    ``reread.write_answer`` writes."""
    import pickle

    from pyser2net.reread import write_answer

    spec = pickle.loads(sys.stdin.buffer.read())
    loader, _source = make_loader(
        spec.config_file,
        spec.lines,
        spec.fragments,
        confdir=spec.confdir,
        defaults=dict(spec.defaults),
        stdin_text=spec.stdin_text,
    )
    try:
        result: Union[LoadResult, ConfigError] = loader()
    except ConfigError as exc:
        result = exc
    write_answer(sys.stdout.buffer, result)
    sys.stdout.buffer.flush()
    return 0
