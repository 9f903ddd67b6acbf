"""Each answer metric on examples worked out by hand."""

from __future__ import annotations

import math

import pytest

from docent.evaluation.metrics import (
    corpus_bleu,
    corpus_chrf,
    exact_match,
    normalize_answer,
    rouge_l,
    score_corpus,
    sentence_bleu,
    token_f1,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Quick, brown fox!", "quick brown fox"),
        ("U.S.A.", "usa"),  # punctuation removed before articles, so no new spaces appear
        ("Anna and the banana", "anna and banana"),  # 'an' only as a whole word
        ("  a   Hồ Chí Minh\tCity ", "hồ chí minh city"),  # non-ASCII letters kept, whitespace collapsed
        ("An apple; the end.", "apple end"),
    ],
)
def test_normalize_answer_squad_v11(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_ignores_case_punctuation_articles():
    assert exact_match("The Eiffel Tower.", "eiffel tower") == 1.0
    assert exact_match("Eiffel Tower in Paris", "Eiffel Tower") == 0.0
    assert exact_match("", "") == 1.0


def test_token_f1_hand_computed():
    # pred -> [hồ, chí, minh, was, president] (5), ref -> [president, hồ, chí, minh] (4), common 4:
    # P = 4/5, R = 4/4, F1 = 2PR/(P+R) = 1.6/1.8 = 8/9
    assert token_f1("Hồ Chí Minh was the president", "President Hồ Chí Minh") == pytest.approx(8 / 9)
    # multiset overlap: pred [cat, cat, sat], ref [cat] -> common 1: P = 1/3, R = 1, F1 = (2/3)/(4/3) = 0.5
    assert token_f1("a cat a cat sat", "the cat") == pytest.approx(0.5)
    # pred [in, 1945] vs ref [1945]: P = 1/2, R = 1 -> F1 = 2/3
    assert token_f1("In 1945.", "1945") == pytest.approx(2 / 3)
    assert token_f1("Hanoi", "Huế") == 0.0
    assert token_f1("", "Hanoi") == 0.0
    assert token_f1("the", "a") == 0.0  # both normalize to nothing: no common token, as in SQuAD


def test_sentence_bleu_identical_is_one_and_disjoint_is_zero():
    assert sentence_bleu("Ho Chi Minh declared independence in 1945.", "Ho Chi Minh declared independence in 1945.") \
        == pytest.approx(1.0)
    assert sentence_bleu("Hanoi", "Hanoi") == pytest.approx(1.0)  # effective order: 1-gram only
    assert sentence_bleu("completely different words here", "the emperor founded a dynasty") == 0.0


def test_sentence_bleu_hand_computed():
    # hyp "the cat sat on the mat" vs ref "the cat sat on a mat" (6 tokens each, brevity penalty 1):
    # 1-gram 5/6 (second 'the' unmatched), 2-gram 3/5, 3-gram 2/4, 4-gram 1/3
    expected = (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert sentence_bleu("the cat sat on the mat", "the cat sat on a mat") == pytest.approx(expected, abs=1e-6)


def test_corpus_bleu_and_chrf_scale():
    refs = ["the cat sat on a mat", "Hồ Chí Minh was born in 1890"]
    assert corpus_bleu(refs, refs) == pytest.approx(100.0)
    assert corpus_chrf(refs, refs) == pytest.approx(100.0)
    # corpus BLEU pools counts: same as the sentence case when there is one row
    assert corpus_bleu(["the cat sat on the mat"], ["the cat sat on a mat"]) == pytest.approx(
        100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, abs=1e-4)


def test_rouge_l_hand_computed():
    # LCS("the cat on mat", "the cat sat on the mat") = 4 tokens: P = 4/4, R = 4/6, F = 2PR/(P+R) = 0.8
    assert rouge_l("the cat on mat", "the cat sat on the mat") == pytest.approx(0.8)
    assert rouge_l("Hanoi", "Hanoi") == pytest.approx(1.0)
    assert rouge_l("", "Hanoi") == 0.0


def test_score_corpus_means_rows():
    preds = ["Hanoi", "In 1945."]
    refs = ["Hanoi", "1945"]
    corpus, rows = score_corpus(preds, refs)
    assert [r.exact_match for r in rows] == [1.0, 0.0]
    assert corpus["exact_match"] == pytest.approx(0.5)
    assert corpus["f1"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert corpus["sentence_bleu"] == pytest.approx((rows[0].sentence_bleu + rows[1].sentence_bleu) / 2)
    assert set(corpus) == {"sentence_bleu", "bleu", "chrf", "rouge_l", "exact_match", "f1"}
    assert all(math.isfinite(v) for v in corpus.values())
    with pytest.raises(ValueError):
        score_corpus(["a"], ["a", "b"])


@pytest.mark.parametrize(("answer", "status", "short", "expected"), [
    ("Saigon fell on 30 April 1975.", "answered", "1975", "correct"),
    ("Hồ Chí Minh founded it.", "answered", "Ho Chi Minh", "correct"),  # accents folded
    ("The river is 4909 km long.", "answered", "4,909 km", "correct"),  # numbers normalised
    ("It lasted three years.", "answered", "3 years", "correct"),
    ("Saigon fell in 1976.", "answered", "1975", "wrong"),
    ("I don't find that in my sources.", "abstained", "1975", "abstained"),
    # a short answer of symbols only, which folding empties, must appear as written
    ("Give the package name followed by == and the version.", "answered", "==", "correct"),
    ("Give the package name and the version.", "answered", "==", "wrong"),
])
def test_fact_outcome(answer: str, status: str, short: str, expected: str) -> None:
    from docent.evaluation.metrics import fact_outcome

    assert fact_outcome(answer, status, short) == expected
