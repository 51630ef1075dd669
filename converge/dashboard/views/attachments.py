"""Downloading a patient's attachment from the thread."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from converge.conversations import attachments
from converge.core.downloads import file_download
from converge.dashboard.views.common import principal_of, staff_required


@staff_required
@require_GET
def attachment_download(request: HttpRequest, attachment_id: int) -> HttpResponse:
    try:
        download = attachments.attachment_download(principal=principal_of(request), attachment_id=attachment_id)
    except attachments.AttachmentUnavailable as exc:
        return _plain(str(exc), status=404)
    except attachments.AttachmentDamaged as exc:
        return _plain(str(exc), status=409)
    return file_download(
        download.content, filename=download.attachment.filename, declared_type=download.attachment.content_type
    )


def _plain(text: str, *, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
