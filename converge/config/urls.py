from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from converge.api.v1 import api
from converge.connectors import views as connector_views


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [
    path("healthz", healthz),
    path("api/v1/", api.urls),
    path("webhooks/simulator/<str:key>", connector_views.simulator_webhook, name="webhook-simulator"),
    path("", include("converge.dashboard.urls")),
]
