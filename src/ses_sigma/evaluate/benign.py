"""The benign corpus: eight days of an ordinary organisation's CloudTrail, generated.

Deterministic (a seeded ``random.Random``; the same seed gives the same records, eventIDs
included) and fast enough for tests to regenerate (about 25,000 records). Who does what, and
why each is in the corpus, is in ``scenarios/README.md``; in short:

- applications sending mail through roles (an ECS service whose sessions rotate with its
  tasks, a Lambda function) and a legacy IAM user's key (SendEmail / SendRawEmail data events),
  with the occasional refused send;
- Trusted Advisor's daily GetSendQuota; two CSPM scanners (Prowler-like, and a vendor's) reading
  SES in every region each day;
- people in IAM Identity Center console sessions opening the SES console, verifying an
  identity, once creating SMTP credentials the console's way;
- Terraform preview environments and CloudFormation integration-test stacks creating and
  tearing down identities and configuration sets; GetCallerIdentity from CI and the CLI;
- a monitoring script polling GetAccount hourly with an AKIA key; a misconfigured report job
  whose GetSendQuota health check is refused; a developer working in the sandbox region;
- background calls of other services (EC2, S3, STS, KMS, CloudWatch, Logs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ses_sigma.evaluate.benign_apps import DAY, Corpus, mail_apps, services_and_scanners
from ses_sigma.evaluate.benign_people import background, iac, people

__all__ = ["DEFAULT_DAYS", "DEFAULT_SEED", "DEFAULT_START", "benign_corpus"]

DEFAULT_SEED = 20261102
DEFAULT_DAYS = 8
#: A Monday, 00:00 UTC.
DEFAULT_START = datetime(2026, 11, 2, tzinfo=UTC).timestamp()


def benign_corpus(
    seed: int = DEFAULT_SEED, days: int = DEFAULT_DAYS, start: float = DEFAULT_START
) -> list[dict[str, Any]]:
    """``days`` days of the organisation's CloudTrail from ``start``, in time order."""
    if days < 1:
        raise ValueError("days must be at least 1")
    c = Corpus(seed)
    for day in range(days):
        day0 = start + day * DAY
        weekday = datetime.fromtimestamp(day0, tz=UTC).weekday()
        mail_apps(c, day0, weekday)
        services_and_scanners(c, day0, day)
        people(c, day0, day, weekday)
        iac(c, day0, day, weekday)
        background(c, day0)
    c.records.sort(key=lambda item: (item[0], item[1]))
    return [r for _, _, r in c.records]
