"""`python -m docent ask|chat` on the tiny model, adapters and a saved classifier."""

from __future__ import annotations

import pytest
from assistant_fixtures import REFUSAL, save_classifier, tiny_files, train_classifier
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
