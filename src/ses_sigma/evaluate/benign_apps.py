"""The benign corpus's building blocks: the record collector, mail applications, AWS services,
scanners and scripts (see ``benign.py`` for the whole organisation)."""

from __future__ import annotations

import random
from typing import Any

from ses_sigma.evaluate.cloudtrail import Principal, make_record
from ses_sigma.evaluate.org import ALL_REGIONS, ORG, SES_REGIONS

__all__ = ["DAY", "HIDDEN", "HOUR", "IDENTITIES", "Corpus", "mail_apps", "services_and_scanners"]

HOUR = 3600.0
DAY = 86400.0
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"

# The organisation's verified identities by region (what scanners and the console read).
IDENTITIES = {
    "us-east-1": ["example.com", "mail.example.com", "no-reply@example.com"],
    "eu-west-1": ["example.com", "support@example.com"],
    "us-west-2": ["carol@example.com"],
}


class Corpus:
    """Collects records; every record gets a unique deterministic key."""

    def __init__(self, seed: int):
        self.rnd = random.Random(seed)
        self.seed = seed
        self.records: list[tuple[float, int, dict[str, Any]]] = []

    def emit(
        self, principal: Principal, call: str, t: float, region: str = "us-east-1", **kw: Any
    ) -> dict[str, Any]:
        source, _, name = call.partition(":")
        n = len(self.records)
        rec = make_record(
            principal,
            f"{source}.amazonaws.com",
            name,
            t,
            region,
            key=("benign", self.seed, n),
            **kw,
        )
        self.records.append((t, n, rec))
        return rec

    def jitter(self, seconds: float) -> float:
        return self.rnd.uniform(0, seconds)


def _send_v2(c: Corpus, p: Principal, t: float, region: str, sender: str) -> None:
    if c.rnd.random() < 0.01:
        c.emit(
            p,
            "ses:SendEmail",
            t,
            region,
            error="MessageRejected",
            error_message="Email address is not verified. The following identities failed the "
            "check in region " + region.upper() + ": " + sender,
        )
        return
    c.emit(
        p,
        "ses:SendEmail",
        t,
        region,
        request_parameters={
            "fromEmailAddress": sender,
            "destination": {"toAddresses": [HIDDEN]},
            "content": {"simple": {"subject": HIDDEN, "body": HIDDEN}},
            "configurationSetName": "prod-transactional",
        },
        response_elements={"messageId": f"0100019{c.rnd.getrandbits(40):010x}-example"},
    )


def _send_raw(c: Corpus, p: Principal, t: float, region: str, sender: str) -> None:
    c.emit(
        p,
        "ses:SendRawEmail",
        t,
        region,
        request_parameters={
            "source": sender,
            "destinations": [HIDDEN],
            "rawMessage": {"data": HIDDEN},
        },
        response_elements={"messageId": f"0100019{c.rnd.getrandbits(40):010x}-example"},
    )


def mail_apps(c: Corpus, day0: float, weekday: int) -> None:
    busy = weekday < 5
    # Orders API on ECS: three tasks at a time, replaced every ~6 hours (new session names).
    tasks: list[Principal] = []
    for hour in range(24):
        t_hour = day0 + hour * HOUR
        if hour % 6 == 0:
            tasks = [
                ORG["orders-api"].with_session(f"{c.rnd.getrandbits(128):032x}") for _ in range(3)
            ]
        rate = (30 if busy else 12) if 7 <= hour < 21 else 4
        for _ in range(rate):
            _send_v2(
                c, c.rnd.choice(tasks), t_hour + c.jitter(HOUR), "eu-west-1", "orders@example.com"
            )
        # Notification Lambda (boto3, SendRawEmail v1).
        for _ in range(10 if 6 <= hour < 22 else 2):
            _send_raw(
                c,
                ORG["notify-lambda"],
                t_hour + c.jitter(HOUR),
                "us-east-1",
                "no-reply@example.com",
            )
        # Legacy mailer with a long-term key (business hours, weekdays).
        if busy and 8 <= hour < 18:
            for _ in range(8):
                _send_raw(
                    c,
                    ORG["ses-mailer-prod"],
                    t_hour + c.jitter(HOUR),
                    "us-east-1",
                    "invoices@example.com",
                )
        # The newsletter app sends its batch at 09:00 on Tuesdays and Thursdays.
        if weekday in (1, 3) and hour == 9:
            c.emit(ORG["svc-newsletter"], "ses:GetSendQuota", t_hour + 5)
            for i in range(60):
                _send_raw(
                    c, ORG["svc-newsletter"], t_hour + 10 + i * 20, "us-east-1", "news@example.com"
                )


def services_and_scanners(c: Corpus, day0: float, day: int) -> None:
    # Trusted Advisor refreshes its SES check daily.
    for region in SES_REGIONS:
        c.emit(ORG["trusted-advisor"], "ses:GetSendQuota", day0 + 6 * HOUR + c.jitter(600), region)
    # Prowler-like scanner: 02:00, every region, a new session per run.
    prowler = ORG["prowler"].with_session(f"prowler-{int(day0 + 2 * HOUR)}")
    t = day0 + 2 * HOUR + c.jitter(300)
    c.emit(prowler, "sts:GetCallerIdentity", t)
    for region in ALL_REGIONS:
        t += 2 + c.jitter(6)
        c.emit(prowler, "ses:ListEmailIdentities", t, region)
        for ident in IDENTITIES.get(region, []):
            t += c.jitter(1)
            c.emit(
                prowler,
                "ses:GetEmailIdentity",
                t,
                region,
                request_parameters={"emailIdentity": ident},
            )
        c.emit(prowler, "ses:ListIdentities", t + 1, region)
    # The CSPM vendor: twice a day, every region, v2 account and identity reads.
    for run in range(2):
        cspm = ORG["cspm"].with_session(f"cspm-{c.rnd.getrandbits(48):012x}")
        t = day0 + (4 + 12 * run) * HOUR + c.jitter(900)
        c.emit(cspm, "sts:GetCallerIdentity", t)
        for region in ALL_REGIONS:
            t += 1 + c.jitter(3)
            c.emit(cspm, "ses:GetAccount", t, region)
            c.emit(cspm, "ses:ListEmailIdentities", t + 0.5, region)
            c.emit(cspm, "ses:ListConfigurationSets", t + 1, region)
            if region in IDENTITIES:
                c.emit(
                    cspm,
                    "ses:GetIdentityVerificationAttributes",
                    t + 1.5,
                    region,
                    request_parameters={"identities": IDENTITIES[region]},
                )
        c.emit(
            cspm,
            "servicequotas:ListServiceQuotas",
            t + 2,
            request_parameters={"serviceCode": "ses"},
        )
    # Monitoring script: GetAccount every hour in both production regions (AKIA key).
    for hour in range(24):
        for region in ("us-east-1", "eu-west-1"):
            c.emit(
                ORG["svc-ses-monitor"],
                "ses:GetAccount",
                day0 + hour * HOUR + 30 + c.jitter(20),
                region,
            )
    # Misconfigured report job: its health check lacks ses:GetSendQuota (refused) every 6 h.
    for hour in (0, 6, 12, 18):
        c.emit(
            ORG["svc-reports"], "ses:GetSendQuota", day0 + hour * HOUR + 120, error="AccessDenied"
        )
    # A deploy on day 5 ships the notify Lambda without ses:SendRawEmail for 40 minutes.
    if day == 5:
        for i in range(25):
            c.emit(
                ORG["notify-lambda"],
                "ses:SendRawEmail",
                day0 + 14 * HOUR + i * 95,
                error="AccessDenied",
            )
