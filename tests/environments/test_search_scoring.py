"""Exact match and F1 of answers: normalisation edge cases and aliases."""

from __future__ import annotations

import pytest

from agentgym.environments.search.scoring import exact_match, f1_score, normalize_answer


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Kingdom of Varrow", "kingdom of varrow"),
        ("  an   Apple,  a pear. ", "apple pear"),
        ("Théa's “house”!", "théas house"),
        ("1,873", "1873"),
        ("Saint-Orl", "saintorl"),
        ("A", ""),
        ("", ""),
    ],
)
def test_normalize(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_match_ignores_case_articles_punctuation_and_spacing():
    assert exact_match("the ORVANE river.", ["Orvane River"]) == 1.0
    assert exact_match("Orvane", ["Orvane River"]) == 0.0
    assert exact_match("  Mira   Dolt ", ["mira dolt"]) == 1.0


def test_aliases_count():
    answers = ["Republic of Quessal", "Quessal"]
    assert exact_match("Quessal", answers) == 1.0
    assert f1_score("Quessal", answers) == 1.0
    assert exact_match("Quessalia", answers) == 0.0


def test_f1_partial_credit():
    assert f1_score("Mira Dolt", ["Mira Dolt Varen"]) == pytest.approx(0.8)
    assert f1_score("Varen Mira", ["Mira Dolt Varen"]) == pytest.approx(0.8)  # order does not matter
    assert f1_score("Mira Mira", ["Mira"]) == pytest.approx(2 / 3)  # repeated tokens count once each
    assert f1_score("nothing alike", ["Mira Dolt"]) == 0.0


def test_empty_and_article_only_answers():
    assert f1_score("", ["Mira"]) == 0.0
    assert exact_match("", ["Mira"]) == 0.0
    assert f1_score("the", ["a"]) == 1.0  # both normalise to nothing
    assert exact_match("the", ["a"]) == 1.0


def test_best_alias_wins():
    assert f1_score("Dolt", ["Mira Dolt", "Dolt"]) == 1.0
    assert f1_score("Mira", ["Mira Dolt", "Kessa"]) == pytest.approx(2 / 3)
