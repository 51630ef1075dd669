from datetime import timedelta

from converge.audit.services import audit_seal
from converge.core.jobs import periodic


@periodic("audit.seal", every=timedelta(seconds=2))
def seal_audit_chain() -> None:
    audit_seal()
