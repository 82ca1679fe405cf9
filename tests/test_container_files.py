"""Static checks of the Dockerfile, docker-compose.yml and deploy/ configuration."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
REPLICAS = sorted(name for name in SERVICES if re.fullmatch(r"ctr-\d+", name))


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its (INSTRUCTION, arguments) lines, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            current = stages.setdefault(args.split(" AS ")[-1].strip() if " AS " in args else args, [])
        current.append((instruction, args.strip()))
    return stages


STAGES = dockerfile_stages()
RUNTIME = STAGES["runtime"]


def last(stage: list[tuple[str, str]], instruction: str) -> str:
    found = [args for ins, args in stage if ins == instruction]
    assert found, f"no {instruction} in the stage"
    return found[-1]


def served_command() -> list[str]:
    return json.loads(last(RUNTIME, "CMD"))


def dockerignored(path: str) -> bool:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern.removeprefix("**/")) or fnmatch.fnmatch(prefix, pattern)
               for pattern in patterns for prefix in prefixes + list(parts))


# -- Dockerfile -------------------------------------------------------------------------

def test_runtime_image_serves_the_repository_volume_with_the_cli():
    from service.cli import build_parser, settings_from_args

    command = served_command()
    assert command[:2] == ["ctrkit", "serve"], command
    assert not any(ins == "ENTRYPOINT" for ins, _ in RUNTIME)
    build_parser().parse_args(command[2:])  # every option is one `ctrkit serve` knows
    settings = settings_from_args(command[2:])
    assert str(settings.model_repository) == "/models"
    assert (settings.host, settings.port) == ("0.0.0.0", 8000)
    assert json.loads(last(RUNTIME, "VOLUME")) == ["/models"]
    grpc_port = type(settings).model_fields["grpc_port"].default  # the tests' environment turns gRPC off
    assert last(RUNTIME, "EXPOSE").split() == [str(settings.port), str(grpc_port)]
    assert last(RUNTIME, "STOPSIGNAL") == "SIGTERM"
    # the console script `ctrkit` runs ctrkit.cli:main, which hands `serve` to service.cli
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["ctrkit"] == "ctrkit.cli:main"


def test_runtime_image_is_small_non_root_and_health_checked():
    assert all(stage[0] == ("FROM", "${PYTHON_IMAGE} AS " + name) for name, stage in STAGES.items())
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in (ROOT / "Dockerfile").read_text()
    assert last(RUNTIME, "USER") not in ("root", "0")
    healthcheck = last(RUNTIME, "HEALTHCHECK")
    assert f"127.0.0.1:{settings_port()}/healthz" in healthcheck and "CMD" in healthcheck
    # the venv comes from the build stage; the runtime stage installs nothing itself
    assert ("COPY", "--from=build /opt/ctrkit /opt/ctrkit") in RUNTIME
    assert not any(ins == "RUN" and "pip install" in args for ins, args in RUNTIME)
    build_runs = " ".join(args for ins, args in STAGES["build"] if ins == "RUN")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert '".[serve]"' in build_runs and "serve" in extras


def settings_port() -> int:
    from service.cli import settings_from_args

    return settings_from_args(served_command()[2:]).port


def test_copied_files_exist_and_are_not_dockerignored():
    for name, stage in STAGES.items():
        for instruction, args in stage:
            if instruction != "COPY" or "--from=" in args:
                continue
            sources = [a for a in args.split() if not a.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"stage {name}: COPY {source}: no such file"
                assert not dockerignored(source), f"stage {name}: COPY {source} is excluded by .dockerignore"
    for generated in ("models/criteo_deepfm/1", ".venv", "tests", "bench-results"):
        assert dockerignored(generated), generated


def test_loadtest_image_pins_locust_like_pyproject():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    locust = next(req for req in extras["loadtest"] if req.startswith("locust"))
    assert f'pip install "{locust}"' in " ".join(args for ins, args in STAGES["loadtest"] if ins == "RUN")


# -- docker-compose.yml ------------------------------------------------------------------

def test_every_service_has_a_sensible_image_or_build():
    assert len(REPLICAS) >= 2
    assert {"trainer", "nginx", "prometheus", "grafana", "locust"} <= set(SERVICES)
    for name, service in SERVICES.items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            build = service["build"]
            assert (ROOT / build["context"] / "Dockerfile").is_file(), name
            assert build["target"] in STAGES, f"{name}: no stage {build['target']!r} in the Dockerfile"
        else:
            image = service["image"]
            assert re.fullmatch(r"[a-z0-9./-]+:v?[0-9][\w.-]*", image), f"{name}: pin a version tag, got {image!r}"
    for name in ["trainer", *REPLICAS]:
        assert SERVICES[name]["build"]["target"] == "runtime"
    assert SERVICES["locust"]["build"]["target"] == "loadtest"
    assert SERVICES["locust"]["profiles"] == ["loadtest"]
    assert all("profiles" not in SERVICES[n] for n in SERVICES if n != "locust")


def test_referenced_files_and_volumes_exist():
    named = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for mount in service.get("volumes", []):
            source, target = mount.split(":")[:2]
            assert target.startswith("/"), (name, mount)
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: volume {source!r} is not declared"
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, (name, dependency)


def test_replicas_serve_the_trained_volume_and_drain_on_stop():
    graceful = None
    for name in REPLICAS:
        service = SERVICES[name]
        assert "command" not in service  # the image's CMD, checked above
        assert "models:/models" in service["volumes"]  # writable: the admin routes write the declared state
        assert service["environment"]["CTR_ADMIN_TOKEN"] == "${CTR_ADMIN_TOKEN:-}"
        assert float(service["environment"]["CTR_POLL_INTERVAL_S"]) > 0  # replicas follow the declared state
        assert service["depends_on"]["trainer"]["condition"] == "service_completed_successfully"
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        graceful = float(service["environment"]["CTR_GRACEFUL_TIMEOUT_S"])
        assert float(service["stop_grace_period"].removesuffix("s")) > graceful
    trainer = SERVICES["trainer"]
    assert "models:/models" in trainer["volumes"]
    script = " ".join(trainer["command"])
    assert "ctrkit train /app/specs/criteo_deepfm/spec.yaml --model-repository /models" in script
    assert ("COPY", "models/criteo_deepfm/spec.yaml /app/specs/criteo_deepfm/spec.yaml") in RUNTIME
    for dependency in REPLICAS:
        assert SERVICES["nginx"]["depends_on"][dependency]["condition"] == "service_healthy"


def test_published_ports_are_loopback_only():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_locust_service_options_exist_in_the_locustfile():
    locustfile = (ROOT / "loadtest" / "locustfile.py").read_text()
    for variable in SERVICES["locust"]["environment"]:
        assert variable in locustfile, variable
    command = " ".join(SERVICES["locust"]["command"])
    assert "--host=http://nginx:" in command and "--run-time=" in command and "--headless" in command


# -- nginx, Prometheus, Grafana ------------------------------------------------------------

def test_nginx_balances_every_replica():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream\s+(\w+)\s*\{([^}]*)\}", conf)
    assert upstream is not None
    servers = re.findall(r"server\s+([\w.-]+:\d+)", upstream.group(2))
    assert sorted(servers) == [f"{r}:{settings_port()}" for r in REPLICAS]
    assert f"proxy_pass http://{upstream.group(1)};" in conf
    listen = re.search(r"listen\s+(\d+);", conf).group(1)
    assert any(p.endswith(f":{listen}") for p in SERVICES["nginx"]["ports"])
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in SERVICES["nginx"]["volumes"]
    # admin calls reach the replicas through the balancer (and every replica through the repository)
    assert not re.search(r"location[^{]*/admin", conf) and "compose exec" not in conf


def test_prometheus_scrapes_every_replica():
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "ctrkit")
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert sorted(targets) == [f"{r}:{settings_port()}" for r in REPLICAS]
    assert job.get("metrics_path", "/metrics") == "/metrics"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (Debian package prometheus)")
def test_prometheus_config_passes_promtool():
    check = subprocess.run(["promtool", "check", "config", str(ROOT / "deploy" / "prometheus.yml")],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard():
    grafana = SERVICES["grafana"]
    mounts = dict(m.split(":")[:2] for m in grafana["volumes"])
    datasources = ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml"
    providers = ROOT / "deploy/grafana/provisioning/dashboards/ctrkit.yml"
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    source = yaml.safe_load(datasources.read_text())["datasources"][0]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "prometheus" in SERVICES
    provider = yaml.safe_load(providers.read_text())["providers"][0]
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/ctrkit.json").read_text())
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == provider["options"]["path"] + "/ctrkit.json"


def test_dashboard_uses_the_service_metric_names():
    from service.metrics import ServiceMetrics

    metrics = ServiceMetrics(states=lambda: [], depths=lambda: [], process=False, traffic=lambda: [],
                             declared=lambda: [])
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    exported = {family.name + suffix for family in metrics.registry.collect()
                for suffix in suffixes.get(family.type, ("",))}
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/ctrkit.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\bctrkit_\w+", expr)}
    assert used and used <= exported, sorted(used - exported)
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("requests per second", "latency", "rows per model call", "queue depth", "score distribution",
                  "errors by status", "serving version", "declared state"):
        assert topic in titles, topic
