"""Punkt trained on the corpus itself: abbreviations handled, deterministic, no network."""

from __future__ import annotations

import socket

import pytest

from docent.text.sentences import split_sentences, train_punkt

CORPUS = [
    "The U.S. Congress approved the resolution in 1964. Johnson then sent more troops.",
    "Lê Lợi lived c. 1384 – 1433. He founded the Later Lê dynasty in 1428.",
    "The church of St. Joseph stands in Hanoi. It was built by the French.",
    "John F. Kennedy was elected in 1960. He was assassinated in 1963.",
    "Hồ Chí Minh declared independence in 1945. The French returned soon after.",
    "The emperor (r. 1802–1820) unified the country. Gia Long made Huế his capital.",
    "Many historians, e.g. Taylor, disagree. Others do not.",
    "It was 40,000 years ago. People arrived from the north.",
]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_splits_with_abbreviations_and_without_network(no_network: None) -> None:
    tokenizer, _ = train_punkt(CORPUS)
    assert [split_sentences(tokenizer, p) for p in CORPUS] == [
        ["The U.S. Congress approved the resolution in 1964.", "Johnson then sent more troops."],
        ["Lê Lợi lived c. 1384 – 1433.", "He founded the Later Lê dynasty in 1428."],
        ["The church of St. Joseph stands in Hanoi.", "It was built by the French."],
        ["John F. Kennedy was elected in 1960.", "He was assassinated in 1963."],
        ["Hồ Chí Minh declared independence in 1945.", "The French returned soon after."],
        ["The emperor (r. 1802–1820) unified the country.", "Gia Long made Huế his capital."],
        ["Many historians, e.g. Taylor, disagree.", "Others do not."],
        ["It was 40,000 years ago.", "People arrived from the north."],
    ]


def test_training_is_deterministic() -> None:
    first, _ = train_punkt(CORPUS)
    second, _ = train_punkt(list(CORPUS))
    assert first._params.abbrev_types == second._params.abbrev_types
    assert first._params.collocations == second._params.collocations
    assert first._params.sent_starters == second._params.sent_starters
    assert first._params.ortho_context == second._params.ortho_context


def test_nltk_data_is_never_needed(monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    import nltk

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("nltk.data lookup attempted")

    monkeypatch.setattr(nltk.data, "load", refuse)
    monkeypatch.setattr(nltk.data, "find", refuse)
    monkeypatch.setattr(nltk, "download", refuse)
    tokenizer, _ = train_punkt(["One sentence here. Another one there."])
    assert split_sentences(tokenizer, "A first one. A second one.") == ["A first one.", "A second one."]


def test_a_table_row_or_markup_is_not_prose_but_prose_with_code_words_is():
    from docent.text.sentences import prose_share

    assert prose_share("4 CARD32 N_ALIASES 8*N_ALIASES AliasListEntry") == 0.0
    assert prose_share('<match type="string" offset="0" value="diff"/>') < 0.3
    assert prose_share("root-XML elements have namespaceURI and localName attributes.") > 0.55
    assert prose_share("Hồ Chí Minh founded the Democratic Republic of Vietnam in 1945.") > 0.9
    assert prose_share("UNESCO lists three sites in Laos.") == 1.0
    assert prose_share("") == 0.0
