"""Code generation: a scan plan rendered into an OwlClaw app directory."""

from owlmigrate.codegen.literals import (
    Code,
    md_fence,
    md_text,
    py_comment,
    py_kwarg,
    py_literal,
    slug,
)
from owlmigrate.codegen.render import (
    MANIFEST_NAME,
    MODULE_NAME,
    NotMigrated,
    PlanRenderError,
    Rendering,
    Trigger,
    derive_focus,
    overlap_settings,
    render,
    templates_dir,
    why_not,
)

__all__ = [
    "MANIFEST_NAME",
    "MODULE_NAME",
    "Code",
    "NotMigrated",
    "PlanRenderError",
    "Rendering",
    "Trigger",
    "derive_focus",
    "md_fence",
    "md_text",
    "overlap_settings",
    "py_comment",
    "py_kwarg",
    "py_literal",
    "render",
    "slug",
    "templates_dir",
    "why_not",
]
