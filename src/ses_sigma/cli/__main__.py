"""``python -m ses_sigma.cli``: the ses-sigma command."""

from ses_sigma.cli import main

main()
