from datetime import timedelta

from converge.conversations.outbox import outbox_expire_unconfirmed
from converge.conversations.services import conversations_wake_snoozed
from converge.core.jobs import periodic


@periodic("conversations.wake_snoozed", every=timedelta(seconds=30))
def wake_snoozed() -> None:
    conversations_wake_snoozed()


@periodic("outbox.expire_unconfirmed", every=timedelta(seconds=60))
def expire_unconfirmed() -> None:
    outbox_expire_unconfirmed()
