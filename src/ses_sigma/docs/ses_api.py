"""The SES abuse chain as data: each stage and the CloudTrail API calls an attacker makes in it.

Origin: the project's SES threat reference (``shared/reference/ses-threats.md``, "How Amazon
SES is abused, as seen in CloudTrail"), a summary of public incident write-ups: Permiso
"SES-pionage", Wiz's 2025 SES campaign, Datadog Security Labs, Invictus IR "DangerDev",
Unit 42, Rapid7 "Crimson Collective", Kaspersky. Stages, calls and notes are transcribed from
its table; where the reference names a family of calls without the API names ("suppression-list
changes"), the names are those of the SES v2 API reference and the note says so. eventSource
values are the services' CloudTrail sources (all SES calls, v1 and v2, are
``ses.amazonaws.com``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ses_sigma.docs.calls import ApiCall

__all__ = ["ORIGIN", "STAGES", "Stage", "all_calls"]

ORIGIN = (
    "the project's SES threat reference (shared/reference/ses-threats.md), a summary of "
    'public incident write-ups: Permiso "SES-pionage", Wiz (2025 SES campaign), Datadog '
    'Security Labs, Invictus IR "DangerDev", Unit 42, Rapid7 "Crimson Collective", Kaspersky'
)

SES = "ses.amazonaws.com"
STS = "sts.amazonaws.com"
QUOTAS = "servicequotas.amazonaws.com"
SUPPORT = "support.amazonaws.com"
IAM = "iam.amazonaws.com"


@dataclass(frozen=True)
class Stage:
    """One stage of the chain: its name, its API calls and what to know about it."""

    name: str
    calls: tuple[ApiCall, ...]
    note: str


def _calls(source: str, *names: str) -> tuple[ApiCall, ...]:
    return tuple(ApiCall(source, n) for n in names)


STAGES: tuple[Stage, ...] = (
    Stage(
        "key validation",
        _calls(STS, "GetCallerIdentity"),
        "often with userAgent TruffleHog",
    ),
    Stage(
        "SES recon, v1 API",
        _calls(
            SES,
            "GetSendQuota",
            "GetAccountSendingEnabled",
            "ListIdentities",
            "GetIdentityVerificationAttributes",
            "GetSendStatistics",
            "ListVerifiedEmailAddresses",
        ),
        "read-only; frequently from a long-term AKIA key; often repeated across many regions "
        "within minutes",
    ),
    Stage(
        "SES recon, v2 API",
        _calls(SES, "GetAccount", "ListEmailIdentities", "GetEmailIdentity"),
        "GetAccount returns sandbox state, quota and sending status in one call",
    ),
    Stage(
        "quota recon",
        _calls(QUOTAS, "ListServiceQuotas", "GetServiceQuota"),
        "with requestParameters.serviceCode ses; a different eventSource than SES",
    ),
    Stage(
        "sandbox escape",
        _calls(SES, "PutAccountDetails"),
        "requestParameters mailType, websiteURL, contactLanguage, useCaseDescription, "
        "productionAccessEnabled; Wiz saw it issued in every region within about 10 s",
    ),
    Stage(
        "quota raise",
        _calls(QUOTAS, "RequestServiceQuotaIncrease") + _calls(SUPPORT, "CreateCase"),
        "RequestServiceQuotaIncrease with serviceCode ses, or a support case",
    ),
    Stage(
        "enable sending",
        _calls(
            SES,
            "UpdateAccountSendingEnabled",
            "PutAccountSendingAttributes",
            "UpdateConfigurationSetSendingEnabled",
            "PutConfigurationSetSendingOptions",
        ),
        "requestParameters.enabled true (v1) or sendingEnabled true (v2): v1 and v2 use "
        "different parameter names",
    ),
    Stage(
        "new sender identity",
        _calls(
            SES,
            "VerifyEmailIdentity",
            "VerifyEmailAddress",
            "VerifyDomainIdentity",
            "VerifyDomainDkim",
            "CreateEmailIdentity",
        ),
        "emailAddress (VerifyEmailIdentity, legacy VerifyEmailAddress), domain "
        "(VerifyDomainIdentity), emailIdentity (v2 CreateEmailIdentity)",
    ),
    Stage(
        "SMTP credentials",
        _calls(IAM, "CreateUser", "PutUserPolicy", "AttachUserPolicy", "CreateAccessKey"),
        "a user named like ses-smtp-user.* with a policy granting ses:SendRawEmail or "
        "AmazonSESFullAccess, and an access key: the SES console's SMTP wizard creates such "
        "users, and attackers do the same",
    ),
    Stage(
        "sending",
        _calls(
            SES,
            "SendEmail",
            "SendRawEmail",
            "SendTemplatedEmail",
            "SendBulkTemplatedEmail",
            "SendBulkEmail",
        ),
        "CloudTrail data events, logged only if data events are enabled",
    ),
    Stage(
        "cleanup / evasion",
        _calls(
            SES,
            "DeleteIdentity",
            "DeleteEmailIdentity",
            "DeleteVerifiedEmailAddress",
            "SetIdentityFeedbackForwardingEnabled",
            "DeleteConfigurationSet",
            "DeleteConfigurationSetEventDestination",
            "PutSuppressedDestination",
            "DeleteSuppressedDestination",
            "PutAccountSuppressionAttributes",
            "PutIdentityPolicy",
            "CreateEmailIdentityPolicy",
            "CreateReceiptRule",
            "SetActiveReceiptRuleSet",
        ),
        "identity deletion (identity, emailIdentity, emailAddress), feedback forwarding off, "
        "configuration sets and event destinations deleted, suppression-list changes (the "
        "reference names no calls: PutSuppressedDestination, DeleteSuppressedDestination and "
        "PutAccountSuppressionAttributes are the SES v2 API's), identity policies granting "
        "other accounts, receipt rules intercepting inbound mail",
    ),
)


def all_calls() -> list[tuple[Stage, ApiCall]]:
    """Every (stage, call) of the chain, in chain order."""
    return [(stage, call) for stage in STAGES for call in stage.calls]
