"""A trained head exported to ONNX (``pipeline.export.onnx_head``) as a Predictor, served by ONNX Runtime on a CPU.

The export directory holds the graph (int8 by default), the tokenizer, the
head card (``cls_head.json``) and ``export_card.json``, which lists every file
with its SHA-256. Loading checks them all first: a file changed or cut short
since the export raises ``ExportMismatch`` naming it, rather than answering
with whatever the damaged graph computes.

The answer, the truncation accounting and the hybrid with the rules are
``ServedHead``'s, as for the PyTorch ``HeadPredictor``: only the forward pass
differs, so the eval runner, the A/B test and the parity check treat both alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.infer.cls_head import ServedHead
from pipeline.tasks.registry import Task
from pipeline.train.cls_head import load_tokenizer
from pipeline.train.sft import sha256_file as file_sha256

EXPORT_CARD_NAME = "export_card.json"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"


class ExportMismatch(ValueError):
    """An export whose files are not the ones its card lists (changed, cut short or missing)."""


def read_export_card(export_dir: str | Path) -> dict[str, Any]:
    """The export's card, after checking every file it lists against its size and SHA-256."""
    directory = Path(export_dir)
    card_path = directory / EXPORT_CARD_NAME
    if not card_path.is_file():
        raise ExportMismatch(f"{directory} is not an ONNX head export (no {EXPORT_CARD_NAME})")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    for name, listed in card["files"].items():
        path = directory / name
        if not path.is_file():
            raise ExportMismatch(f"{path} is missing: the export is incomplete, export it again")
        if path.stat().st_size != listed["bytes"] or file_sha256(path) != listed["sha256"]:
            raise ExportMismatch(f"{path} is not the file exported (its size or SHA-256 differs from "
                                 f"{EXPORT_CARD_NAME}'s): the export is damaged, export it again")
    return card


class OnnxHeadPredictor(ServedHead):
    """An exported head in an ONNX Runtime session: batch 1, ``threads`` intra-op threads, one inter-op thread.

    ``model_id`` is the base model the head was trained on and ``adapter`` the
    export directory, so an evaluation's provenance says which artifact answered.
    """

    def __init__(self, export_dir: str | Path, name: str = "onnx_int8", threads: int = 1,
                 task: Task | None = None) -> None:
        import onnxruntime

        directory = Path(export_dir)
        self.export_card = read_export_card(directory)
        super().__init__(directory, name=name, model_id=self.export_card["source"]["base_model"],
                         adapter=str(directory), task=task)
        self.tokenizer = load_tokenizer(str(directory))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(str(directory / self.export_card["model_file"]), options,
                                                    providers=["CPUExecutionProvider"])
        outputs = self.session.get_outputs()[0].shape[-1]
        if isinstance(outputs, int) and outputs != len(self.labels):
            raise ExportMismatch(f"{directory} has {len(self.labels)} labels but its graph has {outputs} outputs")

    def logits(self, input_ids: Sequence[int]) -> list[float]:
        import numpy

        ids = numpy.asarray([input_ids], dtype=numpy.int64)
        feeds = dict(zip(INPUT_NAMES, (ids, numpy.ones_like(ids))))
        return self.session.run([OUTPUT_NAME], feeds)[0][0].tolist()
