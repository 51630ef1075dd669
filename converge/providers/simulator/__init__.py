"""The simulator: a provider for demos and tests that needs no account (connector.py)."""
