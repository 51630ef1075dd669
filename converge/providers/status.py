"""Which delivery-status transitions a provider callback may apply to an outbound message.

Providers deliver status callbacks at least once and out of order (WhatsApp can report `read`
before `delivered`; Twilio can report `sent` after `delivered`). The rule:

- queued → sending → sent → delivered → read only ever moves forward; an equal or earlier
  status is ignored.
- failed may replace queued, sending or sent, but never delivered or read: a late `failed`
  for a message the patient already received is noise, not news.
- failed is final: nothing replaces it. (Twilio's `undelivered` is final, and a message Meta
  reported failed is not retried by Meta.)
- received belongs to inbound messages and takes part in no transition.
"""

from __future__ import annotations

from converge.providers.types import STATUS_RANK, DeliveryStatus

_FAILED_MAY_REPLACE = frozenset(
    {DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.SENT},
)


def status_may_advance(current: str, new: str) -> bool:
    """True when a message whose status is `current` should move to `new`."""
    if current == DeliveryStatus.FAILED:
        return False
    if new == DeliveryStatus.FAILED:
        return current in _FAILED_MAY_REPLACE
    if current not in STATUS_RANK or new not in STATUS_RANK:
        return False
    return STATUS_RANK[new] > STATUS_RANK[current]
