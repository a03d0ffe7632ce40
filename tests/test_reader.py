"""The reader: the shipped model loads offline, its spans are offsets into the sentence, answers carry
short answers whose offsets round-trip, off-topic questions are refused, and training on a tiny
set lowers the loss."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.reader import MODEL_DIR, Reader
from qa.reader_answerer import ReaderCalibration

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader()


def test_shipped_reader_loads_offline_from_the_repository(reader: Reader) -> None:
    assert (MODEL_DIR / "model.onnx").is_file() and (MODEL_DIR / "tokenizer.json").is_file()
    size = sum(f.stat().st_size for f in MODEL_DIR.iterdir())
    assert size <= 30_000_000, f"the shipped reader is {size / 1e6:.1f} MB"
    readings = reader.read(
        "Who won the game?",
        ["The Denver Broncos won the game 24-10.", "It rained all day in the city."],
        ["Super Bowl 50", "Super Bowl 50"],
    )
    assert readings[0].relevance > readings[1].relevance
    sentence = "The Denver Broncos won the game 24-10."
    assert "Broncos" in sentence[readings[0].span_start : readings[0].span_end]
    # It reads whole passages too, and its calibration uses what it says of them.
    assert reader.reads_passages and ReaderCalibration.load().passages
    passage = "It rained all day in the city. " + sentence
    focus = (passage.index(sentence), len(passage))
    answered = reader.read_passage("Who won the game?", passage, "Super Bowl 50", [focus])
    unanswered = reader.read_passage("Who lost the chess final?", passage, "Super Bowl 50", [focus])
    assert answered.relevance > unanswered.relevance
    assert answered.sentence_span_scores[0] - answered.null_score > unanswered.sentence_span_scores[0] - unanswered.null_score


words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=words, sentences=st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=4), title=words)
def test_spans_are_offsets_inside_each_sentence(reader: Reader, question: str, sentences: list[str], title: str) -> None:
    readings = reader.read(question, sentences, [title] * len(sentences))
    assert len(readings) == len(sentences)
    for reading, sentence in zip(readings, sentences):
        assert 0 <= reading.span_start <= reading.span_end <= len(sentence)


def test_short_answer_offsets_round_trip_in_answers(seed_qa) -> None:
    questions = [
        "Who is the prime minister of Georgia?",
        "What does Georgia import from Russia?",
        "How much was bilateral trade worth in the first half of 2025?",
    ]
    for question in questions:
        answer = seed_qa.ask(question)
        assert not answer.abstained, question
        assert answer.short_answer, question
        holder = [c for c in answer.citations if c.answer_start is not None]
        assert len(holder) == 1
        citation = holder[0]
        article = seed_qa.article(citation.article_id)
        assert article.text[citation.answer_start : citation.answer_end] == answer.short_answer
        assert citation.start <= citation.answer_start < citation.answer_end <= citation.end
        assert answer.text.startswith(answer.short_answer)
        data = answer.to_dict()
        assert data["short_answer"] == answer.short_answer
        assert data["citations"][0]["answer_start"] == citation.answer_start


# Written from the default article before looking at what the reader answers: (question, words the
# cited sentence must hold). None of them is one of the web app's examples. The shipped reader answers
# 26 of the 27; the one it misses is marked with what it does (strict: a fix makes it fail loudly
# until the mark is removed), so the misses are tracked, not hidden.
MISSED = lambda why: pytest.mark.xfail(strict=True, reason=f"known miss of the shipped reader: {why}")  # noqa: E731
ARTICLE_QUESTIONS = [
    ("What must Moscow retract before Georgia resumes diplomatic relations?", "acknowledgment of the breakaway regions"),
    ("Which breakaway regions are at the centre of the dispute?", "Abkhazia and South Ossetia"),
    ("When did Tbilisi cut its ties with Moscow?", "2008 war"),
    ("Which news agency reported Kobakhidze's remarks?", "Interfax"),
    ("What did Kobakhidze say about red lines?", "red lines concerning de-occupation"),
    ("Which publication did Russia's Foreign Ministry inform?", "Izvestia"),
    ("How does Russia describe its recognition of Abkhazia and South Ossetia?", "irreversible"),
    ("How did the ministry describe Tbilisi's stance?", "unrealistic and detrimental"),
    ("Why are there no prospects for resuming political discussions?", "continues to connect the restoration of diplomatic ties"),
    ("What share of Georgia's land do the separatist territories represent?", "20%"),
    ("What kind of backing has Russia given the separatist territories?", "military, political, and economic"),
    ("Who is Petre Mamradze?", "former head of Georgia’s presidential administration"),
    ("In which sectors is cooperation expected to continue?", "tourism and agriculture"),
    ("Which products does Georgia sell to Russia?", "wine, mineral water"),
    ("What does Georgia import from Russia?", "natural gas"),
    ("How much was bilateral trade worth in the first half of 2025?", "$1.3 billion"),
    ("By what percentage did bilateral trade grow?", "7%"),
    pytest.param("Which body provided the trade figures?", "national statistics service", marks=MISSED("right sentence, refused at 0.16")),
    ("What is the name of Georgia's ruling party?", "Georgian Dream"),
    ("What is the governing party accused of?", "steering the nation closer to Russia"),
    ("Relations with which organisations has Georgia diminished?", "NATO and the European Union"),
    ("On what day did the prime minister make his statement?", "Wednesday"),
    ("How many nations recognise the regions as independent?", "select few nations"),
    ("Is Russia willing to normalize relations with Georgia?", "willing to normalize relations"),
    ("Do the two countries still trade despite the stalemate?", "persist in trade and cultural exchanges"),
    ("What did Russia declare the two regions in 2008?", "independent states"),
    ("Who stated that Georgia will not resume diplomatic relations with Russia?", "Irakli Kobakhidze"),
]

OFF_TOPIC = [
    "What is the capital of France?",
    "Who won the 2018 FIFA World Cup?",
    "How do I bake sourdough bread?",
    "What is the boiling point of water at sea level?",
    "Who wrote Pride and Prejudice?",
    "When did the first man land on the Moon?",
    "What is the population of Brazil?",
    "How many legs does a spider have?",
    "Which programming language did Guido van Rossum create?",
    "What is the tallest mountain in Africa?",
]


@pytest.mark.parametrize("question,expected", ARTICLE_QUESTIONS)
def test_default_article_questions_are_answered_with_the_right_sentence(seed_qa, question: str, expected: str) -> None:
    answer = seed_qa.ask(question)
    assert not answer.abstained, f"refused at {answer.confidence:.2f}"
    assert expected in answer.citations[0].quote, answer.text


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_questions_are_refused(seed_qa, question: str) -> None:
    answer = seed_qa.ask(question)
    assert answer.abstained, f"answered at {answer.confidence:.2f}: {answer.text}"
    assert answer.short_answer is None and not answer.citations


def test_follow_up_resolves_through_the_previous_answer(seed_qa) -> None:
    first = seed_qa.ask("Who is the prime minister of Georgia?")
    follow = seed_qa.ask("Which agency reported his remarks?", history=[("Who is the prime minister of Georgia?", first.text)])
    assert not follow.abstained
    assert "Interfax" in follow.text


def test_the_best_passages_are_read_whole_to_choose_the_sentence(seed_qa) -> None:
    """With `passage_choice`, the answerer reads whole the passages whose best sentence the reader rates
    highest (at most that many, each once), and every sentence of them gets its answer margin in context
    as a choice feature; the other sentences keep the 'unread' values."""
    import numpy as np

    from qa.reader_answerer import UNREAD_MARGIN, ReaderAnswerer, selection_feature_names

    shipped = seed_qa.answerer
    answerer = ReaderAnswerer(shipped.feature_model, shipped.settings, replace(shipped.calibration, passage_choice=2), shipped.reader)
    retrieval = seed_qa.retrieve("Which news agency reported the prime minister's remarks?", k=seed_qa.settings.answer_passages)
    top = retrieval.ranked[: seed_qa.settings.answer_passages]
    reading = answerer.read(retrieval.snapshot, retrieval.question, retrieval.question_vector, top)
    features = answerer.selection_features(retrieval.snapshot, reading, top)
    assert features.shape[1] == len(selection_feature_names(True))

    ranks = answerer.choice_passages(reading)
    read_ranks = set(reading.found.passage_ranks[reading.read].tolist())
    best = {r: reading.relevance[reading.read & (reading.found.passage_ranks == r)].max() for r in read_ranks}
    assert len(read_ranks) > 2 and len(ranks) == 2 and sorted(reading.passages) == sorted(ranks)
    assert [best[r] for r in ranks] == sorted(best.values(), reverse=True)[:2]
    in_read_passage = features[:, -1] == 1
    assert np.array_equal(in_read_passage, np.isin(reading.found.passage_ranks, ranks))
    assert (features[~in_read_passage, -3] == UNREAD_MARGIN).all()
    margins = np.where(in_read_passage, features[:, -3], -np.inf)
    assert "Interfax" in retrieval.snapshot.sentence_text(int(reading.found.sentence_ids[int(np.argmax(margins))]))


TINY_SQUAD = {
    "articles": [
        {
            "title": title,
            "paragraphs": [
                {
                    "context": context,
                    "qas": [
                        {"question": q, "answers": [{"text": a, "answer_start": context.index(a)}], "is_impossible": False}
                        for q, a in qas
                    ],
                }
            ],
        }
        for title, context, qas in [
            ("Kelm", "Kelm is a river town in Vardia. The Zorb river flows through Kelm for 300 km. The town was founded in 1204 by fishermen. Its mayor is Ana Belt.",
             [("Which river flows through Kelm?", "Zorb"), ("When was Kelm founded?", "1204"), ("Who is the mayor of Kelm?", "Ana Belt"), ("How long is the Zorb in Kelm?", "300 km")]),
            ("Orla", "Orla is a mountain village. It lies 2,100 metres above sea level. Goats and cheese made it famous. The village school opened in 1950.",
             [("How high is Orla?", "2,100 metres"), ("What made Orla famous?", "Goats and cheese"), ("When did the school in Orla open?", "1950")]),
            ("Piran Bank", "Piran Bank is a lender based in Soll. It was created by a merger in 1998. Its chief executive is Tom Rask. The bank employs 4,000 people.",
             [("Where is Piran Bank based?", "Soll"), ("Who runs Piran Bank?", "Tom Rask"), ("How many people does Piran Bank employ?", "4,000"), ("How was Piran Bank created?", "by a merger")]),
            ("Tessa Lane", "Tessa Lane is a painter from Dorn. She studied in Rome for six years. Her best known work is Blue Harbour. She won the Marl Prize in 2011.",
             [("Where is Tessa Lane from?", "Dorn"), ("Which prize did Tessa Lane win?", "Marl Prize"), ("What is Tessa Lane's best known work?", "Blue Harbour"), ("How long did she study in Rome?", "six years")]),
        ]
    ]
}


@pytest.mark.slow
def test_choice_model_learns_which_sentence_of_a_question_answers(monkeypatch) -> None:
    """The conditional logit that picks the answer sentence: in made-up questions the right sentence
    stands out on the first feature, the second is noise and the third shifts every sentence of a
    question alike. It must follow the first feature and choose right on new questions."""
    import numpy as np

    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    from fit_reader_calibration import fit_choice_model

    rng = np.random.default_rng(0)

    def question():
        n = int(rng.integers(3, 12))
        x = rng.normal(size=(n, 3))
        right = int(rng.integers(n))
        x[right, 0] += 3.0
        x[:, 2] += rng.normal() * 5  # the same shift for every sentence of a question: a softmax ignores it
        labels = np.zeros(n, bool)
        labels[right] = True
        return x, labels

    weights = fit_choice_model([question() for _ in range(400)])
    assert weights[0] > 5 * abs(weights[1])
    held_out = [question() for _ in range(300)]
    accuracy = np.mean([labels[int(np.argmax(x @ weights))] for x, labels in held_out])
    assert accuracy > 0.8


def test_confidence_fit_bounds_the_named_weights_at_zero_and_is_sklearns_fit_without_bounds(monkeypatch) -> None:
    """`fit_confidence` (the calibration's logistic): unbounded it is the shipped sklearn fit; with a
    feature named non-negative, a weight the data push below zero stops at zero while the others
    still fit, and its predictions still separate the classes."""
    import numpy as np

    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    from fit_answer_model import fit_logistic
    from fit_reader_calibration import fit_confidence

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 3))
    y = (x[:, 0] - 1.5 * x[:, 1] + rng.logistic(size=2000) > 0)
    names = ("helps", "hurts", "noise")

    free_w, free_b = fit_confidence(x, y, names, non_negative=())
    sk_w, sk_b = fit_logistic(x, y, c=0.3)
    assert np.allclose(free_w, sk_w) and np.isclose(free_b, sk_b)
    assert free_w[1] < -1.0

    w, b = fit_confidence(x, y, names, non_negative=("hurts",))
    assert w[1] == 0.0 and w[0] > 0.5
    accuracy = np.mean(((x @ w + b) > 0) == y)
    assert 0.6 < accuracy < np.mean(((x @ free_w + free_b) > 0) == y)


def test_training_on_a_tiny_set_lowers_the_loss(tmp_path: Path) -> None:
    data = tmp_path / "tiny.json"
    data.write_text(json.dumps(TINY_SQUAD))
    work = tmp_path / "work"
    command = [
        sys.executable, str(ROOT / "scripts" / "train_reader.py"), str(data), "--work-dir", str(work),
        "--validation-articles", "1", "--epochs", "12", "--batch-size", "8", "--lr", "1e-4", "--log-every", "5",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    losses = [json.loads(line)["loss"] for line in (work / "losses.jsonl").read_text().splitlines()]
    assert len(losses) >= 20
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.6 * first, (first, last)
    assert (work / "final.pt").is_file()


def test_null_span_training_points_negatives_at_cls_and_keeps_the_answer_span() -> None:
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader
    from qa.reader import encode_pairs, load_tokenizer

    sentence = "Denver beat Carolina in Super Bowl 50."
    batch = [
        train_reader.Pair("Who beat Carolina?", sentence, "Super Bowl 50", 1, 0, 6),
        train_reader.Pair("Who beat Carolina?", "It rained all week in Miami before the game.", "Weather", 0, kind="retrieved"),
    ]
    torch.manual_seed(0)
    model = train_reader.build_model()
    tokenizer = load_tokenizer(Path(train_reader.model_path()) / "tokenizer.json")
    # Without --null-span a negative has no span target; with it, [CLS] is its span.
    assert train_reader.batch_loss(model, tokenizer, batch[1:])[2] == 0.0
    assert train_reader.batch_loss(model, tokenizer, batch[1:], null_span=True)[2] > 0.0
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for _ in range(15):
        loss = train_reader.batch_loss(model, tokenizer, batch, null_span=True)[0]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    encoded = encode_pairs(tokenizer, [p.question for p in batch], [p.sentence for p in batch], [p.title for p in batch])
    first, last = train_reader.span_tokens(encoded, 0, 0, 6)  # "Denver"
    with torch.no_grad():
        _, start, end = model(*train_reader.tensors(encoded))
    allowed = torch.from_numpy(encoded.sentence_mask)
    allowed[:, 0] = True
    start = start.masked_fill(~allowed, -1e4)
    end = end.masked_fill(~allowed, -1e4)
    assert int(start[1].argmax()) == 0 and int(end[1].argmax()) == 0  # the sentence that does not answer: no answer
    assert (int(start[0].argmax()), int(end[0].argmax())) == (first, last)


def test_averaged_weights_are_the_mean_of_the_stages_and_refuse_other_models(tmp_path: Path) -> None:
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader

    a = {"w": torch.tensor([1.0, 3.0]), "steps": torch.tensor([5])}
    b = {"w": torch.tensor([3.0, 5.0]), "steps": torch.tensor([7])}
    torch.save(a, tmp_path / "a.pt")
    torch.save(b, tmp_path / "b.pt")
    mean = train_reader.average_weights([tmp_path / "a.pt", tmp_path / "b.pt"])
    assert torch.equal(mean["w"], torch.tensor([2.0, 4.0])) and int(mean["steps"]) == 7
    torch.save({"v": torch.tensor([1.0])}, tmp_path / "other.pt")
    with pytest.raises(ValueError):
        train_reader.average_weights([tmp_path / "a.pt", tmp_path / "other.pt"])


def test_weights_read_back_from_an_exported_reader_are_its_weights(tmp_path: Path) -> None:
    """A stage can start from the shipped model.onnx: exactly the weights of an fp32 export, and
    within half a quantisation step of them for the int8 export that ships."""
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader
    from qa.reader import load_tokenizer

    torch.manual_seed(0)
    model = train_reader.build_model(layers=1)
    with torch.no_grad():  # weights of its own, not the bundled encoder's
        for weight in model.parameters():
            weight.add_(0.02 * torch.randn_like(weight))
    model.eval()
    tokenizer = load_tokenizer(Path(train_reader.model_path()) / "tokenizer.json")
    train_reader.export_onnx(model, tokenizer, tmp_path / "fp32.onnx")
    train_reader.quantise(tmp_path / "fp32.onnx", tmp_path / "int8.onnx")
    original = model.state_dict()
    weights = [k for k, v in original.items() if v.is_floating_point()]

    exact = train_reader.load_weights(tmp_path / "fp32.onnx", train_reader.build_model(layers=1))
    assert all(torch.equal(exact[k], original[k]) for k in weights)

    read = train_reader.load_weights(tmp_path / "int8.onnx", train_reader.build_model(layers=1))
    changed = [k for k in weights if not torch.equal(read[k], original[k])]
    assert "bert.encoder.layer.0.attention.self.query.weight" in changed  # int8, read back dequantised
    assert "bert.embeddings.word_embeddings.weight" in changed
    assert "span.weight" not in changed and "bert.encoder.layer.0.output.LayerNorm.weight" not in changed  # kept fp32
    for key in changed:
        rows = original[key].reshape(original[key].shape[0], -1)
        # embedding tables: uint8 per tensor over [min, max] widened to hold 0; linear layers: 7-bit per output channel
        step = (rows.max().clamp(min=0) - rows.min().clamp(max=0)) / 255 if "embeddings" in key else rows.abs().amax(dim=1, keepdim=True) / 63
        assert ((read[key] - original[key]).reshape(rows.shape).abs() <= 0.51 * step + 1e-7).all(), key
    reloaded = train_reader.build_model(layers=1)
    reloaded.load_state_dict(read)  # every key, every shape

    # Keeping layer 0's feed-forward output fp32: that weight comes back exact, the attention's output does not.
    train_reader.quantise(tmp_path / "fp32.onnx", tmp_path / "mixed.onnx", fp32_feed_forward_layers=[0])
    mixed = train_reader.load_weights(tmp_path / "mixed.onnx", train_reader.build_model(layers=1))
    assert torch.equal(mixed["bert.encoder.layer.0.output.dense.weight"], original["bert.encoder.layer.0.output.dense.weight"])
    assert not torch.equal(mixed["bert.encoder.layer.0.attention.output.dense.weight"], original["bert.encoder.layer.0.attention.output.dense.weight"])
    assert (tmp_path / "mixed.onnx").stat().st_size > (tmp_path / "int8.onnx").stat().st_size

    # Full range: the linear layers uint8 per output channel over [min, max] widened to hold 0, steps up to four times finer.
    train_reader.quantise(tmp_path / "fp32.onnx", tmp_path / "full.onnx", full_range=True)
    full = train_reader.load_weights(tmp_path / "full.onnx", train_reader.build_model(layers=1))
    for key in [k for k in changed if "embeddings" not in k]:
        rows = original[key].reshape(original[key].shape[0], -1)
        step = (rows.amax(dim=1, keepdim=True).clamp(min=0) - rows.amin(dim=1, keepdim=True).clamp(max=0)) / 255
        full_error = (full[key] - original[key]).reshape(rows.shape).abs()
        assert (full_error <= 0.51 * step + 1e-7).all(), key
        assert full_error.mean() < (read[key] - original[key]).abs().mean(), key

    with pytest.raises(ValueError, match="no weights for"):  # a model the file does not hold
        train_reader.load_weights(tmp_path / "int8.onnx", train_reader.build_model(layers=2))


def test_near_word_negative_swaps_a_shared_word_for_a_near_word_of_the_article_the_sentence_lacks() -> None:
    import random

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader

    context = "The Upper Rhine flows north from Basel to Bingen. It passes Strasbourg on the way."
    articles = [{"title": "Rhine", "paragraphs": [
        {"context": context, "qas": [{"question": "Where does the Upper Rhine flow from?", "answers": [{"text": "Basel", "answer_start": context.index("Basel")}]}]},
        {"context": "The Lower Rhine reaches the Netherlands near Emmerich. Barges carry coal and steel.", "qas": []},
    ]}]
    corpus = train_reader.build_corpus(articles)
    near = train_reader.NearWords(corpus, {0})
    question = corpus.questions[0]
    sentence = corpus.sentences[question.sentence]
    for seed in range(5):
        altered = train_reader.near_word_question(question, corpus, near, random.Random(seed))
        before, after = question.question.split(), altered.split()
        changed = [(a, b) for a, b in zip(before, after) if a != b]
        assert len(before) == len(after) and len(changed) == 1, altered
        old, new = changed[0]
        assert old in sentence.split() and new not in sentence and new not in question.question
        assert any(new in text for text in corpus.sentences), new  # a word of the article, not made up
    # "Upper" has its near neighbour "Lower" in the article; a name is swapped only for a name
    assert near.neighbours("Upper", 0, excluded={"upper", "rhine"})[0] == "Lower"
    assert all(w[0].isupper() for w in near.neighbours("Upper", 0, excluded=set()))


def test_synonym_positive_rewords_a_shared_word_and_keeps_the_answer_span() -> None:
    import random

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader
    from qa.lexical import LexicalIndex

    context = "About 5,000 troops crossed the river at dawn in winter. The soldiers often camped near the bridge and rarely slept."
    articles = [
        {"title": "Crossing", "paragraphs": [{"context": context, "qas": [
            {"question": "How many troops crossed the river in winter?", "answers": [{"text": "About 5,000", "answer_start": 0}]}]}]},
        {"title": "Siege", "paragraphs": [{"context": "The soldiers rarely waited outside the walls of the town in winter.", "qas": []}]},
    ]
    corpus = train_reader.build_corpus(articles)
    words = train_reader.NearWords(corpus, {0, 1})
    question = corpus.questions[0]
    # "troops" is near "soldiers" (a word of both articles the sentence lacks); "often" is never reworded
    # though "rarely" is as near (0.85): it is the alternative, not a synonym; "river" has no word that near.
    assert train_reader.synonym_question(question, corpus, words, random.Random(0)) == "How many soldiers crossed the river in winter?"
    assert words.synonym("often", excluded=set()) is None
    assert words.synonym("river", excluded=set()) is None
    lexical = LexicalIndex.build(corpus.sentences)
    pairs = train_reader.make_pairs(corpus, [question], lexical, random.Random(0), 0.0, synonym_share=1.0, synonyms=words)
    positive = next(p for p in pairs if p.kind == "positive")
    reworded = next(p for p in pairs if p.kind == "synonym")
    assert reworded.label == 1 and reworded.sentence == positive.sentence and reworded.question != positive.question
    assert reworded.sentence[reworded.answer_start : reworded.answer_end] == "About 5,000"
    assert train_reader.make_pairs(corpus, [question], lexical, random.Random(0), 0.0) == [p for p in pairs if p.kind != "synonym"]


def test_agent_questions_are_asked_again_with_who_and_keep_their_answer_span() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader

    who = train_reader.agent_who_question
    assert who("What country borders Egypt to the south?") == "Who borders Egypt to the south?"
    assert who("Which company has a $2 billion production plant in Bradley County?") == "Who has a $2 billion production plant in Bradley County?"
    # where "who" would ask something else, or read wrong, the question is left alone
    assert who("What country did Kerry visit as a student?") is None  # an object, not an agent
    assert who("What organization does KU belong to?") is None
    assert who("What group of elected officials provides checks?") is None
    assert who("What city has become a national chess center?") is None  # a place
    assert who("Which city was the German diplomat in when he got assassinated?") is None
    assert who("Who founded the company?") is None
    assert who("What government body is allowed to veto a law?") is None  # not "Who body is allowed ..."

    context = "Sudan borders Egypt to the south. The Nile flows north through both."
    articles = [{"title": "Egypt", "paragraphs": [{"context": context, "qas": [
        {"question": "What country borders Egypt to the south?", "answers": [{"text": "Sudan", "answer_start": 0}]},
        {"question": "Which way does the Nile flow?", "answers": [{"text": "north", "answer_start": 50}]}]}]}]
    corpus = train_reader.build_corpus(articles)
    pairs = train_reader.agent_who_pairs(corpus, corpus.questions)
    assert [(p.question, p.label, p.kind) for p in pairs] == [("Who borders Egypt to the south?", 1, "who")]
    assert pairs[0].sentence[pairs[0].answer_start : pairs[0].answer_end] == "Sudan"


def test_prefix_opposites_turn_a_shared_word_into_its_opposite_only_where_the_articles_use_it() -> None:
    import random

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader

    vocabulary = frozenset({"insignificant", "official", "careless", "inform", "non-local", "ilford"})
    opposite = train_reader.prefix_opposite
    assert opposite("significant", vocabulary) == "insignificant"
    assert opposite("unofficial", vocabulary) == "official"
    assert opposite("careful", vocabulary) == "careless"
    assert opposite("local", vocabulary) == "non-local"
    assert opposite("form", vocabulary) is None  # "inform" is another word, not an opposite
    assert opposite("Ford", vocabulary) is None  # names are left alone
    assert opposite("important", vocabulary) is None  # "unimportant" is not in the articles: never made up

    context = "Three more flows carry significant amounts of water. The Waal carries most of it."
    articles = [{"title": "Rhine", "paragraphs": [{"context": context, "qas": [
        {"question": "How many more flows carry significant amounts of water?", "answers": [{"text": "Three", "answer_start": 0}]}]}]},
        {"title": "Stream", "paragraphs": [{"context": "Insignificant streams dry up. Insignificant rivers too.", "qas": []}]}]
    corpus = train_reader.build_corpus(articles)
    vocabulary = train_reader.article_vocabulary(corpus)
    question = [q for q in corpus.questions if q.title == "Rhine"][0]
    assert train_reader.prefix_antonym_question(question, corpus, vocabulary, random.Random(0)) == "How many more flows carry insignificant amounts of water?"


def test_sentence_swap_takes_another_name_of_the_same_sentence_never_the_answer() -> None:
    import random

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader

    context = "King Sigismund moved his court from Krakow to Warsaw in 1596, as Vilnius lay far to the east."
    question_text = "Who moved his court from Krakow to Warsaw in 1596?"
    articles = [{"title": "Warsaw", "paragraphs": [{"context": context, "qas": [
        {"question": question_text, "answers": [{"text": "King Sigismund", "answer_start": 0}]}]}]}]
    corpus = train_reader.build_corpus(articles)
    question = corpus.questions[0]
    made = {train_reader.sentence_swap_question(question, corpus, random.Random(seed)) for seed in range(12)}
    # Krakow or Warsaw becomes Vilnius; 1596 has no other number to become, and the answer's names never come in
    assert made == {None, "Who moved his court from Vilnius to Warsaw in 1596?", "Who moved his court from Krakow to Vilnius in 1596?"}

    assert train_reader.role_swap_question(question, corpus) == "Who moved his court from Warsaw to Krakow in 1596?"
    symmetric = train_reader.build_corpus([{"title": "Chopin", "paragraphs": [{"context": "Chopin met Liszt in 1832.", "qas": [
        {"question": "When did Chopin meet Liszt?", "answers": [{"text": "1832", "answer_start": 20}]}]}]}])
    assert train_reader.role_swap_question(symmetric.questions[0], symmetric) is None  # the same question either way
    names = train_reader.build_corpus([{"title": "Fribourg", "paragraphs": [{"context": "The University of Fribourg was given to the Dominicans in 1890.", "qas": [
        {"question": "When was the University of Fribourg given to the Dominicans?", "answers": [{"text": "1890", "answer_start": 58}]}]}]}])
    assert train_reader.role_swap_question(names.questions[0], names) is None  # one name, not two roles


def test_number_words_are_never_synonyms_of_each_other() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader

    context = "The sixteen ships and fifteen boats sailed. Seventeen crews and sixteen captains waited. Fifteen men and sixteen women left."
    articles = [{"title": f"Fleet {i}", "paragraphs": [{"context": context, "qas": []}]} for i in range(3)]
    corpus = train_reader.build_corpus(articles)
    words = train_reader.NearWords(corpus, {0, 1, 2})
    assert words.synonym("sixteen", excluded=set()) is None


def test_chat_shows_the_short_answer_in_bold_inside_the_highlighted_sentence(seed_qa) -> None:
    from qa.webui.render import escape, format_answer

    answer = seed_qa.ask("What does Georgia import from Russia?")
    assert answer.short_answer
    html = format_answer(answer, articles=lambda article_id: seed_qa.article(article_id).text)
    assert re.search(rf"<mark>[^<]*<strong>{re.escape(escape(answer.short_answer))}</strong>[^<]*</mark>", html)


def test_form_and_typo_positives_keep_the_question_and_its_answer_span() -> None:
    import random

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader
    from qa.lexical import LexicalIndex

    assert train_reader.word_stem("accusation") == train_reader.word_stem("accused") == "accus"
    assert train_reader.word_stem("largest") != train_reader.word_stem("large")  # "est" asks something else
    context = "Since 2008, Russia has provided military backing to the separatist territories. Moscow backs them."
    articles = [
        {"title": "Georgia", "paragraphs": [{"context": context, "qas": [
            {"question": "Which country has provided backing to the separatist territories?", "answers": [{"text": "Russia", "answer_start": 12}]}]}]},
        {"title": "Rebels", "paragraphs": [{"context": "Iran backs the rebels. Its backing provided weapons to the rebels.", "qas": []}]},
        {"title": "Clubs", "paragraphs": [{"context": "Sponsors backs the clubs. The league provided backs for the clubs.", "qas": []}]},
    ]
    corpus = train_reader.build_corpus(articles)
    words = train_reader.NearWords(corpus, {0, 1, 2})
    question = corpus.questions[0]
    # "backing" comes back as "backs" (a common word of the same stem); "provided" has no other form here
    assert words.form("backing", excluded=set()) == "backs"
    assert words.form("provided", excluded=set()) is None
    assert words.form("Russia", excluded=set()) is None  # names keep their form
    assert train_reader.only_plural_apart("territory", "territorys") and not train_reader.only_plural_apart("backs", "backing")
    assert train_reader.form_question(question, corpus, words, random.Random(0)) == "Which country has provided backs to the separatist territories?"
    for seed in range(20):
        typed = train_reader.typo_question(question, corpus, random.Random(seed))
        before, after = question.question.split(), typed.split()
        changed = [(a, b) for a, b in zip(before, after) if a != b]
        assert len(before) == len(after) and len(changed) == 1, typed
        old, new = (word.strip("?") for word in changed[0])
        assert old in context and len(old) >= 5 and new[0] == old[0] and abs(len(new) - len(old)) <= 1
    lexical = LexicalIndex.build(corpus.sentences)
    pairs = train_reader.make_pairs(corpus, [question], lexical, random.Random(0), 0.0, synonyms=words, form_share=1.0, typo_share=1.0)
    positive = next(p for p in pairs if p.kind == "positive")
    for kind in ("form", "typo"):
        reworded = next(p for p in pairs if p.kind == kind)
        assert reworded.label == 1 and reworded.sentence == positive.sentence and reworded.question != positive.question
        assert reworded.sentence[reworded.answer_start : reworded.answer_end] == "Russia"
    assert train_reader.make_pairs(corpus, [question], lexical, random.Random(0), 0.0, synonyms=words) == [p for p in pairs if p.kind not in ("form", "typo")]


def test_shortened_positives_drop_a_trailing_name_and_keep_the_answer_span() -> None:
    import random

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader
    from qa.lexical import LexicalIndex
    from qa.reader import load_tokenizer

    context = "Irakli Kobakhidze is the prime minister of Georgia. He spoke to Interfax in Moscow in 2024."
    articles = [{"title": "Georgia", "paragraphs": [{"context": context, "qas": [
        {"question": "Who is the prime minister of Georgia?", "answers": [{"text": "Irakli Kobakhidze", "answer_start": 0}]},
        {"question": "Which agency did he speak to in 2024?", "answers": [{"text": "Interfax", "answer_start": context.index("Interfax")}]},
    ]}]}]
    corpus = train_reader.build_corpus(articles)
    by_text = {q.question: q for q in corpus.questions}
    assert train_reader.shortened_question(by_text["Who is the prime minister of Georgia?"]) == "Who is the prime minister?"
    # a number tells answers apart: it stays
    assert train_reader.shortened_question(by_text["Which agency did he speak to in 2024?"]) is None
    for question, dropped in [
        ("Where are loading jetties found on Norfolk Island?", "Where are loading jetties found?"),
        ("How many women were semi-finalists on season six of American Idol?", "How many women were semi-finalists on season six?"),
        ("What is north of Cyprus?", None),  # fewer than four words would be left
        ("Name the largest city of the United States?", None),  # no question word would be left
        ("The English word Alps derives from what Latin Word?", None),  # the question word is in the phrase
        ("What was the lead single from Queen's first album?", None),  # the phrase is not a name
    ]:
        asked = train_reader.Question(**{**vars(corpus.questions[0]), "question": question})
        assert train_reader.shortened_question(asked) == dropped, question

    question = by_text["Who is the prime minister of Georgia?"]
    lexical = LexicalIndex.build(corpus.sentences)
    pairs = train_reader.make_pairs(corpus, [question], lexical, random.Random(0), 0.0, shortened=True)
    short = next(p for p in pairs if p.kind == "shortened")
    assert short.label == 1 and short.question == "Who is the prime minister?"
    assert short.sentence[short.answer_start : short.answer_end] == "Irakli Kobakhidze"
    # the flag adds that pair and changes no other
    assert train_reader.make_pairs(corpus, [question], lexical, random.Random(0), 0.0) == [p for p in pairs if p.kind != "shortened"]
    windows = train_reader.PassageWindows(corpus, load_tokenizer(Path(train_reader.model_path()) / "tokenizer.json"))
    passages = train_reader.passage_pairs(corpus, [question], lexical, random.Random(0), windows, shortened=True)
    passage_short = next(p for p in passages if p.kind == "passage-shortened")
    assert passage_short.label == 1 and passage_short.sentence[passage_short.answer_start : passage_short.answer_end] == "Irakli Kobakhidze"
    assert train_reader.passage_pairs(corpus, [question], lexical, random.Random(0), windows) == [p for p in passages if p.kind != "passage-shortened"]


def test_passage_pairs_hold_the_answer_span_in_a_window_of_whole_sentences() -> None:
    import random

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader
    from qa.lexical import LexicalIndex
    from qa.reader import PASSAGE_MAX_LENGTH, load_tokenizer

    filler = [f"The island's {w} harvest of year {i} was shipped to merchants in Apia and sold across the Pacific." for i, w in enumerate(["coconut", "taro", "banana", "cocoa", "coffee", "rubber", "cotton", "yam", "breadfruit", "kava", "vanilla", "pepper"])]
    answer_sentence = "In the period before German colonisation, Samoa produced mostly copra."
    context = " ".join(filler[:6] + [answer_sentence] + filler[6:])
    start = context.index("copra")
    articles = [
        {"title": "Samoa", "paragraphs": [{"context": context, "qas": [
            {"question": "What did Samoa produce before German colonisation?", "answers": [{"text": "copra", "answer_start": start}]}]}]},
        {"title": "Tonga", "paragraphs": [{"context": "Tonga produced vanilla before colonisation. Its kings traded with Fiji.", "qas": []}]},
    ]
    corpus = train_reader.build_corpus(articles)
    tokenizer = load_tokenizer(Path(train_reader.model_path()) / "tokenizer.json")
    windows = train_reader.PassageWindows(corpus, tokenizer)
    question = corpus.questions[0]
    text, offset = windows.around(question.sentence)
    # whole sentences around the answer sentence, within the budget, fewer than the paragraph's
    assert text[offset : offset + len(answer_sentence)] == answer_sentence
    assert len(windows.tokenizer.encode(text, add_special_tokens=False).ids) <= train_reader.PASSAGE_TOKENS
    assert len(text) < len(context) and set(text.split(" ")) <= set(context.split(" "))
    assert answer_sentence in text and text.startswith("The island's") and text.endswith(".")

    lexical = LexicalIndex.build(corpus.sentences)
    pairs = train_reader.passage_pairs(corpus, [question], lexical, random.Random(0), windows)
    assert all(train_reader.is_passage(p) for p in pairs)
    positive = next(p for p in pairs if p.kind == "passage")
    assert positive.label == 1 and positive.sentence == text and positive.sentence[positive.answer_start : positive.answer_end] == "copra"
    altered = [p for p in pairs if p.kind not in ("passage", "passage-retrieved")]
    assert altered and all(p.label == 0 and p.sentence == text and p.question != question.question for p in altered)
    retrieved = next(p for p in pairs if p.kind == "passage-retrieved")
    assert retrieved.label == 0 and retrieved.title == "Tonga" and "copra" not in retrieved.sentence

    # A batch holding a passage is encoded with the passage tokenizer: nothing of the window is cut at 128.
    passage_tokenizer = load_tokenizer(Path(train_reader.model_path()) / "tokenizer.json", PASSAGE_MAX_LENGTH)
    encoded = train_reader.encode_batch([positive], tokenizer, passage_tokenizer)
    assert encoded.input_ids.shape[1] > 128
    first, last = train_reader.span_tokens(encoded, 0, positive.answer_start, positive.answer_end)
    assert first > 0 and tokenizer.decode(encoded.input_ids[0, first : last + 1].tolist()) == "copra"


def test_passage_reading_scores_the_answer_inside_the_chosen_sentence(tmp_path: Path) -> None:
    import shutil

    from qa.answering import AnswerModel, AnswerSettings
    from qa.reader_answerer import ReaderAnswerer, ReaderCalibration, confidence_feature_names, selection_feature_names

    for name in ("model.onnx", "tokenizer.json"):
        shutil.copyfile(MODEL_DIR / name, tmp_path / name)
    plain = tmp_path / "plain"  # the same weights, without a config that says they read passages
    plain.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        (plain / name).symlink_to(tmp_path / name)
    # Only a reader whose config says it was trained on passages reads them ...
    plain_reader = Reader(plain, threads=1)
    assert not plain_reader.reads_passages
    with pytest.raises(ValueError, match="not trained on passages"):
        plain_reader.read_passage("Who?", "Text.", "Title", [(0, 5)])
    config = json.loads((MODEL_DIR / "config.json").read_text())
    config["passage_input"] = "[CLS] question [SEP] passage [SEP] title [SEP]"
    (tmp_path / "config.json").write_text(json.dumps(config))
    reader = Reader(tmp_path, threads=1)
    assert reader.reads_passages
    passage = (
        "Georgia's prime minister Irakli Kobakhidze said on Monday that relations with Russia would not be restored. "
        "He spoke to reporters in Tbilisi. The Interfax news agency reported his remarks."
    )
    first = (0, passage.index(" He spoke"))
    second = (passage.index("He spoke"), passage.index(" The Interfax"))
    question = "Who is the prime minister of Georgia?"
    read = reader.read_passage(question, passage, "Georgia", [first, second])
    on_answer, elsewhere = read.sentence_span_scores
    assert on_answer == read.best_span_score > elsewhere
    assert read.best_span_score > read.null_score
    assert reader.read_passage(question, passage, "Georgia", [second]).sentence_span_scores == (elsewhere,)  # one score per sentence, alone or not
    off_topic = reader.read_passage("Who won the 2022 World Cup?", passage, "Georgia", [first])
    assert off_topic.relevance < read.relevance and off_topic.best_span_score - off_topic.null_score < read.best_span_score - read.null_score

    # ... and a calibration fitted with passage features keeps them, and refuses a reader that cannot give them.
    calibration = ReaderCalibration(confidence=(0.1,) * len(confidence_feature_names(True)), passages=True)
    calibration.save(tmp_path / "calibration.json")
    loaded = ReaderCalibration.load(tmp_path / "calibration.json")
    assert loaded.passages and len(loaded.confidence) == len(confidence_feature_names(False)) + 3
    with pytest.raises(ValueError, match="not trained on them"):
        ReaderAnswerer(AnswerModel.load(), AnswerSettings(), loaded, plain_reader)
    choosing = ReaderCalibration(selection=(0.1,) * len(selection_feature_names(True)), passage_choice=2)
    choosing.save(tmp_path / "calibration.json")
    reloaded = ReaderCalibration.load(tmp_path / "calibration.json")
    assert reloaded.passage_choice == 2 and reloaded.selection == choosing.selection
    with pytest.raises(ValueError, match="not trained on them"):
        ReaderAnswerer(AnswerModel.load(), AnswerSettings(), choosing, plain_reader)


def test_unanswerable_pairs_take_only_impossible_questions_of_the_chosen_articles(tmp_path: Path) -> None:
    """--unanswerable: real unanswerable questions of the chosen articles (file order) become negatives
    of the two paragraph sentences sharing most words with them, and of the window around the first;
    answerable questions and other articles' questions give none."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_reader
    from qa.reader import load_tokenizer

    def article(title: str, context: str, qas: list[tuple[str, str | None]]) -> dict:
        return {"title": title, "paragraphs": [{"context": context, "qas": [
            {"question": q, "answers": [a, a] if a else [], "is_impossible": a is None} for q, a in qas]}]}

    squad2 = {"articles": [
        article("Kelm", "Kelm is a river town in Vardia. The Zorb river flows through Kelm for 300 km. Its mayor is Ana Belt.",
                [("Which river flows through the capital?", None), ("Who is the mayor of Kelm?", "Ana Belt")]),
        article("Orla", "Orla is a mountain village. The village school opened in 1950.",
                [("When did the village school of Orla close?", None)]),
    ]}
    path = tmp_path / "squad2.json"
    path.write_text(json.dumps(squad2))
    tokenizer = load_tokenizer(Path(train_reader.model_path()) / "tokenizer.json")

    pairs = train_reader.unanswerable_pairs(path, {0}, tokenizer, passages=True)
    assert {p.question for p in pairs} == {"Which river flows through the capital?"}
    assert all(p.label == 0 and p.title == "Kelm" for p in pairs)
    sentences = [p.sentence for p in pairs if p.kind == "unanswerable"]
    assert sentences[0] == "The Zorb river flows through Kelm for 300 km." and len(sentences) == 2
    window = next(p.sentence for p in pairs if p.kind == "passage-unanswerable")
    assert sentences[0] in window and "Ana Belt" in window

    assert {p.question for p in train_reader.unanswerable_pairs(path, {1}, tokenizer, passages=False)} == {"When did the village school of Orla close?"}
    assert all(p.kind == "unanswerable" for p in train_reader.unanswerable_pairs(path, {0, 1}, tokenizer, passages=False))

    # --with-answerable: the same articles' answerable questions as positives, span and all
    both = train_reader.unanswerable_pairs(path, {0}, tokenizer, passages=True, answerable=True)
    positives = [p for p in both if p.label == 1]
    assert {p.kind for p in positives} == {"squad2-answerable", "passage-squad2-answerable"}
    assert all(p.question == "Who is the mayor of Kelm?" and p.sentence[p.answer_start : p.answer_end] == "Ana Belt" for p in positives)
    assert next(p.sentence for p in positives if p.kind == "squad2-answerable") == "Its mayor is Ana Belt."
    assert [p for p in both if p.label == 0] == pairs
