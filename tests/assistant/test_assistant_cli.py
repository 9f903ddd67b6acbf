"""`python -m docent ask|chat` on the tiny model, adapters and a saved classifier."""

from __future__ import annotations

import pytest
from assistant_fixtures import ABSTAIN, REFUSAL, save_classifier, tiny_files, train_classifier
from click.testing import CliRunner

from docent.assistant.cli import main

HCM = "Who was Hồ Chí Minh?"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tiny_files(tmp_path_factory)


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return save_classifier(train_classifier(), tmp_path_factory.mktemp("clf") / "classifier")


def run(files, classifier_dir, *args, input=None):
    common = ["--params", str(files.params), "--finetuned", str(files.finetuned),
              "--classifier", str(classifier_dir), "--model-cache", str(files.cache),
              "--adapter", f"other={files.other_adapter}"]
    command, *rest = args
    return CliRunner().invoke(main, [command, *common, *rest], input=input, catch_exceptions=False)


def test_ask_answers_related_and_refuses_unrelated(files, classifier_dir):
    answered = run(files, classifier_dir, "ask", HCM)
    assert answered.exit_code == 0, answered.output
    assert answered.stdout.strip() and REFUSAL not in answered.stdout
    refused = run(files, classifier_dir, "ask", "How do I bake bread?")
    assert refused.exit_code == 0 and refused.stdout.strip() == REFUSAL
    base = run(files, classifier_dir, "ask", HCM, "--no-adapter")
    assert base.exit_code == 0 and base.stdout.strip() and base.stdout != answered.stdout


def test_chat_keeps_context_switches_adapters_and_resets(files, classifier_dir):
    script = "\n".join([
        HCM,
        "When did he die?",  # a follow-up: answered because the previous turn was about the domain
        "/models",
        "/adapter other",
        HCM,
        "/base",
        HCM,
        "/adapter nope",
        "/reset",
        "When did he die?",  # no context any more: refused
        "/quit",
    ]) + "\n"
    result = run(files, classifier_dir, "chat", input=script)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "only knows about Vietnamese history" in out
    answers = [line.split("docent> ", 1)[1] for line in out.splitlines() if "docent> " in line]
    assert len(answers) == 5
    first, follow_up, other, base, after_reset = answers
    assert REFUSAL not in follow_up and follow_up.strip()
    assert len({first, other, base}) == 3  # three models, three different answers on one base
    assert after_reset.strip() == REFUSAL
    assert "finetuned (active), other, base" in out
    assert "(answering with other)" in out and "(answering with base)" in out
    assert "unknown model 'nope'" in out and "(conversation cleared)" in out
    assert "[base] you> " in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--adapter", "broken"], "expected NAME=PATH"),
        (["--adapter", "base=/tmp"], "reserved"),
        (["--adapter", "x=/nonexistent"], "no adapter_config.json"),
        (["--classifier", "/nonexistent/classifier"], "relevance classifier not found"),
    ],
)
def test_bad_options_are_one_line_errors(files, classifier_dir, args, message):
    common = ["--params", str(files.params), "--finetuned", str(files.finetuned), "--classifier",
              str(classifier_dir), "--model-cache", str(files.cache)]
    result = CliRunner().invoke(main, ["ask", *common, *args, HCM])
    assert result.exit_code == 2 and message in result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_missing_finetuned_model_suggests_no_adapter(files, classifier_dir, tmp_path):
    common = ["--params", str(files.params), "--classifier", str(classifier_dir), "--model-cache", str(files.cache)]
    missing = CliRunner().invoke(main, ["ask", *common, "--finetuned", str(tmp_path / "none"), HCM])
    assert missing.exit_code == 2 and "pass --no-adapter" in missing.stderr
    base = CliRunner().invoke(main, ["ask", *common, "--finetuned", str(tmp_path / "none"), "--no-adapter", HCM])
    assert base.exit_code == 0 and base.stdout.strip()


def test_ask_past_the_timeout_exits_1_with_an_error_line(files, classifier_dir, tmp_path):
    from assistant_fixtures import write_params

    params = write_params(tmp_path / "params.yaml", files.base, timeout_s=1e-6)
    result = CliRunner().invoke(main, ["ask", "--params", str(params), "--finetuned", str(files.finetuned),
                                       "--classifier", str(classifier_dir), "--model-cache", str(files.cache), HCM])
    assert result.exit_code == 1 and "error: the assistant is busy" in result.stderr
    refused = CliRunner().invoke(main, ["ask", "--params", str(params), "--finetuned", str(files.finetuned),
                                        "--classifier", str(classifier_dir), "--model-cache", str(files.cache),
                                        "How do I bake bread?"])
    assert refused.exit_code == 0 and refused.stdout.strip() == REFUSAL  # refusals need no time budget


# ---------------------------------------------------------------- retrieval and sources

HCM_SOURCE = "Sources: Hồ Chí Minh, Life (https://en.wikipedia.org/wiki/Ho_Chi_Minh)"


def run_grounded(files, classifier_dir, *args, params=None, input=None):
    """A command on the fine-tuned copy whose manifest says context: retrieved (so it retrieves by default)."""
    common = ["--params", str(params or files.params), "--finetuned", str(files.grounded),
              "--classifier", str(classifier_dir), "--model-cache", str(files.cache)]
    command, *rest = args
    return CliRunner().invoke(main, [command, *common, *rest], input=input)


def test_ask_retrieves_by_default_for_a_model_trained_with_passages(files, classifier_dir):
    result = run_grounded(files, classifier_dir, "ask", HCM, "--index", str(files.index))
    assert result.exit_code == 0, result.output
    answer, sources = result.stdout.rstrip("\n").split("\n")
    assert answer.strip() and REFUSAL not in answer and ABSTAIN not in answer
    assert sources == HCM_SOURCE
    # closed-book on request: no index needed, no sources, another prompt and so another answer
    closed = run_grounded(files, classifier_dir, "ask", HCM, "--no-retrieval", "--index", "/nonexistent")
    assert closed.exit_code == 0, closed.output
    assert "Sources:" not in closed.stdout and closed.stdout.strip() and closed.stdout.strip() != answer.strip()
    # nothing in the index about it: the abstention, no sources line
    absent = run_grounded(files, classifier_dir, "ask", "Who were the Trưng sisters?", "--index", str(files.index))
    assert absent.exit_code == 0 and absent.stdout.strip() == ABSTAIN


def test_chat_follow_up_cites_the_earlier_questions_entity(files, classifier_dir):
    script = f"{HCM}\nWhen did he die?\nHow do I bake bread?\n"
    result = run_grounded(files, classifier_dir, "chat", "--index", str(files.index), input=script)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Answers cite their sources" in lines[0]
    answers = [i for i, line in enumerate(lines) if "docent> " in line]
    assert len(answers) == 3
    first, follow_up, bread = answers
    assert lines[first + 1] == HCM_SOURCE
    # alone, "When did he die?" finds Lê Lợi's passage first; in the conversation, Hồ Chí Minh's
    assert "Hồ Chí Minh" in lines[follow_up + 1] and lines[follow_up + 1].startswith("Sources: ")
    assert lines[bread].endswith(REFUSAL) and not lines[bread + 1:bread + 2][0].startswith("Sources:")


def test_index_problems_are_one_line_errors(files, classifier_dir, tmp_path):
    import json

    from assistant_fixtures import build_index, retrieval_params, write_params

    missing = run_grounded(files, classifier_dir, "ask", HCM, "--index", str(tmp_path / "none"))
    stale = run_grounded(files, classifier_dir, "ask", HCM, "--index", str(build_index(tmp_path / "i7",
                                                                                          passage_words=7)))
    corrupt_dir = build_index(tmp_path / "corrupt")
    (corrupt_dir / "manifest.json").write_text("{not json", encoding="utf-8")
    corrupt = run_grounded(files, classifier_dir, "ask", HCM, "--index", str(corrupt_dir))
    edited_dir = build_index(tmp_path / "edited")
    rows = (edited_dir / "passages.jsonl").read_text(encoding="utf-8").replace("1969", "1970")
    (edited_dir / "passages.jsonl").write_text(rows, encoding="utf-8")
    edited = run_grounded(files, classifier_dir, "ask", HCM, "--index", str(edited_dir))
    other_abstain = write_params(tmp_path / "params.yaml", files.base, abstain="No idea.")
    retrained = run_grounded(files, classifier_dir, "ask", HCM, "--index", str(files.index), params=other_abstain)
    for result, message in [(missing, "manifest.json: missing; run `dvc repro index`"),
                            (stale, f"built with passage_words = 7, but this run has "
                                    f"{retrieval_params().passage_words}; run `dvc repro index`"),
                            (corrupt, "manifest.json: unreadable"),
                            (edited, "passages.jsonl: does not match"),
                            (retrained, "trained to abstain with")]:
        assert result.exit_code == 2, (message, result.output)
        [line] = result.stderr.strip().splitlines()  # one line, no traceback
        assert line.startswith("error: ") and message in line
    assert "or answer closed-book with --no-retrieval" in missing.stderr
    assert json.loads((files.grounded / "docent.json").read_text(encoding="utf-8"))["context"] == "retrieved"
