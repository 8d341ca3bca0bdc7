"""The ``ses-sigma`` command: a thin click layer, every command one library call.

Each command lives in its own module (``cmd_<name>.py``) exposing ``command``; it is added to
the group below.
"""

from __future__ import annotations

import click

from ses_sigma import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
        cmd_eval,
    )
    for module in commands:
        main.add_command(module.command)


_register()
