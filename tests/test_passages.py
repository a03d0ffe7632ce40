"""Passages: exact offsets, sentence spans, never over the model's window, nothing lost."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.passages import PassageSettings, paragraphs, sentences, split_article
from qa.readers import article_id
from qa.types import Article

from conftest import SEED

SETTINGS = PassageSettings()


def make_article(text: str) -> Article:
    return Article(id=article_id(text[:20]), title="t", text=text, source="s", path="s.txt")


def check_split(article: Article, embedder, settings: PassageSettings = SETTINGS) -> None:
    split = split_article(article, embedder, settings)
    text = article.text
    covered = [False] * len(text)
    for passage, (first, last) in zip(split.passages, split.passage_sentences):
        assert passage.article_id == article.id
        assert text[passage.start : passage.end] == passage.text
        assert passage.sentences == tuple(split.sentences[first:last])
        for a, b in passage.sentences:
            assert passage.start <= a < b <= passage.end
            assert text[a:b] == text[a:b].strip()
        for i in range(passage.start, passage.end):
            covered[i] = True
    # Nothing but white space falls outside every passage.
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))
    # No passage is silently truncated by the model (which reads embedder.max_tokens word pieces).
    counts = embedder.count_tokens([p.text for p in split.passages])
    assert all(c <= embedder.max_tokens for c in counts), counts
    assert all(c <= settings.max_tokens for c in counts), counts


def test_seed_article_passages(embedder) -> None:
    article = make_article(SEED.read_text(encoding="utf-8"))
    split = split_article(article, embedder, SETTINGS)
    check_split(article, embedder)
    assert 2 <= len(split.passages) <= 6
    texts = [article.text[a:b] for a, b in split.sentences]
    assert "This matter is not open for negotiation.”" in texts
    assert any(t.startswith("According to Georgia’s national statistics service") for t in texts)


def test_paragraphs_follow_blank_lines_or_lines() -> None:
    text = "One.\nstill one.\n\nTwo.\n  \n\nThree."
    assert [text[a:b] for a, b in paragraphs(text)] == ["One.\nstill one.", "Two.", "Three."]
    lines = "First line.\nSecond line.\n"
    assert [lines[a:b] for a, b in paragraphs(lines)] == ["First line.", "Second line."]


def test_sentences_cover_the_text() -> None:
    text = "Dr. Smith arrived at 5 p.m. on Monday. He left. Was it late? Yes!"
    spans = sentences(text, 0, len(text))
    assert len(spans) >= 3
    assert "".join(text[a:b] for a, b in spans).replace(" ", "") == text.replace(" ", "")


def test_long_paragraph_is_windowed_with_overlap(embedder) -> None:
    body = " ".join(f"Sentence number {i} talks about topic {i} in some detail here." for i in range(80))
    article = make_article(body)
    split = split_article(article, embedder, SETTINGS)
    check_split(article, embedder)
    assert len(split.passages) > 3
    ranges = split.passage_sentences
    assert any(a < prev_end for (_, prev_end), (a, _) in zip(ranges, ranges[1:])), "windows should overlap"


def test_giant_sentence_is_cut_within_the_window(embedder) -> None:
    text = "Intro line.\n\n" + " ".join(f"word{i} and antidisestablishmentarianism" for i in range(700))
    article = make_article(text)
    check_split(article, embedder)


def test_short_paragraphs_are_merged(embedder) -> None:
    text = "\n\n".join(f"Short paragraph {i}." for i in range(10))
    split = split_article(make_article(text), embedder, SETTINGS)
    assert len(split.passages) == 1
    assert split.passages[0].text == text


sentence = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=0, max_size=80
)
article_texts = st.lists(
    st.tuples(st.lists(sentence, min_size=1, max_size=8), st.sampled_from([" ", ". ", "! ", "\n"])),
    min_size=1,
    max_size=8,
).map(lambda paras: "\n\n".join(sep.join(sents) for sents, sep in paras))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=article_texts, max_tokens=st.sampled_from([16, 64, 200]))
def test_offsets_round_trip_on_arbitrary_unicode(embedder, text: str, max_tokens: int) -> None:
    if not text.strip():
        return
    check_split(make_article(text), embedder, PassageSettings(max_tokens=max_tokens))
