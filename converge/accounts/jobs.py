from datetime import timedelta

from converge.accounts.mail import send_due
from converge.core.jobs import periodic


@periodic("accounts.invitation_mail", every=timedelta(seconds=5))
def invitation_mail() -> None:
    send_due()
