"""Settings in one place, with defaults that work on the default corpus.

Paths and the model can also come from the environment (QA_CORPUS, QA_INDEX_DIR, QA_MODEL),
which the command line and the web app both honour.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .embedding import DEFAULT_MODEL
from .passages import PassageSettings


def default_index_dir(corpus: Path) -> Path:
    """Beside the corpus, hidden: `corpus/` → `.corpus.qa-index/` (git-ignored)."""
    corpus = Path(corpus).resolve()
    return corpus.parent / f".{corpus.name}.qa-index"


@dataclass(frozen=True)
class Settings:
    corpus: Path = Path("corpus")
    index_dir: Path | None = None  # None: default_index_dir(corpus)
    model: str = DEFAULT_MODEL
    passages: PassageSettings = field(default_factory=PassageSettings)
    batch_size: int = 64
    # Embedding runtime: "onnx" (the model exported once to ONNX Runtime: same vectors as torch,
    # a question embedded 2-3x faster, a start without importing torch), "torch" (sentence-transformers
    # as is; also the fallback when a model cannot be exported) or "onnx-int8" (quantised). Env QA_BACKEND.
    backend: str = "onnx"
    # Retrieval: candidates taken from each of dense and BM25 before they are re-scored.
    candidates: int = 50
    # Answering: passages whose sentences compete to answer; sentences in an answer.
    answer_passages: int = 5
    max_answer_sentences: int = 3
    related: int = 3
    # Below this confidence the answer says the articles do not answer the question
    # (None: the threshold fitted with the answer model, stated in the README).
    abstain_below: float | None = None
    answer_model: Path | None = None  # None: qa/answer_model.json
    # Who composes answers (qa/answerers.py): "reader" (the reader model: sentence, short answer,
    # abstention) or "features" (the logistic feature ranker, faster, no short answer). Env QA_ANSWERER.
    answerer: str = "reader"
    max_question_chars: int = 2000
    max_upload_bytes: int = 20_000_000
    # Text one upload may index: embedding costs about 3 minutes of CPU per million characters
    # on 2 cores, spent while the write lock is held. Larger texts go in the corpus folder (re-index).
    max_upload_chars: int = 500_000
    progress_bar_above: int = 300  # passages
    # Stored type of sentence vectors: "float16" halves 80% of the index (memory and disk) at no
    # measured cost in accuracy (README, benchmarks/README.md); "float32" keeps full precision.
    sentence_vectors: str = "float16"
    # From this many passages on, dense search uses the approximate IVF index (qa/ann.py), saved
    # with the index and updated incrementally; below it an exact scan takes under 5 ms (it takes
    # 10 ms at 100k, where IVF takes 0.7 ms with Recall@10 1.000: benchmarks/README.md). None: always exact.
    ann_above: int | None = 50_000
    # Where the index lives: None for files beside the corpus, or a PostgreSQL URL
    # ("postgresql://user:password@host/db", env QA_STORE): the database is then the source of truth,
    # shared by every app server (qa/pgstore.py), and the corpus folder is optional.
    store: str | None = None
    # With a database store: from this many passages on dense search uses pgvector's index, IVFFlat
    # (about sqrt(n) lists, pg_probes scanned) or HNSW (hnsw_ef_search candidates); below it
    # PostgreSQL's exact scan (app servers hold no vectors: qa/pgsearch.py). IVFFlat by default: Recall@10 1.000 where HNSW reached 0.4-0.6 on
    # near-duplicate passages (qa/pgstore.py, benchmarks/README.md).
    pg_ann_above: int = 20_000
    pg_index: str = "ivfflat"
    pg_probes: int = 20
    hnsw_ef_search: int = 100

    def __post_init__(self) -> None:
        if self.sentence_vectors not in ("float16", "float32"):
            raise ValueError(f"sentence_vectors must be 'float16' or 'float32', not {self.sentence_vectors!r}")

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Defaults, then environment variables, then explicit non-None overrides."""
        env = {
            "corpus": os.environ.get("QA_CORPUS"),
            "index_dir": os.environ.get("QA_INDEX_DIR"),
            "model": os.environ.get("QA_MODEL"),
            "backend": os.environ.get("QA_BACKEND"),
            "answerer": os.environ.get("QA_ANSWERER"),
            "store": os.environ.get("QA_STORE") or None,
        }
        values = {k: v for k, v in {**env, **overrides}.items() if v is not None}
        for key in ("corpus", "index_dir"):
            if key in values:
                values[key] = Path(values[key])
        return replace(cls(), **values)

    @property
    def resolved_index_dir(self) -> Path:
        return Path(self.index_dir) if self.index_dir else default_index_dir(self.corpus)
