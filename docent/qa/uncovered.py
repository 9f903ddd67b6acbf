"""Why a sentence got no question: the `rules` generator replayed on a sentences file, and for every
sentence it left without a pair, what it proposed and why the selection step refused each proposal.

    python -m docent.qa.uncovered --params params.yaml --sentences data/clean/sentences.jsonl --show 20

A tool for the person whose documents these are (and for whoever works on the generator), not a
stage: `metrics/qa.json` says what share of the sentences got a question (`coverage`; its
`sentences_without_question` leaves out the sentences tidied to nothing), this says which did not
and why. Each uncovered sentence gets one or more of these causes:

- `no_clause`: the parse gives no finite clause for the question forms to start from (a heading,
  a list item, a fragment such as "A standard way of getting the MIME type for a file.", or a
  sentence the small spaCy model misparses);
- `no_question_form`: a clause, but no question form fits its parse;
- `answer_<problem>`: the answer sentence itself fails a check (`answer_unresolved_pronoun`: it
  opens on "This/It/They" that the generator could not name);
- a question's or short answer's problem (`question_unresolved_pronoun`, `question_no_anchor`,
  `short_answer_vague`, ...), as `metrics/qa.json` counts them;
- `duplicate_question`: every valid question was already asked of an earlier sentence;
- `empty_after_tidying`: nothing was left once brackets and markup were tidied away.

The replay is the generator's own code (`RulesGenerator.parse` and `facts`, `Selection`), run in
the same order with the same params, so the causes are the ones that applied when generate_qa ran.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import click

from docent.cli import params_option, stage_main
from docent.qa.records import Sentence


@dataclass
class UncoveredSentence:
    sentence: Sentence
    text: str  # as the generator read it (tidied, references named)
    causes: Counter[str] = field(default_factory=Counter)  # cause -> candidates (or facts) it refused
    proposals: list[tuple[str, str]] = field(default_factory=list)  # (question or answer, cause)


def uncovered_sentences(sentences: Sequence[Sentence], per_fact: int, max_answer_words: int,
                        min_overlap: float, colloquial: int = 0) -> list[UncoveredSentence]:
    """Every sentence the rules generator gives no pair, with the causes, in file order (the
    arguments are the `qa` params generate_qa ran with: visitor forms count as questions asked)."""
    from docent.qa.grounding import topic_words
    from docent.qa.rules import RulesGenerator, load_spacy
    from docent.qa.selection import Selection

    generator = RulesGenerator(load_spacy(), per_fact=per_fact, max_answer_words=max_answer_words,
                               min_overlap=min_overlap, colloquial=colloquial)
    # the replay: generate's facts through generate's selection step, sentence by sentence in the
    # same order, so the questions already asked grow exactly as they did there
    selection = Selection(per_fact, max_answer_words, min_overlap, True, Counter(), colloquial=colloquial)
    parsed = {sentence.key: doc for sentence, doc in generator.parse(sentences, Counter())}
    out: list[UncoveredSentence] = []
    for sentence in sentences:
        doc = parsed.get(sentence.key)
        if doc is None:  # nothing left once brackets and markup were tidied away
            out.append(UncoveredSentence(sentence, "", Counter({"empty_after_tidying": 1})))
            continue
        facts = generator.facts(sentence, doc)
        # the causes are read before the selection keeps anything of this sentence (which would
        # make its own questions look asked already)
        report = UncoveredSentence(sentence, doc.text)
        if not facts:
            report.causes["no_clause"] += 1
        topic = topic_words(sentence.title, sentence.section)
        for fact, passage in facts:
            problem = selection.answer_problem(fact.answer, passage)
            if problem:
                cause = problem if problem.startswith("answer_") else f"answer_{problem}"  # answer_not_grounded
                report.causes[cause] += 1
                report.proposals.append((fact.answer, cause))
                continue
            if not fact.candidates:
                report.causes["no_question_form"] += 1
            for cand in fact.candidates:
                # a valid question that a sentence without pairs did not keep had been asked before
                refused = selection.candidate_problem(cand, fact.answer, topic) or "duplicate_question"
                report.causes[refused] += 1
                report.proposals.append((cand.question, refused))
        source = sentence.doc_id.partition(":")[0]
        kept = [pair for fact, passage in facts for pair in selection.keep(
            [(fact.answer, fact.candidates)], passage, sentence.title, sentence.section, source)]
        if not kept:
            out.append(report)
    return out


def cause_summary(reports: Sequence[UncoveredSentence]) -> Counter[str]:
    """Uncovered sentences per cause (a sentence counts once for each cause it has)."""
    summary: Counter[str] = Counter()
    for report in reports:
        summary.update(set(report.causes))
    return summary


@click.command()
@params_option
@click.option("--sentences", required=True, type=click.Path(dir_okay=False), help="sentences JSONL from clean")
@click.option("--show", default=10, show_default=True, type=click.IntRange(min=0),
              help="uncovered sentences to list with their proposals")
@stage_main
def main(params_path: str, sentences: str, show: int) -> None:
    from docent.config import load_params
    from docent.qa.generate import read_sentences

    params = load_params(params_path, "qa")
    assert params.qa is not None
    rows = read_sentences(sentences)
    qa = params.qa
    reports = uncovered_sentences(rows, qa.per_fact, qa.max_answer_words, qa.min_overlap, qa.colloquial_forms)
    click.echo(f"{len(reports)} of {len(rows)} sentences have no question "
               f"(coverage {1 - len(reports) / len(rows):.4f})" if rows else "no sentences")
    for cause, n in sorted(cause_summary(reports).items(), key=lambda item: (-item[1], item[0])):
        click.echo(f"  {n:5d}  {cause}")
    for report in reports[:show]:
        click.echo(f"\n{report.sentence.sent_id} ({report.sentence.title}): {report.text}")
        for proposal, cause in report.proposals:
            click.echo(f"    {cause}: {proposal}")
        if not report.proposals:
            click.echo(f"    {', '.join(sorted(report.causes))}")


if __name__ == "__main__":
    main()
