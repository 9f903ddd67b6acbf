""""How do I ...?" questions answered by a code block: the procedures of a manual.

A manual introduces a command with the sentence before it ("To create a virtual environment, ...
run the venv module as a script with the directory path:" / "python3 -m venv tutorial-env"); clean
keeps that sentence as the block's `context`. What the sentence says the command is for becomes the
question, the command (the block's first line, shell prompt dropped) the short answer, and the
sentence ending on the command the answer:

    Q: How do I create a virtual environment?
    A: To create a virtual environment, ... with the directory path: python3 -m venv tutorial-env.

Four ways manuals say it are read, each with the verb phrase it names:
- "To <do X>, ...:"                             (purpose first)
- "You can (also) <do X> by ...:"                (means after)
- "... run/use/type <command> to <do X>:"        (purpose after the command)
- "<command> will <do X>:" / "Users can <do X> with <command>:" (the command named in the sentence)

Everything else ("On Windows, run:", "For example:") names no purpose, and a block without a
context (a PDF's listing) has none to read: both are counted, never asked. Pairs go through the
same selection step as every generator's (docent/qa/selection.py): grounding, question and short
answer checks, dedupe, visitor forms.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from docent.qa.records import QAPair
from docent.qa.selection import Candidate, Selection

GENERATOR = "howto"

_PURPOSE_FIRST = re.compile(r"^To (?P<vp>[a-z][^,:;]{3,80}?), .*:$")
_MEANS_AFTER = re.compile(r"^You can (?:also )?(?P<vp>[a-z][^,:;]{3,80}?) by .*:$")
_PURPOSE_AFTER = re.compile(r"\b(?:run|use|type|execute) (?P<cmd>\S.{1,60}?) to (?P<vp>[a-z][^,:;]{3,80}):$")
# a command: a lowercase program name, then up to five options or words ("python -m pip list")
_COMMAND = r"[a-z][\w.-]*(?: -{1,2}[\w-]+| [a-z][\w-]*){0,5}"
_COMMAND_WILL = re.compile(rf"^(?P<cmd>{_COMMAND}) will (?P<vp>[a-z][^,:;]{{3,80}}):$")
_USERS_CAN = re.compile(r"^(?:Users|You) can (?:then )?(?P<vp>[a-z][^,:;]{3,80}?) with (?P<cmd>\S[^,:;]{0,60}):$")
# a shell prompt before the command: "$ ", "(tutorial-env) $ ", "c:\>", ">>> "
_PROMPT = re.compile(r"^(?:\([^)]*\)\s*)?(?:\$|#|>>>|[A-Za-z]:\\[^>]*>)\s*")


def first_command(code: str) -> str:
    """The block's first non-empty line without its shell prompt."""
    for line in code.splitlines():
        line = _PROMPT.sub("", line.strip()).strip()
        if line:
            return line
    return ""


def purpose(context: str) -> tuple[str, str] | None:
    """(what the command does, as a verb phrase; the command the sentence names, or "") or None."""
    text = " ".join(context.split())
    for pattern in (_PURPOSE_FIRST, _MEANS_AFTER, _PURPOSE_AFTER, _COMMAND_WILL, _USERS_CAN):
        match = pattern.search(text)
        if match:
            named = match.groupdict().get("cmd") or ""
            return match.group("vp").strip(), named.strip()
    return None


def howto_pairs(code_rows: Iterable[dict[str, Any]], selection: Selection, counts: Counter[str]) -> list[QAPair]:
    """QA pairs for the code blocks whose introducing sentence names what they are for."""
    pairs: list[QAPair] = []
    for row in code_rows:
        counts["code_blocks"] += 1
        context = " ".join(str(row.get("context") or "").split())
        found = purpose(context) if context.endswith(":") else None
        if found is None:
            counts["code_blocks_without_purpose"] += 1
            continue
        verb_phrase, named = found
        # the command the sentence names ("python -m pip list will display ...") is the answer; else
        # the block's first line ("python3 -m venv tutorial-env")
        command = named or first_command(str(row["text"]))
        if not command:  # a block of prompts alone: nothing to answer with
            counts["code_blocks_without_command"] += 1
            continue
        question = f"How do I {verb_phrase}?"
        answer = context if named else f"{context} {command}"
        answer = answer.rstrip(":") + ("" if answer.endswith((".", "!", "?")) else ".")
        # grounded in the block as the index holds it: the sentence, then the code
        passage = f"{context}\n{row['text']}"
        kept = selection.keep([(answer, [Candidate("how", question, command)])], passage, str(row["title"]),
                              str(row.get("section") or ""), str(row["doc_id"]).partition(":")[0])
        if not kept:
            counts["code_blocks_without_question"] += 1
        for kept_answer, cand in kept:
            pairs.append(QAPair(question=cand.question, answer=kept_answer, short_answer=cand.short,
                                doc_id=str(row["doc_id"]), sent_ids=(str(row["code_id"]),),
                                fact_id=str(row["code_id"]), qtype="howto", generator=GENERATOR,
                                variant_of=cand.variant_of))
    return pairs
