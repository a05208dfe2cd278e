"""manage.py import_eval results/run.jsonl [--metrics results/run.metrics.json]: a run_eval result as an evaluation."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pipeline.eval.run_eval import default_metrics_path
from webapp.evals.imports import ImportRefused, import_result, parse_files


class Command(BaseCommand):
    help = "Import a `python -m pipeline.eval.run_eval` result so it reaches the comparison and A/B pages."

    def add_arguments(self, parser) -> None:
        parser.add_argument("results", help="run_eval --out (per-example JSONL)")
        parser.add_argument("--metrics", help="run_eval --metrics-out (default: <results stem>.metrics.json)")

    def handle(self, *args, **options) -> None:
        results = Path(options["results"])
        metrics = Path(options["metrics"]) if options["metrics"] else default_metrics_path(results)
        try:
            rows, summary = parse_files(results.read_text(encoding="utf-8"), metrics.read_text(encoding="utf-8"))
            run = import_result(rows, summary, source=str(results))
        except (OSError, UnicodeDecodeError, ImportRefused) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"evaluation #{run.pk}: {run.params['predictor']} on set "
                          f"{run.result['provenance']['eval_set_hash'][:12]} ({len(rows)} rows)")
