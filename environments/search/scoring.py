"""Answer scoring for question answering: normalised exact match and token F1.

Normalisation as in SQuAD's evaluation (and Search-R1's and IGPO's rewards, which use it):
lower case, drop punctuation, drop the articles "a", "an", "the", collapse whitespace. A
prediction is scored against every accepted answer (the canonical one and its aliases) and
keeps the best score.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation + "‘’“”–—")


def normalize_answer(text: str) -> str:
    """`text` lower-cased, without punctuation or articles, single-spaced."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Iterable[str]) -> float:
    """1.0 if the normalised prediction equals a normalised accepted answer, else 0.0."""
    predicted = normalize_answer(prediction)
    return float(any(predicted == normalize_answer(answer) for answer in answers))


def f1_score(prediction: str, answers: Iterable[str]) -> float:
    """The best token-level F1 between the normalised prediction and an accepted answer."""
    predicted = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        if not predicted or not gold:
            best = max(best, float(predicted == gold))
            continue
        common = sum((Counter(predicted) & Counter(gold)).values())
        if common:
            precision, recall = common / len(predicted), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best
