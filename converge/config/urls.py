from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.urls import include, path

from converge import worker_lanes
from converge.api.v1 import api
from converge.config.env import env_bool
from converge.connectors import webhooks
from converge.core import health, metrics


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for /favicon.ico wherever a page names no icon."""
    return HttpResponseRedirect(staticfiles_storage.url("converge/favicon.svg"))


urlpatterns = [
    path("healthz", healthz),
    path("readyz", health.readyz, {"queues": worker_lanes.READINESS}),
    # /metrics is token-protected (CONVERGE_METRICS_TOKEN)
    path("metrics", metrics.metrics_view, {"database": worker_lanes.DATABASE_GAUGES}, name="metrics"),
    path("favicon.ico", favicon),
    path("api/v1/", api.urls),
    path("webhooks/simulator/<str:key>", webhooks.webhook_view(webhooks.SIMULATOR), name="webhook-simulator"),
    path("webhooks/whatsapp/<str:key>", webhooks.webhook_view(webhooks.WHATSAPP), name="webhook-whatsapp"),
    path("webhooks/twilio/<str:key>", webhooks.webhook_view(webhooks.TWILIO), name="webhook-twilio"),
    path(
        "webhooks/twilio/<str:key>/status", webhooks.webhook_view(webhooks.TWILIO_STATUS), name="webhook-twilio-status"
    ),
    path("", include("converge.connectors.views_email_webchat")),
    path("", include("converge.connectors.webchat_views")),
    path("settings/channels/", include("converge.connectors.urls")),
    path("portal/", include("converge.portal.urls")),
    path("", include("converge.accounts.urls")),
    path("", include("converge.audit.urls")),
    path("", include("converge.privacy.urls")),
    path("", include("converge.scheduling.urls")),
    path("", include("converge.teamchat.urls")),
    path("", include("converge.dashboard.urls")),
]

if env_bool("CONVERGE_BENCH_ENDPOINTS", False):
    urlpatterns.insert(0, path("", include("converge.config.bench_endpoints")))
