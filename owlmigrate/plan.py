"""The plan: everything ``owlmigrate scan`` found, as a versioned pydantic model.

Its JSON is DESIGN.md section 6's ``scan`` output plus, per job, ``semantics``,
``daemon_timezone``, ``shell``, ``source_sha256``, ``span`` and ``migration`` (cut over), and
``host.root``, ``app``, ``markers``, ``risks`` and ``retired`` (docs/scanning.md, "Identity").
``docs/plan.schema.json`` is generated from this module (``scripts/plan_schema.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from owlmigrate.atomic import atomic_write
from owlmigrate.errors import OwlMigrateError

PLAN_FORMAT_VERSION = 1

JobKind = Literal["cron", "reboot", "periodic", "anacron"]
SourceKind = Literal["user", "system", "periodic", "anacrontab", "file"]
Semantics = Literal["daemon", "wallclock"]


class PlanError(OwlMigrateError):
    """A plan file is missing, unreadable, not a plan, or from a newer owlmigrate."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Risk(_Model):
    """Something about a job that a migration must not get wrong; ``code`` is stable."""

    code: str
    message: str


class SourceError(_Model):
    """A problem with a source, at a line when there is one."""

    line: int | None = None
    message: str


class Call(_Model):
    """Something a job's command runs: an executable, a script under the root, a guard."""

    kind: Literal["executable", "script", "builtin", "guard", "wrapper", "directory"]
    name: str
    path: str | None = None
    resolved: str | None = Field(
        default=None, description="path of the file under the host root, relative to it"
    )
    language: Literal["python", "shell", "opaque"] | None = None
    args: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


class Runner(_Model):
    """For periodic and anacron jobs: the line that runs the directory or job."""

    source: str
    line: int | None = None
    command: str | None = None
    marker: str | None = Field(
        default=None,
        description="the trigger whose verified marker disables this line (it is cut over)",
    )


class JobMigration(_Model):
    """Where a job stands in a migration, as the scan found it (``None``: in cron's hands).

    ``cut_over``: its crontab line carries the marker of trigger ``marker`` (the job's id), and
    the app's journal vouches that owlmigrate wrote it: a cutover row whose ``line_sha256``
    equals the SHA-256 of the marked line(s) minus the marker prefix, i.e. the original line
    byte for byte. The job's ``span`` is the marked line(s) in the file as found.
    """

    state: Literal["cut_over"]
    marker: str = Field(description="the trigger id the marker names")
    line_sha256: str = Field(description="SHA-256 of the original line (marker prefix removed)")


class Job(_Model):
    """One job, enabled or commented out, with where it came from and what it does."""

    id: str
    source: str
    line: int | None
    end_line: int | None = None
    schedule: str
    user: str | None
    command: str
    stdin: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    timezone: str
    daemon_timezone: str
    dialect: str
    semantics: Semantics
    enabled: bool
    kind: JobKind
    description: str | None = None
    risks: list[Risk] = Field(default_factory=list)
    calls: list[Call] = Field(default_factory=list)
    shell: str = "/bin/sh"
    source_sha256: str
    span: tuple[int, int] | None = None
    random_delay: int | None = Field(
        default=None, description="cronie RANDOM_DELAY or anacron delay, in minutes"
    )
    runner: Runner | None = None
    anacron: dict[str, Any] | None = None
    flags: list[str] = Field(default_factory=list)
    variables: list[str] = Field(
        default_factory=list, description="shell variables the command reads ($HOME, ${X})"
    )
    migration: JobMigration | None = Field(
        default=None, description="set when the job is cut over (its line carries our marker)"
    )

    @property
    def cut_over(self) -> bool:
        """Whether the scan found the job cut over (its line disabled by our verified marker)."""
        return self.migration is not None and self.migration.state == "cut_over"

    def has_risk(self, code: str) -> bool:
        """Whether a risk with this code was flagged."""
        return any(r.code == code for r in self.risks)


class Source(_Model):
    """A file the scan looked at, whether the daemon runs it, and its problems."""

    path: str
    kind: SourceKind
    user: str | None = None
    runs: bool
    reason: str | None = None
    errors: list[SourceError] = Field(default_factory=list)
    dialect: str | None = None
    sha256: str | None = None
    size: int | None = None
    lines: int | None = None
    counts: dict[str, int] = Field(
        default_factory=dict, description="lines per kind: job, env, comment, blank, ..."
    )
    system_format: bool | None = Field(
        default=None, description="crontab read with a user column (etc/crontab format)"
    )


MarkerStatus = Literal["cut_over", "unverified", "no_trigger", "not_ours"]


class MarkerLine(_Model):
    """A crontab line that starts with ``#owlmigrate:``: our cutover marker, or one shaped like it.

    ``status``: ``cut_over`` (ours: the job is in the plan as cut over, id ``job``),
    ``unverified`` (no app was given, so no journal vouches for it), ``no_trigger`` (the app has
    no trigger of that name) or ``not_ours`` (the app's journal holds no cutover of exactly this
    line). Anything but ``cut_over`` stays a plain comment: never a job, never an assignment.
    """

    source: str
    line: int
    end_line: int | None = None
    trigger: str = Field(description="the id the marker names (percent-decoded)")
    status: MarkerStatus
    job: str | None = None
    restore: str | None = Field(
        default=None, description="the command that gives the original line back to cron"
    )


class PlanRisk(_Model):
    """A migration finding not tied to one job of the plan (a marker, a cut-over trigger)."""

    code: str
    message: str
    source: str | None = None
    line: int | None = None
    trigger: str | None = None
    restore: str | None = Field(
        default=None, description="the exact command that restores the legacy line"
    )


class RetiredJob(_Model):
    """An id that an earlier scan or the app gave and that no job of this plan holds (a job
    gone, a periodic directory's trigger, a trigger only the journal remembers). It is never
    given to another job; the same job (source, schedule, command, user, kind) coming back gets
    it again. Only ``id`` is known for a name the journal alone holds."""

    id: str
    source: str | None = None
    line: int | None = None
    schedule: str | None = None
    command: str | None = None
    user: str | None = None
    kind: str | None = None


class Host(_Model):
    """Facts about the host the daemon runs on, each detected under the root or overridden."""

    root: str | None
    dialect: str
    timezone: str
    systemd: bool
    users: list[str] = Field(default_factory=list)
    os_id: str | None = None
    os_name: str | None = None
    detected: dict[str, str] = Field(
        default_factory=dict, description="fact -> where it came from (file or 'option')"
    )


class Plan(_Model):
    """The inventory written by ``owlmigrate scan -o PLAN`` and read by the later commands."""

    format_version: int = PLAN_FORMAT_VERSION
    generator: str = "owlmigrate"
    host: Host
    sources: list[Source] = Field(default_factory=list)
    jobs: list[Job] = Field(default_factory=list)
    app: str | None = Field(
        default=None, description="the app directory whose manifest and journal the scan read"
    )
    markers: list[MarkerLine] = Field(default_factory=list)
    risks: list[PlanRisk] = Field(default_factory=list)
    retired: list[RetiredJob] = Field(default_factory=list)

    def job(self, job_id: str) -> Job:
        """The job with this id (``KeyError`` when absent)."""
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)

    def to_json(self) -> str:
        """The plan as indented JSON text (what ``dump`` writes)."""
        return self.model_dump_json(indent=2) + "\n"

    def dump(self, path: str | os.PathLike[str]) -> Path:
        """Write the plan atomically (temp file in the same directory, then rename); a new plan
        file is 0600, as it may quote crontab lines."""
        target = Path(path)
        atomic_write(target, self.to_json().encode("utf-8"), mode=0o600, point="plan")
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Plan:
        """Read a plan file; :class:`PlanError` names the file on any problem."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PlanError("no such plan file", path=p) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PlanError(f"cannot read the plan: {exc}", path=p) from None
        if not isinstance(data, dict) or "format_version" not in data:
            raise PlanError("not an owlmigrate plan (no format_version)", path=p)
        version = data["format_version"]
        if not isinstance(version, int) or version > PLAN_FORMAT_VERSION:
            raise PlanError(
                f"plan format {version!r} is newer than this owlmigrate understands "
                f"({PLAN_FORMAT_VERSION}); upgrade owlmigrate",
                path=p,
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise PlanError(f"invalid plan: {exc}", path=p) from None


def schema() -> dict[str, Any]:
    """The plan's JSON schema (exported to docs/plan.schema.json)."""
    return Plan.model_json_schema()


if __name__ == "__main__":  # python -m owlmigrate.plan > docs/plan.schema.json
    print(json.dumps(schema(), indent=2, sort_keys=True))
