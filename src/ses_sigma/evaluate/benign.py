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

import random
from datetime import UTC, datetime
from typing import Any

from ses_sigma.evaluate.cloudtrail import Principal, make_record
from ses_sigma.evaluate.org import ALL_REGIONS, ORG, SES_REGIONS

__all__ = ["DEFAULT_DAYS", "DEFAULT_SEED", "DEFAULT_START", "benign_corpus"]

DEFAULT_SEED = 20261102
DEFAULT_DAYS = 8
#: A Monday, 00:00 UTC.
DEFAULT_START = datetime(2026, 11, 2, tzinfo=UTC).timestamp()

HOUR = 3600.0
DAY = 86400.0
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"

# The organisation's verified identities by region (what scanners and the console read).
IDENTITIES = {
    "us-east-1": ["example.com", "mail.example.com", "no-reply@example.com"],
    "eu-west-1": ["example.com", "support@example.com"],
    "us-west-2": ["carol@example.com"],
}


class _Corpus:
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


def _send_v2(c: _Corpus, p: Principal, t: float, region: str, sender: str) -> None:
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


def _send_raw(c: _Corpus, p: Principal, t: float, region: str, sender: str) -> None:
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


def _mail_apps(c: _Corpus, day0: float, weekday: int) -> None:
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


def _services_and_scanners(c: _Corpus, day0: float, day: int) -> None:
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


def _people(c: _Corpus, day0: float, day: int, weekday: int) -> None:
    if weekday >= 5:
        return
    # Alice opens the SES console most days (the console loads account and identities).
    if c.rnd.random() < 0.8:
        alice = ORG["sso-alice"]
        t = day0 + (9 + c.jitter(7)) * HOUR
        region = c.rnd.choice(["us-east-1", "eu-west-1"])
        c.emit(alice, "ses:GetAccount", t, region)
        c.emit(alice, "ses:ListEmailIdentities", t + 1, region)
        c.emit(alice, "ses:ListConfigurationSets", t + 1, region)
        c.emit(
            alice,
            "ses:GetEmailIdentity",
            t + 20,
            region,
            request_parameters={"emailIdentity": IDENTITIES[region][0]},
        )
        if day == 1:
            c.emit(
                alice,
                "ses:CreateEmailIdentity",
                t + 90,
                "eu-west-1",
                request_parameters={"emailIdentity": "billing@example.com"},
                response_elements={
                    "identityType": "EMAIL_ADDRESS",
                    "verifiedForSendingStatus": False,
                },
            )
    # Bob checks who he is before running scripts (CLI, SSO).
    for _ in range(c.rnd.randint(0, 3)):
        c.emit(ORG["sso-bob-cli"], "sts:GetCallerIdentity", day0 + (9 + c.jitter(8)) * HOUR)
    # The admin creates SMTP credentials for the office printer, the console's way (day 3).
    if day == 3:
        dan = ORG["sso-admin-dan"]
        t = day0 + 10 * HOUR + 15 * 60
        user = "ses-smtp-user.20261105-101522"
        c.emit(
            dan,
            "iam:CreateUser",
            t,
            request_parameters={"userName": user},
            response_elements={
                "user": {
                    "path": "/",
                    "userName": user,
                    "userId": "AIDA3EXAMPLEPRINTER01",
                    "arn": f"arn:aws:iam::111122223333:user/{user}",
                    "createDate": "Nov 5, 2026 10:15:00 AM",
                }
            },
        )
        c.emit(
            dan,
            "iam:PutUserPolicy",
            t + 1,
            request_parameters={
                "userName": user,
                "policyName": "AmazonSesSendingAccess",
                "policyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                '"Action":"ses:SendRawEmail","Resource":"*"}]}',
            },
        )
        c.emit(
            dan,
            "iam:CreateAccessKey",
            t + 2,
            request_parameters={"userName": user},
            response_elements={
                "accessKey": {
                    "userName": user,
                    "accessKeyId": "AKIA3EXAMPLEPRINTER1",
                    "status": "Active",
                    "createDate": "Nov 5, 2026 10:15:02 AM",
                }
            },
        )
    # Carol develops in the sandbox region with her own key.
    carol = ORG["dev-carol"]
    if day == 0:
        c.emit(
            carol,
            "ses:VerifyEmailIdentity",
            day0 + 10 * HOUR,
            "us-west-2",
            request_parameters={"emailAddress": "carol@example.com"},
        )
    if c.rnd.random() < 0.7:
        t = day0 + (10 + c.jitter(6)) * HOUR
        c.emit(carol, "sts:GetCallerIdentity", t)
        c.emit(carol, "ses:GetSendQuota", t + 5, "us-west-2")
        c.emit(carol, "ses:ListIdentities", t + 8, "us-west-2")
        for i in range(c.rnd.randint(3, 12)):
            c.emit(
                carol,
                "ses:SendEmail",
                t + 60 + i * 45,
                "us-west-2",
                request_parameters={
                    "source": "carol@example.com",
                    "destination": {"toAddresses": [HIDDEN]},
                    "message": {"subject": {"data": HIDDEN}, "body": {"text": {"data": HIDDEN}}},
                },
                response_elements={"messageId": f"0100019{c.rnd.getrandbits(40):010x}-example"},
            )
    if day == 6:
        c.emit(
            carol,
            "ses:DeleteIdentity",
            day0 + 16 * HOUR,
            "us-west-2",
            request_parameters={"identity": "carol+old@example.com"},
        )


def _iac(c: _Corpus, day0: float, day: int, weekday: int) -> None:
    # Terraform plans on every push (GetCallerIdentity + reads); preview environments per PR.
    if weekday < 5:
        for _ in range(c.rnd.randint(6, 12)):
            tf = ORG["terraform"].with_session(f"gha-{c.rnd.randint(10**9, 10**10 - 1)}")
            t = day0 + (8 + c.jitter(10)) * HOUR
            c.emit(tf, "sts:GetCallerIdentity", t)
            c.emit(
                tf,
                "ses:GetEmailIdentity",
                t + 3,
                request_parameters={"emailIdentity": "mail.example.com"},
            )
            c.emit(
                tf,
                "ses:GetConfigurationSet",
                t + 4,
                request_parameters={"configurationSetName": "prod-transactional"},
            )
        for pr in range(c.rnd.randint(1, 3)):
            number = 400 + day * 5 + pr
            domain = f"pr-{number}.preview.example.com"
            cs = f"preview-{number}"
            t = day0 + (9 + c.jitter(8)) * HOUR
            up = ORG["terraform"].with_session(f"gha-{c.rnd.randint(10**9, 10**10 - 1)}")
            c.emit(up, "sts:GetCallerIdentity", t)
            c.emit(
                up,
                "ses:CreateConfigurationSet",
                t + 5,
                request_parameters={"configurationSetName": cs},
            )
            c.emit(
                up,
                "ses:CreateConfigurationSetEventDestination",
                t + 7,
                request_parameters={
                    "configurationSetName": cs,
                    "eventDestinationName": "bounces",
                    "eventDestination": {"enabled": True, "matchingEventTypes": ["BOUNCE"]},
                },
            )
            c.emit(
                up,
                "ses:CreateEmailIdentity",
                t + 8,
                request_parameters={"emailIdentity": domain, "configurationSetName": cs},
                response_elements={"identityType": "DOMAIN", "verifiedForSendingStatus": False},
            )
            # The PR is merged or closed 20 min to 6 h later: terraform destroy.
            down_t = t + c.rnd.uniform(20 * 60, 6 * HOUR)
            down = ORG["terraform"].with_session(f"gha-{c.rnd.randint(10**9, 10**10 - 1)}")
            c.emit(down, "sts:GetCallerIdentity", down_t)
            c.emit(
                down,
                "ses:DeleteEmailIdentity",
                down_t + 4,
                request_parameters={"emailIdentity": domain},
            )
            c.emit(
                down,
                "ses:DeleteConfigurationSetEventDestination",
                down_t + 5,
                request_parameters={"configurationSetName": cs, "eventDestinationName": "bounces"},
            )
            c.emit(
                down,
                "ses:DeleteConfigurationSet",
                down_t + 6,
                request_parameters={"configurationSetName": cs},
            )
    # Nightly CloudFormation integration test: a stack with an identity, deleted 10-25 min later.
    cfn = ORG["cloudformation"].with_session(f"integ-{int(day0)}")
    t = day0 + 3 * HOUR + c.jitter(600)
    address = f"integ-{day}@example.com"
    c.emit(
        cfn,
        "ses:CreateEmailIdentity",
        t,
        request_parameters={"emailIdentity": address},
        response_elements={"identityType": "EMAIL_ADDRESS", "verifiedForSendingStatus": False},
    )
    c.emit(cfn, "ses:ListEmailIdentities", t + 30)
    c.emit(
        cfn,
        "ses:DeleteEmailIdentity",
        t + c.rnd.uniform(600, 1500),
        request_parameters={"emailIdentity": address},
    )


def _background(c: _Corpus, day0: float) -> None:
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("orders-api", "kms:Decrypt", None),
        ("orders-api", "s3:ListBuckets", None),
        ("notify-lambda", "logs:CreateLogStream", {"logGroupName": "/aws/lambda/notify-dispatch"}),
        ("cspm", "ec2:DescribeInstances", None),
        ("cspm", "iam:ListUsers", None),
        ("cspm", "s3:GetBucketPolicy", {"bucketName": "example-assets"}),
        ("svc-ses-monitor", "cloudwatch:GetMetricData", None),
        ("terraform", "ec2:DescribeVpcs", None),
        ("sso-bob-cli", "ec2:DescribeInstances", None),
        ("sso-alice", "cloudwatch:DescribeAlarms", None),
    ]
    for _ in range(1400):
        who, call, params = c.rnd.choice(calls)
        region = c.rnd.choice(["us-east-1", "eu-west-1", "us-west-2"])
        c.emit(ORG[who], call, day0 + c.jitter(DAY), region, request_parameters=params)


def benign_corpus(
    seed: int = DEFAULT_SEED, days: int = DEFAULT_DAYS, start: float = DEFAULT_START
) -> list[dict[str, Any]]:
    """``days`` days of the organisation's CloudTrail from ``start``, in time order."""
    if days < 1:
        raise ValueError("days must be at least 1")
    c = _Corpus(seed)
    for day in range(days):
        day0 = start + day * DAY
        weekday = datetime.fromtimestamp(day0, tz=UTC).weekday()
        _mail_apps(c, day0, weekday)
        _services_and_scanners(c, day0, day)
        _people(c, day0, day, weekday)
        _iac(c, day0, day, weekday)
        _background(c, day0)
    c.records.sort(key=lambda item: (item[0], item[1]))
    return [r for _, _, r in c.records]
