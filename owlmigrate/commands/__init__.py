"""CLI command modules; each exposes a click command named ``command``."""
