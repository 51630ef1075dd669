from datetime import timedelta

from converge.connectors.media import attachments_fetch_pending
from converge.core.jobs import periodic


@periodic("connectors.fetch_media", every=timedelta(seconds=15))
def fetch_media() -> None:
    attachments_fetch_pending()
