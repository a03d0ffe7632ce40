"""Questions made from an article's own sentences, for example and follow-up questions.

Why: the chat offers example questions and follow-ups, and they must be ones the loaded articles
answer (fixed examples about one article answered "Not found" on any other corpus). The engine has
no generative model, so a question is made by the one rewrite that needs no grammar model: the
sentence's subject is replaced by "Who" or "What" ("The city council approved a 420 million lari
extension" → "Who approved a 420 million lari extension?"). The verb is found with a short list of
common verbs and auxiliaries, or a past-tense "-ed" word. Sentences this cannot handle (quotes,
questions, pronoun subjects, lists, very short or long ones) give None. `QA.example_questions`
keeps a question only when the engine answers it from the sentence it came from.
"""
from __future__ import annotations

import re

MAX_WORDS = 18  # of the question's predicate; longer ones are cut at a comma or dropped

_VERBS = frozenset(
    """is was are were has have had will would can could may might must should shall
    says said tells told announces announced reports reported adds added notes noted warns warned
    plans planned remains remained becomes became makes made takes took gives gave gets got
    holds held leads led runs ran sets set wants wanted signs signed""".split()
)
_SPEECH = frozenset("says said tells told announces announced reports reported adds added notes noted warns warned".split())
_NOT_SUBJECT = frozenset(
    """he she it they we i you this that these those there here but and or so however also then
    meanwhile still yet his her its their our my your if when while although because as since""".split()
)
_ARTICLES = frozenset("the a an".split())
_LEADS = frozenset("since in on at after before during earlier later last this by for according".split())
_CLAUSES = frozenset("unless because although though while when whereas after before since until which who where".split())
_FUNCTION = frozenset(
    """of to in on at for by with from and or but as the a an that which who whose where when than
    and's s""".split()
)
_BEFORE_NOUN = frozenset("the a an of to in on at for by with from its their his her this that".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'’.-]*")


def question_from_sentence(sentence: str) -> str | None:
    """A Who/What question whose answer is the subject of `sentence`, or None when the sentence does
    not lend itself to one."""
    text = " ".join((sentence or "").split())
    if not text or text[-1] not in ".;" or any(ch in text for ch in '?!"“”:()[]'):
        return None
    words = text[:-1].split(" ")
    lead = next((i for i, w in enumerate(words[:6]) if w.endswith(",")), None)
    if lead is not None and words[0].lower() in _LEADS and lead + 1 < len(words):
        words = words[lead + 1 :]  # "Since 2008, Russia has provided ..." → "Russia has provided ..."
    if not 6 <= len(words) <= 40 or not words[0][:1].isupper():
        return None
    if words[0].lower().strip(",") in _NOT_SUBJECT:
        return None
    verb = None
    for i in range(1, min(len(words) - 3, 9)):
        word = words[i]
        if not _WORD.fullmatch(word) or word[:1].isupper():
            if "," in word:
                break  # an appositive or a clause: the subject is not a simple phrase
            continue
        lower = word.lower()
        if lower in _VERBS or (lower.endswith("ed") and len(lower) > 4 and words[i - 1].lower() not in _BEFORE_NOUN):
            verb = i
            break
    if verb is None and _WORD.fullmatch(words[1]) and words[1].islower() and words[1] not in _FUNCTION and words[0].lower() not in _ARTICLES:
        verb = 1  # a name and then a lowercase word: "Tbilisi cut its ties ..."
    if verb is None:
        return None
    subject, predicate = words[:verb], words[verb:]
    if any(w.endswith(",") for w in subject):
        return None
    if len(predicate) > MAX_WORDS:
        # Keep the main clause: cut at a comma or before a subordinate clause.
        cut = next((j for j, w in enumerate(predicate) if j >= 4 and (w.endswith(",") or predicate[j + 1 : j + 2] and predicate[j + 1].lower() in _CLAUSES)), None)
        if cut is None or cut + 1 > MAX_WORDS:
            return None
        predicate = predicate[: cut + 1]
    rest = " ".join(predicate).rstrip(",;")
    return f"{'Who' if _is_actor(subject, predicate[0]) else 'What'} {rest}?"


def _is_actor(subject: list[str], verb: str) -> bool:
    """Whether the subject reads as someone (a name, an organisation) rather than something."""
    if verb.lower() in _SPEECH:
        return True
    names = [w for w in subject[1:] if w[:1].isupper()]
    if names:
        return True
    return len(subject) == 1 and subject[0].lower() not in _ARTICLES
