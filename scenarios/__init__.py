"""Package data of ses_sigma.bundled.scenarios (see src/ses_sigma/bundled/__init__.py)."""
