"""The bench's report: the targets it checks, the printed tables and the latency-throughput plot.

Every figure is a ratio between results of the same run, checked against the
target beside it; a figure measured in several rounds is met only when every
round meets it. The binary protocols' figures are "not measured" when the run
left them out (``--no-protocols``).

Example::

    report = json.loads(Path("bench-results/report.json").read_text())
    print(format_targets(evaluate_targets(report)))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.cases import RANKING_FORMS

__all__ = [
    "BUSY_ELSEWHERE",
    "TARGETS",
    "Target",
    "evaluate_targets",
    "format_cases",
    "format_load_generator",
    "format_overload",
    "format_raw_cpu",
    "format_targets",
    "plot",
]

Report = Mapping[str, Any]

# cores that other processes may use while the raw model is measured before the bench says its limits are low
BUSY_ELSEWHERE = 0.2


def _runs(report: Report, key: str, server: str = "ctrkit") -> list[dict[str, Any]]:
    for case in report["cases"]:
        if case["key"] == key:
            return case["runs"].get(server, [])
    return []


def _protocol_runs(report: Report, key: str) -> list[dict[str, Any]]:
    for case in _protocol_cases(report):
        if case["key"] == key:
            return case["runs"]["ctrkit"]
    return []


def _protocol_cases(report: Report) -> list[dict[str, Any]]:
    return (report.get("protocols") or {}).get("cases", [])


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _p(run: Mapping[str, Any], q: str) -> float:
    return run["latency_ms"][q]


def _per_round(key: str, figure: Callable[[Mapping[str, Any], Mapping[str, Any]], float | None]):
    """``figure(ctrkit_run, naive_run)`` in each round of case ``key``."""
    return lambda report: [figure(c, n) for c, n in zip(_runs(report, key), _runs(report, key, "naive"))]


def _tail(*keys: str):
    """p99 / p50 of ctrkit in every round of each case in ``keys``."""
    return lambda report: [_ratio(_p(r, "p99"), _p(r, "p50")) for key in keys for r in _runs(report, key)]


def _best_full_rows(report: Report) -> float:
    """Best ctrkit rows/s at 32 connections over the cases sending whole rows (not the ranking forms)."""
    rates = [r["rows_per_s"] for case in report["cases"]
             if case["connections"] == 32 and case["form"] not in RANKING_FORMS
             for r in case["runs"].get("ctrkit", [])]
    return max(rates, default=0.0)


def _against_rows(key: str):
    """rows/s of ranking case ``key`` / rows/s of the same rows in row form, in every round."""
    return lambda report: [_ratio(a["rows_per_s"], b["rows_per_s"])
                           for a, b in zip(_runs(report, key), _runs(report, "ranking_rows_32conn"))]


def _over_raw(key: str):
    """rows/s / raw best in every round of binary-protocol case ``key``."""
    return lambda report: [_ratio(r["rows_per_s"], report["raw_best"]["rows_per_s"])
                           for r in _protocol_runs(report, key)]


def _probes_in_time(report: Report) -> list[float | None]:
    small = report["overload"]["small_probes"]
    return [_ratio(small["answered_in_time"], small["sent"])]


@dataclass(frozen=True)
class Target:
    """A figure of the report, the bound it must reach and how to read it."""

    figure: str
    op: str
    limit: float
    values: Callable[[Report], list[float | None]]
    describe: Callable[[Report, list[float | None]], str] | None = None
    needs: str | None = None  # the report's part the figure comes from, when a run may leave it out

    def met(self, value: float | None) -> bool:
        if value is None:
            return False
        return value <= self.limit if self.op == "<=" else value >= self.limit


def _describe_probes(report: Report, values: list[float | None]) -> str:
    small = report["overload"]["small_probes"]
    return f"{small['answered_in_time']} of {small['sent']} within {small['deadline_ms']:g} ms"


TARGETS = [
    Target("1 row, 1 connection: p50, ctrkit / naive peer", "<=", 0.6,
           _per_round("1row_1conn", lambda c, n: _ratio(_p(c, "p50"), _p(n, "p50")))),
    Target("1 row, 1 connection: p99 / p50", "<=", 2, _tail("1row_1conn")),
    Target("1 row, 32 connections: req/s, ctrkit / naive peer", ">=", 20,
           _per_round("1row_32conn", lambda c, n: _ratio(c["req_per_s"], n["req_per_s"]))),
    Target("1 row, 32 connections: p99 / p50", "<=", 3, _tail("1row_32conn")),
    Target("100 rows (row form), 32 connections: rows/s / raw best", ">=", 0.25,
           lambda report: [_ratio(r["rows_per_s"], report["raw_best"]["rows_per_s"])
                           for r in _runs(report, "100rows_32conn")]),
    Target("100 rows (row form), 32 connections: rows/s, ctrkit / naive peer", ">=", 8,
           _per_round("100rows_32conn", lambda c, n: _ratio(c["rows_per_s"], n["rows_per_s"]))),
    Target("100 rows (row and column forms), 32 connections: p99 / p50", "<=", 3,
           _tail("100rows_32conn", "100columns_32conn")),
    Target("ranking, 100 candidates, half the features in the context: rows/s / same rows in row form", ">=", 1.5,
           _against_rows("ranking_32conn")),
    Target("the same ranking with the candidates as columns: rows/s / same rows in row form", ">=", 1.5,
           _against_rows("ranking_columns_32conn")),
    Target("100 rows over OIP REST with binary tensors, 32 concurrent: rows/s / raw best", ">=", 0.4,
           _over_raw("oip_binary_100rows_32"), needs="protocols"),
    Target("100 rows over TensorFlow Serving gRPC, 32 concurrent: rows/s / raw best", ">=", 0.4,
           _over_raw("tf_grpc_100rows_32"), needs="protocols"),
    Target("1 row over TensorFlow Serving gRPC, 1 concurrent: p50 / the same over REST JSON", "<=", 0.8,
           lambda report: [_ratio(_p(g, "p50"), _p(j, "p50")) for g, j in
                           zip(_protocol_runs(report, "tf_grpc_1row_1"), _protocol_runs(report, "json_1row_1"))],
           needs="protocols"),
    Target("overload: rows/s answered 200 / best 32-connection rows/s", ">=", 0.8,
           lambda report: [_ratio(report["overload"]["rows_per_s_200"], _best_full_rows(report))]),
    Target("overload: p99 of the probes' 503 answers (ms)", "<=", 100,
           lambda report: [report["overload"]["probe_503_p99_ms"]]),
    Target("overload: 1-row probes answered (200 or 503) within their deadline", ">=", 1.0, _probes_in_time,
           _describe_probes),
]


def evaluate_targets(report: Report, targets: Sequence[Target] = TARGETS) -> list[dict[str, Any]]:
    """Each target's values (one per round where it has rounds) and whether it is met, partly met or not."""
    rows = []
    for target in targets:
        if target.needs is not None and not report.get(target.needs):
            rows.append({"figure": target.figure, "values": [], "measured": f"n/a (no {target.needs} in this run)",
                         "op": target.op, "limit": target.limit, "status": "not measured"})
            continue
        values = target.values(report)
        met = [target.met(v) for v in values]
        status = "met" if met and all(met) else f"partly ({sum(met)} of {len(met)} runs)" if any(met) else "not met"
        text = target.describe(report, values) if target.describe else _format_values(values)
        rows.append({"figure": target.figure, "values": values, "measured": text, "op": target.op,
                     "limit": target.limit, "status": status})
    return rows


def _format_values(values: Sequence[float | None]) -> str:
    shown = [v for v in values if v is not None]
    if not shown:
        return "n/a"
    low, high = min(shown), max(shown)
    digits = 2 if high < 100 else 0
    text = f"{low:,.{digits}f}"
    if f"{high:,.{digits}f}" != text:
        text += f"-{high:,.{digits}f}"
    return text + (" (a run has no figure)" if len(shown) < len(values) else "")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cpu_text(cpu: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {cores:.2f}" for name, cores in cpu.items())


def format_cases(report: Report) -> str:
    """Every case's runs, the JSON cases' then the binary protocols': throughput, latency percentiles, answers
    that were not 2xx, CPU cores used (by the load generator, the servers and the machine)."""
    rows = []
    for case in [*report["cases"], *_protocol_cases(report)]:
        for server, runs in case["runs"].items():
            for run in runs:
                rows.append([
                    case["title"], server, str(run["round"]), f"{run['req_per_s']:,.0f}", f"{run['rows_per_s']:,.0f}",
                    f"{_p(run, 'p50'):.1f}", f"{_p(run, 'p90'):.1f}", f"{_p(run, 'p99'):.1f}",
                    _statuses_text(run), _cpu_text(run["cpu_cores"]),
                ])
    header = ["case", "server", "round", "req/s", "rows/s", "p50 ms", "p90 ms", "p99 ms", "not 2xx", "CPU cores"]
    return _table(header, rows)


def format_load_generator(report: Report) -> str:
    """The most CPU each load generator used in any run: far below its one core means it kept up with the servers."""
    runs = [(case["title"], server, run) for case in [*report["cases"], *_protocol_cases(report)]
            for server, runs in case["runs"].items() for run in runs]
    if report.get("overload"):
        runs.append((report["overload"]["title"], "ctrkit", report["overload"]["wrk"]))
    lines = []
    for generator in ("wrk", "h2load"):
        used = [t for t in runs if generator in t[2]["cpu_cores"]]
        if not used:
            continue
        title, server, run = max(used, key=lambda t: t[2]["cpu_cores"][generator])
        share = run["cpu_cores"][generator]
        verdict = ("it kept up" if share < 0.8 else
                   f"it was near its limit: the figures may measure {generator}, not the server")
        lines.append(f"{generator} (one thread) used at most {share:.2f} of a core ({title}, {server}): {verdict}")
    return "\n".join(lines)


def format_raw_cpu(report: Report) -> str:
    """The CPU the raw model's measurement used and what the rest of the machine used meanwhile: other work
    on the cores lowers the raw limits and so raises every ratio against them."""
    cores = report.get("raw_cpu_cores") or {}
    own, machine = cores.get("bench"), cores.get("machine")
    if own is None or machine is None:
        return "raw model phase: the machine's CPU shares could not be read here"
    other = max(0.0, machine - own)
    line = f"raw model phase: the bench used {own:.2f} cores, everything else {other:.2f}"
    if other > BUSY_ELSEWHERE:
        line += (f"\nwarning: other processes used {other:.2f} cores while the raw model was measured: its limits "
                 "are low and every ratio against them high; run the bench again on a quiet machine")
    return line


def _statuses_text(run: Mapping[str, Any]) -> str:
    errors = {k: v for k, v in run["socket_errors"].items() if v}
    parts = [f"{status}: {n}" for status, n in run["statuses"].items() if not 200 <= int(status) < 300]
    parts += [f"{kind} errors: {n}" for kind, n in errors.items()]
    return ", ".join(parts) or "0"


def format_overload(report: Report) -> str:
    """The overload case: wrk's answers by status, rows/s answered 200, the probes."""
    o = report["overload"]
    run = o["wrk"]
    statuses = ", ".join(f"{status}: {n:,}" for status, n in run["statuses"].items())
    lines = [
        f"{o['title']}, {run['seconds']:.0f} s: {run['requests']:,} answers ({statuses}); "
        f"{o['rows_per_s_200']:,.0f} rows/s answered 200; latency of all answers p50 {_p(run, 'p50'):.0f} ms, "
        f"p99 {_p(run, 'p99'):.0f} ms; CPU cores {_cpu_text(run['cpu_cores'])}"
        + (f"; socket errors {run['socket_errors']}" if any(run["socket_errors"].values()) else ""),
    ]
    for kind, summary in o["probe_summary"].items():
        parts = [f"{status}: {s['count']} (p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms)"
                 for status, s in summary.items()]
        lines.append(f"{kind} probes: " + "; ".join(parts))
    small = o["small_probes"]
    lines.append(f"1-row probes against the {small['deadline_ms']:g} ms deadline: " + ", ".join(
        f"at {p['sent_s']:.1f} s {p['status']} in {p['latency_ms']:.0f} ms" for p in small["probes"]))
    return "\n".join(lines)


def format_targets(rows: Sequence[Mapping[str, Any]]) -> str:
    """The targets' table: figure, measured (range over rounds), target, status."""
    return _table(["figure", "measured", "target", "status"],
                  [[r["figure"], r["measured"], f"{r['op']} {r['limit']:g}", r["status"]] for r in rows])


def plot(report: Report, path: Path) -> None:
    """Latency against rows/s: each run's p50 (filled) and p99 (hollow) joined, the raw best as a vertical line.

    Colour tells the server, the marker the case. Runs with no 2xx answer have
    no place on the rows/s axis and are left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=110)
    colours = {"ctrkit": "C0", "naive": "C3", "overload": "C2", "protocols": "C1"}
    markers = "osD^vP*Xhp<>"
    handles = []
    points = [(case["title"], server, runs) for case in report["cases"] for server, runs in case["runs"].items()]
    points += [(case["title"], "protocols", case["runs"]["ctrkit"]) for case in _protocol_cases(report)]
    overload = report.get("overload")
    if overload:
        run = {**overload["wrk"], "rows_per_s": overload["rows_per_s_200"]}
        points.append((f"{overload['title']} (rows answered 200, latency of all answers)", "overload", [run]))
    titles = list(dict.fromkeys(title for title, _, _ in points))
    for title, server, runs in points:
        marker = markers[titles.index(title) % len(markers)]
        for run in runs:
            if run["rows_per_s"] <= 0:
                continue
            x, colour = run["rows_per_s"], colours.get(server, "C7")
            ax.plot([x, x], [_p(run, "p50"), _p(run, "p99")], "-", color=colour, alpha=0.5)
            ax.plot(x, _p(run, "p50"), marker, color=colour)
            ax.plot(x, _p(run, "p99"), marker, color=colour, markerfacecolor="none")
    for k, title in enumerate(titles):
        handles.append(Line2D([], [], linestyle="none", marker=markers[k % len(markers)], color="0.4", label=title))
    for server in ("ctrkit", "naive"):
        handles.append(Line2D([], [], color=colours[server], label=f"{server} (filled p50, hollow p99)"))
    if _protocol_cases(report):
        handles.append(Line2D([], [], color=colours["protocols"], label="ctrkit, binary-protocol cases"))
    best = report["raw_best"]
    ax.axvline(best["rows_per_s"], color="0.3", linestyle=":", linewidth=1)
    handles.append(Line2D([], [], color="0.3", linestyle=":",
                          label=f"raw model best ({best['signature']}, {best['rows_per_call']} rows/call)"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows scored per second (2xx answers)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"{report['model']['name']} on {report['machine']['cpus']} CPUs: ctrkit serve, the naive FastAPI peer "
                 "and the raw model", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
