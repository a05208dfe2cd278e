"""`manage.py report_assets --loop N --out DIR`: a loop's Markdown + HTML report with its charts and links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from pipeline.report_assets import write_report
from webapp.evals.stages import tracking_links
from webapp.runs.models import Loop, StageRun


def loop_report_input(loop: Loop, base_url: str) -> dict[str, Any]:
    """The plain dict pipeline.report_assets reads: per cycle, metrics per predictor, verdicts and absolute links."""
    base = base_url.rstrip("/")

    def absolute(link: str) -> str:
        return link if link.startswith(("http://", "https://")) else f"{base}{link}"

    cycles = []
    for cycle in loop.cycle_set.order_by("index"):
        evals = cycle.runs.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS)
        cycles.append({
            "index": cycle.index,
            "metrics": {run.params["predictor"]: run.result["metrics"] for run in evals},
            "verdicts": cycle.verdicts,
            "links": {name: absolute(link) for name, link in tracking_links(cycle).items()},
        })
    return {
        "name": f"{loop.name} (loop #{loop.pk})",
        "description": f"{loop.completed_cycles} of {loop.cycles} cycles completed; "
                       f"loop_completion_rate {loop.completion_rate if loop.completion_rate is not None else 'n/a'}",
        "links": {"loop page": f"{base}{reverse('loop_detail', args=[loop.pk])}",
                  "comparison": f"{base}{reverse('compare')}?loop={loop.pk}"},
        "cycles": cycles,
    }


class Command(BaseCommand):
    help = "Write a loop's report (report.md, report.html with offline plotly charts) into a directory."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", type=int, help="loop id (default: the newest loop)")
        parser.add_argument("--out", required=True, type=Path, help="output directory")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where ftloop is served, for links")

    def handle(self, *args, loop: int | None, out: Path, base_url: str, **options) -> None:
        chosen = Loop.objects.filter(pk=loop).first() if loop else Loop.objects.order_by("-pk").first()
        if chosen is None:
            raise CommandError(f"no loop #{loop}" if loop else "there is no loop yet")
        paths = write_report(loop_report_input(chosen, base_url), out)
        self.stdout.write(f"wrote {paths['markdown']} and {paths['html']}")
