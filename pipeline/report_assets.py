"""A loop's report: Markdown plus a self-contained HTML page with plotly charts.

The input is a plain dict, so the web app, a notebook or a JSON file can feed it::

    {
      "name": "loop 3: six-parameter task, SmolLM2",
      "description": "optional text",
      "links": {"tracker project": "https://wandb.ai/team/ftloop"},          # optional, loop-wide
      "cycles": [
        {
          "index": 0,                                                       # 0-based, shown as "cycle 1"
          "metrics": {"prompt_baseline": {"vector_mae": 18.2, ...}, "fine_tuned": {...}},
          "verdicts": [{"key": "json_valid", "passed": true, "reason": "fine_tuned json_valid_rate 0.99 >= 0.98"}],
          "links": {"tracker_run": "https://wandb.ai/...", "adapter_artifact": "ftloop/adapter:v0"}
        }
      ]
    }

A verdict may also be a `Verdict.to_dict()` row (its key under "criterion");
`passed` None means the criterion did not apply. Only http(s) URLs become
links, so pass the web app's pages as absolute URLs
(``request.build_absolute_uri``); anything else (a local path, an artifact
name like "ftloop/adapter:v0") is shown as text.

Writes ``report.md`` and ``report.html`` into the output directory. The HTML
inlines plotly.js from the installed plotly package, so it opens offline and
loads nothing from a CDN; the Markdown links to it for the charts (kaleido is
not installed, so there are no PNGs).

CLI: ``python -m pipeline.report_assets --loop-json loop.json --out reports/loop-3``
"""

from __future__ import annotations

import argparse
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pipeline.eval.metrics import lower_is_better, ordered_metric_keys

if TYPE_CHECKING:
    from plotly.graph_objects import Figure

MARKDOWN_NAME = "report.md"
HTML_NAME = "report.html"
CHART_COLUMNS = 3
CHART_ROW_HEIGHT_PX = 280

# Escaped in Markdown text: what could start emphasis, code, a link, raw HTML, or end a table cell.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<|])")


def cycle_label(cycle: Mapping[str, Any]) -> str:
    return f"cycle {int(cycle['index']) + 1}"


def predictors(loop: Mapping[str, Any]) -> list[str]:
    """Every predictor of the loop, in order of first appearance."""
    return list(dict.fromkeys(name for cycle in loop["cycles"] for name in cycle.get("metrics", {})))


def metric_keys(loop: Mapping[str, Any]) -> list[str]:
    """The metrics present anywhere in the loop: the tasks' order first (DESIGN §6's for the flagship), then the
    rest sorted."""
    present = {key for cycle in loop["cycles"] for values in cycle.get("metrics", {}).values() for key in values}
    return ordered_metric_keys(present)


def metric_title(key: str) -> str:
    """The metric with the arrow saying which way is better."""
    return f"{key} {'↓' if lower_is_better(key) else '↑'}"


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def verdict_key(verdict: Mapping[str, Any]) -> str:
    return str(verdict.get("key") or verdict.get("criterion", {}).get("key") or "?")


def verdict_status(verdict: Mapping[str, Any]) -> str:
    return {True: "PASS", False: "FAIL"}.get(verdict.get("passed"), "n/a")


def is_linkable(target: str) -> bool:
    """Only http(s) URLs become links: never javascript: or data:, nor a local path shown as text."""
    return urlsplit(target).scheme in ("http", "https")


def _md(text: Any) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def _md_link(label: str, target: str) -> str:
    if is_linkable(target):
        return f"[{_md(label)}](<{target.replace('<', '%3C').replace('>', '%3E')}>)"
    return f"{_md(label)}: `{target.replace('`', '')}`"


def _md_links(links: Mapping[str, Any]) -> list[str]:
    return [f"- {_md_link(label, str(target))}" for label, target in links.items()]


def _md_metric_table(metrics: Mapping[str, Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    names = list(metrics)
    keys = [key for key in keys if any(key in values for values in metrics.values())]
    lines = [
        "| metric | " + " | ".join(_md(name) for name in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for key in keys:
        cells = [format_value(metrics[name].get(key)) for name in names]
        lines.append(f"| {_md(metric_title(key))} | " + " | ".join(cells) + " |")
    return lines


def render_markdown(loop: Mapping[str, Any], html_name: str = HTML_NAME) -> str:
    """The report as Markdown; charts live in the HTML report it links to."""
    keys = metric_keys(loop)
    lines = [f"# {_md(loop['name'])}", ""]
    if loop.get("description"):
        lines += [_md(loop["description"]), ""]
    lines += [f"Charts (grouped bars per metric, metrics across cycles): [{html_name}]({html_name})", ""]
    if loop.get("links"):
        lines += ["Links:", ""] + _md_links(loop["links"]) + [""]
    for cycle in loop["cycles"]:
        lines += [f"## {cycle_label(cycle).capitalize()}", ""]
        if cycle.get("metrics"):
            lines += _md_metric_table(cycle["metrics"], keys) + [""]
        else:
            lines += ["No metrics yet.", ""]
        if cycle.get("verdicts"):
            lines += ["Verdicts:", ""]
            for verdict in cycle["verdicts"]:
                reason = _md(verdict.get("reason", ""))
                lines.append(f"- **{verdict_status(verdict)}** `{verdict_key(verdict)}`: {reason}")
            lines.append("")
        if cycle.get("links"):
            lines += ["Links:", ""] + _md_links(cycle["links"]) + [""]
    return "\n".join(lines)


def _subplot_grid(keys: Sequence[str]) -> tuple[Figure, list[tuple[int, int]]]:
    from plotly.subplots import make_subplots

    rows = max(1, math.ceil(len(keys) / CHART_COLUMNS))
    figure = make_subplots(
        rows=rows, cols=CHART_COLUMNS, subplot_titles=[metric_title(key) for key in keys], vertical_spacing=0.5 / rows
    )
    figure.update_layout(height=CHART_ROW_HEIGHT_PX * rows + 80, margin={"t": 60, "b": 30, "l": 40, "r": 20})
    return figure, [(index // CHART_COLUMNS + 1, index % CHART_COLUMNS + 1) for index in range(len(keys))]


def _colour(index: int) -> str:
    from plotly.colors import qualitative

    return qualitative.Plotly[index % len(qualitative.Plotly)]


def bars_figure(loop: Mapping[str, Any]) -> Figure:
    """One panel per metric: a bar per predictor, grouped by cycle."""
    import plotly.graph_objects as go

    keys, names = metric_keys(loop), predictors(loop)
    figure, cells = _subplot_grid(keys)
    for number, cycle in enumerate(loop["cycles"]):
        metrics = cycle.get("metrics", {})
        for position, (key, (row, col)) in enumerate(zip(keys, cells)):
            figure.add_trace(
                go.Bar(
                    x=names,
                    y=[metrics.get(name, {}).get(key) for name in names],
                    name=cycle_label(cycle),
                    legendgroup=cycle_label(cycle),
                    showlegend=position == 0,
                    marker_color=_colour(number),
                ),
                row=row,
                col=col,
            )
    figure.update_layout(barmode="group", title="Metrics per predictor, grouped by cycle")
    return figure


def trends_figure(loop: Mapping[str, Any]) -> Figure:
    """One panel per metric: a line per predictor across the cycles."""
    import plotly.graph_objects as go

    keys, names = metric_keys(loop), predictors(loop)
    figure, cells = _subplot_grid(keys)
    labels = [cycle_label(cycle) for cycle in loop["cycles"]]
    for number, name in enumerate(names):
        for position, (key, (row, col)) in enumerate(zip(keys, cells)):
            figure.add_trace(
                go.Scatter(
                    x=labels,
                    y=[cycle.get("metrics", {}).get(name, {}).get(key) for cycle in loop["cycles"]],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=position == 0,
                    line_color=_colour(number),
                ),
                row=row,
                col=col,
            )
    figure.update_layout(title="Metrics across cycles")
    return figure


def _html_link(label: str, target: str) -> str:
    if is_linkable(target):
        return f'<a href="{html.escape(target)}">{html.escape(label)}</a>'
    return f"{html.escape(label)}: <code>{html.escape(target)}</code>"


def _html_links(links: Mapping[str, Any]) -> str:
    items = "".join(f"<li>{_html_link(label, str(target))}</li>" for label, target in links.items())
    return f"<ul class='links'>{items}</ul>"


def _html_metric_table(metrics: Mapping[str, Mapping[str, Any]], keys: Sequence[str]) -> str:
    names = list(metrics)
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    rows = []
    for key in (key for key in keys if any(key in values for values in metrics.values())):
        cells = "".join(f"<td>{html.escape(format_value(metrics[name].get(key)))}</td>" for name in names)
        rows.append(f"<tr><th scope='row'>{html.escape(metric_title(key))}</th>{cells}</tr>")
    return f"<table><thead><tr><th>metric</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _html_verdicts(verdicts: Sequence[Mapping[str, Any]]) -> str:
    items = []
    for verdict in verdicts:
        status = verdict_status(verdict)
        items.append(
            f"<li><span class='badge {status.replace('/', '').lower()}'>{status}</span> "
            f"<code>{html.escape(verdict_key(verdict))}</code>: {html.escape(str(verdict.get('reason', '')))}</li>"
        )
    return f"<ul class='verdicts'>{''.join(items)}</ul>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; }
td { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #f3f3f3; }
tbody th { text-align: left; font-weight: normal; }
.badge { display: inline-block; min-width: 3em; text-align: center; border-radius: 3px; }
.badge { font-weight: bold; color: #fff; }
.badge.pass { background: #2e7d32; } .badge.fail { background: #c62828; } .badge.na { background: #757575; }
ul.verdicts, ul.links { padding-left: 1.2rem; }
"""


def render_html(loop: Mapping[str, Any]) -> str:
    """The report as one HTML page; plotly.js is inlined from the installed package."""
    from plotly.offline import get_plotlyjs

    keys = metric_keys(loop)
    config = {"displaylogo": False, "responsive": True}
    parts = [f"<h1>{html.escape(str(loop['name']))}</h1>"]
    if loop.get("description"):
        parts.append(f"<p>{html.escape(str(loop['description']))}</p>")
    if loop.get("links"):
        parts.append(_html_links(loop["links"]))
    if keys:
        for figure in (bars_figure(loop), trends_figure(loop)):
            parts.append(figure.to_html(full_html=False, include_plotlyjs=False, config=config))
    for cycle in loop["cycles"]:
        parts.append(f"<h2>{html.escape(cycle_label(cycle).capitalize())}</h2>")
        parts.append(_html_metric_table(cycle["metrics"], keys) if cycle.get("metrics") else "<p>No metrics yet.</p>")
        if cycle.get("verdicts"):
            parts.append("<h3>Verdicts</h3>" + _html_verdicts(cycle["verdicts"]))
        if cycle.get("links"):
            parts.append("<h3>Links</h3>" + _html_links(cycle["links"]))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(str(loop['name']))}</title><style>{_STYLE}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


def write_report(loop: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write report.md and report.html into `out_dir`; returns {"markdown": path, "html": path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, markdown_path = out_dir / HTML_NAME, out_dir / MARKDOWN_NAME
    html_path.write_text(render_html(loop), encoding="utf-8")
    markdown_path.write_text(render_markdown(loop, HTML_NAME), encoding="utf-8")
    return {"markdown": markdown_path, "html": html_path}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-json", required=True, help="the loop as JSON (shape in this module's docstring)")
    parser.add_argument("--out", required=True, help="directory for report.md and report.html")
    args = parser.parse_args(argv)
    try:
        loop = json.loads(Path(args.loop_json).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    for path in write_report(loop, Path(args.out)).values():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
