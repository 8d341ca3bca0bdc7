"""``ses-sigma eval``: measure a rule pack on campaign replays and a benign corpus.

- ``cloudtrail``: complete CloudTrail records from short call descriptions;
- ``org``: the example organisation's principals (benign corpus, victims in replays);
- ``campaigns``: replay files (``scenarios/campaigns/*.yml``) -> records + stage labels;
- ``benign``: the seeded generator of eight ordinary days;
- ``run``: scans (through ``ses_sigma.scan``), per-stage detection, benign alerts;
- ``claims``: the claims file and its check;
- ``report``: the text tables of ``ses-sigma eval``.
"""
