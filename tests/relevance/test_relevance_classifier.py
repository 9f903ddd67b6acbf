"""Relevance classifier: threshold rule, skops round trip, refusal of tampered files, the stage and the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from docent.cli import UserError
from docent.config import ClassifierParams
from docent.relevance.__main__ import main as relevance_cli
from docent.relevance.classifier import (
    MODEL_FILE,
    RelevanceClassifier,
    choose_threshold,
    load_classifier,
    save_classifier,
    train_classifier,
)
from stages.classifier import main as classifier_main

REPO = Path(__file__).resolve().parents[2]
PARAMS = ClassifierParams(word_ngram_max=0, char_ngram_min=1, char_ngram_max=4, hash_bits=14, sublinear_tf=True,
                          strip_accents=True, C=4.0, drop_question_words=True, min_recall=0.9,
                          max_unrelated_admitted=1.0, threshold_folds=0, background_articles=0)
PLACES = ["Hanoi", "Huế", "Saigon", "Đà Nẵng", "Hải Phòng", "Cần Thơ", "the Mekong Delta", "Tonkin"]
RULERS = ["Lê Lợi", "Trần Hưng Đạo", "the Trưng sisters", "Hồ Chí Minh", "Quang Trung", "Gia Long"]
TOPICS = ["photosynthesis", "the violin", "baking bread", "volcanoes", "the stock market", "chess openings",
          "the Amazon rainforest", "jazz music", "quantum mechanics", "football"]


def related_questions() -> list[str]:
    return ([f"When did {r} rule Vietnam from {p}?" for r in RULERS for p in PLACES]
            + [f"Which Vietnamese dynasty held {p}?" for p in PLACES])


def unrelated_questions() -> list[str]:
    return ([f"What is {t}?" for t in TOPICS] + [f"Who invented {t}?" for t in TOPICS]
            + [f"How does {t} work in {c}?" for t in TOPICS for c in ("Peru", "Norway", "Kenya")])


@pytest.fixture(scope="module")
def classifier() -> RelevanceClassifier:
    pipeline = train_classifier(related_questions(), unrelated_questions(), PARAMS, seed=0)
    return RelevanceClassifier(pipeline=pipeline, threshold=0.5)


def test_threshold_keeps_min_recall():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1, 0.65])
    labels = np.array([1, 1, 1, 1, 1, 0, 0])
    threshold = choose_threshold(scores, labels, min_recall=0.8)
    assert threshold == 0.6  # 4 of the 5 related scores are >= 0.6
    assert (scores[labels == 1] >= threshold).mean() >= 0.8
    assert choose_threshold(scores, labels, min_recall=1.0) == 0.2
    with pytest.raises(UserError):
        choose_threshold(scores, np.zeros(7, dtype=int), 0.9)


def test_threshold_floor_admits_few_unrelated():
    """One low related score would drag the threshold under most unrelated ones: the floor stops it."""
    related = [0.95, 0.9, 0.85, 0.8, 0.05]  # min_recall 1.0 alone would give 0.05
    unrelated = [0.7, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    scores = np.array(related + unrelated)
    labels = np.array([1] * 5 + [0] * 10)
    assert choose_threshold(scores, labels, min_recall=1.0) == 0.05
    # at most 10% of 10 unrelated = 1 may score >= t: t just above the second highest (0.4)
    t = choose_threshold(scores, labels, min_recall=1.0, max_unrelated_admitted=0.1)
    assert 0.4 < t < 0.41
    assert (scores[labels == 0] >= t).sum() == 1 and (scores[labels == 1] >= t).sum() == 4
    # a floor below the recall threshold changes nothing
    assert choose_threshold(scores, labels, min_recall=0.8, max_unrelated_admitted=0.1) == 0.8


def test_the_topic_decides_not_the_form_of_the_question():
    """A manual's questions are "How do I ...?", the unrelated ones "Who was ...?": with the form words
    as word n-grams, any how-to question looks like the manual's (word n-grams alone here: they are
    what `drop_question_words` changes)."""
    tasks = ["create", "activate", "delete", "copy", "upgrade", "rename"]
    things = ["a virtual environment", "the pip cache", "a site-packages folder", "the interpreter"]
    related = [f"How do I {task} {thing}?" for task in tasks for thing in things]
    unrelated = ([f"Who was {t}?" for t in TOPICS] + [f"What is {t}?" for t in TOPICS]
                 + [f"When did {t} begin in {c}?" for t in TOPICS for c in ("Peru", "Norway", "Kenya")])
    everyday = ["How do I boil an egg?", "How do you tie a tie?", "How do I make pancakes?"]
    scores = {}
    for drop in (False, True):
        params = dataclasses.replace(PARAMS, word_ngram_max=2, char_ngram_max=0, drop_question_words=drop)
        model = RelevanceClassifier(pipeline=train_classifier(related, unrelated, params, seed=0), threshold=0.5)
        scores[drop] = model.score(everyday)
        assert model.is_related("How do I activate a virtual environment on Windows?")[0]
    assert (scores[True] < scores[False]).all() and (scores[True] < 0.5).all(), scores
    assert (scores[False] > 0.5).sum() >= 2, scores  # the form alone let most of them in


def test_question_words_are_left_out_whatever_their_case_and_punctuation():
    from docent.relevance.classifier import without_question_words

    assert without_question_words(["How do I make a virtual env?", "What does --without-pip do?",
                                   "Who was Uncle Ho", "what's the capital of Vietnam"]) == [
        "make virtual env", "--without-pip", "Uncle Ho", "capital Vietnam"]


def test_separates_topics(classifier):
    assert classifier.is_related("Who ruled Huế after Gia Long?")[0]
    assert not classifier.is_related("What is the capital of Peru?")[0]
    related, score = classifier.is_related("When did Quang Trung rule Vietnam?")
    assert related and 0.5 <= score <= 1.0


def test_save_load_round_trip(classifier, tmp_path):
    save_classifier(classifier, tmp_path, PARAMS, seed=0)
    meta = json.loads((tmp_path / "classifier.json").read_text())
    assert meta["threshold"] == 0.5 and meta["params"]["char_ngram_max"] == 4
    assert {"scikit-learn", "skops", "numpy", "python"} <= set(meta["versions"])
    loaded = load_classifier(tmp_path)
    questions = ["Who was Lê Lợi?", "How do I bake bread?", "Trung sisters"]
    np.testing.assert_allclose(loaded.score(questions), classifier.score(questions))
    assert loaded.threshold == classifier.threshold
    assert loaded.score([]).shape == (0,)


def test_a_model_trained_twice_saves_to_the_same_bytes(tmp_path):
    # two fits: other objects, other id()s (skops names its files by them), other write times
    words = dataclasses.replace(PARAMS, word_ngram_max=2)  # the word vectorizer is the one that caches an id
    first, second = (RelevanceClassifier(train_classifier(related_questions(), unrelated_questions(), words, seed=0),
                                         threshold=0.5) for _ in range(2))
    # sklearn caches id(stop_words) in the vectorizers: in another process that is another address
    shifted = [v for v in second.pipeline.get_params(deep=True).values() if hasattr(v, "_stop_words_id")]
    assert shifted
    for vectorizer in shifted:
        vectorizer._stop_words_id += 16
    for name, model in (("a", first), ("b", second)):
        (tmp_path / name).mkdir()
        save_classifier(model, tmp_path / name, PARAMS, seed=0)
    assert (tmp_path / "a" / MODEL_FILE).read_bytes() == (tmp_path / "b" / MODEL_FILE).read_bytes()
    questions = ["Who was Lê Lợi?", "How do I bake bread?"]
    np.testing.assert_allclose(load_classifier(tmp_path / "b").score(questions), second.score(questions))


def test_tampered_file_is_refused(classifier, tmp_path):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    save_classifier(classifier, tmp_path, PARAMS, seed=0)
    # a pipeline that would call an arbitrary function on load-and-use: its types are not on the list
    tampered = Pipeline([("run", FunctionTransformer(func=print)), ("model", classifier.pipeline)])
    sio.dump(tampered, tmp_path / MODEL_FILE)
    with pytest.raises(UserError, match="untrusted types"):
        load_classifier(tmp_path)


def test_missing_or_corrupt_files_are_user_errors(classifier, tmp_path):
    with pytest.raises(UserError, match="classifier not found"):
        load_classifier(tmp_path)
    save_classifier(classifier, tmp_path, PARAMS, seed=0)
    (tmp_path / MODEL_FILE).write_bytes(b"not a zip file")
    with pytest.raises(UserError, match="not a readable skops file"):
        load_classifier(tmp_path)


def write_split(split_dir: Path, sentences: Path) -> None:
    split_dir.mkdir()
    related, unrelated = related_questions(), unrelated_questions()
    chunks = {"train": related[0::3], "val": related[1::3], "test": related[2::3][:10],
              "test_unseen": related[2::3][10:], "test_absent": []}
    for name, questions in chunks.items():
        rows = [{"id": f"{name}{k}", "question": q, "answer": "A sentence.", "doc_id": "d", "sent_ids": [k],
                 "generator": "rules", "fact_id": f"d#{k}", "qtype": "when"} for k, q in enumerate(questions)]
        (split_dir / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                 encoding="utf-8")
    for name, questions in {"unrelated_train": unrelated[0::3], "unrelated_val": unrelated[1::3],
                            "unrelated_test": unrelated[2::3]}.items():
        rows = [{"id": f"{name}{k}", "question": q, "source": f"Not a snapshot title {k}"}
                for k, q in enumerate(questions)]
        (split_dir / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    sentences.write_text(json.dumps({"doc_id": "d", "title": "Hanoi", "sent_id": 0,
                                     "text": "Hanoi is the capital of Vietnam."}, ensure_ascii=False) + "\n",
                         encoding="utf-8")


def run_stage(tmp_path: Path):
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["classifier"]["background_articles"] = 200  # the path runs; all 10,000 would only add time
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    natural = tmp_path / "natural.jsonl"
    # the second question's document is not among the sources (held out, as split.absent_documents does)
    natural.write_text("".join(json.dumps({"domain": domain, "question": q, "answer": "A sentence.",
                                           "short_answer": "x", "doc_title": title}) + "\n"
                               for domain, q, title in [
                                   (params["assistant"]["domain"], "when did gia long rule hue", "HANOI"),
                                   (params["assistant"]["domain"], "who was le loi", "Lê Lợi"),
                                   ("astronomy", "what is a comet", "Comet")]), encoding="utf-8")
    everyday = tmp_path / "everyday.txt"
    everyday.write_text("# hand-written\nhow do i boil an egg\n\nwhats the weather tomorrow\n", encoding="utf-8")
    args = ["--params", str(tmp_path / "params.yaml"), "--split-dir", str(tmp_path / "split"),
            "--sentences", str(tmp_path / "sentences.jsonl"), "--natural", str(natural), "--everyday", str(everyday),
            "--out", str(tmp_path / "classifier"),
            "--metrics", str(tmp_path / "classifier.json"),
            "--machine-metrics", str(tmp_path / "machine_classifier.json")]
    return CliRunner().invoke(classifier_main, args)


def test_classifier_stage_output_contract(tmp_path):
    write_split(tmp_path / "split", tmp_path / "sentences.jsonl")
    result = run_stage(tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "classifier").iterdir()) == ["classifier.json", "classifier.skops"]
    metrics = json.loads((tmp_path / "classifier.json").read_text())
    for key in ("precision", "recall", "f1", "roc_auc", "threshold"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["f1"] > 0.9
    # the probes are measured: this domain's natural question on a source document, the one on a
    # document missing from the sources apart, both everyday ones (comment and blank line skipped)
    assert metrics["n_natural"] == 1 and metrics["n_natural_on_held_out_documents"] == 1
    assert metrics["n_everyday"] == 2
    loaded = load_classifier(tmp_path / "classifier")
    for name, probe in (("natural", ["when did gia long rule hue"]),
                        ("natural_on_held_out_documents", ["who was le loi"]),
                        ("everyday", ["how do i boil an egg", "whats the weather tomorrow"])):
        assert metrics[f"{name}_admitted"] == pytest.approx(
            float(np.mean(loaded.score(probe) >= loaded.threshold)), abs=1e-6)
    loaded = load_classifier(tmp_path / "classifier")
    assert loaded.threshold == pytest.approx(metrics["threshold"], abs=1e-6)
    cli = CliRunner().invoke(relevance_cli, ["--model", str(tmp_path / "classifier"),
                                             "When did Gia Long rule Vietnam from Huế?", "Who invented the violin?"])
    assert cli.exit_code == 0, cli.output
    lines = cli.output.strip().splitlines()
    assert lines[0].startswith("related\t") and lines[1].startswith("unrelated\t")


def test_classifier_stage_refuses_an_empty_split(tmp_path):
    write_split(tmp_path / "split", tmp_path / "sentences.jsonl")
    (tmp_path / "split" / "unrelated_val.jsonl").write_text("", encoding="utf-8")
    result = run_stage(tmp_path)
    assert result.exit_code == 2 and "unrelated_val.jsonl: file is empty" in result.output
    assert not (tmp_path / "classifier").exists()


def test_cli_without_a_model_is_a_user_error(tmp_path):
    result = CliRunner().invoke(relevance_cli, ["--model", str(tmp_path / "none"), "Who was Lê Lợi?"])
    assert result.exit_code == 2 and "classifier not found" in result.output


def test_background_articles_leave_out_the_domain_and_held_out_sources():
    from docent.relevance.train import background_articles

    snapshot = {
        "Hanoi": {"extract": "Hanoi is the capital of Vietnam."},                     # a domain document
        "Long Biên Bridge": {"extract": "The bridge crosses the Red River in Hanoi."},  # names one
        "Peru": {"extract": "Peru is a country in South America."},                     # an unrelated_test source
        "Violin": {"extract": "The violin is a string instrument."},
        "Chess": {"extract": "Chess is a board game."},
        "Empty": {"extract": ""},
    }
    domain = [{"doc_id": "d", "title": "Hanoi", "text": "Hanoi is the capital of Vietnam."}]
    chosen = background_articles(snapshot, domain, exclude={"Peru"}, n_articles=10, seed=0)
    assert [t for t, _ in chosen] == ["Chess", "Violin"]
    one = background_articles(snapshot, domain, exclude={"Peru"}, n_articles=1, seed=0)
    assert len(one) == 1 and one == background_articles(snapshot, domain, exclude={"Peru"}, n_articles=1, seed=0)
    assert background_articles(snapshot, domain, exclude=set(), n_articles=0, seed=0) == []


@pytest.mark.parametrize(("change", "message"), [
    ({"word_ngram_max": 0, "char_ngram_max": 0}, "both 0: no features"),
    ({"char_ngram_min": 5, "char_ngram_max": 3}, "classifier.char_ngram_min = 5: must be <="),
    ({"hash_bits": 30}, "classifier.hash_bits"),
])
def test_feature_params_are_checked(tmp_path, change, message):
    from docent.config import load_params

    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["classifier"].update(change)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    with pytest.raises(UserError, match=message):
        load_params(tmp_path / "params.yaml", "classifier")


def test_out_of_fold_scores_come_from_models_that_never_saw_the_fact():
    from dataclasses import replace

    from docent.relevance.train import out_of_fold_scores

    # two phrasings per fact; an unseen fact's questions score lower than a memorised one's
    related = related_questions()
    train = [{"question": q, "fact_id": f"f{k // 2}"} for k, q in enumerate(related)]
    unrelated = [{"question": q, "source": f"s{k % 7}"} for k, q in enumerate(unrelated_questions())]
    splits = {"train": train, "unrelated_train": unrelated}
    scores, labels = out_of_fold_scores(splits, [], [], replace(PARAMS, threshold_folds=3), seed=0)
    assert labels.tolist() == [1] * len(train) + [0] * len(unrelated)
    # the same questions scored by the model trained on all of them: higher, since it saw each one
    full = RelevanceClassifier(pipeline=train_classifier(related, [r["question"] for r in unrelated], PARAMS, 0),
                               threshold=0.5)
    assert scores[:len(train)].mean() < full.score(related).mean()
    assert scores[:len(train)].min() > scores[len(train):].max() - 0.5  # still a classifier, not noise
    # deterministic
    again, _ = out_of_fold_scores(splits, [], [], replace(PARAMS, threshold_folds=3), seed=0)
    assert np.array_equal(scores, again)
    # folds = 0 or too few groups: no out-of-fold scores
    none, none_labels = out_of_fold_scores({"train": train[:2], "unrelated_train": unrelated}, [], [],
                                           replace(PARAMS, threshold_folds=3), seed=0)
    assert none.size == 0 and none_labels.size == 0
