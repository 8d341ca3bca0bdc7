"""The benign corpus's people, infrastructure as code and background calls."""

from __future__ import annotations

from typing import Any

from ses_sigma.evaluate.benign_apps import DAY, HIDDEN, HOUR, IDENTITIES, Corpus
from ses_sigma.evaluate.org import ORG

__all__ = ["background", "iac", "people"]


def people(c: Corpus, day0: float, day: int, weekday: int) -> None:
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


def iac(c: Corpus, day0: float, day: int, weekday: int) -> None:
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


def background(c: Corpus, day0: float) -> None:
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
