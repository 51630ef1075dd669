"""WhatsApp Cloud API (Meta): the protocol (protocol.py) and its Connector (connector.py)."""
