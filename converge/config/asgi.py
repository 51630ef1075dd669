import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "converge.config.settings")
django.setup(set_prefix=False)

from converge.core.supervisor import exit_with_supervisor  # noqa: E402

exit_with_supervisor()  # a web process of `serve --workers` dies with its supervisor

from converge.core.asgi_handler import PooledThreadASGIHandler  # noqa: E402

django_asgi_app = PooledThreadASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from converge.connectors.webchat_consumer import WebchatConsumer  # noqa: E402
from converge.dashboard.consumers import StaffConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                path("ws/staff/", AllowedHostsOriginValidator(AuthMiddlewareStack(StaffConsumer.as_asgi()))),
                # Embedded on practices' own websites: the consumer checks the channel's origin list.
                path("ws/webchat/<str:key>/", WebchatConsumer.as_asgi()),
            ]
        ),
    }
)
