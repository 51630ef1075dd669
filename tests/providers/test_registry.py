"""CONNECTORS is written out: each entry speaks the kind it is filed under."""

from __future__ import annotations

from converge.providers.registry import CONNECTORS
from converge.providers.types import ChannelKind


def test_each_connector_speaks_the_kind_it_is_filed_under():
    assert set(CONNECTORS) == {ChannelKind.WHATSAPP, ChannelKind.SMS}
    assert all(connector.kind == kind for kind, connector in CONNECTORS.items())
