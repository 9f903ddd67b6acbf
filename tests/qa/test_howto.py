from __future__ import annotations

from collections import Counter

import pytest

from docent.qa.howto import first_command, howto_pairs, purpose
from docent.qa.selection import Selection


@pytest.mark.parametrize(("context", "expected"), [
    ("To deactivate a virtual environment, type:", ("deactivate a virtual environment", "")),
    ("You can also install a specific version of a package by giving the version number:",
     ("install a specific version of a package", "")),
    ("You can supply another number, or you can run python -m pip install --upgrade to upgrade the package:",
     ("upgrade the package", "python -m pip install --upgrade")),
    ("python -m pip list will display all of the packages installed:",
     ("display all of the packages installed", "python -m pip list")),
    ("Users can then install all the necessary packages with install -r:",
     ("install all the necessary packages", "install -r")),
    ("On Windows, run:", None),
    ("For example:", None),
    ("The command, if run with -h, will show the available options:", None),  # names no command
])
def test_purpose_of_an_introducing_sentence(context: str, expected: tuple[str, str] | None) -> None:
    assert purpose(context) == expected


def test_first_command_drops_the_prompt() -> None:
    assert first_command("(tutorial-env) $ python -m pip install novas\nCollecting novas") == \
        "python -m pip install novas"
    assert first_command("\nc:\\>c:\\Python35\\python -m venv c:\\path\\to\\myenv") == \
        "c:\\Python35\\python -m venv c:\\path\\to\\myenv"
    assert first_command("   \n") == ""


def test_pairs_go_through_the_selection_step() -> None:
    rows = [
        {"doc_id": "files:t.html", "title": "Virtual Environments and Packages", "code_id": "files:t.html#code0",
         "section": "", "context": "To create a virtual environment, run the venv module with the path:",
         "text": "python3 -m venv tutorial-env"},
        # the command is the question's own word: repeating the question would score as right
        {"doc_id": "files:t.html", "title": "Virtual Environments and Packages", "code_id": "files:t.html#code1",
         "section": "", "context": "To deactivate a virtual environment, type:", "text": "deactivate"},
        {"doc_id": "files:t.html", "title": "Virtual Environments and Packages", "code_id": "files:t.html#code2",
         "section": "", "context": "", "text": "4 CARD32 N_ALIASES"},
        {"doc_id": "files:t.html", "title": "Virtual Environments and Packages", "code_id": "files:t.html#code3",
         "section": "", "context": "To list the packages, type:", "text": "$\n(env) $"},
    ]
    counts: Counter[str] = Counter()
    pairs = howto_pairs(rows, Selection(4, 60, 0.6, True, counts), counts)
    assert [(p.question, p.short_answer, p.sent_ids, p.qtype) for p in pairs] == [
        ("How do I create a virtual environment?", "python3 -m venv tutorial-env", ("files:t.html#code0",), "howto")]
    assert pairs[0].answer == "To create a virtual environment, run the venv module with the path: " \
                              "python3 -m venv tutorial-env."
    assert counts["code_blocks"] == 4 and counts["code_blocks_without_purpose"] == 1
    assert counts["code_blocks_without_command"] == 1
    assert counts["code_blocks_without_question"] == 1 and counts["rejected_short_answer_vague"] == 1
