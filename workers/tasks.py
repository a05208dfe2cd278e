"""Thin tasks: the base class loads the row; each body calls one stage and returns its result."""

from webapp.datasets import stages
from webapp.evals import stages as eval_stages
from webapp.playground import inference
from webapp.playground.models import PlaygroundRequest
from webapp.runs import remote_training, training
from webapp.runs.models import StageRun
from webapp.serving import exports
from workers.base import StageTask
from workers.celery import app


@app.task(base=StageTask)
def generate(run, reporter):
    return stages.generate(run, reporter)


@app.task(base=StageTask)
def filter(run, reporter):  # noqa: A001 - the stage is called filter everywhere else
    return stages.filter_rows(run, reporter)


@app.task(base=StageTask)
def split(run, reporter):
    return stages.split(run, reporter)


@app.task(base=StageTask)
def freeze(run, reporter):
    return stages.freeze(run, reporter)


@app.task(base=StageTask)
def train_local(run, reporter):
    """Every trainer on the local worker (SFT, the regression and classification heads): training.train picks it."""
    return training.train(run, reporter)


@app.task(base=StageTask)
def train_hf_job(run, reporter):
    return remote_training.train_hf_job(run, reporter)


@app.task(base=StageTask)
def train_mistral(run, reporter):
    return remote_training.train_mistral(run, reporter)


@app.task
def delete_mistral_model(run_id):
    """Asked for from a Mistral training run's page; the run's result notes the deletion."""
    remote_training.delete_mistral_model(StageRun.objects.get(pk=run_id))


@app.task(base=StageTask)
def evaluate(run, reporter):
    return eval_stages.evaluate(run, reporter)


@app.task(base=StageTask)
def verdict(run, reporter):
    return eval_stages.verdict(run, reporter)


@app.task(base=StageTask)
def export(run, reporter):
    return exports.export(run, reporter)


@app.task(ignore_result=False)
def predict_playground(request_id):
    """Inference queue: answer one playground request with warm models; the view waits for it."""
    request = PlaygroundRequest.objects.get(pk=request_id)
    try:
        request.results = inference.answer(request.task, request.text, request.model_specs)
    except Exception as exc:
        request.error = f"{type(exc).__name__}: {exc}"
    request.save(update_fields=["results", "error"])
    return request_id
