"""A real Prometheus scrapes a real ``ctrkit serve`` and sees its traffic.

Needs the ``prometheus`` binary (Debian: ``apt-get install -y --no-install-recommends
prometheus``); skipped when it cannot be found. The Grafana dashboard's
queries are run against the same Prometheus, so a query it cannot parse fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import httpx
import pytest
from serve_process import ROOT, export_tiny_models, free_port, served

from loadtest.requestgen import RequestGenerator

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "ctrkit.json"
REQUESTS = 25
ROWS = 7


def prometheus_binary() -> str | None:
    found = shutil.which("prometheus")
    if found:
        return found
    return "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    if prometheus_binary() is None:
        pytest.skip("the prometheus binary is not installed (apt-get install -y --no-install-recommends prometheus)")
    repo = export_tiny_models(tmp_path_factory.mktemp("models"), ["tiny"])
    with served(repo, tmp_path_factory.mktemp("logs")) as url:
        yield url, repo


@pytest.fixture(scope="module")
def prometheus(service, tmp_path_factory):
    url, _ = service
    work = tmp_path_factory.mktemp("prometheus")
    config = work / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "ctrkit",
            "static_configs": [{"targets": [url.removeprefix("http://")], "labels": {"replica": "ctr-test"}}],
        }],
    }))
    port = free_port()
    log = (work / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [prometheus_binary(), f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=work,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (work / "prometheus.log").read_text()[-2000:]
            try:
                if httpx.get(f"{base}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def query(base: str, expr: str) -> list[dict]:
    answer = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", (expr, body)
    return body["data"]["result"]


def wait_for(base: str, expr: str, check, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        result = query(base, expr)
        if check(result):
            return result
        assert time.monotonic() < deadline, f"{expr} never satisfied the check; last result {result}"
        time.sleep(0.5)


def value(result: list[dict]) -> float:
    return sum(float(r["value"][1]) for r in result)


def test_prometheus_sees_the_requests_sent(service, prometheus):
    url, repo = service
    wait_for(prometheus, 'up{job="ctrkit"}', lambda r: value(r) == 1)
    served_version = wait_for(prometheus, 'ctrkit_model_versions{state="serving"}', lambda r: len(r) == 1)
    assert served_version[0]["metric"]["model"] == "tiny" and served_version[0]["metric"]["version"] == "1"

    counter = 'sum(ctrkit_requests_total{endpoint="predict",status="200"})'
    before = value(query(prometheus, counter))
    generator = RequestGenerator(json.loads((repo / "tiny" / "1" / "feature_spec.json").read_text()))
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(REQUESTS):
            answer = client.post("/predict", content=generator.body(ROWS, ("rows", "columns")[i % 2]),
                                 headers={"content-type": "application/json"})
            assert answer.status_code == 200, answer.text

    wait_for(prometheus, counter, lambda r: value(r) - before >= REQUESTS)
    assert value(query(prometheus, counter)) - before == REQUESTS
    scored = wait_for(prometheus, "sum(ctrkit_rows_scored_total)", lambda r: value(r) >= REQUESTS * ROWS)
    assert value(scored) == REQUESTS * ROWS
    scores = query(prometheus, 'sum(ctrkit_prediction_score_count{model="tiny",output="ctr"})')
    assert value(scores) == REQUESTS * ROWS


def test_dashboard_queries_run(service, prometheus):
    wait_for(prometheus, 'up{job="ctrkit"}', lambda r: value(r) == 1)
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    for expr in exprs:
        query(prometheus, expr.replace("$__rate_interval", "10s"))
    # a panel that reads the scraped service shows it
    assert query(prometheus, 'max by (replica, model, version) (ctrkit_model_versions{state="serving"})')
