"""Package data of ses_sigma.bundled.rules (see src/ses_sigma/bundled/__init__.py)."""
