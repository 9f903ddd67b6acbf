"""docent.evaluation.report on a hand-built EvalResult: answers.csv rows, the plot points, report.md."""

from __future__ import annotations

import csv
from pathlib import Path

from docent.evaluation.charts import Chart
from docent.evaluation.metrics import RowScores
from docent.evaluation.report import (
    answer_columns,
    answer_rows,
    fact_grid,
    headline_table,
    plot_points,
    render_report,
    worst_rows,
    write_answers_csv,
)
from docent.evaluation.runner import EvalResult, SplitResult
from docent.modeling.generation import AnswerNLL


def scores(bleu: float, f1: float = 0.5) -> RowScores:
    return RowScores(sentence_bleu=bleu, rouge_l=0.25, exact_match=0.0, f1=f1)


def split_result() -> SplitResult:
    rows = [{"id": "t1", "question": "Who was Lê Lợi?", "answer": "Lê Lợi was an emperor.", "short_answer": "emperor"},
            {"id": "t2", "question": "When | where?", "answer": "In 1428.", "short_answer": "1428"},
            {"id": "t3", "question": "What is Huế?", "answer": "Huế is a city.", "short_answer": "city"}]
    s = SplitResult("test", rows)
    s.answers = {"finetuned_rag": ["An emperor.", "I don't know.", "A river |  town"], "base": ["x", "y", "z"]}
    s.outcomes = {"finetuned_rag": ["correct", "abstained", "wrong"], "base": ["wrong"] * 3}
    s.sources = {"finetuned_rag": [["Lê Lợi", "Hanoi"], [], ["Huế"]]}
    s.row_scores = {"finetuned_rag": [scores(0.9), scores(0.0), scores(0.2)], "base": [scores(0.1)] * 3}
    s.nll = {"base": [AnswerNLL(nll=2.0, tokens=2), None, AnswerNLL(nll=0.0, tokens=1)]}
    return s


def metrics() -> dict:
    return {"n_questions.test": 3, "n_questions_available.test": 7,
            "base.test.correct": 0.0, "base.test.wrong": 1.0, "base.test.abstained": 0.0, "base.test.bleu": 12.3456,
            "base.test.f1": 0.5, "base.test.perplexity": float("nan"),
            "finetuned_rag.test.correct": 1 / 3, "finetuned_rag.test.wrong": 1 / 3,
            "finetuned_rag.test.abstained": 1 / 3, "finetuned_rag.test.f1": 0.25,
            "delta.test.f1": -0.25, "base.test.hit_max_new_tokens": 2,
            "classifier.accuracy": 0.875, "classifier.n_related": 5, "classifier.n_unrelated": 3,
            "classifier.test.recall": 0.8, "classifier.unrelated.specificity": 1.0, "few_shot_examples": 1}


def result() -> EvalResult:
    empty = {name: SplitResult(name, []) for name in ("test_unseen", "test_absent", "natural")}
    return EvalResult(splits={"test": split_result(), **empty}, metrics=metrics(),
                      few_shot=[("Who was Hồ Chí Minh?", "A revolutionary.")],
                      probes=[{"question": "Tell me about Hanoi", "base": "b " * 200, "finetuned": "Hanoi is old."}],
                      setup={"base_model": "tiny", "method": "lora", "context": "retrieved", "retrieval_k": 3,
                             "max_new_tokens": 6})


def test_answer_rows_carry_every_model_blank_where_not_run() -> None:
    rows = answer_rows(result())
    assert [r["id"] for r in rows] == ["t1", "t2", "t3"]  # only the split with rows
    first = rows[0]
    assert set(first) == set(answer_columns())
    assert first["finetuned_rag_answer"] == "An emperor." and first["finetuned_rag_outcome"] == "correct"
    assert first["finetuned_rag_sources"] == "Lê Lợi; Hanoi" and first["assistant_sources"] == ""
    assert first["finetuned_rag_sentence_bleu"] == "0.9000" and first["base_f1"] == "0.5000"
    assert first["finetuned_answer"] == "" and first["finetuned_f1"] == ""  # never run
    assert first["base_perplexity"] == "2.7183"  # exp(2.0 nats / 2 tokens) = e
    assert rows[1]["base_perplexity"] == "" and rows[2]["base_perplexity"] == "1.0000"  # no NLL: blank


def test_answers_csv_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    assert write_answers_csv(path, result()) == 3
    with open(path, encoding="utf-8", newline="") as fh:
        read = list(csv.DictReader(fh))
    assert read == [{k: str(v) for k, v in r.items()} for r in answer_rows(result())]
    assert read[1]["question"] == "When | where?"


def test_plot_points_are_the_0_1_metrics_grouped_by_metric() -> None:
    points = plot_points(metrics())
    assert points == [
        {"metric": "test correct (base)", "value": 0.0},
        {"metric": "test correct (finetuned_rag)", "value": 1 / 3},
        {"metric": "test abstained (base)", "value": 0.0},
        {"metric": "test abstained (finetuned_rag)", "value": 1 / 3},
        {"metric": "test f1 (base)", "value": 0.5},
        {"metric": "test f1 (finetuned_rag)", "value": 0.25},
    ]  # bleu (0-100) is left out: the bars share one axis


def test_tables_format_each_scale_and_skip_models_not_run() -> None:
    table = headline_table(metrics(), "test")
    assert table[0] == "| model | correct | wrong | abstained | sent. BLEU | BLEU | chrF | ROUGE-L | EM | F1 | PPL |"
    assert table[2] == "| base | 0.000 | 1.000 | 0.000 | – | 12.35 | – | – | – | 0.500 | – |"  # NaN -> –
    assert table[3].startswith("| fine-tuned + retrieval | 0.333 | 0.333 | 0.333 |")
    assert len(table) == 4  # only the two models with numbers
    assert fact_grid(metrics()) == ["| model | test |", "|---|---|",
                                    "| base | 0.000 / 1.000 / 0.000 |",
                                    "| fine-tuned + retrieval | 0.333 / 0.333 / 0.333 |"]


def test_worst_rows_wrong_first_then_abstained_never_correct() -> None:
    s = split_result()
    assert worst_rows(s) == [2, 1]
    assert worst_rows(s, n=1) == [2]
    assert worst_rows(s, model="base") == [0, 1, 2]  # ties broken by BLEU, F1, then order


def test_report_sections_and_escaping(tmp_path: Path) -> None:
    chart = Chart(path=tmp_path / "charts" / "loss.png", alt="loss per step", caption="Loss.")
    report = render_report(result(), probe_limit=20, charts=[chart], report_path=tmp_path / "report.md")
    assert report.startswith("# Evaluation report\n") and report.endswith("\n") and not report.endswith("\n\n")
    assert "Base model `tiny`" in report and "top 3 retrieved passages" in report
    assert "## test: other phrasings of facts taught in training (3 of 7 questions)" in report
    assert "Fine-tuned minus base: F1 -0.250." in report
    assert "Answers cut at eval.max_new_tokens: base 2." in report
    assert report.count("No questions in this split.") == 3
    assert "![loss per step](charts/loss.png)" in report  # relative to the report
    assert ("Accuracy 0.875 on 5 in-domain and 3 held-out unrelated questions; in-domain accepted: test 0.800; "
            "unrelated rejected: 1.000.") in report
    worst = report.split("## Fine-tuned + retrieval on test: the 2 worst answers", 1)[1]
    lines = [line for line in worst.splitlines() if line.startswith("| ") and "---" not in line][1:3]
    assert lines == ["| What is Huế? | city | A river \\| town | wrong | Huế |",
                     "| When \\| where? | 1428 | I don't know. | abstained | *(empty)* |"]
    assert "- base + retrieval: " + "b " * 9 + "b…" in report  # cut at probe_limit (20 characters)
    assert "- Q: Who was Hồ Chí Minh? — A: A revolutionary." in report


def test_overruled_abstentions_are_counted_per_model_and_split() -> None:
    """An answer written because the abstention was under retrieval.abstain_min_prob is counted
    (`<model>.<split>.abstentions_under_floor`); a model with none gets no key."""
    from docent.evaluation.runner import SplitResult, flat_metrics

    s = SplitResult("test", [{"question": "q1"}, {"question": "q2"}])
    s.answers = {"finetuned_rag": ["a", "b"], "base_rag": ["c", "d"]}
    s.corpus = {"finetuned_rag": {}, "base_rag": {}}
    s.floored = {"finetuned_rag": 2, "base_rag": 0}
    out = flat_metrics([s])
    assert out["finetuned_rag.test.abstentions_under_floor"] == 2
    assert "base_rag.test.abstentions_under_floor" not in out
