#!/usr/bin/env python3
"""Checks that every metric a dashboard or an alert rule queries is one the binaries export.

    check_metric_names.py --scrape producer.txt --scrape consumer.txt \
        --rules deploy/observability/prometheus/rules/registry.yml \
        --dashboard deploy/observability/grafana/dashboards/registry.json
    check_metric_names.py --self-test
    check_metric_names.py --lint-dashboard registry.json --datasources prometheus.yml

Metric names are taken out of each PromQL expression with a small lexer (strings, comments,
numbers and durations, label matchers, `by (...)`-style label lists, function calls and
Grafana variables are told apart), so function and label names are never mistaken for metrics.
The exported names come from real `/metrics` answers (Prometheus text format or OpenMetrics):
every sample name, plus the names a `# TYPE` line implies (`_bucket`, `_sum`, `_count` of a
histogram, `_total` of an OpenMetrics counter), so a series without samples yet still counts.
Label names in a selector (`metric{label="..."}`) are checked against the labels the metric
carries in the scrape. Exits 1 listing every unknown name, 0 when all are known.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

AGGREGATORS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
    "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
    "delta", "deriv", "double_exponential_smoothing", "end", "exp", "floor", "histogram_avg",
    "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
    "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "info",
    "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
    "mad_over_time", "max_over_time", "min_over_time", "minute", "month", "pi",
    "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets",
    "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc",
    "sort_desc", "sqrt", "start", "stddev_over_time", "stdvar_over_time", "sum_over_time",
    "tan", "tanh", "time", "timestamp", "vector", "year",
}
# Keywords that take a parenthesised list of label names.
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = LABEL_LIST_KEYWORDS | {"and", "or", "unless", "offset", "bool", "atan2", "inf", "nan"}
# Series Prometheus makes itself for every target, not exported by the binaries.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added",
             "scrape_samples_post_metric_relabeling", "ALERTS", "ALERTS_FOR_STATE"}
# Labels Prometheus attaches to every series of a target.
TARGET_LABELS = {"job", "instance"}

IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[A-Za-z0-9_]*")
GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]")


class PromQLError(ValueError):
    """An expression the lexer cannot read, or a call of an unknown function."""


@dataclass
class Selector:
    """A vector selector: the metric and the label names of its matchers."""

    metric: str
    labels: set[str] = field(default_factory=set)


def _skip_string(expr: str, i: int) -> tuple[int, str]:
    quote = expr[i]
    j = i + 1
    value = []
    while j < len(expr):
        c = expr[j]
        if c == "\\" and quote != "`":
            value.append(expr[j + 1 : j + 2])
            j += 2
            continue
        if c == quote:
            return j + 1, "".join(value)
        value.append(c)
        j += 1
    raise PromQLError(f"unterminated string in {expr!r}")


def _next_significant(expr: str, i: int) -> str:
    while i < len(expr) and expr[i].isspace():
        i += 1
    return expr[i] if i < len(expr) else ""


def selectors(expr: str) -> list[Selector]:
    """The vector selectors of a PromQL expression, in order."""
    # Grafana variables ($__rate_interval, ${var}, [[var]]) stand for durations or values:
    # a duration keeps `[...]` readable and is never a name.
    expr = GRAFANA_VARIABLE.sub("1m", expr)
    found: list[Selector] = []
    # Each open bracket remembers what it holds: "expr", "labels" (a by/on list), "matchers", "range".
    stack: list[str] = []
    pending_label_list = False
    current: Selector | None = None  # the selector whose {...} is being read
    matcher_label: str | None = None
    i = 0
    while i < len(expr):
        c = expr[i]
        context = stack[-1] if stack else "expr"
        if c.isspace():
            i += 1
        elif c == "#":
            while i < len(expr) and expr[i] != "\n":
                i += 1
        elif c in "\"'`":
            i, value = _skip_string(expr, i)
            if context == "matchers" and matcher_label == "__name__" and current is not None:
                current.metric = value
            matcher_label = None
        elif c == "(":
            stack.append("labels" if pending_label_list else "expr")
            pending_label_list = False
            i += 1
        elif c == "{":
            if current is None:  # a selector without a name: {__name__="...", ...}
                current = Selector(metric="")
                found.append(current)
            stack.append("matchers")
            i += 1
        elif c == "[":
            stack.append("range")
            i += 1
        elif c in ")}]":
            if not stack:
                raise PromQLError(f"unbalanced {c!r} in {expr!r}")
            closed = stack.pop()
            if closed == "matchers":
                current = None
            i += 1
        elif c == "=" and context == "matchers" and expr[i + 1 : i + 2] == "~":
            i += 2  # a regex matcher: the value names no metric
            matcher_label = None if matcher_label == "__name__" else matcher_label
        elif c.isdigit() or (c == "." and expr[i + 1 : i + 2].isdigit()):
            match = NUMBER.match(expr, i)
            i = match.end()
        elif IDENT.match(expr, i):
            word = IDENT.match(expr, i).group(0)
            i += len(word)
            if context == "matchers":
                if current is not None and word != "__name__":
                    current.labels.add(word)
                matcher_label = word
                continue
            if context in ("labels", "range"):
                continue  # label names of by (...), or the unit of a duration such as 5m
            lowered = word.lower()
            following = _next_significant(expr, i)
            if lowered in KEYWORDS:
                pending_label_list = lowered in LABEL_LIST_KEYWORDS and following == "("
                continue
            if word in AGGREGATORS and (following == "(" or IDENT.match(following or " ")):
                continue  # sum(...), or sum by (...) (...)
            if following == "(":
                if word not in FUNCTIONS:
                    raise PromQLError(f"unknown PromQL function {word!r} in {expr!r}")
                continue
            current = Selector(metric=word)
            found.append(current)
            if following != "{":
                current = None
        else:
            i += 1  # operators, commas, @
        if c != "{" and context != "matchers" and current is not None and _next_significant(expr, i) != "{":
            current = None
    if stack:
        raise PromQLError(f"unclosed {stack[-1]} bracket in {expr!r}")
    return found


def exported_series(text: str) -> dict[str, set[str]]:
    """Metric name -> label names, for every name a /metrics answer exports or implies."""
    series: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) < 4:
                continue
            name, kind = parts[2], parts[3]
            names = {name}
            if kind == "histogram" or kind == "gaugehistogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
            elif kind == "summary":
                names |= {f"{name}_sum", f"{name}_count", f"{name}_created"}
            elif kind == "counter" and not name.endswith("_total"):  # OpenMetrics names counters without it
                names |= {f"{name}_total", f"{name}_created"}
            elif kind == "info":
                names.add(f"{name}_info")
            for n in names:
                series.setdefault(n, set())
        elif line and not line.startswith("#"):
            match = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{([^}]*)\})?\s", line)
            if match:
                labels = set(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="', match.group(3) or ""))
                series.setdefault(match.group(1), set()).update(labels)
    return series


def rule_expressions(path: Path) -> list[tuple[str, str, str | None]]:
    """(where, expression, recorded name or None) of every rule of a rules file."""
    import yaml  # PyYAML, from .venv/tools

    out = []
    for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            out.append((f"{path}: {group['name']}/{name}", rule["expr"], rule.get("record")))
    return out


def dashboard_expressions(path: Path) -> list[tuple[str, str]]:
    """(where, expression) of every query of a Grafana dashboard, rows and variables included."""
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    out = []

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                out.append((f"{path}: panel {panel.get('title')!r} {target.get('refId')}", target["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if variable.get("type") == "query" and query:
            inner = re.fullmatch(r"\s*(?:label_values|query_result)\((.*)\)\s*", query, re.S)
            expr = inner.group(1) if inner else query
            if inner and query.lstrip().startswith("label_values"):
                expr = expr.rsplit(",", 1)[0] if "," in expr else expr
            out.append((f"{path}: variable {variable.get('name')!r}", expr))
    return out


def lint_dashboard(path: Path, datasources: Path) -> list[str]:
    """The dashboard parses, has a uid and unique panel ids, and queries only provisioned datasources."""
    import yaml  # PyYAML, from .venv/tools

    try:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        return [f"{path}: not JSON: {err}"]
    provisioned = {d.get("uid") for d in (yaml.safe_load(datasources.read_text(encoding="utf-8")) or {}).get("datasources", [])}
    problems = []
    if not dashboard.get("uid") or not dashboard.get("title"):
        problems.append(f"{path}: the dashboard needs a uid and a title")
    ids = []

    def walk(items):
        for panel in items:
            ids.append(panel.get("id"))
            title = panel.get("title")
            if panel.get("type") != "row":
                if not panel.get("targets"):
                    problems.append(f"{path}: panel {title!r} has no query")
                for target in panel.get("targets", []):
                    uid = (target.get("datasource") or panel.get("datasource") or {}).get("uid")
                    if uid not in provisioned:
                        problems.append(f"{path}: panel {title!r} queries datasource {uid!r}, provisioned: {sorted(provisioned)}")
                    if not target.get("expr"):
                        problems.append(f"{path}: panel {title!r} has a target without expr")
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    if not ids:
        problems.append(f"{path}: no panels")
    duplicates = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    if duplicates or None in ids:
        problems.append(f"{path}: panel ids must be set and unique (duplicates: {duplicates})")
    return problems


def check(scrapes: list[Path], rules: list[Path], dashboards: list[Path]) -> list[str]:
    exported: dict[str, set[str]] = {}
    for scrape in scrapes:
        for name, labels in exported_series(scrape.read_text(encoding="utf-8")).items():
            exported.setdefault(name, set()).update(labels)
    if not exported:
        return ["the scrapes hold no metric at all"]
    expressions: list[tuple[str, str]] = []
    recorded: set[str] = set()
    for path in rules:
        for where, expr, record in rule_expressions(path):
            expressions.append((where, expr))
            if record:
                recorded.add(record)
    for path in dashboards:
        expressions.extend(dashboard_expressions(path))
    if not expressions:
        return ["no expression found in the rules and dashboards"]

    problems = []
    for where, expr in expressions:
        try:
            found = selectors(expr)
        except PromQLError as err:
            problems.append(f"{where}: {err}")
            continue
        if not found:
            problems.append(f"{where}: queries no metric: {expr!r}")
        for selector in found:
            name = selector.metric
            if name in SYNTHETIC or name in recorded:
                continue
            if name not in exported:
                problems.append(f"{where}: unknown metric {name!r} (not exported by the binaries)")
                continue
            known = exported[name]
            if known:  # labels can only be checked when the scrape has samples of it
                missing = selector.labels - known - TARGET_LABELS
                if missing:
                    problems.append(f"{where}: {name} has no label {sorted(missing)} (it has {sorted(known)})")
    return list(dict.fromkeys(problems))


SELF_TESTS = [
    ('sum by (route, status) (rate(http_requests_total{route!="/metrics"}[$__rate_interval]))',
     {"http_requests_total": {"route"}}),
    ("histogram_quantile(0.99, sum by (le) (rate(x_bucket{a='b'}[5m])))", {"x_bucket": {"a"}}),
    ('a > 1000 and max(deriv(b{state="pending"}[10m])) > 0', {"a": set(), "b": {"state"}}),
    ('{__name__="foo", job="x"}', {"foo": {"job"}}),
    ("rate(foo[5m] offset 1h) / on (instance) group_left (version) bar", {"foo": set(), "bar": set()}),
    ('up{job=~"producer|consumer"} == 0', {"up": {"job"}}),
    ('(sum(rate(a{s=~"5.."}[1m])) or vector(0)) / sum(rate(a[1m]))', {"a": {"s"}}),
    ('count_values("value", build_info)', {"build_info": set()}),
    ("topk(5, foo) # sum(nothing_here)", {"foo": set()}),
    ("sum without (instance) (foo:recorded) * 1e-3 + Inf", {"foo:recorded": set()}),
    ("max_over_time(foo[10m:30s]) > bool 2", {"foo": set()}),
    ('label_replace(m, "dst", "$1", "src", "(.*)")', {"m": set()}),
    ("sum(rate(c_total[${interval}])) by (cause)", {"c_total": set()}),
    ("foo @ start() - foo offset -5m", {"foo": set()}),
    ("max by (state) (queue_messages)", {"queue_messages": set()}),
]


def self_test() -> int:
    failures = 0
    for expr, expected in SELF_TESTS:
        got: dict[str, set[str]] = {}
        for selector in selectors(expr):
            got.setdefault(selector.metric, set()).update(selector.labels)
        if got != expected:
            failures += 1
            print(f"self-test FAILED: {expr!r}\n  expected {expected}\n  got      {got}", file=sys.stderr)
    for bad in ("rates(foo[5m])", "sum(rate(foo[5m])", 'foo{a="b}'):
        try:
            selectors(bad)
        except PromQLError:
            continue
        failures += 1
        print(f"self-test FAILED: {bad!r} should be refused", file=sys.stderr)
    exposition = (
        "# TYPE lat histogram\nlat_bucket{le=\"1\"} 0\n# TYPE c counter\n# TYPE d_total counter\n"
        'd_total{reason="x"} 1\n# EOF\n'
    )
    series = exported_series(exposition)
    expected_names = {"lat", "lat_bucket", "lat_sum", "lat_count", "lat_created", "c", "c_total", "c_created", "d_total"}
    if set(series) != expected_names or series["d_total"] != {"reason"} or series["lat_bucket"] != {"le"}:
        failures += 1
        print(f"self-test FAILED: exported_series gave {series}", file=sys.stderr)
    total = len(SELF_TESTS) + 4
    print(f"check_metric_names self-test: {total - failures}/{total} passed", file=sys.stderr)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scrape", action="append", type=Path, default=[], help="a saved /metrics answer")
    parser.add_argument("--rules", action="append", type=Path, default=[], help="a Prometheus rules file")
    parser.add_argument("--dashboard", action="append", type=Path, default=[], help="a Grafana dashboard JSON")
    parser.add_argument("--self-test", action="store_true", help="test the expression reader itself")
    parser.add_argument("--lint-dashboard", type=Path, help="check a dashboard's structure (with --datasources)")
    parser.add_argument("--datasources", type=Path, help="Grafana datasource provisioning file")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if args.lint_dashboard:
        if not args.datasources:
            parser.error("--lint-dashboard needs --datasources")
        problems = lint_dashboard(args.lint_dashboard, args.datasources)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    if not args.scrape:
        parser.error("--scrape is required")
    problems = check(args.scrape, args.rules, args.dashboard)
    if problems:
        print(f"{len(problems)} metric name problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        unknown = sorted({m.group(1) for p in problems if (m := re.search(r"unknown metric '([^']*)'", p))})
        if unknown:
            print(f"unknown metric names: {', '.join(unknown)}", file=sys.stderr)
        return 1
    count = len(args.rules) + len(args.dashboard)
    print(f"every metric of {count} file(s) is exported", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
