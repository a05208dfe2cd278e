"""A loop's Markdown and self-contained HTML report."""

from __future__ import annotations

import json
import re

import pytest
from plotly.offline import get_plotlyjs

from pipeline import report_assets

LOOP = {
    "name": "Loop 3: six-parameter task",
    "description": "SmolLM2 with LoRA, two cycles",
    "links": {"tracker project": "https://wandb.ai/team/ftloop"},
    "cycles": [
        {
            "index": 0,
            "metrics": {
                "prompt_baseline": {"json_valid_rate": 0.9125, "vector_mae": 18.37, "intent_score_mean": 0.7012},
                "fine_tuned": {"json_valid_rate": 0.9625, "vector_mae": 14.02, "intent_score_mean": 0.8123},
            },
            "verdicts": [
                {"key": "json_valid", "passed": False, "reason": "fine_tuned json_valid_rate 0.9625 < 0.98"},
                {
                    "criterion": {"key": "loop_completion"},
                    "passed": None,
                    "reason": "not the last cycle of the loop",
                },
            ],
            "links": {
                "tracker_run": "https://wandb.ai/team/ftloop/runs/abc123",
                "adapter_artifact": "ftloop/adapter-17:v0",
            },
        },
        {
            "index": 1,
            "metrics": {
                "prompt_baseline": {"json_valid_rate": 0.9125, "vector_mae": 18.37, "intent_score_mean": 0.7012},
                "fine_tuned": {"json_valid_rate": 0.9875, "vector_mae": 11.5, "intent_score_mean": 0.8741},
            },
            "verdicts": [
                {"key": "json_valid", "passed": True, "reason": "fine_tuned json_valid_rate 0.9875 >= 0.98"},
                {"key": "evil", "passed": True, "reason": "<script>alert(1)</script>"},
            ],
            "links": {"eval_summary": "http://127.0.0.1:8000/compare?cycle=8", "sneaky": "javascript:alert(1)"},
        },
    ],
}


@pytest.fixture
def written(tmp_path):
    return report_assets.write_report(LOOP, tmp_path / "report")


def test_it_writes_the_markdown_with_tables_verdicts_and_links(written):
    markdown = written["markdown"].read_text(encoding="utf-8")

    assert markdown.startswith("# Loop 3: six-parameter task\n")
    assert "[report.html](report.html)" in markdown
    assert "## Cycle 1" in markdown and "## Cycle 2" in markdown
    assert "| metric | prompt_baseline | fine_tuned |" in markdown
    assert "| json_valid_rate ↑ | 0.9125 | 0.9875 |" in markdown
    assert "| vector_mae ↓ | 18.37 | 11.5 |" in markdown
    assert "- **FAIL** `json_valid`: fine_tuned json_valid_rate 0.9625 \\< 0.98" in markdown
    assert "- **PASS** `json_valid`: fine_tuned json_valid_rate 0.9875 >= 0.98" in markdown
    assert "- **n/a** `loop_completion`: not the last cycle of the loop" in markdown
    assert "[tracker_run](<https://wandb.ai/team/ftloop/runs/abc123>)" in markdown
    assert "adapter_artifact: `ftloop/adapter-17:v0`" in markdown
    assert "sneaky: `javascript:alert(1)`" in markdown


def test_it_writes_html_with_every_value_and_reason(written):
    page = written["html"].read_text(encoding="utf-8")

    for cycle in LOOP["cycles"]:
        for metrics in cycle["metrics"].values():
            for value in metrics.values():
                assert f"<td>{value:.4g}</td>" in page
    assert "fine_tuned json_valid_rate 0.9625 &lt; 0.98" in page
    assert "not the last cycle of the loop" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert '<a href="https://wandb.ai/team/ftloop/runs/abc123">tracker_run</a>' in page
    assert '<a href="http://127.0.0.1:8000/compare?cycle=8">eval_summary</a>' in page
    assert "adapter_artifact: <code>ftloop/adapter-17:v0</code>" in page
    assert 'href="javascript:' not in page


def test_it_inlines_plotly_and_loads_nothing_from_a_cdn(written):
    page = written["html"].read_text(encoding="utf-8")

    assert get_plotlyjs() in page  # the bundle of the installed plotly package, inlined once
    assert page.count("Plotly.newPlot(") == 2
    assert not re.search(r"<script[^>]*\ssrc=", page)
    assert not re.search(r"""<link[^>]*href=["']https?://""", page)
    assert "cdn.plot.ly/plotly-" not in page


def test_it_charts_every_metric_per_cycle_and_across_cycles():
    bars = report_assets.bars_figure(LOOP)
    trends = report_assets.trends_figure(LOOP)
    metrics = report_assets.metric_keys(LOOP)

    assert metrics == ["json_valid_rate", "vector_mae", "intent_score_mean"]
    assert len(bars.data) == 2 * len(metrics)  # a bar trace per cycle in each metric's panel
    assert len(trends.data) == 2 * len(metrics)  # a line per predictor in each metric's panel
    mae_cycle_2 = next(trace for trace in bars.data if trace.name == "cycle 2" and trace.xaxis == "x2")
    assert list(mae_cycle_2.x) == ["prompt_baseline", "fine_tuned"] and list(mae_cycle_2.y) == [18.37, 11.5]
    fine_tuned_validity = next(trace for trace in trends.data if trace.name == "fine_tuned" and trace.xaxis == "x")
    assert list(fine_tuned_validity.x) == ["cycle 1", "cycle 2"] and list(fine_tuned_validity.y) == [0.9625, 0.9875]


def test_it_reports_a_cycle_without_metrics_yet(tmp_path):
    loop = {"name": "fresh loop", "cycles": [{"index": 0, "metrics": {}, "verdicts": [], "links": {}}]}
    paths = report_assets.write_report(loop, tmp_path)

    assert "No metrics yet." in paths["markdown"].read_text(encoding="utf-8")
    assert "No metrics yet." in paths["html"].read_text(encoding="utf-8")


def test_the_cli_writes_both_files(tmp_path, capsys):
    loop_json = tmp_path / "loop.json"
    loop_json.write_text(json.dumps(LOOP), encoding="utf-8")

    report_assets.main(["--loop-json", str(loop_json), "--out", str(tmp_path / "out")])

    assert (tmp_path / "out" / "report.md").is_file() and (tmp_path / "out" / "report.html").is_file()
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {tmp_path / 'out' / 'report.md'}",
        f"wrote {tmp_path / 'out' / 'report.html'}",
    ]
