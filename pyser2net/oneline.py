"""Command-line errors in one line, for every command pyser2net has.

click's own report of a usage error spans several lines (usage, hint,
blank, error); scripts and init systems log only the first line, which
would then say nothing useful.  ser2net's errors are one line, and so are
ours.
"""

from __future__ import annotations

import sys
from typing import Any

import click


class OneLineCommand(click.Command):
    """A click command that reports a usage error as ``LABEL: message (try --help)``."""

    #: What the error line starts with.
    label = "pyser2net"

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            click.echo(f"{self.label}: {exc.format_message()} (try --help)", err=True)
            sys.exit(2)
        except click.exceptions.Abort:
            sys.exit(1)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        sys.exit(result if isinstance(result, int) else 0)
