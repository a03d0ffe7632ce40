"""The index folder: a saved snapshot of articles, passages, sentences, vectors and BM25.

Each save writes a complete new generation folder beside the old one, then switches the
`CURRENT` pointer with an atomic rename, so a build that is interrupted at any point leaves the
previous index usable. A manifest records what the vectors depend on (format, model, dimension,
passage settings, a probe vector), each article's content hash, which is what incremental updates
compare against, and each file's size and CRC-32, checked before anything is read: a damaged
index is rebuilt, never served. Arrays are read into memory, or memory-mapped above
`MAP_ABOVE_BYTES` a file; values are validated at load (finite vectors, rows within their articles).
"""
from __future__ import annotations

import fcntl
import json
import logging
import mmap
import os
import shutil
import time
import uuid
import zlib
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .index import approximate
from .lexical import LexicalIndex
from .passages import PassageSettings
from .types import Article

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
# How sentence vectors may be stored. They are 4-5 per passage (80% of the vector bytes), but are
# only read for the ~100 candidate passages of a question, so half-precision costs no search speed;
# passage vectors, scanned whole by exact search, stay float32.
SENTENCE_VECTOR_TYPES = {"float16": np.dtype(np.float16), "float32": np.dtype(np.float32)}
_CURRENT = "CURRENT"
# Vector and table files up to this size are read into memory at load, fully checksummed and
# checked for finite values; larger ones are memory-mapped, and their checksum covers a fixed
# sample of blocks (the full pass over a 6 GB index would add seconds to every start). A file
# read into memory cannot fault a query when it is damaged on disk later; a mapped one could
# (SIGBUS on a truncated file), so `Snapshot.damage()` compares each file's size and time with
# what was loaded before every query, and the facade rebuilds instead of reading past the end.
MAP_ABOVE_BYTES = 256_000_000
_SAMPLE_BLOCKS = 64
_BLOCK = 1 << 16
_ARRAYS = ("passages.npy", "sentences.npy", "passage_vectors.npy", "sentence_vectors.npy")


class IndexDamaged(Exception):
    """The saved index is unreadable or inconsistent; it has to be rebuilt from the corpus."""


@dataclass(frozen=True)
class Snapshot:
    """Everything a query needs, immutable: updates build a new snapshot and swap it in."""

    articles: tuple[Article, ...]
    hashes: tuple[str, ...]
    passages: np.ndarray  # int64 rows: article index, start, end, first sentence, last sentence (exclusive)
    sentences: np.ndarray  # int64 rows: article index, start, end
    passage_vectors: np.ndarray  # float32, normalised, one row per passage
    sentence_vectors: np.ndarray  # float16 (default) or float32, normalised, one row per sentence
    # BM25 over the passages; in the small per-question snapshot of a database store,
    # `qa.pgsearch.CorpusIdf`, which answers `idf()` (all the answer stage asks) corpus-wide.
    lexical: LexicalIndex
    model: str
    dimension: int
    passage_settings: PassageSettings
    probe: tuple[float, ...]  # the model's vector for PROBE_TEXT, to detect vectors of another model
    excluded: frozenset[str] = field(default_factory=frozenset)
    # The approximate passage index (qa.ann.AnnIndex) saved with a large snapshot, else None.
    ann: Any = field(default=None, compare=False, repr=False)
    # The array files it was loaded from, as (path, bytes, inode, mtime ns), for `damage()`.
    files: tuple[tuple[str, int, int, int], ...] = field(default=(), compare=False, repr=False)
    # The database's generation number a per-question snapshot was read at (qa.pgsearch); 0 for files.
    generation: int = field(default=0, compare=False)

    def damage(self) -> str | None:
        """Why a file of this snapshot changed in place (truncated, grown or rewritten) since it was
        loaded, or None. Four stat calls: cheap enough before every query, and a memory-mapped file
        is never read past a new end (SIGBUS). A file replaced or deleted by a newer save is fine:
        a mapping keeps the old one."""
        for path, size, inode, mtime in self.files:
            try:
                now = os.stat(path)
            except OSError:  # gone or moved (a newer save, a moved folder): what was loaded stays valid
                continue
            if now.st_ino == inode and (now.st_size != size or now.st_mtime_ns != mtime):
                return f"{Path(path).name} changed on disk while in use ({now.st_size} bytes, {size} expected)"
        return None

    @cached_property
    def article_index(self) -> dict[str, int]:
        return {article.id: i for i, article in enumerate(self.articles)}

    @property
    def passage_count(self) -> int:
        return int(self.passages.shape[0])

    def passage_row(self, passage_id: int) -> list[int]:
        """[article index, start, end, first sentence, last sentence (exclusive)] as plain ints
        (read through a plain array view: a memory map's own indexing is slow per call)."""
        return self._tables[0][passage_id].tolist()

    def passage_text(self, passage_id: int) -> str:
        article, start, end = self.passage_row(passage_id)[:3]
        return self.articles[article].text[start:end]

    def sentence_row(self, sentence_id: int) -> list[int]:
        """[article index, start, end] as plain ints."""
        return self._tables[1][sentence_id].tolist()

    def sentence_text(self, sentence_id: int) -> str:
        article, start, end = self.sentence_row(sentence_id)
        return self.articles[article].text[start:end]

    # Accessors: other modules read the tables through these, never by column position.
    @property
    def dense(self) -> Any:
        """The dense index this snapshot carries (the saved IVF index), or None (`qa.index`)."""
        return self.ann

    @property
    def sentence_count(self) -> int:
        return int(self.sentences.shape[0])

    def passage_articles(self) -> np.ndarray:
        """Each passage's article index (int64)."""
        return np.asarray(self._tables[0][:, 0], dtype=np.int64)

    def article_passage_counts(self) -> np.ndarray:
        """Passages per article, in article order."""
        return np.bincount(self.passage_articles(), minlength=len(self.articles))

    def passage_spans(self) -> np.ndarray:
        """Rows of (article index, start, end), one per passage."""
        return self._tables[0][:, :3]

    def passage_sentence_ranges(self, ids: np.ndarray) -> np.ndarray:
        """Rows of (first sentence, last sentence exclusive) of the passages `ids`."""
        return np.asarray(self._tables[0][np.asarray(ids, dtype=np.int64), 3:5])

    def article_sentence_range(self, article: int) -> tuple[int, int]:
        """(first, last exclusive) sentence rows of article `article` (its sentences are contiguous)."""
        first, last = np.searchsorted(self._tables[1][:, 0], [article, article + 1])
        return int(first), int(last)

    def sentence_spans(self, first: int, last: int) -> list[list[int]]:
        """(start, end) in its article of each sentence first..last-1 (one read of a memory map)."""
        return np.asarray(self._tables[1][first:last, 1:3]).tolist()

    def sentence_vectors_of(self, ids: np.ndarray) -> np.ndarray:
        """float32 vectors of the sentences `ids`."""
        return np.asarray(self.sentence_vectors[ids], dtype=np.float32)

    def article_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Where each article's passages and sentences begin, plus the end: article i owns passage
        rows bounds[0][i]:bounds[0][i+1] and sentence rows bounds[1][i]:bounds[1][i+1]."""
        edges = np.arange(len(self.articles) + 1)
        return np.searchsorted(self._tables[0][:, 0], edges), np.searchsorted(self._tables[1][:, 0], edges)

    def passage_table(self, start: int, stop: int) -> np.ndarray:
        """A copy of passage rows start..stop-1: (article, start, end, first sentence, last sentence)."""
        return np.array(self._tables[0][start:stop], dtype=np.int64)

    def sentence_table(self, start: int, stop: int) -> np.ndarray:
        """A copy of sentence rows start..stop-1: (article, start, end)."""
        return np.array(self._tables[1][start:stop], dtype=np.int64)

    @cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.passages), np.asarray(self.sentences)


PROBE_TEXT = "qa index probe: the quick brown fox jumps over the lazy dog."


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array))
        handle.flush()
        os.fsync(handle.fileno())


class IndexStore:
    """Reads and writes snapshots in one folder.

    From `ann_above` passages on (None: never), a save also builds and writes the approximate
    passage index (`qa.ann`), and a load opens it with the vectors.
    """

    def __init__(self, folder: Path, ann_above: int | None = None) -> None:
        self.folder = Path(folder)
        self.ann_above = ann_above

    @property
    def name(self) -> str:
        """What messages call this store: the folder's name, never its location."""
        return self.folder.name

    def _wants_ann(self, passages: int) -> bool:
        return approximate(passages, self.ann_above)

    def current_generation(self) -> Path | None:
        pointer = self.folder / _CURRENT
        if not pointer.is_file():
            return None
        generation = self.folder / pointer.read_text().strip()
        return generation if (generation / "manifest.json").is_file() else None

    def size_bytes(self) -> int:
        generation = self.current_generation()
        if generation is None:
            return 0
        return sum(p.stat().st_size for p in generation.rglob("*") if p.is_file())

    def load(self) -> Snapshot | None:
        """The saved snapshot, or None when there is none. Raises IndexDamaged if it is broken."""
        generation = self.current_generation()
        if generation is None:
            if (self.folder / _CURRENT).exists():
                raise IndexDamaged("the CURRENT pointer names a missing or incomplete generation")
            return None
        try:
            return self._load_generation(generation)
        except IndexDamaged:
            raise
        except Exception as error:  # noqa: BLE001 - any read error means the files are damaged
            raise IndexDamaged(f"{type(error).__name__}: {error}") from error

    def _load_generation(self, generation: Path) -> Snapshot:
        manifest = json.loads((generation / "manifest.json").read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexDamaged(f"format version {manifest.get('format_version')} is not {FORMAT_VERSION}")
        with open(generation / "articles.jsonl", encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle]
        texts = generation / "article_texts.txt"
        if texts.is_file():  # texts apart from the metadata: decoded straight from a memory map
            _read_texts(texts, records)
        articles = []
        for record in records:
            record["page_starts"] = tuple(record.get("page_starts") or ())
            articles.append(Article(**record))
        _verify_files(generation, manifest.get("files"))
        arrays, files = {}, []
        for name in _ARRAYS:
            path = generation / name
            info = path.stat()
            files.append((str(path), info.st_size, info.st_ino, info.st_mtime_ns))
            if info.st_size > MAP_ABOVE_BYTES:
                arrays[name] = np.load(path, mmap_mode="r")
            else:
                arrays[name] = np.load(path)  # in memory: damage on disk later cannot reach a query
        passages, sentences = arrays["passages.npy"], arrays["sentences.npy"]
        passage_vectors, sentence_vectors = arrays["passage_vectors.npy"], arrays["sentence_vectors.npy"]
        lexical = LexicalIndex.load(generation / "bm25")
        snapshot = Snapshot(
            articles=tuple(articles),
            hashes=tuple(a["hash"] for a in manifest["articles"]),
            passages=passages,
            sentences=sentences,
            passage_vectors=passage_vectors,
            sentence_vectors=sentence_vectors,
            lexical=lexical,
            model=manifest["model"],
            dimension=int(manifest["dimension"]),
            passage_settings=PassageSettings(**manifest["passage_settings"]),
            probe=tuple(manifest["probe"]),
            excluded=frozenset(manifest.get("excluded", ())),
            files=tuple(files),
        )
        _check(snapshot, manifest)
        ann_file = generation / "passage_vectors.ivf"
        if ann_file.is_file() and self._wants_ann(snapshot.passage_count):
            from .ann import AnnIndex

            try:
                snapshot = replace(snapshot, ann=AnnIndex.load(ann_file, passage_vectors))
            except Exception as error:  # noqa: BLE001 - the exact vectors still answer; it is rebuilt on the next save
                log.warning("Ignoring the approximate index %s (%s)", ann_file, error)
        return snapshot

    def save(self, snapshot: Snapshot, base: Snapshot | None = None) -> Path:
        """Write a new generation and switch to it atomically; old generations are removed.
        (`base`, the snapshot the change started from, matters only to a shared store.)"""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a") as lock:
            # One writer at a time, across processes (the app and the command line, say).
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return self._save_locked(snapshot)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _save_locked(self, snapshot: Snapshot) -> Path:
        staging = self.folder / f"tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            self.write_files(staging, snapshot)
            generation = self.folder / f"gen-{time.time_ns()}"
            os.rename(staging, generation)
            pointer_tmp = self.folder / f"{_CURRENT}.{uuid.uuid4().hex}.tmp"
            pointer_tmp.write_text(generation.name)
            with open(pointer_tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(pointer_tmp, self.folder / _CURRENT)
            _fsync_dir(self.folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._remove_stale(keep=generation.name)
        return generation

    def write_files(self, folder: Path, snapshot: Snapshot) -> None:
        """Write every file of one generation into `folder`, a staging folder: `save` makes it the
        current generation only after this returns (a test interrupts it to simulate a power cut)."""
        _save_array(folder / "passages.npy", np.asarray(snapshot.passages, dtype=np.int64))
        _save_array(folder / "sentences.npy", np.asarray(snapshot.sentences, dtype=np.int64))
        _save_array(folder / "passage_vectors.npy", np.asarray(snapshot.passage_vectors, dtype=np.float32))
        sentence_vectors = np.asarray(snapshot.sentence_vectors)
        if sentence_vectors.dtype not in SENTENCE_VECTOR_TYPES.values():
            sentence_vectors = sentence_vectors.astype(np.float32)
        _save_array(folder / "sentence_vectors.npy", sentence_vectors)
        snapshot.lexical.save(folder / "bm25")
        if self._wants_ann(snapshot.passage_count):
            from .ann import AnnIndex

            ann = snapshot.ann
            try:
                if ann is None or len(ann) != snapshot.passage_count:
                    ann = AnnIndex.build(snapshot.passage_vectors)
                ann.save(folder / "passage_vectors.ivf")
            except RuntimeError as error:  # faiss-cpu missing: the index is complete without it
                log.warning("Saving without the approximate index: %s", error)
        # Article texts go to one UTF-8 file and their metadata (with each text's length in bytes) to
        # JSON Lines: loading 600 MB of text (a million passages) takes 0.5 s this way, 2.5 s as JSON strings.
        with open(folder / "articles.jsonl", "w", encoding="utf-8") as handle, open(folder / "article_texts.txt", "wb") as texts:
            for article in snapshot.articles:
                raw = article.text.encode("utf-8")
                texts.write(raw)
                data = {k: v for k, v in asdict(replace(article, text="")).items() if k != "text"}
                data["text_bytes"] = len(raw)
                data["page_starts"] = list(article.page_starts)
                handle.write(json.dumps(data, ensure_ascii=False) + "\n")
            texts.flush()
            os.fsync(texts.fileno())
        counts = snapshot.article_passage_counts()
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": snapshot.model,
            "dimension": snapshot.dimension,
            "passage_settings": asdict(snapshot.passage_settings),
            "probe": list(snapshot.probe),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "counts": {
                "articles": len(snapshot.articles),
                "passages": snapshot.passage_count,
                "sentences": int(snapshot.sentences.shape[0]),
            },
            "articles": [
                {"id": a.id, "hash": h, "path": a.path, "passages": int(n)}
                for a, h, n in zip(snapshot.articles, snapshot.hashes, counts)
            ],
            "excluded": sorted(snapshot.excluded),
            "files": _file_sums(folder),
        }
        # The manifest is written last: a generation without one is incomplete.
        with open(folder / "manifest.json", "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())

    def _remove_stale(self, keep: str) -> None:
        for path in self.folder.iterdir():
            if path.name != keep and (path.name.startswith("gen-") or path.name.startswith("tmp-")):
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)


def _read_texts(path: Path, records: list[dict]) -> None:
    """Fill each record's "text" from the concatenated UTF-8 texts, given each one's "text_bytes"."""
    sizes = [int(record.pop("text_bytes")) for record in records]
    if sum(sizes) != path.stat().st_size:
        raise IndexDamaged("article texts do not match their recorded lengths")
    if not sum(sizes):
        for record in records:
            record["text"] = ""
        return
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view, position = memoryview(mapped), 0
        try:
            for record, size in zip(records, sizes):
                record["text"] = str(view[position : position + size], "utf-8")
                position += size
        finally:
            view.release()


def _crc(path: Path, size: int) -> int:
    """CRC-32 of the whole file, or of `_SAMPLE_BLOCKS` evenly spaced blocks (and the last one)
    of a file that is memory-mapped rather than read."""
    crc = 0
    with open(path, "rb") as handle:
        if size <= MAP_ABOVE_BYTES:
            while chunk := handle.read(1 << 22):
                crc = zlib.crc32(chunk, crc)
            return crc
        for i in range(_SAMPLE_BLOCKS + 1):
            handle.seek(min(i * (size // _SAMPLE_BLOCKS), max(size - _BLOCK, 0)))
            crc = zlib.crc32(handle.read(_BLOCK), crc)
    return crc


def _file_sums(folder: Path) -> dict[str, dict[str, int]]:
    """Size and checksum of every file of a generation (the manifest's "files")."""
    sums = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        size = path.stat().st_size
        sums[path.relative_to(folder).as_posix()] = {"bytes": size, "crc32": _crc(path, size)}
    return sums


def _verify_files(generation: Path, sums: dict[str, dict[str, int]] | None) -> None:
    """IndexDamaged unless every file has the size and checksum the manifest records (indexes
    written before checksums were recorded have none to compare)."""
    if sums is None:
        log.info("The index at %s records no checksums; it is checked by its values only", generation.parent.name)
        return
    for name, expected in sums.items():
        path = generation / name
        if not path.is_file():
            raise IndexDamaged(f"{name} is missing")
        size = path.stat().st_size
        if size != expected["bytes"]:
            raise IndexDamaged(f"{name} is {size} bytes, the manifest says {expected['bytes']} (truncated or overwritten)")
        if _crc(path, size) != expected["crc32"]:
            raise IndexDamaged(f"{name} does not match its checksum (its content changed)")


def _all_finite(array: np.ndarray) -> bool:
    """No NaN or infinity: every row of an array in memory, evenly spaced blocks of rows of a
    memory-mapped one (as its checksum: a full pass would read gigabytes at every start)."""
    rows = array.shape[0]
    if not isinstance(array, np.memmap):
        return bool(np.isfinite(array).all())
    block = 256
    starts = range(0, rows, max(block, rows // _SAMPLE_BLOCKS))
    return all(np.isfinite(array[i : i + block]).all() for i in [*starts, max(rows - block, 0)])


def _check(snapshot: Snapshot, manifest: dict) -> None:
    """Raise IndexDamaged unless the arrays agree with each other and with the manifest."""
    n_articles, dim = len(snapshot.articles), snapshot.dimension
    passages, sentences = snapshot.passages, snapshot.sentences
    problems = []
    if len(snapshot.hashes) != n_articles or [a["id"] for a in manifest["articles"]] != [a.id for a in snapshot.articles]:
        problems.append("articles do not match the manifest")
    if passages.ndim != 2 or passages.shape[1] != 5:
        problems.append("passage table has the wrong shape")
    if sentences.ndim != 2 or sentences.shape[1] != 3:
        problems.append("sentence table has the wrong shape")
    if snapshot.passage_vectors.shape != (passages.shape[0], dim):
        problems.append(f"passage vectors are {snapshot.passage_vectors.shape}, expected {(passages.shape[0], dim)}")
    if snapshot.sentence_vectors.shape != (sentences.shape[0], dim):
        problems.append(f"sentence vectors are {snapshot.sentence_vectors.shape}, expected {(sentences.shape[0], dim)}")
    if snapshot.passage_vectors.dtype != np.float32 or snapshot.sentence_vectors.dtype not in SENTENCE_VECTOR_TYPES.values():
        problems.append(f"vector types {snapshot.passage_vectors.dtype}/{snapshot.sentence_vectors.dtype} are not float32/float16 or float32")
    if snapshot.lexical.size != passages.shape[0]:
        problems.append("BM25 index size differs from the passage count")
    if manifest.get("counts", {}).get("passages") != passages.shape[0]:
        problems.append("passage count differs from the manifest")
    if not problems and passages.shape[0]:
        lengths = np.array([len(a.text) for a in snapshot.articles], dtype=np.int64)
        article = passages[:, 0]
        if article.min() < 0 or article.max() >= n_articles:
            problems.append("a passage points to a missing article")
        elif (passages[:, 1] < 0).any() or (passages[:, 2] > lengths[article]).any() or (passages[:, 1] > passages[:, 2]).any():
            problems.append("passage offsets fall outside their article")
        elif passages[:, 4].max() > sentences.shape[0] or (passages[:, 3] >= passages[:, 4]).any() or passages[:, 3].min() < 0:
            problems.append("passage sentence ranges are invalid")
    if not problems and sentences.shape[0]:
        lengths = np.array([len(a.text) for a in snapshot.articles], dtype=np.int64)
        article = sentences[:, 0]
        if article.min() < 0 or article.max() >= n_articles:
            problems.append("a sentence points to a missing article")
        elif (sentences[:, 1] < 0).any() or (sentences[:, 2] > lengths[article]).any() or (sentences[:, 1] > sentences[:, 2]).any():
            problems.append("sentence offsets fall outside their article")
    if not problems and not (_all_finite(snapshot.passage_vectors) and _all_finite(snapshot.sentence_vectors)):
        problems.append("vectors hold NaN or infinite values")
    if problems:
        raise IndexDamaged("; ".join(problems))
