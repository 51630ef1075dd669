"""Per-channel send-rate limits, shared by every worker.

Each channel has a token bucket in the database (ChannelRateState): `max_per_second` tokens flow
in per second up to `burst`, and each message the outbox claims takes one. The bucket row is
locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions serialise writers)
inside the claim transaction, so two workers never spend the same token. A message the bucket
cannot pay for now is not claimed: it stays queued with `next_attempt_at` set to when a token
will be there, so a reminder burst drains at the provider's pace instead of being rejected.

Defaults follow the providers' published per-sender throughput (Channel.settings
"max_per_second" overrides): Twilio long code 1/s, toll-free 3/s, short code 100/s, Messaging
Service 10/s; WhatsApp Cloud API 80/s per number. Simulator and other channels are unlimited
unless a limit is set.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from converge.connectors.models import Channel, ChannelRateState, Provider
from converge.conversations.models import Message

WHATSAPP_CLOUD_API = 80.0
TWILIO_LONG_CODE = 1.0
TWILIO_TOLL_FREE = 3.0
TWILIO_SHORT_CODE = 100.0
TWILIO_MESSAGING_SERVICE = 10.0
_TOLL_FREE_PREFIXES = ("+1800", "+1833", "+1844", "+1855", "+1866", "+1877", "+1888")
# Sends are paced 1 % under the limit: the provider counts by its own clock, and network jitter
# of a few milliseconds would otherwise show it a run just above the limit (100.2 % measured).
PACING = 0.99
# A deferred message is never retried sooner than this, so a throttled claim cannot spin.
MIN_DEFER_SECONDS = 0.02


def max_per_second(channel: Channel) -> float | None:
    """Messages per second this channel may send, or None for no limit."""
    configured = channel.settings.get("max_per_second")
    if isinstance(configured, int | float) and not isinstance(configured, bool) and configured > 0:
        return float(configured)
    if channel.provider == Provider.META:
        return WHATSAPP_CLOUD_API
    if channel.provider == Provider.TWILIO:
        if channel.settings.get("messaging_service_sid"):
            return TWILIO_MESSAGING_SERVICE
        number = str(channel.settings.get("from_number", ""))
        if number.isdigit():
            return TWILIO_SHORT_CODE
        if number.startswith(_TOLL_FREE_PREFIXES):
            return TWILIO_TOLL_FREE
        return TWILIO_LONG_CODE
    return None


def burst(channel: Channel, rate: float) -> float:
    """How many tokens the bucket holds (and a new one starts with): a quarter second's worth, at
    least one, unless configured.

    The providers' limits are per second and a send above them is refused (WhatsApp 130429) or
    filtered by carriers. A small capacity keeps a run at the rate while letting a worker that
    polled late catch up instead of losing that time for good (a one-token bucket ran at 92 % of
    the limit, a full second's burst at 103 %)."""
    return _configured_burst(channel) or max(1.0, rate / 4)


def _configured_burst(channel: Channel) -> float | None:
    """A burst set on the channel (Channel.settings "burst")."""
    configured = channel.settings.get("burst")
    if isinstance(configured, int | float) and not isinstance(configured, bool) and configured >= 1:
        return float(configured)
    return None


def throttle_claim(rows: list[tuple[int, int]], *, now: datetime) -> list[int]:
    """Given due (message id, channel id) rows locked by the outbox claim, in claim order, return
    the ids that may be sent now; the others are rescheduled for when their channel has tokens.
    Must run inside the claim's transaction."""
    by_channel: dict[int, list[int]] = defaultdict(list)
    for message_id, channel_id in rows:
        by_channel[channel_id].append(message_id)
    channels = Channel.objects.in_bulk(list(by_channel))
    admitted: set[int] = set()
    deferred: list[Message] = []
    # Buckets are locked in channel id order so two claims can never deadlock on them.
    for channel_id in sorted(by_channel):
        ids = by_channel[channel_id]
        channel = channels.get(channel_id)
        rate = max_per_second(channel) if channel is not None else None
        if channel is None or rate is None:
            admitted.update(ids)
            continue
        paced = rate * PACING
        granted, left = _take(channel, len(ids), rate=paced, capacity=burst(channel, rate), now=now)
        admitted.update(ids[:granted])
        for j, message_id in enumerate(ids[granted:]):
            wait = max(MIN_DEFER_SECONDS, (j + 1 - left) / paced)
            # Rounded up to the microsecond: due exactly when its token is there, not a hair before.
            due = now + timedelta(microseconds=math.ceil(wait * 1_000_000))
            deferred.append(Message(pk=message_id, next_attempt_at=due))
    if deferred:
        Message.objects.bulk_update(deferred, ["next_attempt_at"])
    return [message_id for message_id, _ in rows if message_id in admitted]


def _take(channel: Channel, wanted: int, *, rate: float, capacity: float, now: datetime) -> tuple[int, float]:
    """Spend up to `wanted` whole tokens; returns (spent, tokens left)."""
    state = ChannelRateState.objects.select_for_update().filter(channel=channel).first()
    if state is None:
        try:
            with transaction.atomic():
                ChannelRateState.objects.create(
                    practice_id=channel.practice_id,
                    channel=channel,
                    tokens=capacity,
                    updated_at=now,
                )
        except IntegrityError:
            pass  # another worker created it first
        state = ChannelRateState.objects.select_for_update().get(channel=channel)
    # Workers' clocks may disagree slightly: time never runs backwards for the bucket.
    elapsed = max(0.0, (now - state.updated_at).total_seconds())
    tokens = min(capacity, state.tokens + elapsed * rate)
    # Times are whole microseconds: a token a microsecond short counts as there.
    spent = min(wanted, math.floor(tokens + 1e-6))
    state.tokens = tokens - spent
    state.updated_at = max(now, state.updated_at)
    state.save(update_fields=["tokens", "updated_at"])
    return spent, state.tokens
