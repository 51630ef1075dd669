from datetime import timedelta

from converge.core.jobs import periodic
from converge.routing.services import urgent_escalate_due


@periodic("routing.urgent_escalation", every=timedelta(seconds=30))
def escalate() -> None:
    urgent_escalate_due()
