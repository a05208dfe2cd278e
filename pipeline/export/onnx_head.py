"""Export a trained head (regression or classification) to ONNX with int8 weights, for one fast forward pass.

The head is loaded exactly as ``HeadPredictor`` serves it (base model, LoRA
adapter and head, merged, fp32 on the CPU); its forward pass, token ids and
attention mask in, the head's outputs (``logits``) out, batch and sequence
dynamic, is traced by torch's TorchScript exporter (``dynamo=False``: it
handles the Llama decoder in a fraction of a second and needs no onnxscript).
ONNX Runtime's dynamic quantisation then stores the weights of the MatMuls as
int8 (``QInt8``, scales per output channel) and quantises their inputs on the
fly to uint8, one scale per activation tensor. Llama-type decoders have layers
whose input carries outlier features hundreds of times its RMS (SmolLM2-135M:
the ``mlp.down_proj`` of eight of its 30 layers); one scale for those wipes out
everything else in them, and the head's values move by tens of points (mean
9 points a value, vector_mae +0.9 over the fp32 model on SmolLM2's quick head).
Two remedies, both calibrated on the task's own requests (``calibration_texts``,
default: CALIBRATION_ROWS generated rows):

- ``smooth_alpha`` (SmoothQuant's migration, default 0.8): each MLP's
  ``down_proj`` input channel is divided by a scale folded into ``up_proj``,
  its weight column multiplied by it; the fp32 model computes the same, and the
  outliers move into weights, where per-channel scales hold them. Per-tensor
  weight scales do not (SmolLM2: values 25 points off), hence ``per_channel``.
- ``outlier_ratio`` (default 100): a linear layer whose input still peaks
  above this many times its RMS stays fp32 (the card names them). Without
  smoothing that is SmolLM2's eight ``down_proj``: as exact, about 10% slower.

The fp32 graph is pre-processed (ORT's shape inference and graph optimisation)
and then quantised; it is not kept. Beside the graph go the tokenizer, the head
card (``cls_head.json``) and ``export_card.json``: every file with its size and
SHA-256, the runtime versions, the quantisation settings, where the head came
from, its task, kind, labels and ``max_seq_length``. ``pipeline.infer.onnx_head``
serves the directory; ``pipeline.export.parity`` checks it against the PyTorch
model. ``bench/export_latency.py`` measures both.

CLI: ``python -m pipeline.export.onnx_head --model-name M --adapter A --out DIR [--eval-set frozen.jsonl]``
(with an eval set, prints the parity check; exit status 1 when it fails).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.export.parity import Parity, check_parity
from pipeline.infer.cls_head import HeadPredictor
from pipeline.infer.onnx_head import EXPORT_CARD_NAME, INPUT_NAMES, OUTPUT_NAME, OnnxHeadPredictor
from pipeline.train.cls_head import HEAD_CARD_NAME, tokenize
from pipeline.train.sft import sha256_file

FORMAT = "onnx"
DEFAULT_OPSET = 17
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
QUANTIZED_OPS = ("MatMul",)  # the decoder's and the head's weights; the embedding stays fp32 (a lookup, no MACs)
SAMPLE_REQUESTS = ("an example request to trace", "and a shorter one")
# A linear layer whose input peaks above this many times its RMS stays fp32: a per-tensor uint8 step is then
# most of the RMS. SmolLM2-135M's median layer is about 20, its outlier layers 100 to 280.
OUTLIER_RATIO = 100.0
# SmoothQuant's alpha: how much of the MLP inputs' outliers move into down_proj's weights. On SmolLM2's quick
# head (bench/export_latency.py): 0.8 leaves no layer above OUTLIER_RATIO, 0.65 two, 0.5 five.
SMOOTH_ALPHA = 0.8
CALIBRATION_ROWS = 16


@dataclass(frozen=True)
class ExportedFile:
    """One file of an export, named relative to its directory."""

    name: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ExportedHead:
    """What an export wrote, as its ``export_card.json`` records it."""

    directory: Path
    model_file: Path  # the graph ONNX Runtime loads
    card_path: Path
    files: tuple[ExportedFile, ...]
    quantization: str | None  # e.g. "int8 dynamic (QInt8 weights, per channel)"; None for the fp32 graph
    smoothed_layers: int  # MLPs whose down_proj input was smoothed (SmoothQuant) before quantisation
    kept_fp32: tuple[str, ...]  # the linear layers left unquantised for their outlier inputs
    fp32_bytes: int  # the graph before quantisation, for the record
    opset: int
    versions: dict[str, str]

    @property
    def model_bytes(self) -> int:
        return next(file.bytes for file in self.files if file.name == self.model_file.name)


def runtime_versions() -> dict[str, str]:
    """The libraries that made the export and the runtime that serves it."""
    import onnx
    import onnxruntime
    import torch
    import transformers

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__}


def export_head_onnx(model_name: str, adapter: str, out_dir: Path, *, quantize: bool = True,
                     opset: int | None = None, per_channel: bool = True, smooth_alpha: float | None = SMOOTH_ALPHA,
                     outlier_ratio: float | None = OUTLIER_RATIO, calibration_texts: Sequence[str] | None = None,
                     cache_dir: str | None = None) -> ExportedHead:
    """The head in `adapter` (trained on `model_name`) as an ONNX export in `out_dir` (made if missing; files of
    the same names are replaced). ``quantize=False`` keeps the fp32 graph; ``opset`` defaults to DEFAULT_OPSET;
    ``smooth_alpha`` None smooths nothing, ``outlier_ratio`` None keeps no layer fp32."""
    if quantize and smooth_alpha is not None and not per_channel:
        raise ValueError("smoothing moves the outliers into down_proj's weights, which per-tensor scales cannot "
                         "hold: use per_channel=True, or smooth_alpha=None")
    head = HeadPredictor(model_name, adapter, name="export", cache_dir=cache_dir, device="cpu")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    opset = opset or DEFAULT_OPSET
    model_file = out_dir / (INT8_FILE if quantize else FP32_FILE)
    kept: list[str] = []
    smoothed = 0
    if quantize and (outlier_ratio is not None or smooth_alpha is not None):
        texts = calibration_texts or [head.task.text(row) for row in head.task.generate(
            size=CALIBRATION_ROWS, seed=0, language=head.task.generation_languages()[0]).rows]
        if smooth_alpha is not None:
            smoothed = smooth_mlp_inputs(head, texts, smooth_alpha)
        if outlier_ratio is not None:
            kept = outlier_layers(head, texts, outlier_ratio)
    # The fp32 graph is an intermediate: it is written beside, never inside, the export directory.
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}-fp32-") as scratch:
        fp32_path = Path(scratch) / FP32_FILE
        trace_to_onnx(head, fp32_path, opset)
        fp32_bytes = fp32_path.stat().st_size
        if quantize:
            quantize_int8(fp32_path, model_file, per_channel=per_channel, keep_fp32=kept)
        else:
            shutil.move(fp32_path, model_file)
    saved = head.tokenizer.save_pretrained(out_dir)
    shutil.copyfile(Path(adapter) / HEAD_CARD_NAME, out_dir / HEAD_CARD_NAME)
    quantization = f"int8 dynamic (QInt8 weights, per {'channel' if per_channel else 'tensor'})" if quantize else None
    # What this export wrote, not whatever else is in the directory (a graph of an earlier export, say).
    names = sorted({model_file.name, HEAD_CARD_NAME, *(Path(path).name for path in saved)})
    files = tuple(ExportedFile(name, (out_dir / name).stat().st_size, sha256_file(out_dir / name)) for name in names)
    versions = runtime_versions()
    card = {
        "format": FORMAT,
        "model_file": model_file.name,
        "quantization": quantization,
        "quantized_ops": list(QUANTIZED_OPS) if quantize else [],
        "kept_fp32": kept,
        "smoothed_layers": smoothed,
        "smooth_alpha": smooth_alpha if smoothed else None,
        "outlier_ratio": outlier_ratio if quantize else None,
        "opset": opset,
        "inputs": list(INPUT_NAMES),
        "outputs": [OUTPUT_NAME],
        "fp32_bytes": fp32_bytes,
        "files": {file.name: {"bytes": file.bytes, "sha256": file.sha256} for file in files},
        "versions": versions,
        "source": {"base_model": model_name, "adapter": str(adapter)},
        "task": head.task.name,
        "kind": head.kind,
        "labels": list(head.labels),
        "max_seq_length": head.max_seq_length,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    card_path = out_dir / EXPORT_CARD_NAME
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return ExportedHead(directory=out_dir, model_file=model_file, card_path=card_path, files=files,
                        quantization=quantization, smoothed_layers=smoothed,
                        kept_fp32=tuple(kept), fp32_bytes=fp32_bytes, opset=opset,
                        versions=versions)


def trace_to_onnx(head: HeadPredictor, path: Path, opset: int) -> None:
    """The merged model's forward pass as an fp32 ONNX graph: (input_ids, attention_mask) -> logits, batch and
    sequence dynamic. Traced on a padded batch of two, so the graph keeps the attention mask's general path."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    sample = head.tokenizer(list(SAMPLE_REQUESTS), padding=True, return_tensors="pt")
    dynamic = {"batch": 0, "sequence": 1}
    axes = {name: {axis: label for label, axis in dynamic.items()} for name in INPUT_NAMES}
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(Logits(head.model.cpu().eval()), (sample["input_ids"], sample["attention_mask"]), str(path),
                          input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                          dynamic_axes={**axes, OUTPUT_NAME: {0: "batch"}}, opset_version=opset, dynamo=False)


def outlier_layers(head: HeadPredictor, texts: Sequence[str], ratio: float) -> list[str]:
    """The merged model's linear layers (module names) whose input, on any of `texts`, peaks above `ratio` times
    its RMS: the ones a per-tensor uint8 activation scale would ruin."""
    import torch

    peaks: dict[str, float] = {}

    def record(name: str):
        def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            values = inputs[0].detach().float()
            rms = values.pow(2).mean().sqrt().item()
            peaks[name] = max(peaks.get(name, 0.0), values.abs().max().item() / rms if rms else 0.0)

        return hook

    linear = [(name, module) for name, module in head.model.named_modules() if isinstance(module, torch.nn.Linear)]
    handles = [module.register_forward_pre_hook(record(name)) for name, module in linear]
    try:
        for text in texts:
            head.logits(tokenize(head.tokenizer, [text], head.max_seq_length)["input_ids"][0])
    finally:
        for handle in handles:
            handle.remove()
    return [name for name, _ in linear if peaks.get(name, 0.0) > ratio]


def smooth_mlp_inputs(head: HeadPredictor, texts: Sequence[str], alpha: float) -> int:
    """SmoothQuant's migration for each MLP's ``down_proj`` (whose input, ``act(gate) * up``, is where the outliers
    are): input channel j divided by s_j, folded into ``up_proj``'s output row j, and ``down_proj``'s weight column
    j multiplied by s_j, s_j = max|x_j| ** alpha / max|W_j| ** (1 - alpha) over `texts`. The fp32 model computes
    the same; the int8 one sees inputs without outliers. How many MLPs were smoothed."""
    import torch

    mlps = [(name, module) for name, module in head.model.named_modules()
            if isinstance(getattr(module, "up_proj", None), torch.nn.Linear)
            and isinstance(getattr(module, "down_proj", None), torch.nn.Linear)]
    peaks: dict[str, torch.Tensor] = {}

    def record(name: str):
        def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            channel_peaks = inputs[0].detach().float().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            peaks[name] = torch.maximum(peaks[name], channel_peaks) if name in peaks else channel_peaks

        return hook

    handles = [mlp.down_proj.register_forward_pre_hook(record(name)) for name, mlp in mlps]
    try:
        for text in texts:
            head.logits(tokenize(head.tokenizer, [text], head.max_seq_length)["input_ids"][0])
    finally:
        for handle in handles:
            handle.remove()
    with torch.no_grad():
        for name, mlp in mlps:
            weight_peaks = mlp.down_proj.weight.abs().amax(0).float().clamp(min=1e-5)
            scales = (peaks[name].clamp(min=1e-5).pow(alpha) / weight_peaks.pow(1 - alpha)).clamp(min=1e-5)
            mlp.up_proj.weight.div_(scales[:, None].to(mlp.up_proj.weight.dtype))
            if mlp.up_proj.bias is not None:
                mlp.up_proj.bias.div_(scales.to(mlp.up_proj.bias.dtype))
            mlp.down_proj.weight.mul_(scales[None, :].to(mlp.down_proj.weight.dtype))
    return len(mlps)


def matmul_nodes(graph_path: Path, modules: Sequence[str]) -> list[str]:
    """The graph's MatMul node of each linear module: the TorchScript exporter names a node by its module's scope
    (``model.layers.9.mlp.down_proj`` -> ``/model/model/layers.9/mlp/down_proj/MatMul``, the first ``model`` the
    export wrapper's). A module with no node is an error: left quantised, it would wreck parity silently."""
    import onnx

    graph = onnx.load(str(graph_path), load_external_data=False).graph
    by_module = {node.name.removeprefix("/model/").removesuffix("/MatMul").replace("/", "."): node.name
                 for node in graph.node if node.op_type == "MatMul"}
    missing = [module for module in modules if module not in by_module]
    if missing:
        raise RuntimeError(f"no MatMul node found in the exported graph for {', '.join(missing)}")
    return [by_module[module] for module in modules]


def quantize_int8(fp32_path: Path, int8_path: Path, *, per_channel: bool = False,
                  keep_fp32: Sequence[str] = ()) -> None:
    """ONNX Runtime's dynamic quantisation: QInt8 weights for QUANTIZED_OPS, activations quantised at run time;
    the linear modules named in `keep_fp32` stay fp32. The graph is pre-processed first (ORT's recommended step:
    shape inference and graph optimisation, which halves the TorchScript graph's shape plumbing)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = fp32_path.with_name(f"{fp32_path.stem}.prepared.onnx")
    quant_pre_process(str(fp32_path), str(prepared))
    quantize_dynamic(prepared, int8_path, op_types_to_quantize=list(QUANTIZED_OPS), per_channel=per_channel,
                     weight_type=QuantType.QInt8, nodes_to_exclude=matmul_nodes(prepared, keep_fp32))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.export.onnx_head",
                                     description="Export a trained head to ONNX (int8 weights) and, given a frozen "
                                     "eval set, check it against the PyTorch model. Exit status 1: parity failed.")
    parser.add_argument("--model-name", required=True, help="the base model the head was trained on")
    parser.add_argument("--adapter", required=True, help="the head's adapter directory (with cls_head.json)")
    parser.add_argument("--out", required=True, type=Path, help="the export directory")
    parser.add_argument("--eval-set", help="a frozen eval set (JSONL) of the head's task: check parity on it")
    parser.add_argument("--rows", type=int, default=200, help="the eval set's first ROWS rows (default 200)")
    parser.add_argument("--no-quantize", dest="quantize", action="store_false", help="keep the fp32 graph")
    add_quantization_flags(parser)
    parser.add_argument("--opset", type=int, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--max-mae-delta", type=float, default=0.5,
                        help="parity tolerance of an error headline such as vector_mae (default 0.5)")
    parser.add_argument("--max-score-delta", type=float, default=0.05,
                        help="parity tolerance of a score headline such as accuracy (default 0.05)")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    return parser


def add_quantization_flags(parser: argparse.ArgumentParser) -> None:
    """--per-tensor, --smooth-alpha and --outlier-ratio (this CLI's and bench/export_latency.py's)."""
    parser.add_argument("--per-tensor", dest="per_channel", action="store_false",
                        help="one int8 scale per weight tensor (default: per output channel; needs --smooth-alpha 0)")
    parser.add_argument("--smooth-alpha", type=float, default=SMOOTH_ALPHA,
                        help=f"SmoothQuant migration strength for the MLPs' down_proj (default {SMOOTH_ALPHA:g}; "
                        "0: no smoothing)")
    parser.add_argument("--outlier-ratio", type=float, default=OUTLIER_RATIO,
                        help="keep fp32 the linear layers whose input peaks above this many times its RMS "
                        f"(default {OUTLIER_RATIO:g}; 0: none, quantise every layer)")


def quantization_options(args: argparse.Namespace) -> dict[str, Any]:
    """export_head_onnx's keyword arguments from add_quantization_flags' flags (0 is off)."""
    return {"per_channel": args.per_channel, "smooth_alpha": args.smooth_alpha or None,
            "outlier_ratio": args.outlier_ratio or None}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    exported = export_head_onnx(args.model_name, args.adapter, args.out, quantize=args.quantize, opset=args.opset,
                                **quantization_options(args))
    print(f"exported {exported.model_file} ({exported.model_bytes / 2**20:.1f} MiB; fp32 "
          f"{exported.fp32_bytes / 2**20:.1f} MiB), {exported.quantization or 'fp32'}, opset {exported.opset}; "
          f"kept fp32 for outlier inputs: {', '.join(exported.kept_fp32) or 'none'}")
    if not args.eval_set:
        return 0
    from pipeline.data.jsonl import read_jsonl

    candidate = OnnxHeadPredictor(exported.directory, name="onnx_int8" if args.quantize else "onnx_fp32",
                                  threads=args.threads)
    reference = HeadPredictor(args.model_name, args.adapter, device="cpu", task=candidate.task)
    parity: Parity = check_parity(candidate.task, reference, candidate, read_jsonl(args.eval_set)[: args.rows],
                                  max_mae_delta=args.max_mae_delta, max_score_delta=args.max_score_delta,
                                  on_log=print)
    print(f"parity {'passed' if parity.passed else 'FAILED'}: {parity.reason}")
    return 0 if parity.passed else 1


if __name__ == "__main__":
    sys.exit(main())
