"""The example organisation of the benign corpus: its principals, regions and identities.

Replays reuse these principals (``org: <name>`` in a campaign file) when the write-up says the
attacker used a key or role of the victim: with history, the scanner has then seen that
principal at work before.

Only documentation IP ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and example
account ids and domains appear.
"""

from __future__ import annotations

from typing import Any

from ses_sigma.evaluate.cloudtrail import ACCOUNT, Principal

__all__ = ["ALL_REGIONS", "ORG", "SES_REGIONS", "iam_user", "org_principal", "role_session"]

#: The 17 regions enabled by default in an AWS account (the scanners' and Wiz's burst's list).
ALL_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
)

#: Regions where the organisation sends mail (out of the sandbox in the first two).
SES_REGIONS = ("us-east-1", "eu-west-1", "us-west-2")

CLI = (
    "aws-cli/2.22.35 md/awscrt#0.23.8 ua/2.0 os/linux#6.8.0-1021-aws md/arch#x86_64 "
    "lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
    "md/distrib#ubuntu.24 md/prompt#off"
)
BOTO3 = (
    "Boto3/1.35.90 md/Botocore#1.35.90 ua/2.0 os/linux#5.15.0-1064-aws md/arch#x86_64 "
    "lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.90"
)
NODE_SDK = (
    "aws-sdk-js/3.716.0 ua/2.1 os/linux#5.10.228-219.884.amzn2.x86_64 lang/js md/nodejs#20.18.1 "
    "api/sesv2#3.716.0 m/E,N"
)
TERRAFORM = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/"
    "5.82.2 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.7 "
    "ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 api/sesv2#1.40.2"
)
PROWLER = (
    "Boto3/1.35.76 md/Botocore#1.35.76 ua/2.0 os/linux#6.1.115 md/arch#x86_64 lang/python#3.12.8 "
    "md/pyimpl#CPython cfg/retry-mode#standard APN_1826889 Botocore/1.35.76"
)
CSPM_GO = (
    "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.4 md/GOOS#linux md/GOARCH#amd64 "
    "api/sesv2#1.40.1 cspm-scanner/2026.11"
)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0"
CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def iam_user(name: str, principal_id: str, key: str, ip: str, agent: str) -> Principal:
    """An IAM user calling with a long-term (AKIA) key."""
    return Principal(
        {
            "type": "IAMUser",
            "principalId": principal_id,
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "accountId": ACCOUNT,
            "accessKeyId": key,
            "userName": name,
        },
        ip,
        agent,
    )


def role_session(
    role: str,
    role_id: str,
    session: str,
    key: str,
    ip: str,
    agent: str,
    path: str = "",
    created: str = "2026-11-01T00:00:00Z",
    mfa: bool = False,
    invoked_by: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Principal:
    """A role session (AssumedRole, temporary ASIA key); ``path`` is the role's IAM path."""
    ident: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{path}{role}",
                "accountId": ACCOUNT,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": created, "mfaAuthenticated": str(mfa).lower()},
        },
    }
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return Principal(ident, ip, agent, dict(extra or {}))


_SSO_PATH = "aws-reserved/sso.amazonaws.com/eu-west-1/"

#: The organisation's principals, by name.
ORG: dict[str, Principal] = {
    # Applications sending mail.
    "orders-api": role_session(
        "OrdersApiTaskRole",
        "AROA3EXAMPLEORDERS001",
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "ASIA3EXAMPLEORDERS01",
        "203.0.113.50",
        NODE_SDK,
    ),
    "notify-lambda": role_session(
        "NotifyDispatchRole",
        "AROA3EXAMPLENOTIFY001",
        "notify-dispatch",
        "ASIA3EXAMPLENOTIFY01",
        "203.0.113.51",
        BOTO3,
    ),
    "ses-mailer-prod": iam_user(
        "ses-mailer-prod", "AIDA3EXAMPLESESMAIL01", "AKIA3EXAMPLESESMAIL1", "198.51.100.80", BOTO3
    ),
    "svc-newsletter": iam_user(
        "svc-newsletter", "AIDA3EXAMPLENEWSLTR01", "AKIA3EXAMPLE7NEWSLTR", "198.51.100.23", BOTO3
    ),
    "svc-ses-monitor": iam_user(
        "svc-ses-monitor", "AIDA3EXAMPLESESMON001", "AKIA3EXAMPLESESMON01", "198.51.100.81", BOTO3
    ),
    "svc-reports": iam_user(
        "svc-reports", "AIDA3EXAMPLEREPORTS01", "AKIA3EXAMPLEREPORTS1", "198.51.100.82", BOTO3
    ),
    "dev-carol": iam_user(
        "dev-carol", "AIDA3EXAMPLEDEVCAROL1", "AKIA3EXAMPLEDEVCAROL", "192.0.2.61", CLI
    ),
    # AWS services and scanners.
    "trusted-advisor": role_session(
        "AWSServiceRoleForTrustedAdvisor",
        "AROA3EXAMPLETRUSTADV1",
        "TrustedAdvisor_111122223333_7472a099-2df6-4080-b339-9681aa0a066a",
        "ASIA3EXAMPLETRUSTAD1",
        "trustedadvisor.amazonaws.com",
        "trustedadvisor.amazonaws.com",
        path="aws-service-role/trustedadvisor.amazonaws.com/",
    ),
    "prowler": role_session(
        "ProwlerScanRole",
        "AROA3EXAMPLEPROWLER01",
        "prowler-scan",
        "ASIA3EXAMPLEPROWLER1",
        "203.0.113.60",
        PROWLER,
    ),
    "cspm": role_session(
        "CspmReadOnlyRole",
        "AROA3EXAMPLECSPMREAD1",
        "cspm-scan",
        "ASIA3EXAMPLECSPMREA1",
        "198.51.100.200",
        CSPM_GO,
    ),
    # People (IAM Identity Center, console).
    "sso-alice": role_session(
        "AWSReservedSSO_DeveloperAccess_3f1a2b4c5d6e7f80",
        "AROA3EXAMPLESSODEVEL1",
        "alice@example.com",
        "ASIA3EXAMPLESSOALIC1",
        "192.0.2.10",
        FIREFOX,
        path=_SSO_PATH,
        extra={"sessionCredentialFromConsole": "true"},
    ),
    "sso-admin-dan": role_session(
        "AWSReservedSSO_AdministratorAccess_9a8b7c6d5e4f3a21",
        "AROA3EXAMPLESSOADMIN1",
        "dan@example.com",
        "ASIA3EXAMPLESSODAN01",
        "192.0.2.12",
        CHROME,
        path=_SSO_PATH,
        mfa=True,
        extra={"sessionCredentialFromConsole": "true"},
    ),
    "sso-bob-cli": role_session(
        "AWSReservedSSO_DeveloperAccess_3f1a2b4c5d6e7f80",
        "AROA3EXAMPLESSODEVEL1",
        "bob@example.com",
        "ASIA3EXAMPLESSOBOB01",
        "192.0.2.11",
        CLI,
        path=_SSO_PATH,
    ),
    # Infrastructure as code.
    "terraform": role_session(
        "TerraformDeployRole",
        "AROA3EXAMPLETERRAFO01",
        "gha-run",
        "ASIA3EXAMPLETERRAF01",
        "203.0.113.70",
        TERRAFORM,
    ),
    "cloudformation": role_session(
        "IntegTestDeployRole",
        "AROA3EXAMPLEINTEGTS01",
        "integ-run",
        "ASIA3EXAMPLEINTEGT01",
        "cloudformation.amazonaws.com",
        "cloudformation.amazonaws.com",
        invoked_by="cloudformation.amazonaws.com",
    ),
}


def org_principal(name: str) -> Principal:
    """The organisation's principal ``name``; KeyError naming the known ones."""
    try:
        return ORG[name]
    except KeyError:
        known = ", ".join(ORG)
        raise KeyError(f"unknown organisation principal {name!r} (known: {known})") from None
