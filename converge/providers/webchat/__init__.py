"""The website chat widget: what a visitor's browser sends, checked (protocol.py)."""
