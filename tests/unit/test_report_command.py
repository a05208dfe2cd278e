"""`manage.py report_assets` turns a stored loop into the Markdown/HTML report."""

import re

import pytest
from django.core.management import CommandError, call_command

from webapp.runs.models import Cycle, Loop, StageRun

pytestmark = pytest.mark.django_db


def test_report_assets_writes_a_loops_metrics_verdicts_and_links(tmp_path):
    loop = Loop.objects.create(name="weekly", cycles=1)
    cycle = Cycle.objects.create(loop=loop, index=0, completed=True, verdicts=[
        {"criterion": {"key": "json_valid_rate"}, "passed": True, "reason": "fine_tuned json_valid_rate 1 ≥ 0.98"}])
    for predictor, mae in (("prompt_baseline", 42.11), ("fine_tuned", 17.25)):
        StageRun.objects.create(kind=StageRun.Kind.EVALUATE, cycle=cycle, status=StageRun.Status.SUCCESS,
                                params={"predictor": predictor}, result={"metrics": {"vector_mae": mae}})
    call_command("report_assets", loop=loop.pk, out=tmp_path, base_url="http://ftloop.test")
    markdown = (tmp_path / "report.md").read_text()
    html = (tmp_path / "report.html").read_text()
    assert "42.11" in markdown and "17.25" in markdown and "fine_tuned json_valid_rate 1 ≥ 0.98" in markdown
    assert f"http://ftloop.test/evals/compare/?loop={loop.pk}" in markdown
    assert "Plotly" in html and not re.search(r"<script[^>]*\ssrc=", html)  # inlined, nothing from a CDN


def test_report_assets_names_a_missing_loop(tmp_path):
    with pytest.raises(CommandError, match="no loop #99"):
        call_command("report_assets", loop=99, out=tmp_path)
