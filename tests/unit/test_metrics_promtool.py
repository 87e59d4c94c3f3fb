"""The metrics by the Prometheus conventions, as Prometheus' own tool checks them:
`promtool check metrics` on a full scrape, the shipped alert rules through
`promtool check rules` and `promtool test rules`, and the shipped Grafana board
naming only metrics that exist, in expressions promtool parses.

promtool comes from Debian's `prometheus` package, installed by
scripts/install-deps.sh (`make deps`)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ldirectord_py.checks.result import FailureKind
from ldirectord_py.engine.events import RealChanged, RealState
from ldirectord_py.observe.metrics import Metrics
from ldirectord_py.observe.schema import StatusSnapshot

from .test_metrics import STATUS

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "examples" / "prometheus-alerts.yml"
ALERTS_TEST = ROOT / "tests" / "data" / "prometheus" / "alerts-test.yml"
DASHBOARD = ROOT / "examples" / "grafana-dashboard.json"
METRIC = re.compile(r"\bldirectord_[a-z0-9_]+")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: install Debian's prometheus package "
            "(`make deps`, or: apt-get install prometheus)"
        )
    return path


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def scrape(status: StatusSnapshot = STATUS) -> str:
    """A scrape with every family present: each counter and histogram has seen an event."""
    metrics = Metrics(lambda: status)
    metrics.observe_check("negotiate", True, 0.004, FailureKind.NONE)
    metrics.observe_check("negotiate", False, 3.0, FailureKind.TIMEOUT)
    metrics.reloads.labels("failed").inc()
    metrics.observe(  # "Deleted real server: 192.0.2.1:80 (198.51.100.10:80)"
        RealChanged(
            "tcp:198.51.100.10:80",
            "198.51.100.10:80",
            "192.0.2.1:80",
            RealState.UP,
            RealState.DOWN,
            0,
            False,
            "connect refused",
            FailureKind.REFUSED,
        )
    )

    async def render() -> str:
        body, _, _ = await metrics.render("", "", {})
        return body.decode()

    return asyncio.run(render())


def sample_names(text: str) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def test_a_full_scrape_passes_promtool_check_metrics() -> None:
    text = scrape()
    result = run("check", "metrics", stdin=text)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_promtool_catches_what_the_old_names_did_wrong() -> None:
    """The check above can fail: a gauge named _total, as crashes_total was before."""
    old = "# HELP ldirectord_writer_crashes_total x\n# TYPE ldirectord_writer_crashes_total gauge\n"
    result = run("check", "metrics", stdin=old + "ldirectord_writer_crashes_total 0\n")
    assert result.returncode != 0 and "_total" in result.stdout + result.stderr


def test_the_alert_rules_are_valid_and_their_tests_pass() -> None:
    checked = run("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run("test", "rules", str(ALERTS_TEST))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_alert_rules_name_only_metrics_that_exist() -> None:
    exported = sample_names(scrape())
    named = set(METRIC.findall(ALERTS.read_text()))
    assert named and named <= exported, named - exported


def _dashboard_expressions() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"]))
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            out.append((variable["name"], query["query"]))
    return out


def test_the_dashboard_parses_and_names_only_metrics_that_exist() -> None:
    expressions = _dashboard_expressions()
    titles = {title for title, _ in expressions}
    for wanted in ("Reals up", "transitions", "latency", "routes", "GoBGP", "Dataplane", "Reload"):
        assert any(wanted.lower() in t.lower() for t in titles), wanted
    exported = sample_names(scrape())
    for title, expr in expressions:
        named = set(METRIC.findall(expr))
        assert named, (title, expr)
        assert named <= exported, (title, named - exported)


def test_the_dashboard_expressions_are_promql(tmp_path: Path) -> None:
    """promtool parses each panel's expression (as a recording rule, Grafana's
    variables replaced by what they stand for)."""
    rules = [
        {
            "record": f"ldirectord_dashboard:expr_{i}",
            "expr": expr.replace("$__rate_interval", "5m").replace("$instance", ".*"),
        }
        for i, (_, expr) in enumerate(_dashboard_expressions())
        if not expr.startswith("label_values(")
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
