"""Conversion of the pack to Splunk and Elastic artefacts, through pySigma backends."""
