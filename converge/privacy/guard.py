"""The PHI guard: nothing with health information leaves on a standard-tier channel unless the
practice's policy allows it or a staff member overrides with a reason (audited).

Policies for standard channels (SMS, WhatsApp, email, unauthenticated web chat):
- warn: the sender is told what was found and may send anyway with a reason;
- block: refused unless overridden with a reason;
- convert: the content goes into the secure portal and only a neutral notice with a link goes
  out on the standard channel.
Automatic messages (reminders, auto-replies, templates) have nobody to override, so anything
flagged is converted under every policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from converge.connectors.models import Channel, Tier
from converge.core.localcache import LocalCache
from converge.privacy.models import PhiPolicy, PrivacySettings
from converge.privacy.phi import PhiScan, scan


class PhiDetected(ValueError):
    """The text looks like it carries health information and the policy needs a decision."""

    def __init__(self, scan_result: PhiScan, policy: str) -> None:
        self.scan = scan_result
        self.policy = policy
        verb = "blocked" if policy == PhiPolicy.BLOCK else "needs confirmation"
        super().__init__(
            f"health information on a standard channel {verb}: {scan_result.summary()}. "
            "Send it through the secure portal, or give a reason to send it anyway."
        )


@dataclass(frozen=True)
class GuardDecision:
    convert: bool
    scan: PhiScan | None
    overridden: bool = False


def privacy_settings(practice_id: int) -> PrivacySettings:
    """For writers: creates the practice's row on first use."""
    settings, _ = PrivacySettings.objects.get_or_create(practice_id=practice_id)
    return settings


def privacy_settings_read(practice_id: int) -> PrivacySettings:
    """For readers (pages, GET handlers, checks): the row, or unsaved defaults."""
    return PrivacySettings.objects.filter(practice_id=practice_id).first() or PrivacySettings(practice_id=practice_id)


_settings_cache: LocalCache[PrivacySettings] = LocalCache("privacy-settings", watch=[PrivacySettings])


def cached_privacy_settings(practice_id: int) -> PrivacySettings:
    """Read-only, for hot paths (see converge.core.localcache); writers use privacy_settings."""
    return _settings_cache.get(practice_id, lambda: privacy_settings_read(practice_id))


def check_outbound(
    *,
    channel: Channel,
    body: str,
    patient_names: tuple[str, ...],
    is_automatic: bool,
    override_reason: str,
    force_portal: bool = False,
) -> GuardDecision:
    if channel.tier == Tier.SECURE:
        return GuardDecision(convert=False, scan=None)
    if force_portal:
        return GuardDecision(convert=True, scan=None)
    result = scan(body, patient_names=patient_names)
    if not result.has_phi:
        return GuardDecision(convert=False, scan=result)
    if is_automatic:
        return GuardDecision(convert=True, scan=result)
    if override_reason.strip():
        return GuardDecision(convert=False, scan=result, overridden=True)
    policy = cached_privacy_settings(channel.practice_id).standard_channel_policy
    if policy == PhiPolicy.CONVERT:
        return GuardDecision(convert=True, scan=result)
    raise PhiDetected(result, policy)


@dataclass(frozen=True)
class GuardPreview:
    """What `check_outbound` would do with a staff member's draft, told before sending (the
    composer's notice). Advisory only: the send itself runs `check_outbound` again."""

    policy: str  # PhiPolicy: convert, warn or block
    scan: PhiScan

    def mentions(self) -> list[str]:
        """The words found, once each, in the order written (an SSN only as its last four)."""
        seen: set[str] = set()
        shown: list[str] = []
        for finding in self.scan.findings:
            text = " ".join(finding.text.split())
            if finding.kind == "ssn":
                text = "a Social Security number"
            if text.casefold() not in seen:
                seen.add(text.casefold())
                shown.append(text)
        return shown


def preview_outbound(*, channel: Channel, body: str, patient_names: tuple[str, ...]) -> GuardPreview | None:
    """None when the draft would go out as written: a secure channel, or nothing detected.
    Mirrors `check_outbound` for a person's reply without a reason (automatic messages and
    an explicit portal choice have nothing to preview)."""
    if channel.tier == Tier.SECURE or not body.strip():
        return None
    result = scan(body, patient_names=patient_names)
    if not result.has_phi:
        return None
    return GuardPreview(policy=cached_privacy_settings(channel.practice_id).standard_channel_policy, scan=result)
