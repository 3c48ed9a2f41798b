"""The word lists shipped with the Wordle environment (no download at run time).

- `answers.txt`: 2,000 common 5-letter English words, the secrets are drawn from (sorted).
- `guesses.txt`: 2,329 further 5-letter words that are accepted as guesses but never secrets.

How they were built (once, on a developer machine; neither source is a runtime dependency):
the English word ranking of the `wordfreq` package (version 3.1.1, `top_n_list("en", 200000)`;
its data is CC BY-SA 4.0) was filtered to purely alphabetic lowercase 5-letter words that are
also lowercase entries of SCOWL's `wamerican` dictionary (Debian package 2020.12.07-2; this drops
names, which that list capitalises). A hand-written exclusion list removed slurs and sexual
terms, contractions and slang spellings ("gonna"), abbreviations, Roman numerals and common names
that survived the filter. The allowed guesses are all 4,329 remaining words. The answers are
the 2,000 most frequent of them that are not a simple inflection of another dictionary word
(a final -s/-es or -d/-ed added to a word in the dictionary: "years", "based"); the rest are
the extra guesses. The selection and both files are this project's own.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

WORD_LENGTH = 5


def _read(name: str) -> tuple[str, ...]:
    return tuple(files(__package__).joinpath(name).read_text(encoding="ascii").split())


@lru_cache(maxsize=1)
def answers() -> tuple[str, ...]:
    """The possible secrets, sorted; the seed picks one of them by index."""
    return _read("answers.txt")


@lru_cache(maxsize=1)
def allowed_guesses() -> frozenset[str]:
    """Every word accepted as a guess: the answers and the extra guesses."""
    return frozenset(answers()) | frozenset(_read("guesses.txt"))
