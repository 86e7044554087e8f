"""Crontab file formats with byte spans (see docs/architecture.md, "Crontab files")."""

from owlmigrate.crontab.anacrontab import parse_anacrontab
from owlmigrate.crontab.command import split_percent
from owlmigrate.crontab.env import parse_env_line
from owlmigrate.crontab.model import AnacronEntry, CrontabFile, CrontabLine, LineKind
from owlmigrate.crontab.parser import DIALECTS, parse_crontab

__all__ = [
    "DIALECTS",
    "AnacronEntry",
    "CrontabFile",
    "CrontabLine",
    "LineKind",
    "parse_anacrontab",
    "parse_crontab",
    "parse_env_line",
    "split_percent",
]
