"""Twilio Programmable Messaging: the protocol (protocol.py) and its Connector (connector.py)."""
