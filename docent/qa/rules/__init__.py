"""The `rules` generator: questions from a spaCy parse of each sentence, answers from the sentence itself.

Why rules: offline, deterministic and fast on a CPU, and every answer is the source sentence (or a
clean clause of it), so answers are grounded by construction. A *fact* is one answer sentence; the
generator asks it in several forms (`qa.per_fact`) so that split can hold one phrasing out of
training: "Who was X?" (definition), "Who founded Y?" (the subject asked, without its name),
"What did X found?" (the object asked, with the name), "By whom was Y founded?" (active <-> passive),
"When/In what year ...?", "Where ...?", "How many ...?", "Which dynasty ...?".

Pronouns: a sentence that starts with "He/She/It/They" (or "His/Its/Their") is rewritten with the
document's own name for its subject (the subject of its first sentence) when number and person
agree, then parsed again, so the answer stands alone. Every candidate goes through the selection step
all generators share (docent/qa/selection.py: the checks in grounding.py, dedupe, `qa.per_fact`, forms
first); what fails is counted by reason, never kept.

The package, one job a module, in the order a sentence goes through them:

- `lexicon`: the word lists and label sets the rules read (person nouns, time, place, pronouns).
- `parsing`: the spaCy pipeline, answer-ready text (`tidy`, `render`), noun phrases, clauses, who or what.
- `coreference`: the document's own name for its subject, and pronouns rewritten to it.
- `questions`: the question forms one clause supports, and the facts of one sentence.
- `generator`: `RulesGenerator`, sentences -> QA pairs: parse, resolve, ask, then the shared selection.
"""

from docent.qa.rules.generator import GENERATOR, RulesGenerator
from docent.qa.rules.parsing import SPACY_MODEL, load_spacy, tidy

__all__ = ["GENERATOR", "SPACY_MODEL", "RulesGenerator", "load_spacy", "tidy"]
