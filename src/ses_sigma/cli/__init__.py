"""The ``ses-sigma`` command: a thin click layer, every command one library call.

Each command lives in its own module (``cmd_<name>.py``) exposing ``command``; it is added to
the group below.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any

import click

from ses_sigma import __version__


class _Group(click.Group):
    """The command group; a reader that closes the pipe (``| head``) ends the run quietly.

    click turns a broken pipe into exit 1, which ``scan`` uses for malformed input. Here the
    reader simply stopped reading: exit 0 (as ripgrep does), without a traceback, and stdout
    pointed at /dev/null so that Python's final flush does not complain either.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
            raise click.exceptions.Exit(0) from None


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # not a real file (tests)
        pass


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ses-sigma")
def main() -> None:
    """Sigma detection pack for Amazon SES abuse in AWS CloudTrail."""


def _register() -> None:
    from ses_sigma.cli import (
        cmd_check,
        cmd_check_format,
        cmd_convert,
        cmd_docs,
        cmd_eval,
        cmd_init,
        cmd_report,
        cmd_scan,
        cmd_test,
    )

    commands = (
        cmd_scan,
        cmd_test,
        cmd_convert,
        cmd_check,
        cmd_check_format,
        cmd_report,
        cmd_docs,
        cmd_init,
        cmd_eval,
    )
    for module in commands:
        main.add_command(module.command)


_register()
