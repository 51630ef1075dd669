from datetime import timedelta

from converge.conversations.services import conversations_wake_snoozed
from converge.core.jobs import periodic


@periodic("conversations.wake_snoozed", every=timedelta(seconds=30))
def wake_snoozed() -> None:
    conversations_wake_snoozed()
