"""deploy/: the Dockerfile, docker-compose and Kubernetes manifests parse, and what they run,
probe and scrape matches what the code really serves and the package really installs."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from owlclaw_runtime.config import load_settings
from owlclaw_runtime.observability.http import HEALTH_PATH, METRICS_PATH, READY_PATH, ROUTES
from owlclaw_runtime.observability.metrics import METRIC_NAMES

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def instructions(name: str) -> list[str]:
    return [args for word, args in dockerfile() if word == name]


def docker_cmd() -> list[str]:
    (cmd,) = instructions("CMD")
    return json.loads(cmd)


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def k8s() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in load_docs(path):
            docs[doc["kind"]] = doc
    return docs


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def image_path_to_repo(path: str) -> Path:
    """Map a path inside the image back to the repository through the COPY instructions."""
    for args in instructions("COPY"):
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        *sources, dest = parts
        for source in sources:
            if path.startswith(dest.rstrip("/") + "/"):
                return REPO / source / path[len(dest.rstrip("/")) + 1 :]
    raise AssertionError(f"{path} is not copied into the image")


def check_run_invocation(argv: list[str]) -> None:
    """argv is a real ``owlmigrate run`` invocation: the click command accepts it."""
    from owlmigrate.cli import cli

    assert argv[:2] == ["owlmigrate", "run"], argv
    import click

    ctx = click.Context(cli)
    run = cli.get_command(ctx, "run")
    assert run is not None, "owlmigrate run is not available"
    run.make_context("run", list(argv[2:]))  # raises click.UsageError on an unknown option
    # in a container the endpoint must listen beyond loopback for probes and scrapes
    assert option(argv, "--http-host") == "0.0.0.0"
    app_target = image_path_to_repo(option(argv, "--app"))
    assert app_target.is_file(), app_target


def test_every_yaml_file_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yml")) + sorted(DEPLOY.rglob("*.yaml"))
    assert len(files) >= 7
    for path in files:
        assert load_docs(path), path


def test_dockerfile_cmd_is_a_real_run_invocation_on_the_exposed_port() -> None:
    argv = docker_cmd()
    check_run_invocation(argv)
    port = option(argv, "--http-port")
    assert instructions("EXPOSE") == [port]
    healthcheck = instructions("HEALTHCHECK")[0]
    assert f"127.0.0.1:{port}{HEALTH_PATH}" in healthcheck


def test_image_installs_the_package_with_extras_that_exist() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    extras_defined = set(pyproject["project"]["optional-dependencies"])
    installs = [a for a in instructions("RUN") if "pip install" in a]
    assert installs, "the image never installs the package"
    match = re.search(r"""["']?\.\[([a-z0-9_,-]+)\]["']?""", installs[0])
    assert match, installs[0]
    extras = set(match.group(1).split(","))
    assert extras <= extras_defined, extras - extras_defined
    assert {"postgres", "hatchet"} <= extras  # the image can reach both services
    assert "dev" not in extras
    # everything the wheel build needs is copied in before the install
    packaged = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = set()
    for args in instructions("COPY"):
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        copied.update(parts[:-1])
    needed = {"pyproject.toml", pyproject["project"]["readme"], *packaged}
    needed |= set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"])
    assert {n.split("/")[0] for n in needed} <= {c.split("/")[0] for c in copied}
    for source in copied:
        assert (REPO / source).exists(), f"COPY source {source} is missing"


def test_image_environment_is_valid_configuration() -> None:
    env = {}
    for args in instructions("ENV"):
        for token in shlex.split(args):
            key, _, value = token.partition("=")
            env[key] = value
    owl = {k: v for k, v in env.items() if k.startswith("OWLCLAW_")}
    settings = load_settings(environ=owl, config_file="/dev/null")
    assert settings.logging.format == "json"
    assert settings.ledger_url and settings.ledger_url.startswith("sqlite:////srv/app/data/")


def test_kubernetes_probes_and_scrape_annotations_match_the_endpoint() -> None:
    docs = k8s()
    assert {"Deployment", "Service", "ConfigMap"} <= set(docs)
    deployment = docs["Deployment"]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    argv = container["command"]
    check_run_invocation(argv)
    port = int(option(argv, "--http-port"))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http-metrics": port}
    liveness, readiness = container["livenessProbe"], container["readinessProbe"]
    assert liveness["httpGet"]["path"] == HEALTH_PATH
    assert readiness["httpGet"]["path"] == READY_PATH
    for probe in (liveness, readiness):
        assert probe["httpGet"]["path"] in ROUTES
        assert ports[probe["httpGet"]["port"]] == port
    for annotated in (pod["metadata"], docs["Service"]["metadata"]):
        notes = annotated["annotations"]
        assert notes["prometheus.io/scrape"] == "true"
        assert int(notes["prometheus.io/port"]) == port
        assert notes["prometheus.io/path"] == METRICS_PATH
    resources = container["resources"]
    assert resources["requests"] == {"cpu": "250m", "memory": "256Mi"}
    assert resources["limits"] == {"cpu": "500m", "memory": "512Mi"}
    service = docs["Service"]["spec"]
    assert service["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["ports"][0]["targetPort"] == "http-metrics"


def test_kubernetes_configuration_is_valid_and_agrees_with_the_command(tmp_path: Path) -> None:
    docs = k8s()
    config_file = tmp_path / "owlclaw.yaml"
    config_file.write_text(docs["ConfigMap"]["data"]["owlclaw.yaml"])
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    plain_env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert plain_env["OWLCLAW_CONFIG"].startswith(container["volumeMounts"][0]["mountPath"])
    owl = {k: v for k, v in plain_env.items() if k.startswith("OWLCLAW_") and k != "OWLCLAW_CONFIG"}
    settings = load_settings(config_file=config_file, environ=owl)
    assert settings.metrics.http_port == int(option(container["command"], "--http-port"))
    assert settings.metrics.http_host == "0.0.0.0"
    assert settings.backend == option(container["command"], "--backend")
    secret_env = {e["name"] for e in container["env"] if "valueFrom" in e}
    assert {"OWLCLAW_LEDGER_URL", "HATCHET_CLIENT_TOKEN"} <= secret_env


def test_compose_runs_worker_hatchet_postgres_and_prometheus() -> None:
    (compose,) = load_docs(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"worker", "hatchet-lite", "postgres", "prometheus"}
    worker = services["worker"]
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / worker["build"]["context"]).resolve() == REPO
    check_run_invocation(worker["command"])
    port = option(worker["command"], "--http-port")
    assert f"{port}:{port}" in worker["ports"]
    env = worker["environment"]
    settings = load_settings(
        environ={k: v for k, v in env.items() if k.startswith("OWLCLAW_")}, config_file="/dev/null"
    )
    assert option(worker["command"], "--backend") == "hatchet"
    assert settings.ledger_url.startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in settings.ledger_url
    assert env["HATCHET_CLIENT_HOST_PORT"].split(":")[0] == "hatchet-lite"
    assert "@postgres:5432/hatchet" in services["hatchet-lite"]["environment"]["DATABASE_URL"]
    # every bind-mounted file exists beside the compose file
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source


def test_prometheus_scrapes_the_worker_and_alerts_use_real_metrics() -> None:
    (compose,) = load_docs(DEPLOY / "docker-compose.yml")
    port = option(compose["services"]["worker"]["command"], "--http-port")
    (prom,) = load_docs(DEPLOY / "prometheus" / "prometheus.yml")
    (job,) = prom["scrape_configs"]
    assert job["metrics_path"] == METRICS_PATH
    assert job["static_configs"][0]["targets"] == [f"worker:{port}"]
    (rules,) = load_docs(DEPLOY / "prometheus" / "alerts.yml")
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used.update(re.findall(r"owlclaw_cron_[a-z_]+", rule["expr"]))
    assert used
    for name in used:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert base in METRIC_NAMES, name


@pytest.mark.parametrize("name", ["Dockerfile", "docker-compose.yml"])
def test_deploy_files_are_documented(name: str) -> None:
    text = (REPO / "docs" / "troubleshooting.md").read_text() + (REPO / "README.md").read_text()
    assert f"deploy/{name}" in text


def test_volumes_exist_and_belong_to_the_runtime_user() -> None:
    steps = dockerfile()
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] != "root"
    user = users[-1]
    ledger_url = next(
        token.partition("=")[2]
        for args in instructions("ENV")
        for token in shlex.split(args)
        if token.startswith("OWLCLAW_LEDGER_URL=")
    )
    for args in instructions("VOLUME"):
        for volume in json.loads(args):
            made = [a for a in instructions("RUN") if f"mkdir -p {volume}" in a]
            assert made and f"chown {user}:{user} {volume}" in made[0], volume
            assert ledger_url.removeprefix("sqlite:///").startswith(volume)
