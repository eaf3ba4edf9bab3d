"""Just enough PromQL reading to list the metric names and label names an expression uses.

Not a full parser: it tokenizes, skips strings, durations and Grafana variables, and knows which
identifiers are functions, keywords or grouping labels. Enough for dashboards and alert rules,
and strict: an identifier it cannot place is reported as a metric name, so the check fails
loudly rather than passing by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|s|m|h|d|w|y)?\b)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<punct>[{}(),])
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=@])
  | (?P<space>\s+)
    """,
    re.VERBOSE,
)
# Grafana's variables ($__rate_interval, ${datasource}, $namespace) are not PromQL.
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")

_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "atan2", "inf", "nan", "start", "end"}
# Aggregations may put their `by (...)` before the parenthesis: `sum by (pod) (x)`.
_AGGREGATIONS = {
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "limitk",
    "limit_ratio",
}


@dataclass
class Selector:
    metric: str | None
    labels: set[str] = field(default_factory=set)


@dataclass
class Refs:
    """What one expression reads: its selectors, and the labels it groups or matches on."""

    selectors: list[Selector] = field(default_factory=list)
    grouping_labels: set[str] = field(default_factory=set)

    @property
    def metrics(self) -> set[str]:
        return {s.metric for s in self.selectors if s.metric}


def _tokens(expr: str) -> list[tuple[str, str]]:
    text = _GRAFANA_VARIABLE.sub("1", expr)
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot read PromQL at {text[pos : pos + 20]!r} in {expr!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "space":
            out.append((kind, m.group()))
    return out


def references(expr: str) -> Refs:
    """Metric names and label names used by a PromQL expression."""
    toks = _tokens(expr)
    refs = Refs()
    i = 0
    while i < len(toks):
        kind, value = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        if kind == "ident" and value in _GROUPING and nxt == "(":
            i += 2
            while i < len(toks) and toks[i][1] != ")":
                if toks[i][0] == "ident":
                    refs.grouping_labels.add(toks[i][1])
                i += 1
        elif kind == "ident" and nxt == "(":
            pass  # a function or an aggregation operator
        elif kind == "ident" and value.lower() in _KEYWORDS | _GROUPING | _AGGREGATIONS:
            pass
        elif kind == "ident" or (kind == "punct" and value == "{"):
            selector = Selector(metric=value if kind == "ident" else None)
            if kind == "ident" and nxt == "{":
                i += 1
            if toks[i][1] == "{":
                i += 1
                while i < len(toks) and toks[i][1] != "}":
                    if toks[i][0] == "ident":
                        selector.labels.add(toks[i][1])
                    i += 1
            refs.selectors.append(selector)
        i += 1
    return refs


def label_values_query(query: str) -> tuple[str | None, str] | None:
    """Grafana's `label_values(metric, label)` / `label_values(label)` template query."""
    m = re.fullmatch(
        r"\s*label_values\(\s*(?:(.+?)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", query
    )
    if m is None:
        return None
    return m.group(1), m.group(2)


def _sample_names(collector: MetricWrapperBase) -> dict[str, frozenset[str]]:
    labels = frozenset(collector._labelnames)
    name, kind = collector._name, collector._type
    if kind == "counter":
        return {f"{name}_total": labels, f"{name}_created": labels}
    if kind == "histogram":
        return {
            f"{name}_bucket": labels | {"le"},
            **{f"{name}{suffix}": labels for suffix in ("_sum", "_count", "_created")},
        }
    if kind == "summary":
        return {
            name: labels | {"quantile"},
            **{f"{name}{suffix}": labels for suffix in ("_sum", "_count", "_created")},
        }
    return {name: labels}


def exported_series() -> dict[str, frozenset[str]]:
    """Every sample name kubemedic's code exports, with the label names it carries.

    The metrics are those mcp_server/metrics.py and agent/metrics.py define *and* that sit in
    prometheus-client's default registry (what /metrics serves); metrics other modules or tests
    happen to register do not count, so the answer does not depend on what else was imported.
    Labelled metrics without children expose no samples yet, so the names come from each
    metric's type and its declared label names (prometheus-client keeps them on the object).
    """
    import agent.metrics
    import mcp_server.metrics

    # No public listing of the registry's collectors exists.
    registered = set(REGISTRY._collector_to_names)
    series: dict[str, frozenset[str]] = {}
    for module in (mcp_server.metrics, agent.metrics):
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase) and value in registered:
                series.update(_sample_names(value))
    return series


# Labels Prometheus attaches to every scraped series (the ServiceMonitor sets honorLabels, so
# the metrics' own `namespace` and `pod` labels win over the target's).
TARGET_LABELS = frozenset({"job", "instance"})
# Series Prometheus itself writes for each target.
SCRAPE_SERIES = {"up": TARGET_LABELS}


def problems(expr: str, exported: dict[str, frozenset[str]], legend: str = "") -> list[str]:
    """What in `expr` (and its legend template) the code does not export; empty when fine."""
    refs = references(expr)
    known = {**exported, **SCRAPE_SERIES}
    found: list[str] = []
    available: set[str] = set(TARGET_LABELS)
    for selector in refs.selectors:
        if selector.metric is None:
            found.append(f"selector without a metric name in {expr!r}")
            continue
        if selector.metric not in known:
            found.append(f"metric {selector.metric!r} is not exported")
            continue
        labels = known[selector.metric] | TARGET_LABELS
        available |= labels
        for label in sorted(selector.labels - labels):
            found.append(f"metric {selector.metric!r} has no label {label!r}")
    if not refs.selectors:
        found.append(f"no metric in {expr!r}")
    for label in sorted(refs.grouping_labels - available):
        found.append(f"label {label!r} (by/on/without) is on none of the metrics used")
    for label in sorted(set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", legend))):
        if label not in available:
            found.append(f"legend uses label {label!r} that the query does not have")
    return found
