"""What kind of answer a question asks for, and whether a passage can hold one.

"when did saigon fall" wants a time, "how long is the mekong river" a number; a passage without a
year or a number cannot answer them however close its words are. Meaning-based retrieval ranks the
entity's lead sentence first for such questions ("The Mekong or Mekong River is a transboundary
river ...") and a small model copies the first passage it is given, so the fused ranking lifts the
passages that hold the kind of answer asked for (`retrieval.answer_type_bonus`, params.yaml).

Only the two kinds a passage's text shows without a parse: a time (a year, an era, a century, a
month) and a number. Questions of every other kind rank as before.
"""

from __future__ import annotations

import re
from typing import Literal

AnswerType = Literal["time", "number"]

# "when ...", "french indochina established when", "what year ...", "bach dang battle what year": a
# time. Visitors type keywords then the wh-phrase as often as a whole question, so the phrase counts
# anywhere but "when", which only at either end asks (not "which variable is set when i activate").
_TIME_QUESTION = re.compile(
    r"^(?:since |until )?when\b|\bwhen\W*$|\b(?:what|which) (?:year|century|decade|date|month)\b"
    r"|^(?:in |during |from )?(?:what|which) (?:era|period)\b")
# "how many ...", "how long ...", "how far away is the moon", "whats the population of ...": a number
_NUMBER_QUESTION = re.compile(
    r"\bhow (?:many|much|long|big|old|far|tall|large|high|deep|wide|heavy|hot|cold|fast|tilted)\b"
    r"|^(?:what|whats|which)(?: is| was| are| were)? (?:the )?(?:population|percentage|number|area|length|size"
    r"|height|depth|mass|diameter|distance|temperature|age|speed)\b")
_TIME = re.compile(
    r"\b(?:1\d{3}|20\d{2})\b|\b\d{1,4}s?\s*(?:BC|BCE|AD|CE)\b|\b(?:AD|BC|BCE|CE)\s*\d{1,4}\b"
    r"|\b\d{1,2}(?:st|nd|rd|th)[- ]century\b|\b(?:January|February|March|April|May|June|July|August|September"
    r"|October|November|December)\b")
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred"
    r"|hundreds|thousand|thousands|million|millions|billion|billions|dozen|dozens|half)\b", re.IGNORECASE)


def asked_answer_type(question: str) -> AnswerType | None:
    """The kind of answer `question` asks for, when its wording says so; None for every other question."""
    q = " ".join(question.casefold().split())
    if _TIME_QUESTION.search(q):
        return "time"
    if _NUMBER_QUESTION.search(q):
        return "number"
    return None


def holds_answer_type(answer_type: AnswerType, text: str) -> bool:
    """Whether `text` states something of that kind: a year or date for a time, any number for a number."""
    return bool((_TIME if answer_type == "time" else _NUMBER).search(text))
