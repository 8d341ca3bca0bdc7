"""Vendored reference data (MITRE ATT&CK), with its provenance in PROVENANCE.md."""
