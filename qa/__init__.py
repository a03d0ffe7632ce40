"""qa: answers questions from a folder of articles, with citations.

    from qa import QA
    qa = QA.from_folder("corpus")
    answer = qa.ask("Who is the prime minister of Georgia?")
"""
from .facade import QA, IndexReport, QuestionError, UploadTooLarge
from .settings import Settings
from .types import Answer, Article, Citation, Hit, Passage, SkippedFile

__all__ = [
    "QA",
    "Answer",
    "Article",
    "Citation",
    "Hit",
    "IndexReport",
    "Passage",
    "QuestionError",
    "Settings",
    "SkippedFile",
    "UploadTooLarge",
]
