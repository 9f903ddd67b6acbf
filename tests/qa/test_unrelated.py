"""docent.qa.unrelated: which snapshot articles become negatives, their lead sentences, extra questions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from docent.cli import UserError
from docent.qa.records import Sentence
from docent.qa.unrelated import (
    domain_names,
    lead_sentences,
    read_extra_questions,
    sample_articles,
)

DOMAIN = [Sentence(doc_id="hcm", title="Ho Chi Minh", sent_id=0, text="Ho Chi Minh was a revolutionary."),
          Sentence(doc_id="hcmc", title="Ho Chi Minh City", sent_id=0, text="It is a city."),
          Sentence(doc_id="hcm", title="Ho Chi Minh", sent_id=1, text="He died in 1969."),
          Sentence(doc_id="qing", title="Qing dynasty", sent_id=0, text="The Qing ruled China.")]
SNAPSHOT = {
    "Bread": {"extract": "Bread is a staple food. It is baked from dough."},
    "Cao Cao": {"extract": "Cao Cao was a warlord at the end of the Han dynasty."},  # kept: Han is not a title
    "Qianlong Emperor": {"extract": "The Qianlong Emperor was the sixth emperor of the Qing dynasty."},
    "ho chi minh": {"extract": "Another article with the domain's title, differently cased."},
    "Uncle Ho's legacy": {"extract": "Ho Chi Minh City was renamed in 1976."},  # mentions a domain title
    "Hochiminhism": {"extract": "A word that merely contains Ho Chi Minhs letters: Ho Chi Minhian."},  # no word match
    "Empty": {"extract": "   "},
    "Broken": "not a dict",
    "Football": {"extract": "Football is a team sport. It is played with a ball. Teams have eleven players."},
}


def test_domain_names_are_unique_titles_longest_first() -> None:
    blank = Sentence(doc_id="x", title="  ", sent_id=0, text="x")
    assert domain_names([*DOMAIN, blank]) == ["Ho Chi Minh City", "Qing dynasty", "Ho Chi Minh"]
    assert domain_names([]) == []


def test_sample_leaves_out_the_domain_and_articles_that_mention_it() -> None:
    counts: Counter[str] = Counter()
    chosen = sample_articles(SNAPSHOT, DOMAIN, n_pages=100, seed=0, counts=counts)
    assert [title for title, _ in chosen] == ["Bread", "Cao Cao", "Football", "Hochiminhism"]
    assert dict(chosen)["Bread"] == SNAPSHOT["Bread"]["extract"]
    assert counts == Counter({"unrelated_articles_skipped_empty": 2, "unrelated_articles_skipped_domain_title": 1,
                              "unrelated_articles_skipped_mentions_domain": 2, "unrelated_articles": 4})


def test_sample_is_seeded_sorted_and_capped() -> None:
    snapshot = {f"Article {i:02d}": {"extract": f"Article {i} is about topic {i}."} for i in range(30)}

    def draw(seed: int) -> list[str]:
        counts: Counter[str] = Counter()
        titles = [t for t, _ in sample_articles(snapshot, DOMAIN, n_pages=5, seed=seed, counts=counts)]
        assert counts["unrelated_articles"] == 5
        return titles

    assert draw(3) == draw(3) and draw(3) == sorted(draw(3))
    assert len(set(draw(3))) == 5 and draw(3) != draw(4)
    # a domain with no titles excludes nothing but its own (absent) documents
    everything = sample_articles(snapshot, [], n_pages=100, seed=0, counts=Counter())
    assert len(everything) == 30


def test_lead_sentences_keeps_the_first_sentences_of_each_article() -> None:
    counts: Counter[str] = Counter()
    articles = [("Football", SNAPSHOT["Football"]["extract"]), ("Bread", "Bread is\n  a staple   food.")]
    sentences = lead_sentences(articles, 2, counts)
    assert sentences == [
        Sentence(doc_id="unrelated:Football", title="Football", sent_id=0, text="Football is a team sport."),
        Sentence(doc_id="unrelated:Football", title="Football", sent_id=1, text="It is played with a ball."),
        Sentence(doc_id="unrelated:Bread", title="Bread", sent_id=0, text="Bread is a staple food."),  # spaces folded
    ]
    assert counts["unrelated_sentences_beyond_lead"] == 1  # "Teams have eleven players."


def test_extra_questions_from_txt_and_jsonl(tmp_path: Path) -> None:
    txt = tmp_path / "extra.txt"
    txt.write_text("  How do I bake bread?  \n\nWho won the cup?\n", encoding="utf-8")
    assert read_extra_questions(txt) == [("How do I bake bread?", "extra.txt"), ("Who won the cup?", "extra.txt")]
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(json.dumps({"question": "What is a car?", "other": 1}) + "\n\n", encoding="utf-8")
    assert read_extra_questions(str(jsonl)) == [("What is a car?", "more.jsonl")]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.txt", None, "file not found"),
    ("extra.csv", "a question?", "must be a .txt or .jsonl file"),
    ("bad.jsonl", "{not json", "bad.jsonl:1: invalid JSON"),
    ("list.jsonl", '["a list"]', 'list.jsonl:1: needs a non-empty "question" string'),
    ("blank.jsonl", '{"question": "  "}', 'blank.jsonl:1: needs a non-empty "question" string'),
    ("empty.txt", "\n  \n", "no questions in the file"),
])
def test_extra_questions_refuse_bad_files(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read_extra_questions(path)


def test_extra_questions_must_be_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Qu\xe9 es?".encode("latin-1"))
    with pytest.raises(UserError, match="not valid UTF-8"):
        read_extra_questions(path)


def test_lead_sentences_are_split_as_the_clean_stage_splits_the_domain():
    from docent.text.sentences import split_sentences, train_punkt

    text = "Lê Lợi was born c. 1385 in Thanh Hóa. He became emperor in 1428. He died in 1433."
    counts: Counter[str] = Counter()
    lead = lead_sentences([("Lê Lợi", text)], 2, counts)
    tokenizer, _ = train_punkt([text])
    assert [s.text for s in lead] == split_sentences(tokenizer, text)[:2] == [
        "Lê Lợi was born c. 1385 in Thanh Hóa.", "He became emperor in 1428."]
    assert counts["unrelated_sentences_beyond_lead"] == 1
