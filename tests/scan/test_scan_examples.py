"""scan over the example host trees: the inventory each daemon would run, with its risks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from owlmigrate.plan import Job, Plan
from owlmigrate.scan import scan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "legacy_crontabs"


@pytest.fixture(scope="module")
def debian() -> Plan:
    return scan(root=EXAMPLES / "debian-web")


@pytest.fixture(scope="module")
def rhel() -> Plan:
    return scan(root=EXAMPLES / "rhel-batch")


@pytest.fixture(scope="module")
def alpine() -> Plan:
    return scan(root=EXAMPLES / "alpine-container")


def codes(job: Job) -> set[str]:
    return {r.code for r in job.risks}


def by_source(plan: Plan) -> dict[str, object]:
    return {s.path: s for s in plan.sources}


class TestDebianWeb:
    def test_host(self, debian: Plan):
        h = debian.host
        assert (h.dialect, h.timezone, h.systemd, h.os_id) == (
            "debian",
            "Europe/London",
            True,
            "debian",
        )
        assert h.root == str(EXAMPLES / "debian-web")

    def test_sources_the_daemon_ignores(self, debian: Plan):
        s = by_source(debian)
        assert not s["var/spool/cron/crontabs/backup"].runs
        assert "whole file" in s["var/spool/cron/crontabs/backup"].reason
        assert not s["var/spool/cron/crontabs/olduser"].runs
        assert not s["etc/cron.d/webapp.dpkg-old"].runs
        assert not s["etc/cron.daily/cleanup-uploads.sh"].runs
        assert s["etc/cron.daily/rotate-exports"].reason == "not executable: run-parts skips it"
        assert s["etc/cron.d/webapp"].runs and s["etc/cron.d/webapp"].counts["job"] == 4

    def test_jobs_and_risks(self, debian: Plan):
        j = {job.id: job for job in debian.jobs}
        assert codes(j["cp"]) == {"percent_cut"}
        assert j["cp"].command.endswith("$(date +")
        assert "percent_stdin" in codes(j["psql_webapp"])
        assert j["psql_webapp"].stdin == "VACUUM ANALYZE sessions;\nVACUUM ANALYZE events;\n"
        assert j["tar"].command.count("%") == 3 and not j["tar"].stdin
        assert "dom_dow_or" in codes(j["billing_run"])
        assert "dom_dow_star_and" in codes(j["newsletter"])
        assert "never_fires" in codes(j["leap_cleanup"])
        assert j["warm_cache"].kind == "reboot" and "reboot" in codes(j["warm_cache"])
        assert not j["old_importer"].enabled and j["old_importer"].schedule == "30 2 * * *"
        assert "dst_sensitive" in codes(j["backup_db"])
        assert "every_minute" in codes(j["queue_worker"])
        assert {"overlap_guard", "output_discarded"} <= codes(j["queue_worker"])
        assert "mail_on_output" not in codes(j["queue_worker"])
        for noop in ("session_gc", "sessionclean", "certbot_renew", "logrotate"):
            assert "noop_on_systemd" in codes(j[noop]), noop
        assert "user_switch" in codes(j["clear_cache"])
        assert "relative_path" in codes(j["prune_releases"])
        assert "overlap_guard" in codes(j["sync_assets"])
        assert "mail_on_output" in codes(j["build_sitemap"])
        assert "mail_on_output" not in codes(j["billing_run"])  # MAILTO="" in that crontab
        assert j["offsite_backup"].enabled is False and "source_ignored" in codes(
            j["offsite_backup"]
        )

    def test_fields_of_a_job(self, debian: Plan):
        job = next(j for j in debian.jobs if j.id == "backup_db")
        assert (job.source, job.line, job.user, job.schedule) == (
            "etc/cron.d/webapp",
            9,
            "postgres",
            "30 1 * * *",
        )
        assert (job.timezone, job.daemon_timezone, job.semantics, job.dialect) == (
            "Europe/London",
            "Europe/London",
            "daemon",
            "debian",
        )
        data = (EXAMPLES / "debian-web" / job.source).read_bytes()
        start, end = job.span
        assert data[start:end].startswith(b"30 1 * * * postgres")
        assert job.env["MAILTO"] == "ops@example.com" and job.env["APP_ENV"] == "production"
        assert job.description

    def test_secrets_are_redacted_everywhere(self, debian: Plan):
        text = debian.to_json()
        assert "s3cr3t-pw" not in text and "abc123def456ghi789" not in text
        rotate = next(j for j in debian.jobs if j.id == "rotate_keys")
        assert "--token=***" in rotate.command
        assert {"secret_in_env", "secret_in_command"} <= codes(rotate)
        assert rotate.env["DATABASE_URL"] == "postgresql://webapp:***@db.internal:5432/webapp"

    def test_calls_are_resolved_and_analysed(self, debian: Plan):
        worker = next(j for j in debian.jobs if j.id == "queue_worker")
        script = next(c for c in worker.calls if c.kind == "script")
        assert script.resolved == "srv/webapp/bin/queue_worker.py"
        assert script.language == "python"
        assert script.details["options"] == ["--once", "--limit"]
        assert script.details["imports"]["network"] == ["requests"]
        assert script.details["imports"]["database"] == ["sqlite3"]
        assert any(c.kind == "wrapper" and c.name == "flock" for c in worker.calls)
        sitemap = next(j for j in debian.jobs if j.id == "build_sitemap")
        py = next(c for c in sitemap.calls if c.kind == "script")
        assert py.details["cli"] == "click" and py.details["interpreter"] == "/usr/bin/python3"
        prune = next(j for j in debian.jobs if j.id == "prune_releases")
        assert prune.calls[0].resolved == "home/deploy/bin/prune_releases.sh"

    def test_periodic_jobs_come_from_run_parts(self, debian: Plan):
        daily = [j for j in debian.jobs if j.kind == "periodic"]
        assert {j.source for j in daily} == {
            "etc/cron.daily/logrotate",
            "etc/cron.daily/webapp-reports",
        }
        for job in daily:
            assert job.schedule == "25 6 * * *" and job.user == "root"
            assert job.runner is not None and (job.runner.source, job.runner.line) == (
                "etc/crontab",
                20,
            )
            assert job.line is None and job.span is None
        # The run-parts lines themselves are runners, not jobs.
        assert not [j for j in debian.jobs if j.source == "etc/crontab"]


class TestRhelBatch:
    def test_cron_tz_and_semantics(self, rhel: Plan):
        j = {job.id: job for job in rhel.jobs}
        assert (j["morning_batch"].timezone, j["morning_batch"].semantics) == (
            "America/Chicago",
            "wallclock",
        )
        assert j["nightly"].timezone == "America/New_York"
        assert (j["poll_sources"].timezone, j["poll_sources"].semantics) == (
            "America/New_York",
            "daemon",
        )
        assert j["run_job_load_orders_cron_d_etl"].timezone == "UTC"
        assert j["run_job_export_finance"].timezone == "Europe/Berlin"

    def test_random_delay_and_anacron(self, rhel: Plan):
        j = {job.id: job for job in rhel.jobs}
        assert j["run_job_refresh_views"].random_delay == 10
        assert "random_delay" in codes(j["run_job_refresh_views"])
        compact = j["run_job_compact_storage"]
        assert compact.kind == "anacron" and compact.schedule == "3"
        assert compact.anacron["start_hours_range"] == "3-22"
        assert compact.random_delay == 10 + 45
        via = j["logrotate"]
        assert via.kind == "anacron" and via.runner.source == "etc/anacrontab"
        assert "anacron" in codes(j["job_0anacron"])

    def test_cronie_rules(self, rhel: Plan):
        s = by_source(rhel)
        batch = s["var/spool/cron/batch"]
        assert batch.runs
        assert [(e.line, "5/15" in e.message or "newline" in e.message) for e in batch.errors] == [
            (11, True),
            (15, True),
        ]
        assert s["etc/cron.d/warehouse.cron"].runs and not s["etc/cron.d/etl.rpmnew"].runs
        assert not s["etc/cron.daily/etl-archive~"].runs
        hb = next(j for j in rhel.jobs if j.id == "etl_heartbeat")
        assert hb.flags == ["no_log"] and hb.user == "root"

    def test_secrets_and_user_switch(self, rhel: Plan):
        j = {job.id: job for job in rhel.jobs}
        assert j["pg_dump"].command.startswith("PGPASSWORD=*** pg_dump")
        assert "hunter2" not in rhel.to_json()
        assert "user_switch" in codes(j["run_job_monthly_close"])


class TestAlpine:
    def test_busybox_quirks(self, alpine: Plan):
        j = {job.id: job for job in alpine.jobs}
        assert "dialect_quirk" in codes(j["weekly_digest_app"])
        assert j["healthcheck"].command == "/app/bin/healthcheck.sh"
        assert "dialect_quirk" in codes(j["compact"])
        assert all(job.semantics == "wallclock" for job in alpine.jobs)
        assert j["export_app_c0460e"].end_line == 17
        s = by_source(alpine)
        assert [e.line for e in s["etc/crontabs/app"].errors] == [4]
        assert not s["etc/crontabs/app.bak"].runs

    def test_percent_is_not_special(self, alpine: Plan):
        job = next(j for j in alpine.jobs if "date +%F" in j.command)
        assert job.stdin is None and "percent_cut" not in codes(job)


@pytest.mark.parametrize("host", ["debian-web", "rhel-batch", "alpine-container"])
def test_ids_are_unique_identifiers_and_stable(host: str, tmp_path: Path):
    first = scan(root=EXAMPLES / host)
    ids = [j.id for j in first.jobs]
    assert len(ids) == len(set(ids))
    assert all(i.isidentifier() and i.islower() and len(i) <= 60 for i in ids)
    assert [j.id for j in scan(root=EXAMPLES / host).jobs] == ids
    # An unrelated new job elsewhere does not rename the existing ones.
    copy = tmp_path / host
    shutil.copytree(EXAMPLES / host, copy, symlinks=True)
    spool = next(
        p
        for p in copy.rglob("*")
        if p.is_file()
        and p.parent.name in ("crontabs", "cron")
        and p.name in ("www-data", "batch", "app")
    )
    data = spool.read_bytes()
    sep = b"" if data.endswith(b"\n") else b"\n"
    spool.write_bytes(data + sep + b"0 3 * * * /usr/local/bin/brand_new_job.sh\n")
    again = {(j.source, j.line): j.id for j in scan(root=copy).jobs}
    assert {(j.source, j.line): j.id for j in first.jobs}.items() <= again.items()
    assert "brand_new_job" in again.values()


def test_plan_round_trip(debian: Plan, tmp_path: Path):
    path = debian.dump(tmp_path / "plan.json")
    loaded = Plan.load(path)
    assert loaded == debian
    assert json.loads(path.read_text())["format_version"] == 1


def test_legacy_line_gives_back_the_unredacted_job(debian: Plan, tmp_path: Path):
    from owlmigrate.plan import PlanError
    from owlmigrate.scan import legacy_line

    rotate = next(j for j in debian.jobs if j.id == "rotate_keys")
    real = legacy_line(debian, rotate)
    assert real.command == "/srv/webapp/bin/rotate_keys.py --token=abc123def456ghi789 --dry-run"
    assert real.env["DATABASE_URL"].startswith("postgresql://webapp:s3cr3t-pw@")
    psql = next(j for j in debian.jobs if j.id == "psql_webapp")
    assert legacy_line(debian, psql).stdin == psql.stdin
    worker = next(j for j in debian.jobs if j.id == "queue_worker")
    assert legacy_line(debian, worker).command.startswith("flock -n")
    periodic = next(j for j in debian.jobs if j.kind == "periodic")
    assert legacy_line(debian, periodic).command == periodic.command
    copy = tmp_path / "debian-web"
    shutil.copytree(EXAMPLES / "debian-web", copy, symlinks=True)
    (copy / rotate.source).write_bytes((copy / rotate.source).read_bytes() + b"# edited\n")
    with pytest.raises(PlanError, match="changed since the scan"):
        legacy_line(debian, rotate, root=copy)


def test_legacy_line_for_anacron_and_files(rhel: Plan, tmp_path: Path):
    from owlmigrate.scan import legacy_line

    compact = next(j for j in rhel.jobs if j.id == "run_job_compact_storage")
    assert legacy_line(rhel, compact).command == "/opt/etl/bin/run_job.sh compact_storage"
    f = tmp_path / "cron"
    f.write_bytes(b"0 5 * * * root PGPASSWORD=pw1234567 pg_dump db\n")
    plan = scan([str(f)])
    job = plan.jobs[0]
    assert "pw1234567" not in job.command
    assert legacy_line(plan, job).command == "PGPASSWORD=pw1234567 pg_dump db"


def test_run_parts_of_a_missing_directory_is_reported(tmp_path: Path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text("ID=debian\n")
    (tmp_path / "etc" / "crontab").write_text("17 * * * * root cd / && run-parts /etc/cron.gone\n")
    plan = scan(root=tmp_path)
    gone = next(s for s in plan.sources if s.path == "etc/cron.gone")
    assert not gone.runs and "etc/crontab:1" in (gone.reason or "")
    assert plan.jobs == []


def test_unknown_zones_fall_back_to_utc(tmp_path: Path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text("ID=fedora\n")
    (tmp_path / "etc" / "timezone").write_text("Mars/Olympus_Mons\n")
    (tmp_path / "etc" / "cron.d").mkdir()
    (tmp_path / "etc" / "cron.d" / "x").write_text("CRON_TZ=Nowhere/Land\n0 1 * * * root /x\n")
    plan = scan(root=tmp_path)
    assert plan.host.timezone == "UTC" and "Mars/Olympus_Mons" in plan.host.detected["timezone"]
    job = plan.jobs[0]
    assert (job.timezone, job.semantics) == ("UTC", "wallclock")
    assert any("falls back to UTC" in r.message for r in job.risks)


def test_redirects_and_variables_are_recorded(debian: Plan):
    worker = next(j for j in debian.jobs if j.id == "queue_worker")
    script = next(c for c in worker.calls if c.kind == "script")
    assert script.details["redirects"] == [">/dev/null", "2>&1"]
    backup = next(j for j in debian.jobs if j.id == "backup_db")
    first = next(c for c in backup.calls if c.kind == "script")
    assert first.details["cwd"] == "/srv/webapp" and first.details["redirects"][0] == "| (pipe)"
    tar = next(j for j in debian.jobs if j.id == "tar")
    assert tar.variables == []


def test_variables_read_by_a_command(tmp_path: Path):
    f = tmp_path / "alice"
    f.write_text('0 1 * * * tar czf "$HOME/b.tgz" ${BACKUP_DIR:-/srv}\n')
    job = scan([str(f)], file_format="user").jobs[0]
    assert job.variables == ["HOME", "BACKUP_DIR"]


def test_host_root_is_stored_absolute(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(EXAMPLES)
    plan = scan(root="alpine-container")
    assert plan.host.root == str(EXAMPLES / "alpine-container")
