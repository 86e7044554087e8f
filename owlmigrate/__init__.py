"""owlmigrate: move legacy cron jobs onto OwlClaw @app.cron triggers."""

__version__ = "0.1.0"
