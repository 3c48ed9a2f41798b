"""The source of the shipped task set: `python -m agentgym.environments.code.authoring` rewrites
`tasks.json` from the definitions below. Every task here was written for agentgym.

A definition gives the stub and description (`prompt`), a reference `solution`, the visible
tests (asserts with hand-written expected values) and the hidden tests: an assert or a snippet is
kept as written, and a bare call expression becomes `assert CALL == EXPECTED` with EXPECTED
computed by the reference solution. Building checks that the reference passes every test and that
every test has a form the grader verifies outside the solution's process (`checks.py`: an
expression and a literal, or a call that must raise). Importing this module only defines data;
nothing runs (it imports `checks`, which is data and parsing only).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from agentgym.environments.code.checks import parse_check

T: list[dict[str, Any]] = []


def task(task_id, difficulty, tags, prompt, solution, visible, hidden, entry_point=None):
    T.append(
        dict(
            task_id=task_id,
            difficulty=difficulty,
            tags=tags,
            prompt=textwrap.dedent(prompt).strip("\n") + "\n",
            solution=textwrap.dedent(solution).strip("\n") + "\n",
            visible=visible,
            hidden=hidden,
            entry_point=entry_point,
        )
    )


def raises(call: str, error: str) -> str:
    """A test that passes when `call` raises `error`."""
    message = f"{call} should raise {error}"
    return f"try:\n    {call}\nexcept {error}:\n    pass\nelse:\n    raise AssertionError({message!r})"


# ---------------------------------------------------------------------------------- easy

task(
    "count-vowels",
    "easy",
    ["strings"],
    '''
def count_vowels(text: str) -> int:
    """Return how many vowels (a, e, i, o, u, upper or lower case) occur in `text`."""
''',
    """
def count_vowels(text: str) -> int:
    return sum(1 for ch in text.lower() if ch in "aeiou")
""",
    ["assert count_vowels('Banana') == 3", "assert count_vowels('rhythm') == 0"],
    [
        "count_vowels('')",
        "count_vowels('AEIOU aeiou')",
        "count_vowels('Hello, World!')",
        "count_vowels('xyz Y')",
        "count_vowels('Queueing')",
        "count_vowels('1234')",
    ],
)

task(
    "capitalize-words",
    "easy",
    ["strings"],
    '''
def capitalize_words(sentence: str) -> str:
    """Upper-case the first character of every word and lower-case the rest of it.

    Words are separated by single spaces; keep every space exactly where it is (also repeated,
    leading or trailing spaces).
    """
''',
    """
def capitalize_words(sentence: str) -> str:
    return " ".join(word[:1].upper() + word[1:].lower() for word in sentence.split(" "))
""",
    [
        "assert capitalize_words('hello world') == 'Hello World'",
        "assert capitalize_words('mIxEd cAsE') == 'Mixed Case'",
    ],
    [
        "capitalize_words('')",
        "capitalize_words('  two  spaces ')",
        "capitalize_words('a')",
        "capitalize_words('42 apples')",
        "capitalize_words('ÉCOLE normale')",
        "capitalize_words('x y z')",
    ],
)

task(
    "clamp",
    "easy",
    ["math"],
    '''
def clamp(value: int, low: int, high: int) -> int:
    """Return `value` limited to the range [low, high]. If low > high, raise ValueError."""
''',
    """
def clamp(value: int, low: int, high: int) -> int:
    if low > high:
        raise ValueError("low must not exceed high")
    return max(low, min(value, high))
""",
    ["assert clamp(5, 0, 10) == 5", "assert clamp(-3, 0, 10) == 0", "assert clamp(99, 0, 10) == 10"],
    [
        "clamp(0, 0, 0)",
        "clamp(7, 7, 9)",
        "clamp(10, -5, -1)",
        "clamp(-10, -5, -1)",
        "clamp(3, 3, 3)",
        raises("clamp(1, 5, 2)", "ValueError"),
    ],
)

task(
    "second-largest",
    "easy",
    ["lists"],
    '''
def second_largest(numbers: list[int]) -> int | None:
    """Return the largest value that is strictly smaller than the maximum of `numbers`,
    or None when there is no such value (empty list, or all values equal)."""
''',
    """
def second_largest(numbers: list[int]) -> int | None:
    distinct = sorted(set(numbers))
    return distinct[-2] if len(distinct) >= 2 else None
""",
    ["assert second_largest([4, 1, 9, 7]) == 7", "assert second_largest([5, 5]) is None"],
    [
        "second_largest([])",
        "second_largest([1])",
        "second_largest([9, 9, 8, 8])",
        "second_largest([-1, -2, -3])",
        "second_largest([3, 1, 3, 2, 3])",
        "second_largest([0, 100])",
    ],
)

task(
    "phrase-palindrome",
    "easy",
    ["strings"],
    '''
def is_phrase_palindrome(text: str) -> bool:
    """True when `text` reads the same backwards after dropping every character that is not a
    letter or a digit and ignoring case. An empty phrase is a palindrome."""
''',
    """
def is_phrase_palindrome(text: str) -> bool:
    kept = [ch.lower() for ch in text if ch.isalnum()]
    return kept == kept[::-1]
""",
    ["assert is_phrase_palindrome('Step on no pets!') is True", "assert is_phrase_palindrome('Palindrome') is False"],
    [
        "is_phrase_palindrome('')",
        "is_phrase_palindrome('..,')",
        "is_phrase_palindrome('No lemon, no melon')",
        "is_phrase_palindrome('12 3 21')",
        "is_phrase_palindrome('ab')",
        "is_phrase_palindrome('A1b2B1a')",
    ],
)

task(
    "tri-sept",
    "easy",
    ["lists", "strings"],
    '''
def tri_sept(n: int) -> list[str]:
    """Return labels for the numbers 1..n: "TriSept" for multiples of both 3 and 7, "Tri" for
    other multiples of 3, "Sept" for other multiples of 7, and the number itself (as text)
    otherwise."""
''',
    """
def tri_sept(n: int) -> list[str]:
    labels = []
    for number in range(1, n + 1):
        label = ("Tri" if number % 3 == 0 else "") + ("Sept" if number % 7 == 0 else "")
        labels.append(label or str(number))
    return labels
""",
    ["assert tri_sept(3) == ['1', '2', 'Tri']", "assert tri_sept(7)[-1] == 'Sept'"],
    ["tri_sept(0)", "tri_sept(1)", "tri_sept(21)[-1]", "tri_sept(22)", "len(tri_sept(100))", "tri_sept(42)[41]"],
)

task(
    "digit-sum",
    "easy",
    ["math"],
    '''
def digit_sum(n: int) -> int:
    """Return the sum of the decimal digits of `n` (the sign is ignored)."""
''',
    """
def digit_sum(n: int) -> int:
    return sum(int(d) for d in str(abs(n)))
""",
    ["assert digit_sum(1234) == 10", "assert digit_sum(-75) == 12"],
    ["digit_sum(0)", "digit_sum(9)", "digit_sum(1000001)", "digit_sum(-999)", "digit_sum(2**64)", "digit_sum(10)"],
)

task(
    "running-total",
    "easy",
    ["lists"],
    '''
def running_total(numbers: list[int]) -> list[int]:
    """Return the list whose i-th item is the sum of numbers[0..i]."""
''',
    """
def running_total(numbers: list[int]) -> list[int]:
    totals, total = [], 0
    for number in numbers:
        total += number
        totals.append(total)
    return totals
""",
    ["assert running_total([1, 2, 3]) == [1, 3, 6]", "assert running_total([]) == []"],
    [
        "running_total([5])",
        "running_total([-1, 1, -1, 1])",
        "running_total([0, 0, 0])",
        "running_total(list(range(10)))",
        "running_total([100, -250, 75])",
    ],
)

task(
    "word-counts",
    "easy",
    ["strings", "dicts"],
    '''
def word_counts(text: str) -> dict[str, int]:
    """Count the words of `text`. Words are separated by whitespace; strip the characters
    . , ! ? ; : from both ends of each word, lower-case it, and skip words left empty."""
''',
    """
def word_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for raw in text.split():
        word = raw.strip(".,!?;:").lower()
        if word:
            counts[word] = counts.get(word, 0) + 1
    return counts
""",
    ["assert word_counts('The cat, the hat.') == {'the': 2, 'cat': 1, 'hat': 1}", "assert word_counts('') == {}"],
    [
        "word_counts('Go! go? GO...')",
        "word_counts(' , ; ')",
        "word_counts('one\\ttwo\\nthree two')",
        "word_counts(\"don't stop, don't\")",
        "word_counts('a.b a')",
    ],
)

task(
    "flatten-once",
    "easy",
    ["lists"],
    '''
def flatten_once(items: list) -> list:
    """Return a new list where every item of `items` that is itself a list is replaced by its
    elements (one level only; deeper lists stay lists). Other items are kept as they are."""
''',
    """
def flatten_once(items: list) -> list:
    flat = []
    for item in items:
        if isinstance(item, list):
            flat.extend(item)
        else:
            flat.append(item)
    return flat
""",
    ["assert flatten_once([1, [2, 3], 4]) == [1, 2, 3, 4]", "assert flatten_once([[1, [2]]]) == [1, [2]]"],
    [
        "flatten_once([])",
        "flatten_once([[], []])",
        "flatten_once(['ab', ['c']])",
        "flatten_once([(1, 2), [3]])",
        "flatten_once([[[[]]]])",
    ],
)

task(
    "clock-format",
    "easy",
    ["strings", "math"],
    '''
def clock_format(seconds: int) -> str:
    """Format a non-negative number of seconds as "H:MM:SS" (hours are not limited to 24 and
    have no leading zero)."""
''',
    """
def clock_format(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
""",
    ["assert clock_format(3725) == '1:02:05'", "assert clock_format(59) == '0:00:59'"],
    [
        "clock_format(0)",
        "clock_format(3600)",
        "clock_format(86399)",
        "clock_format(90061)",
        "clock_format(360000)",
        "clock_format(61)",
    ],
)

task(
    "dedupe",
    "easy",
    ["lists"],
    '''
def dedupe(items: list) -> list:
    """Return the items without repeats, keeping the first occurrence of each, in order.
    Items are hashable."""
''',
    """
def dedupe(items: list) -> list:
    seen = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result
""",
    ["assert dedupe([3, 1, 3, 2, 1]) == [3, 1, 2]", "assert dedupe([]) == []"],
    [
        "dedupe(['a', 'A', 'a'])",
        "dedupe([1, 1, 1])",
        "dedupe([(1, 2), (1, 2), (2, 1)])",
        "dedupe(list('mississippi'))",
        "dedupe([None, 0, None])",
    ],
)

task(
    "max-step",
    "easy",
    ["lists"],
    '''
def max_step(values: list[int]) -> int:
    """Return the largest absolute difference between two neighbouring values, 0 when there are
    fewer than two values."""
''',
    """
def max_step(values: list[int]) -> int:
    return max((abs(b - a) for a, b in zip(values, values[1:])), default=0)
""",
    ["assert max_step([1, 4, 2]) == 3", "assert max_step([7]) == 0"],
    [
        "max_step([])",
        "max_step([5, 5, 5])",
        "max_step([-10, 10])",
        "max_step([1, 2, 3, 100, 99])",
        "max_step([0, -7, 0])",
    ],
)

task(
    "initials",
    "easy",
    ["strings"],
    '''
def initials(name: str) -> str:
    """Return the upper-cased first letter of each whitespace-separated part of `name`, each
    followed by a dot, e.g. "ada king" -> "A.K."."""
''',
    """
def initials(name: str) -> str:
    return "".join(part[0].upper() + "." for part in name.split())
""",
    ["assert initials('ada lovelace king') == 'A.L.K.'", "assert initials('') == ''"],
    [
        "initials('x')",
        "initials('  grace   hopper ')",
        "initials('Jean-Luc picard')",
        "initials('a b c d e')",
        "initials('émile zola')",
    ],
)

task(
    "reverse-digits",
    "easy",
    ["math"],
    '''
def reverse_digits(n: int) -> int:
    """Reverse the decimal digits of `n`, keeping its sign (leading zeros of the result
    vanish): -120 -> -21."""
''',
    """
def reverse_digits(n: int) -> int:
    sign = -1 if n < 0 else 1
    return sign * int(str(abs(n))[::-1])
""",
    ["assert reverse_digits(123) == 321", "assert reverse_digits(-120) == -21"],
    [
        "reverse_digits(0)",
        "reverse_digits(5)",
        "reverse_digits(1000)",
        "reverse_digits(-9)",
        "reverse_digits(1234567890)",
    ],
)

task(
    "chunks",
    "easy",
    ["lists"],
    '''
def chunks(items: list, size: int) -> list[list]:
    """Split `items` into consecutive lists of `size` items (the last one may be shorter).
    Raise ValueError when size < 1."""
''',
    """
def chunks(items: list, size: int) -> list[list]:
    if size < 1:
        raise ValueError("size must be at least 1")
    return [items[i : i + size] for i in range(0, len(items), size)]
""",
    ["assert chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]", "assert chunks([], 3) == []"],
    [
        "chunks([1, 2, 3], 3)",
        "chunks([1, 2, 3], 5)",
        "chunks(list('abcdef'), 1)",
        "chunks([0] * 7, 3)",
        raises("chunks([1], 0)", "ValueError"),
        raises("chunks([1], -2)", "ValueError"),
    ],
)

task(
    "hamming",
    "easy",
    ["strings"],
    '''
def hamming(a: str, b: str) -> int:
    """Return the number of positions where `a` and `b` differ. Raise ValueError if their
    lengths differ."""
''',
    """
def hamming(a: str, b: str) -> int:
    if len(a) != len(b):
        raise ValueError("lengths differ")
    return sum(x != y for x, y in zip(a, b))
""",
    ["assert hamming('karolin', 'kathrin') == 3", "assert hamming('', '') == 0"],
    [
        "hamming('a', 'a')",
        "hamming('abc', 'ABC')",
        "hamming('0000', '1111')",
        "hamming('GATTACA', 'GACTATA')",
        raises("hamming('ab', 'a')", "ValueError"),
    ],
)

task(
    "mask-secret",
    "easy",
    ["strings"],
    '''
def mask_secret(secret: str) -> str:
    """Replace every character except the last four with '#'. Strings of four characters or
    fewer are returned unchanged."""
''',
    """
def mask_secret(secret: str) -> str:
    if len(secret) <= 4:
        return secret
    return "#" * (len(secret) - 4) + secret[-4:]
""",
    ["assert mask_secret('4556364607935616') == '############5616'", "assert mask_secret('abc') == 'abc'"],
    [
        "mask_secret('')",
        "mask_secret('abcd')",
        "mask_secret('abcde')",
        "mask_secret('  1234')",
        "mask_secret('#' * 6 + 'x')",
    ],
)

# -------------------------------------------------------------------------------- medium

task(
    "rle-encode",
    "medium",
    ["strings"],
    '''
def rle_encode(text: str) -> str:
    """Run-length encode `text`: each maximal run of one character becomes its length followed
    by the character, e.g. "aaabcc" -> "3a1b2c". `text` contains no digits."""
''',
    """
def rle_encode(text: str) -> str:
    parts = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and text[j] == text[i]:
            j += 1
        parts.append(f"{j - i}{text[i]}")
        i = j
    return "".join(parts)
""",
    ["assert rle_encode('aaabcc') == '3a1b2c'", "assert rle_encode('') == ''"],
    [
        "rle_encode('a')",
        "rle_encode('abab')",
        "rle_encode('z' * 12)",
        "rle_encode('  xx ')",
        "rle_encode('aAaA')",
        "rle_encode('bbbbbbbbbbbc')",
    ],
)

task(
    "rle-decode",
    "medium",
    ["strings", "parsing"],
    '''
def rle_decode(code: str) -> str:
    """Invert run-length encoding: "3a1b2c" -> "aaabcc". A count may have several digits
    ("12x"); every count is followed by exactly one non-digit character."""
''',
    """
def rle_decode(code: str) -> str:
    out, count = [], ""
    for ch in code:
        if ch.isdigit():
            count += ch
        else:
            out.append(ch * int(count))
            count = ""
    return "".join(out)
""",
    ["assert rle_decode('3a1b2c') == 'aaabcc'", "assert rle_decode('12x') == 'xxxxxxxxxxxx'"],
    [
        "rle_decode('')",
        "rle_decode('1a')",
        "rle_decode('2 1-')",
        "rle_decode('10a10b')",
        "rle_decode('1a1A1a')",
        "len(rle_decode('100z1y'))",
    ],
)

task(
    "brackets-balanced",
    "medium",
    ["strings", "stacks"],
    '''
def brackets_balanced(text: str) -> bool:
    """True when the brackets (), [] and {} in `text` are balanced and properly nested; other
    characters are ignored."""
''',
    """
def brackets_balanced(text: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack
""",
    ["assert brackets_balanced('f(a[1], {b: 2})') is True", "assert brackets_balanced('([)]') is False"],
    [
        "brackets_balanced('')",
        "brackets_balanced('(((')",
        "brackets_balanced(')(')",
        "brackets_balanced('{[()()]}x')",
        "brackets_balanced('no brackets')",
        "brackets_balanced('(]')",
        "brackets_balanced('[' * 50 + ']' * 50)",
    ],
)

task(
    "caesar",
    "medium",
    ["strings"],
    '''
def caesar(text: str, shift: int) -> str:
    """Shift every ASCII letter of `text` by `shift` places in the alphabet, wrapping around and
    keeping its case; other characters are unchanged. `shift` may be negative or large."""
''',
    """
def caesar(text: str, shift: int) -> str:
    out = []
    for ch in text:
        if "a" <= ch <= "z":
            out.append(chr((ord(ch) - 97 + shift) % 26 + 97))
        elif "A" <= ch <= "Z":
            out.append(chr((ord(ch) - 65 + shift) % 26 + 65))
        else:
            out.append(ch)
    return "".join(out)
""",
    ["assert caesar('abc', 1) == 'bcd'", "assert caesar('Zebra!', 2) == 'Bgdtc!'"],
    [
        "caesar('', 5)",
        "caesar('Hello, World', 0)",
        "caesar('Hello, World', 26)",
        "caesar('abc', -1)",
        "caesar('xyz', 1000)",
        "caesar('Ünïcode a', 1)",
    ],
)

task(
    "merge-intervals",
    "medium",
    ["lists", "sorting"],
    '''
def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping or touching closed intervals (start <= end) and return them sorted by
    start, as tuples: [(1, 3), (2, 6), (8, 9), (9, 10)] -> [(1, 6), (8, 10)]."""
''',
    """
def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]
""",
    [
        "assert merge_intervals([(1, 3), (2, 6), (8, 9), (9, 10)]) == [(1, 6), (8, 10)]",
        "assert merge_intervals([]) == []",
    ],
    [
        "merge_intervals([(5, 5)])",
        "merge_intervals([(4, 8), (1, 2)])",
        "merge_intervals([(1, 10), (2, 3), (4, 5)])",
        "merge_intervals([(-5, -1), (-1, 0), (2, 2)])",
        "merge_intervals([(3, 4), (1, 2), (2, 3)])",
    ],
)

task(
    "anagram-groups",
    "medium",
    ["strings", "dicts"],
    '''
def anagram_groups(words: list[str]) -> list[list[str]]:
    """Group words that are anagrams of each other (same letters, same counts; case matters).
    Groups appear in the order of their first word in `words`; within a group words keep their
    order in `words` (repeats included)."""
''',
    """
def anagram_groups(words: list[str]) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for word in words:
        groups.setdefault("".join(sorted(word)), []).append(word)
    return list(groups.values())
""",
    [
        "assert anagram_groups(['listen', 'enlist', 'google', 'silent']) == [['listen', 'enlist', 'silent'], ['google']]",
        "assert anagram_groups([]) == []",
    ],
    [
        "anagram_groups(['a'])",
        "anagram_groups(['ab', 'ba', 'ab'])",
        "anagram_groups(['Ab', 'bA', 'ab'])",
        "anagram_groups(['', ''])",
        "anagram_groups(['stop', 'pots', 'tops', 'spot', 'opts', 'post', 'x'])",
    ],
)

task(
    "to-roman",
    "medium",
    ["math", "strings"],
    '''
def to_roman(number: int) -> str:
    """Write 1 <= number <= 3999 in Roman numerals, using the subtractive forms (IV, IX, XL,
    XC, CD, CM). Raise ValueError outside that range."""
''',
    """
def to_roman(number: int) -> str:
    if not 1 <= number <= 3999:
        raise ValueError("out of range")
    symbols = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
               (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for value, symbol in symbols:
        count, number = divmod(number, value)
        out.append(symbol * count)
    return "".join(out)
""",
    ["assert to_roman(1994) == 'MCMXCIV'", "assert to_roman(4) == 'IV'"],
    [
        "to_roman(1)",
        "to_roman(3999)",
        "to_roman(444)",
        "to_roman(2024)",
        "to_roman(90)",
        raises("to_roman(0)", "ValueError"),
        raises("to_roman(4000)", "ValueError"),
    ],
)

task(
    "parse-duration",
    "medium",
    ["parsing", "strings"],
    '''
def parse_duration(text: str) -> int:
    """Return the number of seconds in a duration such as "1h30m", "45s" or "2h5s": up to three
    parts, each a non-negative integer followed by h, m or s, in that order, each unit at most
    once, no spaces. Raise ValueError for anything else (including the empty string)."""
''',
    """
import re

_DURATION = re.compile(r"(?:(\\d+)h)?(?:(\\d+)m)?(?:(\\d+)s)?")


def parse_duration(text: str) -> int:
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"not a duration: {text!r}")
    hours, minutes, seconds = (int(part) if part else 0 for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds
""",
    ["assert parse_duration('1h30m') == 5400", "assert parse_duration('45s') == 45"],
    [
        "parse_duration('2h5s')",
        "parse_duration('0h0m0s')",
        "parse_duration('90m')",
        "parse_duration('1h1m1s')",
        raises("parse_duration('')", "ValueError"),
        raises("parse_duration('5m1h')", "ValueError"),
        raises("parse_duration('1 h')", "ValueError"),
        raises("parse_duration('3d')", "ValueError"),
    ],
)

task(
    "top-words",
    "medium",
    ["dicts", "sorting"],
    '''
def top_words(words: list[str], k: int) -> list[str]:
    """Return the k most frequent words, most frequent first; words equally frequent are in
    alphabetical order. If there are fewer than k distinct words, return all of them."""
''',
    """
from collections import Counter


def top_words(words: list[str], k: int) -> list[str]:
    counts = Counter(words)
    return sorted(counts, key=lambda word: (-counts[word], word))[:k]
""",
    ["assert top_words(['b', 'a', 'b', 'c', 'a', 'b'], 2) == ['b', 'a']", "assert top_words([], 3) == []"],
    [
        "top_words(['x', 'y', 'z'], 2)",
        "top_words(['x'], 0)",
        "top_words(['pear', 'fig', 'fig', 'pear', 'kiwi'], 5)",
        "top_words(list('mississippi'), 3)",
        "top_words(['B', 'a', 'b', 'A'], 4)",
    ],
)

task(
    "rotate-grid",
    "medium",
    ["lists", "matrices"],
    '''
def rotate_grid(grid: list[list[int]]) -> list[list[int]]:
    """Return a new grid: `grid` (a rectangle of rows) turned 90 degrees clockwise. The input is
    not modified. An empty grid gives []."""
''',
    """
def rotate_grid(grid: list[list[int]]) -> list[list[int]]:
    return [list(row) for row in zip(*grid[::-1])]
""",
    ["assert rotate_grid([[1, 2], [3, 4]]) == [[3, 1], [4, 2]]", "assert rotate_grid([[1, 2, 3]]) == [[1], [2], [3]]"],
    [
        "rotate_grid([])",
        "rotate_grid([[7]])",
        "rotate_grid([[1], [2], [3]])",
        "rotate_grid([[1, 2, 3], [4, 5, 6], [7, 8, 9]])",
        "(lambda g: (rotate_grid(g), g)[-1])([[1, 2], [3, 4]])",
    ],
)

task(
    "spiral",
    "medium",
    ["lists", "matrices"],
    '''
def spiral(grid: list[list[int]]) -> list[int]:
    """Return the values of a rectangular grid read clockwise in a spiral from the top-left
    corner: first the top row left to right, then down the right column, and so on inwards."""
''',
    """
def spiral(grid: list[list[int]]) -> list[int]:
    out = []
    rows = [list(row) for row in grid]
    while rows:
        out.extend(rows.pop(0))
        rows = [list(row) for row in zip(*rows)][::-1]
    return out
""",
    ["assert spiral([[1, 2, 3], [4, 5, 6], [7, 8, 9]]) == [1, 2, 3, 6, 9, 8, 7, 4, 5]", "assert spiral([]) == []"],
    [
        "spiral([[1]])",
        "spiral([[1, 2, 3, 4]])",
        "spiral([[1], [2], [3]])",
        "spiral([[1, 2], [3, 4], [5, 6]])",
        "spiral([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])",
    ],
)

task(
    "wrap-text",
    "medium",
    ["strings"],
    '''
def wrap_text(text: str, width: int) -> list[str]:
    """Greedily wrap the whitespace-separated words of `text` into lines of at most `width`
    characters, words joined by single spaces. A word longer than `width` gets a line of its
    own (unbroken). No text gives []."""
''',
    """
def wrap_text(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines
""",
    ["assert wrap_text('the quick brown fox', 10) == ['the quick', 'brown fox']", "assert wrap_text('', 5) == []"],
    [
        "wrap_text('a b c', 1)",
        "wrap_text('supercalifragilistic is long', 8)",
        "wrap_text('  spaced   out  words ', 12)",
        "wrap_text('one two three four five six', 9)",
        "wrap_text('exact fit', 9)",
    ],
)

task(
    "ipv4-valid",
    "medium",
    ["parsing", "strings"],
    '''
def is_ipv4(address: str) -> bool:
    """True when `address` is a dotted IPv4 address: exactly four parts separated by dots, each
    made only of ASCII digits, with a value 0..255 and no leading zero (except "0" itself)."""
''',
    """
def is_ipv4(address: str) -> bool:
    parts = address.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part or not all("0" <= ch <= "9" for ch in part):
            return False
        if len(part) > 1 and part[0] == "0":
            return False
        if int(part) > 255:
            return False
    return True
""",
    ["assert is_ipv4('192.168.0.1') is True", "assert is_ipv4('256.1.1.1') is False"],
    [
        "is_ipv4('0.0.0.0')",
        "is_ipv4('255.255.255.255')",
        "is_ipv4('01.2.3.4')",
        "is_ipv4('1.2.3')",
        "is_ipv4('1.2.3.4.5')",
        "is_ipv4('1..2.3')",
        "is_ipv4('a.b.c.d')",
        "is_ipv4(' 1.2.3.4')",
        "is_ipv4('1.2.3.-4')",
        "is_ipv4('١.2.3.4')",
    ],
)

task(
    "next-permutation",
    "medium",
    ["lists", "algorithms"],
    '''
def next_permutation(values: list[int]) -> list[int]:
    """Return the next arrangement of `values` in lexicographic order; after the largest one,
    return the smallest (sorted ascending). Values may repeat. Return a new list."""
''',
    """
def next_permutation(values: list[int]) -> list[int]:
    items = list(values)
    i = len(items) - 2
    while i >= 0 and items[i] >= items[i + 1]:
        i -= 1
    if i < 0:
        return sorted(items)
    j = len(items) - 1
    while items[j] <= items[i]:
        j -= 1
    items[i], items[j] = items[j], items[i]
    items[i + 1 :] = reversed(items[i + 1 :])
    return items
""",
    ["assert next_permutation([1, 2, 3]) == [1, 3, 2]", "assert next_permutation([3, 2, 1]) == [1, 2, 3]"],
    [
        "next_permutation([])",
        "next_permutation([7])",
        "next_permutation([1, 1, 5])",
        "next_permutation([1, 5, 1])",
        "next_permutation([2, 3, 1, 3, 3])",
        "next_permutation([5, 4, 7, 5, 3, 2])",
    ],
)

task(
    "rpn",
    "medium",
    ["stacks", "parsing"],
    '''
def eval_rpn(tokens: list[str]) -> int:
    """Evaluate integers and the operators + - * / given in reverse Polish notation. "/" is
    integer division that truncates toward zero (-7 / 2 is -3). Raise ValueError when the
    tokens do not form exactly one value (too few operands, or values left over)."""
''',
    """
def eval_rpn(tokens: list[str]) -> int:
    stack: list[int] = []
    for token in tokens:
        if token in ("+", "-", "*", "/"):
            if len(stack) < 2:
                raise ValueError("missing operand")
            b, a = stack.pop(), stack.pop()
            if token == "+":
                stack.append(a + b)
            elif token == "-":
                stack.append(a - b)
            elif token == "*":
                stack.append(a * b)
            else:
                quotient = abs(a) // abs(b)
                stack.append(quotient if (a >= 0) == (b >= 0) else -quotient)
        else:
            stack.append(int(token))
    if len(stack) != 1:
        raise ValueError("malformed expression")
    return stack[0]
""",
    ["assert eval_rpn(['2', '3', '+', '4', '*']) == 20", "assert eval_rpn(['-7', '2', '/']) == -3"],
    [
        "eval_rpn(['5'])",
        "eval_rpn(['7', '-2', '/'])",
        "eval_rpn(['10', '3', '-', '2', '-'])",
        "eval_rpn(['4', '13', '5', '/', '+'])",
        "eval_rpn(['3', '4', '5', '*', '-'])",
        raises("eval_rpn(['1', '+'])", "ValueError"),
        raises("eval_rpn(['1', '2'])", "ValueError"),
    ],
)

task(
    "pascal-row",
    "medium",
    ["math", "lists"],
    '''
def pascal_row(n: int) -> list[int]:
    """Return row n (counting from 0) of Pascal's triangle: pascal_row(3) == [1, 3, 3, 1]."""
''',
    """
def pascal_row(n: int) -> list[int]:
    row = [1]
    for k in range(n):
        row.append(row[-1] * (n - k) // (k + 1))
    return row
""",
    ["assert pascal_row(0) == [1]", "assert pascal_row(4) == [1, 4, 6, 4, 1]"],
    ["pascal_row(1)", "pascal_row(2)", "pascal_row(10)", "sum(pascal_row(20))", "pascal_row(30)[15]"],
)

task(
    "first-fit",
    "medium",
    ["simulation", "lists"],
    '''
def first_fit(weights: list[int], capacity: int) -> list[list[int]]:
    """Pack items, in the given order, into bins of `capacity`: each item goes into the first
    (oldest) bin with room left, or a new bin if none has room. Return the bins' contents.
    Raise ValueError if an item is heavier than `capacity`."""
''',
    """
def first_fit(weights: list[int], capacity: int) -> list[list[int]]:
    bins: list[list[int]] = []
    room: list[int] = []
    for weight in weights:
        if weight > capacity:
            raise ValueError("item too heavy")
        for index, free in enumerate(room):
            if weight <= free:
                bins[index].append(weight)
                room[index] -= weight
                break
        else:
            bins.append([weight])
            room.append(capacity - weight)
    return bins
""",
    ["assert first_fit([4, 8, 1, 4, 2, 1], 10) == [[4, 1, 4, 1], [8, 2]]", "assert first_fit([], 5) == []"],
    [
        "first_fit([5, 5, 5], 5)",
        "first_fit([3, 3, 3, 3], 7)",
        "first_fit([6, 1, 6, 1, 2], 7)",
        "first_fit([0, 0], 1)",
        raises("first_fit([2, 11], 10)", "ValueError"),
    ],
)

task(
    "compress-ranges",
    "medium",
    ["lists", "strings"],
    '''
def compress_ranges(numbers: list[int]) -> str:
    """Describe a set of integers as comma-separated ranges, sorted: runs of two or more
    consecutive integers as "a-b", single ones as "a". Duplicates count once; [] gives "".
    Example: [5, 1, 2, 3, 7, 8] -> "1-3,5,7-8"."""
''',
    """
def compress_ranges(numbers: list[int]) -> str:
    values = sorted(set(numbers))
    parts = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        parts.append(str(values[i]) if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    return ",".join(parts)
""",
    ["assert compress_ranges([5, 1, 2, 3, 7, 8]) == '1-3,5,7-8'", "assert compress_ranges([]) == ''"],
    [
        "compress_ranges([4])",
        "compress_ranges([2, 2, 3, 3])",
        "compress_ranges([1, 3, 5])",
        "compress_ranges([-3, -2, -1, 1])",
        "compress_ranges(list(range(100)))",
    ],
)

task(
    "camel-to-snake",
    "medium",
    ["strings"],
    '''
def camel_to_snake(name: str) -> str:
    """Convert a camelCase or PascalCase identifier to snake_case. A new word starts at an upper-
    case letter that follows a lower-case letter or a digit, and at the last upper-case letter
    of a run of capitals that is followed by a lower-case letter ("parseHTTPReply" ->
    "parse_http_reply"). The result is lower-case."""
''',
    """
import re


def camel_to_snake(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    name = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return name.lower()
""",
    [
        "assert camel_to_snake('parseHTTPReply') == 'parse_http_reply'",
        "assert camel_to_snake('SimpleName') == 'simple_name'",
    ],
    [
        "camel_to_snake('')",
        "camel_to_snake('x')",
        "camel_to_snake('already_snake')",
        "camel_to_snake('ABC')",
        "camel_to_snake('version2Update')",
        "camel_to_snake('getURL')",
        "camel_to_snake('XMLHttpRequest')",
    ],
)

task(
    "ledger",
    "medium",
    ["simulation"],
    '''
def ledger(transactions: list[tuple[str, int]]) -> tuple[int, int]:
    """Apply ("deposit", amount) and ("withdraw", amount) transactions in order to an account
    starting at 0. A withdrawal larger than the balance is rejected (the balance does not
    change). Return (final balance, number of rejected withdrawals)."""
''',
    """
def ledger(transactions: list[tuple[str, int]]) -> tuple[int, int]:
    balance = rejected = 0
    for kind, amount in transactions:
        if kind == "deposit":
            balance += amount
        elif amount > balance:
            rejected += 1
        else:
            balance -= amount
    return balance, rejected
""",
    ["assert ledger([('deposit', 50), ('withdraw', 80), ('withdraw', 20)]) == (30, 1)", "assert ledger([]) == (0, 0)"],
    [
        "ledger([('withdraw', 1)])",
        "ledger([('deposit', 10), ('withdraw', 10)])",
        "ledger([('deposit', 5)] * 4)",
        "ledger([('deposit', 1), ('withdraw', 2), ('deposit', 1), ('withdraw', 2)])",
        "ledger([('withdraw', 0)])",
    ],
)

task(
    "robot-walk",
    "medium",
    ["simulation"],
    '''
def robot_walk(commands: str) -> tuple[int, int, str]:
    """A robot starts at (0, 0) facing north (y grows to the north, x to the east). "L" and "R"
    turn it 90 degrees left or right, "F" moves it one step forward; other characters are
    ignored. Return (x, y, heading) with heading one of "N", "E", "S", "W"."""
''',
    """
def robot_walk(commands: str) -> tuple[int, int, str]:
    headings = "NESW"
    moves = {"N": (0, 1), "E": (1, 0), "S": (0, -1), "W": (-1, 0)}
    x = y = 0
    facing = 0
    for command in commands:
        if command == "L":
            facing = (facing - 1) % 4
        elif command == "R":
            facing = (facing + 1) % 4
        elif command == "F":
            dx, dy = moves[headings[facing]]
            x, y = x + dx, y + dy
    return x, y, headings[facing]
""",
    ["assert robot_walk('FFRFF') == (2, 2, 'E')", "assert robot_walk('') == (0, 0, 'N')"],
    [
        "robot_walk('L')",
        "robot_walk('LLLL')",
        "robot_walk('RRFF')",
        "robot_walk('FLFLFLF')",
        "robot_walk('F F x R F')",
        "robot_walk('LF' * 7)",
    ],
)

task(
    "queue-waits",
    "medium",
    ["simulation"],
    '''
def queue_waits(arrivals: list[int], durations: list[int]) -> list[int]:
    """One clerk serves customers first come, first served. Customer i arrives at time
    arrivals[i] (non-decreasing) and needs durations[i] time units. Return how long each
    customer waits between arriving and being served."""
''',
    """
def queue_waits(arrivals: list[int], durations: list[int]) -> list[int]:
    free_at = 0
    waits = []
    for arrival, duration in zip(arrivals, durations):
        start = max(arrival, free_at)
        waits.append(start - arrival)
        free_at = start + duration
    return waits
""",
    ["assert queue_waits([0, 1, 2], [3, 3, 3]) == [0, 2, 4]", "assert queue_waits([], []) == []"],
    [
        "queue_waits([5], [10])",
        "queue_waits([0, 10, 20], [5, 5, 5])",
        "queue_waits([0, 0, 0], [1, 2, 3])",
        "queue_waits([1, 2, 10, 11], [4, 4, 1, 1])",
        "queue_waits([3, 3], [0, 0])",
    ],
)

task(
    "min-insertions",
    "medium",
    ["strings", "stacks"],
    '''
def min_insertions(parens: str) -> int:
    """Return the fewest "(" or ")" characters that must be inserted into `parens` (made only of
    parentheses) to make it balanced."""
''',
    """
def min_insertions(parens: str) -> int:
    open_count = needed = 0
    for ch in parens:
        if ch == "(":
            open_count += 1
        elif open_count:
            open_count -= 1
        else:
            needed += 1
    return needed + open_count
""",
    ["assert min_insertions('())') == 1", "assert min_insertions('(((') == 3"],
    [
        "min_insertions('')",
        "min_insertions('()')",
        "min_insertions(')(')",
        "min_insertions('))((')",
        "min_insertions('(()))(()')",
        "min_insertions(')' * 9)",
    ],
)

# ---------------------------------------------------------------------------------- hard

task(
    "edit-distance",
    "hard",
    ["dynamic programming", "strings"],
    '''
def edit_distance(a: str, b: str) -> int:
    """Return the fewest single-character insertions, deletions and substitutions that turn
    `a` into `b`."""
''',
    """
def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
""",
    ["assert edit_distance('kitten', 'sitting') == 3", "assert edit_distance('', 'abc') == 3"],
    [
        "edit_distance('', '')",
        "edit_distance('same', 'same')",
        "edit_distance('abc', '')",
        "edit_distance('flaw', 'lawn')",
        "edit_distance('intention', 'execution')",
        "edit_distance('a' * 200, 'b' * 200)",
    ],
)

task(
    "lis-length",
    "hard",
    ["dynamic programming", "lists"],
    '''
def lis_length(values: list[int]) -> int:
    """Return the length of the longest strictly increasing subsequence of `values` (not
    necessarily contiguous). Lists of up to 10**5 values must take well under a second."""
''',
    """
from bisect import bisect_left


def lis_length(values: list[int]) -> int:
    tails: list[int] = []
    for value in values:
        index = bisect_left(tails, value)
        if index == len(tails):
            tails.append(value)
        else:
            tails[index] = value
    return len(tails)
""",
    ["assert lis_length([10, 9, 2, 5, 3, 7, 101, 18]) == 4", "assert lis_length([]) == 0"],
    [
        "lis_length([5])",
        "lis_length([3, 3, 3])",
        "lis_length([1, 2, 3, 4])",
        "lis_length([4, 3, 2, 1])",
        "lis_length([0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15])",
        "lis_length(list(range(100000)))",
        "lis_length([(i * 7919) % 100003 for i in range(100000)])",
    ],
)

task(
    "grid-path",
    "hard",
    ["graphs", "search"],
    '''
def grid_path(grid: list[str]) -> int:
    """`grid` is a rectangle of rows: "." open, "#" wall, "S" the start, "E" the end (exactly
    one of each). Moving one cell up, down, left or right costs 1 step. Return the fewest steps
    from S to E, or -1 if E cannot be reached."""
''',
    """
from collections import deque


def grid_path(grid: list[str]) -> int:
    cells = {(r, c): ch for r, row in enumerate(grid) for c, ch in enumerate(row)}
    start = next(pos for pos, ch in cells.items() if ch == "S")
    queue = deque([(start, 0)])
    seen = {start}
    while queue:
        (r, c), steps = queue.popleft()
        if cells[(r, c)] == "E":
            return steps
        for nxt in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if cells.get(nxt, "#") != "#" and nxt not in seen:
                seen.add(nxt)
                queue.append((nxt, steps + 1))
    return -1
""",
    ["assert grid_path(['S.#', '..#', '#.E']) == 4", "assert grid_path(['S#E']) == -1"],
    [
        "grid_path(['SE'])",
        "grid_path(['S', '.', '.', 'E'])",
        "grid_path(['S....', '####.', 'E....'])",
        "grid_path(['S.#.E', '..#..', '.....'])",
        "grid_path(['S..', '###', '..E'])",
        "grid_path(['S' + '.' * 48 + '.'] + ['.' * 50] * 48 + ['.' * 49 + 'E'])",
    ],
)

task(
    "topo-order",
    "hard",
    ["graphs", "sorting"],
    '''
def topo_order(prerequisites: dict[str, list[str]]) -> list[str]:
    """`prerequisites[t]` lists the tasks that must come before task t. Return every task
    (keys and those only named as prerequisites) in an order that respects them; among the
    tasks ready at any point take the alphabetically smallest first. Raise ValueError if the
    requirements are circular."""
''',
    """
import heapq


def topo_order(prerequisites: dict[str, list[str]]) -> list[str]:
    nodes = set(prerequisites)
    for needs in prerequisites.values():
        nodes.update(needs)
    waiting = {node: set(prerequisites.get(node, ())) for node in nodes}
    dependents: dict[str, list[str]] = {node: [] for node in nodes}
    for node, needs in waiting.items():
        for need in needs:
            dependents[need].append(node)
    ready = [node for node, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for dependent in dependents[node]:
            waiting[dependent].discard(node)
            if not waiting[dependent]:
                heapq.heappush(ready, dependent)
    if len(order) != len(nodes):
        raise ValueError("circular requirements")
    return order
""",
    ["assert topo_order({'b': ['a'], 'c': ['a', 'b']}) == ['a', 'b', 'c']", "assert topo_order({}) == []"],
    [
        "topo_order({'x': []})",
        "topo_order({'d': ['c'], 'b': [], 'a': ['c']})",
        "topo_order({'z': ['y'], 'y': ['x'], 'm': []})",
        "topo_order({'deploy': ['test', 'build'], 'test': ['build'], 'build': ['fetch'], 'lint': ['fetch']})",
        raises("topo_order({'a': ['b'], 'b': ['a']})", "ValueError"),
        raises("topo_order({'a': ['a']})", "ValueError"),
    ],
)

task(
    "calculator",
    "hard",
    ["parsing", "recursion"],
    '''
def calculate(expression: str) -> int:
    """Evaluate an integer expression with + - * /, parentheses, unary minus and spaces.
    * and / bind tighter than + and -; operators of one level apply left to right; "/" is
    integer division truncating toward zero. Raise ValueError for a malformed expression.
    Do not use eval."""
''',
    """
def calculate(expression: str) -> int:
    tokens = []
    i = 0
    while i < len(expression):
        ch = expression[i]
        if ch.isspace():
            i += 1
        elif ch.isdigit():
            j = i
            while j < len(expression) and expression[j].isdigit():
                j += 1
            tokens.append(int(expression[i:j]))
            i = j
        elif ch in "+-*/()":
            tokens.append(ch)
            i += 1
        else:
            raise ValueError(f"unexpected character {ch!r}")
    position = 0

    def peek():
        return tokens[position] if position < len(tokens) else None

    def take():
        nonlocal position
        if position >= len(tokens):
            raise ValueError("unexpected end")
        position += 1
        return tokens[position - 1]

    def expr():
        value = term()
        while peek() in ("+", "-"):
            value = value + term() if take() == "+" else value - term()
        return value

    def term():
        value = factor()
        while peek() in ("*", "/"):
            op = take()
            right = factor()
            if op == "*":
                value *= right
            else:
                if right == 0:
                    raise ZeroDivisionError("division by zero")
                quotient = abs(value) // abs(right)
                value = quotient if (value >= 0) == (right >= 0) else -quotient
        return value

    def factor():
        token = take()
        if token == "-":
            return -factor()
        if token == "(":
            value = expr()
            if take() != ")":
                raise ValueError("missing )")
            return value
        if isinstance(token, int):
            return token
        raise ValueError(f"unexpected {token!r}")

    result = expr()
    if position != len(tokens):
        raise ValueError("trailing tokens")
    return result
""",
    ["assert calculate('2 + 3 * 4') == 14", "assert calculate('(2 + 3) * -4') == -20"],
    [
        "calculate('7')",
        "calculate('10 - 4 - 3')",
        "calculate('-7 / 2')",
        "calculate('100 / 10 / 5')",
        "calculate('2 * (3 + (4 - 1)) * 2')",
        "calculate('--5')",
        "calculate(' 1+2*3-4/2 ')",
        raises("calculate('1 +')", "ValueError"),
        raises("calculate('(1 + 2')", "ValueError"),
        raises("calculate('2 ** 3')", "ValueError"),
        raises("calculate('4 $ 4')", "ValueError"),
    ],
)

task(
    "lru-cache",
    "hard",
    ["data structures", "classes"],
    '''
class LRUCache:
    """A cache holding at most `capacity` (>= 1) key/value pairs.

    get(key) returns the value, or None when the key is absent; put(key, value) stores or
    replaces it. Both count as a use of the key. When a put of a new key would exceed the
    capacity, the least recently used key is dropped first. len(cache) is the number of keys
    held.
    """

    def __init__(self, capacity: int): ...
    def get(self, key): ...
    def put(self, key, value) -> None: ...
    def __len__(self) -> int: ...
''',
    """
from collections import OrderedDict


class LRUCache:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self.items = OrderedDict()

    def get(self, key):
        if key not in self.items:
            return None
        self.items.move_to_end(key)
        return self.items[key]

    def put(self, key, value) -> None:
        if key in self.items:
            self.items.move_to_end(key)
        elif len(self.items) >= self.capacity:
            self.items.popitem(last=False)
        self.items[key] = value

    def __len__(self) -> int:
        return len(self.items)
""",
    [
        "assert (lambda c: (c.put('a', 1), c.put('b', 2), c.get('a'), c.put('c', 3), [c.get('b'), c.get('a')])[-1])"
        "(LRUCache(2)) == [None, 1]",
        "assert (lambda c: [c.get('x'), len(c)])(LRUCache(1)) == [None, 0]",
    ],
    [
        "(lambda c: (c.put(1, 'x'), c.put(2, 'y'), [c.get(1), c.get(2), len(c)])[-1])(LRUCache(1))",
        "(lambda c: (c.put(1, 1), c.put(1, 10), c.put(2, 2), [c.get(1), len(c)])[-1])(LRUCache(2))",
        "(lambda c: (c.put(1, 1), c.put(2, 2), c.put(1, 5), c.put(3, 3), [c.get(2), c.get(1), c.get(3)])[-1])"
        "(LRUCache(2))",
        "(lambda c: ([c.put(k, k * k) for k in range(10)], [c.get(k) for k in range(10)])[-1])(LRUCache(3))",
        "(lambda c: (c.put('a', None), c.put('b', 0), c.get('a'), c.put('c', 1), [len(c), c.get('b')])[-1])"
        "(LRUCache(2))",
        "(lambda c: (c.put('a', 1), c.get('zzz'), c.put('b', 2), c.put('c', 3), c.get('a'))[-1])(LRUCache(2))",
    ],
    entry_point="LRUCache",
)

task(
    "count-islands",
    "hard",
    ["graphs", "search"],
    '''
def count_islands(grid: list[str]) -> int:
    """`grid` is a rectangle of rows: "#" land, "." water. Return the number of islands: groups
    of land cells connected through up/down/left/right neighbours (not diagonals)."""
''',
    """
def count_islands(grid: list[str]) -> int:
    land = {(r, c) for r, row in enumerate(grid) for c, ch in enumerate(row) if ch == "#"}
    islands = 0
    while land:
        islands += 1
        stack = [land.pop()]
        while stack:
            r, c = stack.pop()
            for nxt in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if nxt in land:
                    land.remove(nxt)
                    stack.append(nxt)
    return islands
""",
    ["assert count_islands(['##..', '#..#', '...#']) == 2", "assert count_islands([]) == 0"],
    [
        "count_islands(['....'])",
        "count_islands(['#'])",
        "count_islands(['#.#', '.#.', '#.#'])",
        "count_islands(['###', '#.#', '###'])",
        "count_islands(['#' * 100] * 100)",
        "count_islands(['#.' * 30, '.#' * 30] * 20)",
    ],
)

task(
    "knapsack",
    "hard",
    ["dynamic programming"],
    '''
def knapsack(items: list[tuple[int, int]], capacity: int) -> int:
    """`items` are (weight, value) pairs with positive weights. Return the largest total value
    of a subset of items whose total weight is at most `capacity` (each item used at most
    once)."""
''',
    """
def knapsack(items: list[tuple[int, int]], capacity: int) -> int:
    best = [0] * (capacity + 1)
    for weight, value in items:
        for room in range(capacity, weight - 1, -1):
            best[room] = max(best[room], best[room - weight] + value)
    return best[capacity] if capacity >= 0 else 0
""",
    ["assert knapsack([(1, 1), (3, 4), (4, 5), (5, 7)], 7) == 9", "assert knapsack([], 10) == 0"],
    [
        "knapsack([(5, 10)], 4)",
        "knapsack([(5, 10)], 5)",
        "knapsack([(2, 3)] * 5, 7)",
        "knapsack([(1, 0), (1, 0)], 2)",
        "knapsack([(12, 4), (2, 2), (1, 1), (1, 2), (4, 10)], 15)",
        "knapsack([(w, w * 3 % 17 + 1) for w in range(1, 60)], 500)",
    ],
)

task(
    "fewest-coins",
    "hard",
    ["dynamic programming"],
    '''
def fewest_coins(coins: list[int], amount: int) -> int:
    """Return the fewest coins (any number of each positive denomination in `coins`) that add up
    to exactly `amount`, 0 for amount 0, or -1 if it cannot be done."""
''',
    """
def fewest_coins(coins: list[int], amount: int) -> int:
    unreachable = amount + 1
    best = [0] + [unreachable] * amount
    for total in range(1, amount + 1):
        for coin in coins:
            if coin <= total and best[total - coin] + 1 < best[total]:
                best[total] = best[total - coin] + 1
    return best[amount] if best[amount] != unreachable else -1
""",
    ["assert fewest_coins([1, 5, 10], 27) == 5", "assert fewest_coins([2], 3) == -1"],
    [
        "fewest_coins([1], 0)",
        "fewest_coins([], 0)",
        "fewest_coins([], 5)",
        "fewest_coins([1, 3, 4], 6)",
        "fewest_coins([5, 7], 23)",
        "fewest_coins([186, 419, 83, 408], 6249)",
        "fewest_coins([3, 7], 11)",
    ],
)

task(
    "csv-fields",
    "hard",
    ["parsing", "strings"],
    '''
def csv_fields(line: str) -> list[str]:
    """Split one CSV line into its fields. Fields are separated by commas. A field that starts
    with a double quote is quoted: it runs to the matching closing quote, may contain commas,
    and "" inside it stands for one quote character; the quotes are not part of the value.
    An empty line is one empty field. Raise ValueError for an unterminated quoted field or
    text between a closing quote and the next comma. Do not use the csv module."""
''',
    """
def csv_fields(line: str) -> list[str]:
    fields = []
    i = 0
    while True:
        if i < len(line) and line[i] == '"':
            value = []
            i += 1
            while True:
                if i >= len(line):
                    raise ValueError("unterminated quoted field")
                if line[i] == '"':
                    if i + 1 < len(line) and line[i + 1] == '"':
                        value.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                value.append(line[i])
                i += 1
            if i < len(line) and line[i] != ",":
                raise ValueError("text after a closing quote")
            fields.append("".join(value))
        else:
            end = line.find(",", i)
            end = len(line) if end == -1 else end
            fields.append(line[i:end])
            i = end
        if i >= len(line):
            return fields
        i += 1
""",
    ["assert csv_fields('a,b,c') == ['a', 'b', 'c']", "assert csv_fields('\"x, y\",z') == ['x, y', 'z']"],
    [
        "csv_fields('')",
        "csv_fields(',')",
        "csv_fields('a,,b,')",
        'csv_fields(\'"he said ""hi""",2\')',
        "csv_fields('\"\"')",
        "csv_fields('1, 2 ,3')",
        raises("csv_fields('\"open')", "ValueError"),
        raises("csv_fields('\"a\"b,c')", "ValueError"),
    ],
)

task(
    "life-step",
    "hard",
    ["simulation", "matrices"],
    '''
def life_step(grid: list[str]) -> list[str]:
    """One generation of Conway's Game of Life on a finite rectangle ("#" alive, "." dead;
    everything outside the rectangle is dead). A live cell with 2 or 3 live neighbours (of the
    8 around it) survives; a dead cell with exactly 3 becomes alive; every other cell is dead
    in the next generation. Return the new grid in the same format."""
''',
    """
def life_step(grid: list[str]) -> list[str]:
    rows, cols = len(grid), len(grid[0]) if grid else 0

    def alive(r, c):
        return 0 <= r < rows and 0 <= c < cols and grid[r][c] == "#"

    new = []
    for r in range(rows):
        line = []
        for c in range(cols):
            n = sum(alive(r + dr, c + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc)
            line.append("#" if n == 3 or (n == 2 and grid[r][c] == "#") else ".")
        new.append("".join(line))
    return new
""",
    ["assert life_step(['...', '###', '...']) == ['.#.', '.#.', '.#.']", "assert life_step(['#']) == ['.']"],
    [
        "life_step([])",
        "life_step(['##', '##'])",
        "life_step(['.#.', '..#', '###', '...'])",
        "life_step(['#.#', '.#.', '#.#'])",
        "life_step(['....', '.##.', '.##.', '....'])",
        "life_step(['###'])",
    ],
)

task(
    "shortest-distances",
    "hard",
    ["graphs"],
    '''
def shortest_distances(graph: dict[str, list[tuple[str, int]]], start: str) -> dict[str, int]:
    """`graph[u]` lists directed edges (v, weight) with non-negative weights; nodes may appear
    only as edge targets. Return the length of the shortest path from `start` to every node
    reachable from it (start itself at 0)."""
''',
    """
import heapq


def shortest_distances(graph: dict[str, list[tuple[str, int]]], start: str) -> dict[str, int]:
    distances = {start: 0}
    queue = [(0, start)]
    done = set()
    while queue:
        distance, node = heapq.heappop(queue)
        if node in done:
            continue
        done.add(node)
        for neighbour, weight in graph.get(node, ()):
            candidate = distance + weight
            if candidate < distances.get(neighbour, candidate + 1):
                distances[neighbour] = candidate
                heapq.heappush(queue, (candidate, neighbour))
    return distances
""",
    [
        "assert shortest_distances({'a': [('b', 1), ('c', 4)], 'b': [('c', 2)]}, 'a') == {'a': 0, 'b': 1, 'c': 3}",
        "assert shortest_distances({}, 'x') == {'x': 0}",
    ],
    [
        "shortest_distances({'a': [('b', 0)]}, 'a')",
        "shortest_distances({'a': [('b', 5)], 'c': [('a', 1)]}, 'a')",
        "shortest_distances({'a': [('a', 3), ('b', 2)], 'b': [('a', 1)]}, 'b')",
        "shortest_distances({'s': [('a', 7), ('b', 2)], 'b': [('a', 3), ('c', 8)], 'a': [('c', 1)], 'c': [('d', 1)]}, 's')",
        "shortest_distances({str(i): [(str(i + 1), 1), (str(i + 2), 3)] for i in range(200)}, '0')['200']",
    ],
)

task(
    "sudoku-valid",
    "hard",
    ["matrices", "validation"],
    '''
def sudoku_valid(board: list[str]) -> bool:
    """`board` is 9 strings of 9 characters, each a digit 1-9 or "." (empty). True when no digit
    repeats within a row, a column or one of the nine 3x3 boxes (the board need not be full or
    solvable). False for any other characters or shape."""
''',
    """
def sudoku_valid(board: list[str]) -> bool:
    if len(board) != 9 or any(len(row) != 9 for row in board):
        return False
    seen = set()
    for r, row in enumerate(board):
        for c, ch in enumerate(row):
            if ch == ".":
                continue
            if ch not in "123456789":
                return False
            keys = {("row", r, ch), ("col", c, ch), ("box", r // 3, c // 3, ch)}
            if keys & seen:
                return False
            seen |= keys
    return True
""",
    ["assert sudoku_valid(['.' * 9] * 9) is True", "assert sudoku_valid(['11' + '.' * 7] + ['.' * 9] * 8) is False"],
    [
        "sudoku_valid(['1' + '.' * 8, '.' * 9, '..1' + '.' * 6] + ['.' * 9] * 6)",
        "sudoku_valid(['1' + '.' * 8] + ['.' * 9] * 7 + ['1' + '.' * 8])",
        "sudoku_valid(['534678912', '672195348', '198342567', '859761423', '426853791', '713924856', '961537284', '287419635', '345286179'])",
        "sudoku_valid(['.' * 9] * 8)",
        "sudoku_valid(['0' + '.' * 8] + ['.' * 9] * 8)",
        "sudoku_valid(['123' + '.' * 6, '456' + '.' * 6, '789' + '.' * 6] + ['.' * 9] * 6)",
    ],
)

task(
    "max-meetings",
    "hard",
    ["greedy", "sorting"],
    '''
def max_meetings(meetings: list[tuple[int, int]]) -> int:
    """`meetings` are (start, end) pairs with start < end. Return the largest number of them
    one person can attend completely; one may start exactly when another ends."""
''',
    """
def max_meetings(meetings: list[tuple[int, int]]) -> int:
    count, free_at = 0, None
    for start, end in sorted(meetings, key=lambda m: m[1]):
        if free_at is None or start >= free_at:
            count += 1
            free_at = end
    return count
""",
    ["assert max_meetings([(1, 3), (2, 4), (3, 5)]) == 2", "assert max_meetings([]) == 0"],
    [
        "max_meetings([(0, 10)])",
        "max_meetings([(1, 2), (2, 3), (3, 4)])",
        "max_meetings([(1, 10), (2, 3), (4, 5), (6, 7)])",
        "max_meetings([(5, 6), (5, 6), (5, 6)])",
        "max_meetings([(-5, -1), (-2, 0), (0, 2)])",
        "max_meetings([(i, i + 3) for i in range(0, 300, 2)])",
    ],
)

task(
    "path-get",
    "hard",
    ["parsing", "data structures"],
    '''
def path_get(data, path: str):
    """Follow `path` into nested dicts and lists: dot-separated keys, each optionally followed
    by one or more list indexes in brackets, e.g. "users[0].tags[2]" or "matrix[1][0]".
    An empty path returns `data`. Raise KeyError for a missing key, IndexError for an index out
    of range (negative indexes are not allowed: ValueError), and ValueError for a malformed
    path."""
''',
    """
import re

_PART = re.compile(r"([^.\\[\\]]+)((?:\\[\\d+\\])*)")
_INDEX = re.compile(r"\\[(\\d+)\\]")


def path_get(data, path: str):
    if path == "":
        return data
    value = data
    for part in path.split("."):
        match = _PART.fullmatch(part)
        if match is None:
            raise ValueError(f"malformed path part {part!r}")
        key, indexes = match.groups()
        if not isinstance(value, dict) or key not in value:
            raise KeyError(key)
        value = value[key]
        for index in _INDEX.findall(indexes):
            if not isinstance(value, list) or int(index) >= len(value):
                raise IndexError(index)
            value = value[int(index)]
    return value
""",
    ["assert path_get({'a': {'b': [10, 20]}}, 'a.b[1]') == 20", "assert path_get({'x': 1}, '') == {'x': 1}"],
    [
        "path_get({'m': [[1, 2], [3, 4]]}, 'm[1][0]')",
        "path_get({'u': [{'n': 'ann'}]}, 'u[0].n')",
        "path_get({'k': None}, 'k')",
        raises("path_get({'a': 1}, 'b')", "KeyError"),
        raises("path_get({'a': [1]}, 'a[3]')", "IndexError"),
        raises("path_get({'a': [1]}, 'a[-1]')", "ValueError"),
        raises("path_get({'a': 1}, 'a..b')", "ValueError"),
        raises("path_get({'a': 1}, 'a[x]')", "ValueError"),
    ],
)

task(
    "determinant",
    "hard",
    ["math", "matrices"],
    '''
def determinant(matrix: list[list[int]]) -> int:
    """Return the exact determinant of a square integer matrix (1x1 up to 12x12; entries may
    be large, so avoid floating point)."""
''',
    """
from fractions import Fraction


def determinant(matrix: list[list[int]]) -> int:
    size = len(matrix)
    rows = [[Fraction(x) for x in row] for row in matrix]
    result = Fraction(1)
    for col in range(size):
        pivot = next((r for r in range(col, size) if rows[r][col] != 0), None)
        if pivot is None:
            return 0
        if pivot != col:
            rows[col], rows[pivot] = rows[pivot], rows[col]
            result = -result
        result *= rows[col][col]
        for r in range(col + 1, size):
            factor = rows[r][col] / rows[col][col]
            for c in range(col, size):
                rows[r][c] -= factor * rows[col][c]
    return int(result)
""",
    ["assert determinant([[1, 2], [3, 4]]) == -2", "assert determinant([[7]]) == 7"],
    [
        "determinant([[2, 0, 0], [0, 3, 0], [0, 0, 4]])",
        "determinant([[1, 2, 3], [4, 5, 6], [7, 8, 9]])",
        "determinant([[0, 1], [1, 0]])",
        "determinant([[10**20, 1], [1, 10**20]])",
        "determinant([[(i * j + i + 2 * j) % 7 - 3 for j in range(10)] for i in range(10)])",
        "determinant([[1 if i == j else 0 for j in range(12)] for i in range(12)])",
    ],
)


# ------------------------------------------------------------------------------ building


def _expected(solution: str, call: str) -> str:
    namespace: dict[str, Any] = {}
    exec(compile(solution, "solution.py", "exec"), namespace)  # noqa: S102 - our own reference solutions
    value = eval(call, namespace)  # noqa: S307
    text = repr(value)
    if eval(text) != value:  # noqa: S307
        raise ValueError(f"{call}: {text} does not read back as the same value")
    return text


def _check(solution: str, test: str, entry_point: str) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(solution, "solution.py", "exec"), namespace)  # noqa: S102
    namespace["candidate"] = namespace[entry_point]
    exec(compile(test, "test", "exec"), namespace)  # noqa: S102


def build() -> list[dict[str, Any]]:
    """The records of tasks.json, checked against their reference solutions."""
    records = []
    for spec in T:
        entry_point = spec["entry_point"] or spec["prompt"].split("def ", 1)[1].split("(", 1)[0]
        hidden = []
        for test in spec["hidden"]:
            if test.startswith(("assert ", "try:")) or "\n" in test:
                hidden.append(test)
            else:
                hidden.append(f"assert {test} == {_expected(spec['solution'], test)}")
        for test in spec["visible"] + hidden:
            _check(spec["solution"], test, entry_point)
            if parse_check(test) is None:
                raise ValueError(f"{spec['task_id']}: the grader cannot verify {test!r} (see checks.py)")
        records.append(
            {
                "task_id": spec["task_id"],
                "difficulty": spec["difficulty"],
                "tags": spec["tags"],
                "entry_point": entry_point,
                "prompt": spec["prompt"].splitlines(),
                "solution": spec["solution"].splitlines(),
                "visible_tests": spec["visible"],
                "hidden_tests": hidden,
            }
        )
    return records


def main() -> None:
    records = build()
    target = Path(__file__).with_name("tasks.json")
    target.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(records)} tasks to {target}")


if __name__ == "__main__":
    main()
