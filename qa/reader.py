"""The reader: a small model that reads a question and one candidate sentence together.

Embedding similarity compares two texts that were encoded apart; it cannot tell "who won" from
"who lost", nor see that a sentence names the thing asked about. A cross-encoder reads both at
once. Ours is all-MiniLM-L6-v2 (the only weights this offline machine has) fine-tuned by
`scripts/train_reader.py` on SQuAD 1.1 with two heads on one encoder:

- a relevance logit (from the pooled [CLS] state): does this sentence answer the question?
- start and end logits per token: where in the sentence is the short answer?

Input: `[CLS] question [SEP] sentence [SEP] title [SEP]` (the article's title gives a sentence that
says "he" or "the city" its subject). A reader trained on passages too (its `config.json` has
`passage_input`) also reads `[CLS] question [SEP] passage [SEP] title [SEP]`: a whole passage, whose
relevance, no-answer ([CLS]) score and best span inside each of its sentences help choose the sentence
and feed the confidence. The model ships int8-quantised ONNX in `qa/models/reader/`
with its tokenizer; it runs with onnxruntime and the `tokenizers` library, no torch. The encoding
below is shared with the training script, so training and inference see identical inputs.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).parent / "models" / "reader"
MAX_LENGTH = 128  # word pieces of question + sentence + title
PASSAGE_MAX_LENGTH = 320  # word pieces of question + passage + title (passages hold at most 200)
MAX_QUESTION_TOKENS = 48
MAX_TITLE_CHARS = 80
MAX_ANSWER_TOKENS = 24


@dataclass(frozen=True)
class EncodedPairs:
    """A padded batch and, per row, which tokens belong to the sentence and where they are in it."""

    input_ids: np.ndarray  # (rows, length) int64
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    sentence_mask: np.ndarray  # (rows, length) bool: tokens of the sentence (not question, title, specials)
    offsets: np.ndarray  # (rows, length, 2) int: character offsets of each token in its sentence

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class SentenceReading:
    """What the reader says of one (question, sentence) pair."""

    relevance: float  # logit: > 0 leans "this sentence answers the question"
    span_start: int  # character offsets of the short answer inside the sentence
    span_end: int
    span_score: float  # start + end logit of that span


@dataclass(frozen=True)
class PassageReading:
    """What a passage-trained reader says of a question and a whole passage, and of each of its sentences
    read in that context. SQuAD 2.0's unanswerable questions are written against a paragraph, and the
    sentences around the one that looks like the answer can show that it is not; and a sentence that
    answers only with its neighbours ("He said ...") reads better in its passage than alone."""

    relevance: float  # logit: does the passage answer the question?
    null_score: float  # start + end logit of [CLS]: "no answer in this passage"
    best_span_score: float  # the best span anywhere in the passage
    sentence_span_scores: tuple[float, ...]  # per sentence asked about, the best span inside it (-inf if none fits)


def load_tokenizer(path: Path | str, max_length: int = MAX_LENGTH):
    """The model's WordPiece tokenizer, set up for pairs: no padding, the sentence side truncated."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length, strategy="only_second")
    return tokenizer


def clip_question(tokenizer, question: str) -> str:
    """At most MAX_QUESTION_TOKENS word pieces of the question, cut at a token boundary."""
    encoding = tokenizer.encode(question, add_special_tokens=False)
    if len(encoding.ids) <= MAX_QUESTION_TOKENS:
        return question
    return question[: encoding.offsets[MAX_QUESTION_TOKENS - 1][1]]


def pair_text(sentence: str, title: str) -> str:
    title = " ".join(title.replace("_", " ").split())[:MAX_TITLE_CHARS]
    return f"{sentence} [SEP] {title}" if title else sentence


def encode_pairs(tokenizer, question: str | Sequence[str], sentences: Sequence[str], titles: Sequence[str]) -> EncodedPairs:
    """One row per sentence; `question` is one string for all rows, or one per row."""
    questions = [question] * len(sentences) if isinstance(question, str) else list(question)
    questions = [clip_question(tokenizer, q) for q in questions]
    pairs = [pair_text(s, t) for s, t in zip(sentences, titles)]
    encodings = tokenizer.encode_batch(list(zip(questions, pairs)))
    length = max((len(e.ids) for e in encodings), default=1)
    rows = len(encodings)
    ids = np.zeros((rows, length), np.int64)
    mask = np.zeros((rows, length), np.int64)
    types = np.zeros((rows, length), np.int64)
    in_sentence = np.zeros((rows, length), bool)
    offsets = np.zeros((rows, length, 2), np.int64)
    for row, (encoding, sentence) in enumerate(zip(encodings, sentences)):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
        types[row, :n] = encoding.type_ids
        sequence = np.array([-1 if s is None else s for s in encoding.sequence_ids])
        spans = np.array(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        offsets[row, :n] = spans
        in_sentence[row, :n] = (sequence == 1) & (spans[:, 1] <= len(sentence)) & (spans[:, 1] > spans[:, 0])
    return EncodedPairs(ids, mask, types, in_sentence, offsets)


def best_spans(start_logits: np.ndarray, end_logits: np.ndarray, encoded: EncodedPairs) -> list[tuple[int, int, float]]:
    """Per row, the sentence-internal span (start token ≤ end token, at most MAX_ANSWER_TOKENS long)
    with the highest start + end logit, as character offsets in the sentence."""
    results = []
    for row in range(len(encoded)):
        valid = np.flatnonzero(encoded.sentence_mask[row])
        if valid.size == 0:
            results.append((0, 0, float("-inf")))
            continue
        starts = start_logits[row, valid]
        ends = end_logits[row, valid]
        scores = starts[:, None] + ends[None, :]
        gap = valid[None, :] - valid[:, None]  # end token minus start token
        scores = np.where((gap >= 0) & (gap < MAX_ANSWER_TOKENS), scores, -np.inf)
        i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        first, last = valid[i], valid[j]
        results.append(
            (int(encoded.offsets[row, first, 0]), int(encoded.offsets[row, last, 1]), float(scores[i, j]))
        )
    return results


def snap_to_words(sentence: str, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) to whole words (a span can start or end inside a word piece: "##arat"),
    and drop spaces and trailing punctuation other than closing brackets or quotes at its ends."""
    while start > 0 and sentence[start - 1].isalnum() and sentence[start].isalnum():
        start -= 1
    while 0 < end < len(sentence) and sentence[end - 1].isalnum() and sentence[end].isalnum():
        end += 1
    while end > start and (sentence[end - 1].isspace() or sentence[end - 1] in ",;:."):
        end -= 1
    while start < end and sentence[start].isspace():
        start += 1
    return start, end


class Reader:
    """The shipped reader, run with ONNX Runtime."""

    def __init__(self, model_dir: Path | str = MODEL_DIR, threads: int | None = None) -> None:
        import onnxruntime as ort

        model_dir = Path(model_dir)
        model_file = model_dir / "model.onnx"
        if not model_file.is_file():
            raise FileNotFoundError(
                f"No reader model at {model_file}; train one with scripts/train_reader.py, or use QA_ANSWERER=features"
            )
        self.model_dir = model_dir
        self.tokenizer = load_tokenizer(model_dir / "tokenizer.json")
        config_file = model_dir / "config.json"
        self.config = json.loads(config_file.read_text()) if config_file.is_file() else {}
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        # Sleep between questions instead of spinning: the rest of ask() runs on the same cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        # Only a model trained on passages too (train_reader.py --passage-share) reads them.
        self.reads_passages = "passage_input" in self.config
        self.passage_tokenizer = load_tokenizer(model_dir / "tokenizer.json", PASSAGE_MAX_LENGTH) if self.reads_passages else None

    def read(self, question: str, sentences: Sequence[str], titles: Sequence[str]) -> list[SentenceReading]:
        if not sentences:
            return []
        encoded = encode_pairs(self.tokenizer, question, sentences, titles)
        relevance, start_logits, end_logits = self.run(encoded)
        spans = best_spans(start_logits, end_logits, encoded)
        readings = []
        for r, (s, e, score), sentence in zip(relevance.tolist(), spans, sentences):
            s, e = snap_to_words(sentence, s, e) if e > s else (s, e)
            readings.append(SentenceReading(float(r), s, e, score))
        return readings

    def read_passage(self, question: str, passage: str, title: str, sentences: Sequence[tuple[int, int]]) -> PassageReading:
        """Read the question with a whole passage (one run), and score each of `sentences` (their
        [start, end) in the passage) by the best answer span inside it."""
        if self.passage_tokenizer is None:
            raise ValueError(f"the reader in {self.model_dir} was not trained on passages")
        encoded = encode_pairs(self.passage_tokenizer, question, [passage], [title])
        relevance, start_logits, end_logits = self.run(encoded)
        null = float(start_logits[0, 0] + end_logits[0, 0])
        best = best_spans(start_logits, end_logits, encoded)[0][2]
        starts, ends = encoded.offsets[0, :, 0], encoded.offsets[0, :, 1]
        scores = []
        for a, b in sentences:
            inside = encoded.sentence_mask[0] & (starts >= a) & (ends <= b)
            scores.append(best_spans(start_logits, end_logits, replace(encoded, sentence_mask=inside[None, :]))[0][2])
        return PassageReading(float(relevance[0]), null, best, tuple(scores))

    def run(self, encoded: EncodedPairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        feeds = {
            "input_ids": encoded.input_ids,
            "attention_mask": encoded.attention_mask,
            "token_type_ids": encoded.token_type_ids,
        }
        relevance, start_logits, end_logits = self.session.run(None, {k: v for k, v in feeds.items() if k in self.input_names})
        return relevance, start_logits, end_logits
