"""Rewrites: LibCST codemods on generated modules and byte-preserving crontab line edits."""

from owlmigrate.rewrite.codemods import (
    BatchResult,
    CodemodError,
    CodemodResult,
    SetCronKeywords,
    read_cron_keyword,
    read_cron_keywords,
    set_cron_keyword,
    set_cron_keywords,
    set_shadow,
    set_weight,
    weight_code,
)
from owlmigrate.rewrite.crontab_edit import (
    CrontabEditError,
    LineEdit,
    disable_lines,
    disabled_spans,
    is_disabled,
    marker,
    restore_lines,
    strip_all_markers,
    strip_markers,
)

__all__ = [
    "BatchResult",
    "CodemodError",
    "CodemodResult",
    "CrontabEditError",
    "LineEdit",
    "SetCronKeywords",
    "disable_lines",
    "disabled_spans",
    "is_disabled",
    "marker",
    "read_cron_keyword",
    "read_cron_keywords",
    "restore_lines",
    "set_cron_keyword",
    "set_cron_keywords",
    "set_shadow",
    "set_weight",
    "strip_all_markers",
    "strip_markers",
    "weight_code",
]
