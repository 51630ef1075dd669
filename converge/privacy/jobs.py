from datetime import timedelta

from converge.core.jobs import periodic
from converge.privacy.retention import purge_audit, purge_messages


@periodic("privacy.retention", every=timedelta(hours=6))
def retention() -> None:
    purge_messages()
    purge_audit()
