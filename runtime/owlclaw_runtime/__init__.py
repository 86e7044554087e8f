"""owlclaw_runtime: what generated apps import at run time.

It never imports the ``owlmigrate`` toolkit. Public names are re-exported here as the pieces land.
"""

from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig, ExecutionStatus

__all__ = ["CronExecution", "CronTriggerConfig", "ExecutionStatus"]
__version__ = "0.1.0"
