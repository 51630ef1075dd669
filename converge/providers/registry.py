"""Which connector speaks each kind of channel's protocol, written out.

The simulator is not here: it speaks for a channel of any kind (see
converge.providers.simulator.connector). Email, web chat and the portal are not Connectors: their
messages do not arrive by webhook (an IMAP poll, a WebSocket, a portal form), and what they send
needs the database (reply tokens, the visitor's socket, the portal thread).
"""

from __future__ import annotations

from converge.providers.twilio.connector import TWILIO
from converge.providers.types import ChannelKind, Connector
from converge.providers.whatsapp.connector import WHATSAPP

CONNECTORS: dict[ChannelKind, Connector] = {
    ChannelKind.WHATSAPP: WHATSAPP,
    ChannelKind.SMS: TWILIO,
}
