"""The question forms: every question one clause supports, each with the short answer it asks for,
and the facts of one sentence (the sentence itself, or the clauses of a long one)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from docent.qa.grounding import normalize_text
from docent.qa.rules.lexicon import (
    ANIMATE_VERBS,
    CATEGORY_NOUNS,
    HOW_MODALS,
    LIGHT_VERBS,
    NON_STRANDED_PREPS,
    NUMBER_SKIP_LABELS,
    OF_VERBS,
    PLACE_LABELS,
    PLACE_PREPS,
    SUBJECT_DEPS,
    TIME_UNITS,
    YEAR,
)
from docent.qa.rules.parsing import (
    attribute_is_person,
    clause_heads,
    clause_tokens,
    core_phrase,
    fix_spacing,
    has_date,
    is_finite,
    is_person,
    is_plural,
    is_verb,
    np_text,
    np_tokens,
    person_noun,
    phrase_object,
    render,
    sentence_case,
    subject_of,
)
from docent.qa.selection import Candidate

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token


# ---------------------------------------------------------------- question builders

# "Some file formats are compressed files": a statement about some of them defines none
QUANTIFIERS = frozenset({"some", "many", "most", "several", "few", "such", "other"})
_TRAILING_ADVERB = re.compile(r",?\s+(?:most\s+)?(?:notably|especially|particularly|mainly|primarily|chiefly)\?$")


class QuestionBuilder:
    """All questions one clause supports, in a fixed order (deterministic output)."""

    def __init__(self, verb: Token, clause: set[int], kinds: dict[str, str] | None = None):
        self.verb = verb
        self.doc = verb.doc
        self.clause = clause
        self.kinds = kinds or {}
        self.subject, self.own_subject = subject_of(verb)
        # "X was a kingdom founded in 204 BC": the participle's auxiliary is the copula ("was founded")
        self.implied_aux = verb.head.head.lower_ if verb.dep_ == "acl" else None

    # -- shared pieces

    def person(self, head: Token) -> bool:
        return is_person(head, self.kinds)

    def tokens(self, indices: Iterable[int]) -> list[Token]:
        return [self.doc[i] for i in sorted(indices)]

    def subject_ok(self) -> bool:
        """The subject parses as a clean noun phrase (not a pronoun, not glued to a stray name before it)."""
        subject = self.subject
        if subject is None or subject.pos_ == "PRON" or not np_tokens(subject):
            return False
        before = subject.left_edge.i - 1
        # "Cần Thơ is ..." parsed as npadvmod "Cần" + subject "Thơ"
        return not (before >= 0 and self.doc[before].pos_ == "PROPN" and self.doc[before].dep_ != "pobj")

    def subject_end(self) -> int:
        """Index after the subject phrase (own subject) or the clause start (shared subject)."""
        if self.subject is not None and self.own_subject:
            return self.subject.right_edge.i + 1
        return min(self.clause)

    def predicate(self, removed: Iterable[int] = ()) -> str | None:
        """The clause after its subject: "founded the Democratic Republic of Vietnam in 1945"."""
        start = self.subject_end()
        removed = set(removed)
        tokens = self.tokens(i for i in self.clause if i >= start and i not in removed)
        # a coordinated clause with its own subject leaked in through a misparse: a comma splice
        if any(t.dep_ in SUBJECT_DEPS and t.head.dep_ in ("conj", "ccomp", "parataxis") and t.head != self.verb
               and not any(m.dep_ == "mark" for m in t.head.children) for t in tokens):
            return None
        if self.implied_aux:
            return f"{self.implied_aux} {render(tokens)}"
        # it must open on the verb or its auxiliaries/adverbs, not on a misattached phrase
        if not tokens or not (tokens[0] == self.verb or (tokens[0].head == self.verb
                                                          and tokens[0].dep_ in ("aux", "auxpass", "advmod", "neg"))):
            return None
        return render(tokens)

    def inverted(self, removed: set[int]) -> str | None:
        """Subject-auxiliary inversion for a wh-question on a non-subject:
        "X founded Y in 1945" -> "did X found Y"; "X was founded" -> "was X founded"."""
        verb, subject = self.verb, self.subject
        if not self.subject_ok():
            return None
        assert subject is not None  # subject_ok() checked it
        if any(t.i in removed for t in subject.subtree):
            return None
        subject_text = np_text(subject)
        start = self.subject_end()
        auxiliaries = sorted((c for c in verb.children if c.dep_ in ("aux", "auxpass") and c.i < verb.i
                              and c.lower_ != "to"), key=lambda t: t.i)
        middle = [i for i in self.clause if start <= i < verb.i and i not in removed]
        rest = render(self.tokens(i for i in self.clause if i > verb.i and i not in removed))
        if self.implied_aux:
            parts = [self.implied_aux, subject_text, verb.text, rest]
        elif auxiliaries:
            first = auxiliaries[0]
            middle_text = render(self.tokens(i for i in middle if i != first.i))
            parts = [first.lower_, subject_text, middle_text, verb.text, rest]
        elif verb.lemma_ == "be":
            parts = [verb.lower_, subject_text, render(self.tokens(middle)), rest]
        else:
            do = {"VBD": "did", "VBZ": "does", "VBP": "do"}.get(verb.tag_)
            if do is None or not verb.lemma_.isalpha():
                return None
            parts = [do, subject_text, render(self.tokens(middle)), verb.lemma_.lower(), rest]
        return fix_spacing(" ".join(p for p in parts if p))

    @staticmethod
    def ask(wh: str, body: str | None) -> str:
        if not body:
            return ""
        return _TRAILING_ADVERB.sub("?", fix_spacing(f"{wh} {body}") + "?")

    def child(self, *deps: str) -> Token | None:
        for c in self.verb.children:
            if c.dep_ in deps and c.i in self.clause:
                return c
        return None

    # -- the forms

    def candidates(self) -> list[Candidate]:
        if self.subject is not None and self.subject.lower_ == "you":
            return self.how_questions()
        if not is_finite(self.verb) and not self.implied_aux:
            return []
        if not self.subject_ok():
            # the condition names what it is about; the main clause's "it" is the answer's to resolve
            return [c for c in self.condition_question() if c.question]
        out: list[Candidate] = []
        for build in (self.definition, self.condition_question, self.alias_question, self.subject_question,
                      self.which_question, self.when_questions, self.deed_question, self.where_question,
                      self.number_question, self.by_whom_question, self.agent_question, self.object_question,
                      self.attribute_question, self.measure_question, self.stranded_question,
                      self.complement_of_question):
            out.extend(c for c in build() if c.question)
        return out

    def how_questions(self) -> list[Candidate]:
        """A procedure told to the reader: "You can install a package by specifying its name." ->
        "How can I install a package?" / "How do I install a package?" (the means asked); without a
        means, "What can I install?"-style questions would have many answers, so none is asked."""
        verb = self.verb
        modals = [c for c in verb.children if c.dep_ == "aux" and c.lower_ in HOW_MODALS and c.i < verb.i]
        means = [c for c in verb.children if c.i in self.clause and c.i > verb.i and c.dep_ == "prep"
                 and c.lower_ in ("by", "with", "using", "via", "through")]
        if not self.own_subject or not modals or verb.tag_ != "VB" or not means:
            return []
        removed = {t.i for t in means[0].subtree}
        # the means phrase and whatever follows it: "... by specifying its name, as in: ..."
        body_tokens = self.tokens(i for i in self.clause if verb.i <= i < means[0].i and i not in removed)
        body = render(t for t in body_tokens if t.dep_ != "advmod" or t.head != verb)
        short = render(t for t in means[0].subtree if t != means[0])
        if not body or not short:
            return []
        body = re.sub(r"\byour\b", "my", re.sub(r"\byourself\b", "myself", body))
        if re.search(r"\byou\b", body):
            return []
        modal = modals[0].lower_
        return [Candidate("how", self.ask(f"How {modal} I", body), short),
                Candidate("how", self.ask("How do I", body), short)]

    def condition_question(self) -> list[Candidate]:
        """What a rule does under its condition, as manuals state rules: "If an existing directory is
        specified, it will be re-used." -> "What happens if an existing directory is specified?". The
        span asked is what the main clause says happens: its subject when that is named in a passive
        ("the longest pattern SHOULD be used" -> "longest pattern"), else its verb with the object
        ("recreate the environment") or with its auxiliaries ("will be re-used")."""
        verb = self.verb
        conditions = [c for c in verb.children if c.dep_ == "advcl" and c.i in self.clause and any(
            m.dep_ == "mark" and m.lower_ == "if" and m.i == c.left_edge.i for m in c.children)]
        if len(conditions) != 1 or any(c.dep_ == "neg" for c in verb.children):
            return []
        condition = conditions[0]
        words = [t for t in condition.subtree if t.i != condition.left_edge.i and not (
            t.i == condition.right_edge.i and t.dep_ == "punct")]
        if not words or len(words) > 14 or any(t.text in (",", ";", ":") for t in words):
            return []
        body = render(words)
        subject = self.subject
        passive = any(c.dep_ == "auxpass" for c in verb.children)
        attribute = self.child("attr")
        if passive and subject is not None and subject.pos_ in ("NOUN", "PROPN") and self.own_subject:
            short = core_phrase(subject)
        elif verb.lemma_ == "be" and attribute is not None and attribute.pos_ in ("NOUN", "PROPN"):
            short = core_phrase(attribute)  # "then there will be two spaces" -> "two spaces"
        else:
            obj = self.child("dobj")
            tokens = [verb] + (np_tokens(obj) if obj is not None and obj.pos_ in ("NOUN", "PROPN") else [])
            if len(tokens) == 1:
                tokens = [c for c in verb.children if c.dep_ in ("aux", "auxpass") and c.i < verb.i] + tokens
            if not tokens or tokens[-1].i - tokens[0].i + 1 != len(tokens) or len(tokens) > 6:
                return []  # the span must read as the answer writes it
            short = render(tokens)
        return [Candidate("what", self.ask("What happens if", body), short)]

    def definition(self) -> list[Candidate]:
        """"X was a Y" -> "Who was X?" / "What is X?"."""
        verb, subject = self.verb, self.subject
        attribute = self.child("attr")
        if (verb.lemma_ != "be" or attribute is None or not self.own_subject
                or attribute.pos_ not in ("NOUN", "PROPN", "ADJ") or (attribute.pos_ == "ADJ" and not
                                                                      attribute_is_person(attribute))
                or any(c.dep_ in ("aux", "auxpass", "neg") for c in verb.children)):
            return []
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        if any(c.lower_ in QUANTIFIERS for c in subject.children):
            return []  # "Some file formats are also compressed files" says what some are, not what they are
        person = attribute_is_person(attribute) if attribute.pos_ != "PROPN" else self.person(subject)
        wh = "Who" if person else "What"
        short = core_phrase(attribute)
        out = [Candidate("define", self.ask(wh, f"{verb.lower_} {np_text(subject)}"), short)]
        # "Vietnam's capital" -> "the capital of Vietnam": the other way to name the same thing
        owners = [c for c in subject.children if c.dep_ == "poss" and c.pos_ == "PROPN"]
        if len(owners) == 1 and subject.pos_ == "NOUN" and np_tokens(subject)[0] == owners[0].left_edge:
            owner = owners[0]
            owner_text = render(t for t in owner.subtree if t.dep_ != "case")
            head_text = render(t for t in np_tokens(subject) if t.i > owner.right_edge.i)
            if owner_text and head_text:
                out.append(Candidate("define", self.ask(wh, f"{verb.lower_} the {head_text} of {owner_text}"), short))
        return out

    def alias_question(self) -> list[Candidate]:
        """"X, also known as Saigon, is ..." -> "What is another name for X?"."""
        subject = self.subject
        if not self.own_subject or self.verb.lemma_ != "be" or self.verb.lower_ not in ("is", "was"):
            return []
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        for acl in subject.children:
            names = [c for c in acl.children if c.dep_ in ("prep", "oprd")]
            if acl.dep_ == "acl" and acl.lemma_ in ("know", "call") and names:
                alias = phrase_object(names[0]) if names[0].dep_ == "prep" else core_phrase(names[0])
                return [Candidate("what", self.ask("What", f"{self.verb.lower_} another name for {np_text(subject)}"),
                                  alias)]
        return []

    def wh_for_subject(self) -> str:
        attribute = self.child("attr")
        if self.verb.lemma_ == "be" and attribute is not None and attribute.pos_ in ("NOUN", "ADJ"):
            return "Who" if attribute_is_person(attribute) else "What"
        subject = self.subject
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        # NER misses many Vietnamese names; a bare name that dies, reigns or defeats an army is a person
        if (subject.pos_ == "PROPN" and self.verb.lemma_ in ANIMATE_VERBS and self.kinds.get(
                normalize_text(render(np_tokens(subject)))) is None
                and not any(c.dep_ == "det" for c in subject.children) and subject.ent_type_ not in PLACE_LABELS):
            return "Who"
        return "Who" if self.person(subject) else "What"

    def subject_question(self) -> list[Candidate]:
        """The subject asked, its name left out: "Who founded the Democratic Republic of Vietnam in 1945?"."""
        verb = self.verb
        if verb.tag_ == "VBP" and verb.lemma_ != "be":
            return []  # "Who speak ..." would need the verb re-inflected
        assert self.subject is not None  # candidates() runs the forms only after subject_ok()
        owners = [c for c in self.subject.children if c.dep_ == "poss" and c.pos_ == "PROPN"]
        if owners and self.subject.pos_ == "NOUN" and not any(
                c.dep_ in ("amod", "compound") for c in self.subject.children):
            # "What was crewed by ...?" -> "Apollo 11's mission", "Mao's theories": the span is the
            # owner and a bare noun, which no answer states as one phrase ("Apollo 11 mission")
            return []
        body = self.predicate()
        if not body or len(body.split()) < 4:
            return []  # "What occurred in Vietnam?" says too little to have one answer
        wh = self.wh_for_subject()
        assert self.subject is not None  # candidates() runs the forms only after subject_ok()
        short = core_phrase(self.subject)
        out = [Candidate(wh.lower(), self.ask(wh, body), short, allow_possessive=True)]
        # the same fact asked without its time and place: "Who founded the Democratic Republic of Vietnam?"
        adjuncts = {t.i for c in self.verb.children if c.i in self.clause and c.i > self.verb.i
                    and (has_date(c) or (c.dep_ == "prep" and c.lower_ in PLACE_PREPS)) for t in c.subtree}
        short_body = self.predicate(adjuncts) if adjuncts else None
        if short_body and short_body != body and len(short_body.split()) >= 4:
            out.append(Candidate(wh.lower(), self.ask(wh, short_body), short, allow_possessive=True))
        return out

    def deed_question(self) -> list[Candidate]:
        """A person's action in a year: "What did Hồ Chí Minh do in 1945?"."""
        verb, subject = self.verb, self.subject
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        years = [c for c in verb.children if c.i in self.clause and c.dep_ == "prep" and c.lower_ == "in"
                 and len(list(c.subtree)) == 2 and YEAR.match(list(c.subtree)[1].text)]
        if (len(years) != 1 or verb.lemma_ == "be" or verb.tag_ != "VBD" or not self.person(subject)
                or any(c.dep_ in ("aux", "auxpass", "neg") for c in verb.children)):
            return []
        year = list(years[0].subtree)[1].text
        obj = self.child("dobj")
        deed = core_phrase(obj) if obj is not None and obj.pos_ in ("NOUN", "PROPN") else verb.text
        return [Candidate("what", self.ask("What", f"did {np_text(subject)} do in {year}"), deed)]

    def which_question(self) -> list[Candidate]:
        """"The Nguyễn dynasty was ..." -> "Which dynasty was ...?"."""
        subject = self.subject
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        if (not self.own_subject or subject.pos_ not in ("NOUN", "PROPN") or is_plural(subject)
                or subject.lower_ not in CATEGORY_NOUNS
                or not any(c.dep_ == "det" and c.lower_ == "the" for c in subject.children)
                or not any(c.dep_ in ("compound", "amod", "nmod") and (c.pos_ == "PROPN" or c.ent_type_)
                           for c in subject.children)):
            return []
        if self.verb.tag_ == "VBP" and self.verb.lemma_ != "be":
            return []
        body = self.predicate()
        names = render(t for c in subject.children if c.dep_ in ("compound", "amod", "nmod")
                       and (c.pos_ == "PROPN" or c.ent_type_) for t in c.subtree)
        return [Candidate("which", self.ask(f"Which {subject.lower_}", body), names, allow_possessive=True)]

    def when_questions(self) -> list[Candidate]:
        """A year/date attached to the verb or its object: "When did X found Y?", "In what year ...?"."""
        # only dates on the verb itself: a date deep inside the object ("styles stemming from the city's growth
        # in the 20th century") does not date the clause
        dated = [c for c in self.verb.children
                 if c.i in self.clause and c.dep_ in ("prep", "npadvmod", "advmod", "pobj") and c.lower_ != "as"
                 and has_date(c)]
        if not dated:
            return []
        removed = {t.i for c in dated for t in c.subtree}
        # the comma that set an opening date phrase off ("In 1945, ...") goes with it
        removed |= {i + 1 for i in list(removed) if i + 1 < len(self.doc) and self.doc[i + 1].text == ","}
        body = self.inverted(removed)
        date = dated[0]
        when = phrase_object(date) if date.dep_ == "prep" else render(
            t for t in date.subtree if t.dep_ != "det")
        years = [t.text for t in date.subtree if t.ent_type_ == "DATE" and YEAR.match(t.text)]
        if years and not any(y in when for y in years):
            # "during the decisive Battle of Bạch Đằng River in 1288": the time asked is the year
            when = years[-1]
        out = [Candidate("when", self.ask("When", body), when)]
        subtree = list(dated[0].subtree)
        if (len(dated) == 1 and dated[0].lower_ == "in" and len(subtree) == 2 and YEAR.match(subtree[1].text)
                and not subtree[1].text.endswith("s")):
            out.append(Candidate("when", self.ask("In what year", body), subtree[1].text))
        return out

    def where_question(self) -> list[Candidate]:
        places = [c for c in self.verb.children
                  if c.i in self.clause and c.dep_ == "prep" and c.lower_ in PLACE_PREPS
                  and any(p.dep_ == "pobj" and p.ent_type_ in PLACE_LABELS for p in c.children)]
        if len(places) != 1:
            return []
        removed = {t.i for t in places[0].subtree}
        return [Candidate("where", self.ask("Where", self.inverted(removed)), phrase_object(places[0]))]

    def number_question(self) -> list[Candidate]:
        """"ruled for three years" -> "How long did ... rule?"; "has 58 provinces" -> "How many provinces ...?"."""
        for num in (self.doc[i] for i in sorted(self.clause)):
            if num.dep_ != "nummod" or not num.like_num or num.ent_type_ in NUMBER_SKIP_LABELS:
                continue
            noun = num.head
            if noun.like_num or noun.pos_ != "NOUN" or noun.i < num.i or noun.tag_ != "NNS":
                continue
            phrase = render(t for t in noun.subtree if num.i < t.i <= noun.i and not t.like_num)
            if not phrase:
                continue
            if noun.dep_ == "dobj" and noun.head == self.verb:
                body = self.inverted({t.i for t in noun.subtree})
                return [Candidate("how_many", self.ask(f"How many {phrase}", body), render(num.subtree))]
            if noun.dep_ == "nsubj" and noun.head == self.verb and self.own_subject and self.subject == noun:
                return [Candidate("how_many", self.ask(f"How many {phrase}", self.predicate()),
                                  render(num.subtree))]
            prep = noun.head
            if noun.dep_ == "pobj" and prep.dep_ == "prep" and prep.head == self.verb:
                body = self.inverted({t.i for t in prep.subtree})
                if prep.lower_ == "for" and noun.lower_ in TIME_UNITS:
                    return [Candidate("how_long", self.ask("How long", body), f"{render(num.subtree)} {noun.text}")]
                return [Candidate("how_many", self.ask(f"{prep.text.capitalize()} how many {phrase}", body),
                                  render(num.subtree))]
        return []

    def by_whom_question(self) -> list[Candidate]:
        """Active source, passive question: "X founded Y" -> "By whom was Y founded?"."""
        verb, subject = self.verb, self.subject
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        obj = self.child("dobj")
        # "played a crucial role" -> "By whom was a crucial role played?" is no English question
        if (verb.tag_ != "VBD" or not verb.lower_.endswith("ed") or obj is None or verb.lemma_ in LIGHT_VERBS
                or obj.pos_ not in ("NOUN", "PROPN") or not self.person(subject) or not np_tokens(obj)
                or any(c.dep_ in ("aux", "auxpass", "neg") for c in verb.children)):
            return []
        if any(c.dep_ in ("xcomp", "ccomp", "advcl", "oprd", "dative") and c.i in self.clause
               for c in verb.children):
            return []
        be = "were" if is_plural(obj) else "was"
        removed = {t.i for t in obj.subtree}
        rest = render(self.tokens(i for i in self.clause if i > verb.i and i not in removed))
        return [Candidate("who", self.ask("By whom", f"{be} {np_text(obj)} {verb.text} {rest}"),
                          core_phrase(subject))]

    def agent_question(self) -> list[Candidate]:
        """Passive source, active question: "Y was founded by X" -> "Who founded Y?"."""
        verb = self.verb
        agent = self.child("agent")
        auxpass = [c.lower_ for c in verb.children if c.dep_ == "auxpass"]
        if self.implied_aux:
            auxpass = [self.implied_aux]
        if (agent is None or verb.tag_ != "VBN" or not verb.lower_.endswith("ed")
                or auxpass not in (["was"], ["were"])):
            return []
        pobj = [c for c in agent.children if c.dep_ == "pobj"]
        if not pobj:
            return []
        # countries and parties act like people here: "Who supported North Vietnam?"
        wh = "Who" if self.person(pobj[0]) or pobj[0].ent_type_ in ("GPE", "NORP", "ORG") else "What"
        removed = {t.i for t in agent.subtree}
        rest = "" if self.implied_aux else render(
            self.tokens(i for i in self.clause if i > verb.i and i not in removed))
        assert self.subject is not None  # candidates() runs the forms only after subject_ok()
        return [Candidate(wh.lower(), self.ask(wh, f"{verb.text} {np_text(self.subject)} {rest}"),
                          core_phrase(pobj[0]))]

    def object_question(self) -> list[Candidate]:
        """The object asked, the subject named: "What did Hồ Chí Minh found in 1945?"."""
        verb = self.verb
        obj = self.child("dobj")
        if (verb.lemma_ == "be" or verb.lemma_ in LIGHT_VERBS or obj is None or obj.pos_ not in ("NOUN", "PROPN")
                or any(t.ent_type_ == "DATE" for t in obj.subtree)):
            return []
        # "produces no locally detectable change": asking "What does it produce?" loses the negation
        if any(c.dep_ == "neg" for c in verb.children) or any(
                c.dep_ == "det" and c.lower_ in ("no", "neither") for c in obj.children):
            return []
        # what stays after the verb must be adjuncts, not a complement that needed the object
        if any(c.dep_ in ("xcomp", "ccomp", "advcl", "oprd", "dative") and c.i in self.clause
               for c in verb.children):
            return []
        known = self.kinds.get(normalize_text(render(np_tokens(obj))))
        wh = "Who" if known == "person" or (known is None and person_noun(obj)) else "What"
        return [Candidate(wh.lower(), self.ask(wh, self.inverted({t.i for t in obj.subtree})), core_phrase(obj))]

    def attribute_question(self) -> list[Candidate]:
        """"X has a population of 4 million" -> "What is the population of X?": the have-object's
        of-phrase asked through its noun (have is too light for "What does X have?")."""
        verb, subject = self.verb, self.subject
        obj = self.child("dobj")
        # the attribute's number, not the owner's: "Neutron stars have a radius" -> "What is the radius"
        be = {"VBZ": "is", "VBD": "was", "VBP": "is"}.get(verb.tag_)
        if (verb.lemma_ != "have" or be is None or obj is None or obj.pos_ != "NOUN" or is_plural(obj)
                or any(c.dep_ in ("aux", "auxpass", "neg") for c in verb.children)):
            return []
        # "a population of 4 million", "a radius on the order of 10 kilometers"
        of = [c for c in obj.children if c.dep_ == "prep" and c.lower_ == "of" and c.i == obj.i + 1]
        if not of:
            of = [g for c in obj.children if c.dep_ == "prep" and c.i == obj.i + 1 for n in c.children
                  if n.dep_ == "pobj" for g in n.children if g.dep_ == "prep" and g.lower_ == "of"]
        pobj = [c for c in of[0].children if c.dep_ == "pobj"] if of else []
        if of and obj.i + 1 != of[0].i and not any(t.like_num for t in of[0].subtree):
            return []  # only a measure may sit behind "on the order of"
        # only "a/an/the" before the noun: "a population", not "no population" or "three sites"
        before = [c for c in obj.children if c.i < obj.i]
        if not pobj or any(c.dep_ != "det" or c.lower_ not in ("a", "an", "the") for c in before):
            return []
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        # a number is the span asked ("4,199,824" of "around 4,199,824 as of 2024"), else the phrase
        numbers = [t for t in pobj[0].subtree if t.like_num and t.ent_type_ not in ("DATE", "TIME")]
        # "47.2 million", "10 kilometers": the number with its scale word and unit, as the answer states it
        short = core_phrase(pobj[0])
        if numbers:
            number = numbers[0]
            unit = number.head if number.dep_ == "nummod" and number.head.pos_ == "NOUN" else None
            while unit is None and number.head.like_num and number.head != number:
                number = number.head  # "7.5" -> "million"
                unit = number.head if number.dep_ == "nummod" and number.head.pos_ == "NOUN" else None
            span = [t for t in number.subtree if t.like_num] + ([unit] if unit is not None else [])
            short = render(sorted(span, key=lambda t: t.i))
        return [Candidate("what", self.ask("What", f"{be} the {obj.lower_} of {np_text(subject)}"), short)]

    def measure_question(self) -> list[Candidate]:
        """A measured amount on the verb: "The Moon orbits Earth at an average distance of 384,399
        kilometers" -> "At what average distance does the Moon orbit Earth?"."""
        if self.verb.lemma_ == "be":
            return []  # "is a gas giant with an average radius of ...": the radius is not how it is one
        for prep in (c for c in self.verb.children if c.dep_ == "prep" and c.i in self.clause and c.i > self.verb.i
                     and c.lower_ in ("at", "with", "to")):
            noun = next((c for c in prep.children if c.dep_ == "pobj" and c.pos_ == "NOUN"), None)
            of = next((c for c in noun.children if c.dep_ == "prep" and c.lower_ == "of"), None) if noun else None
            amount = next((c for c in of.children if c.dep_ == "pobj"), None) if of is not None else None
            if noun is None or amount is None or not any(t.like_num for t in amount.subtree) or is_plural(noun):
                continue
            body = self.inverted({t.i for t in prep.subtree})
            phrase = render(t for t in noun.subtree if t.i <= noun.i and t.dep_ not in ("det", "poss"))
            if not body or not phrase:
                return []
            short = render(t for t in amount.subtree if t.dep_ not in ("det", "prep", "pobj", "advmod", "quantmod")
                           or t.head == amount or t == amount)
            return [Candidate("how_many", self.ask(f"{prep.text.capitalize()} what {phrase}", body), short)]
        return []

    def stranded_question(self) -> list[Candidate]:
        """The object of the clause's last preposition asked, the preposition left at the end: "Angkor
        Wat is oriented toward the west" -> "What is Angkor Wat oriented toward?"; "Cần Thơ is noted
        for its floating markets" -> "What is Cần Thơ noted for?". Dates and places have their own
        forms (when, where); the copula's own phrases ("is in the Mekong Delta") read badly stranded."""
        verb = self.verb
        if verb.lemma_ == "be" or self.implied_aux:
            return []
        preps = [c for c in verb.children if c.dep_ == "prep" and c.i in self.clause and c.i > verb.i
                 and (c.lower_ not in NON_STRANDED_PREPS or (c.lower_ == "of" and verb.lemma_ in OF_VERBS))]
        if not preps:
            return []
        prep = preps[-1]
        if prep.lower_ == "to" and any(c.dep_ == "prep" and c.lower_ == "from" for c in verb.children):
            return []  # "ranges from -153 to 20 °C": a range is asked whole, not by its end
        pobj = [c for c in prep.children if c.dep_ == "pobj"]
        # the phrase must end the clause, so that stranding it leaves the rest in order
        after = [i for i in self.clause if i > prep.right_edge.i and self.doc[i].dep_ != "punct"]
        # a date left in the question ("constructed between 1113 and 1150 during?") buries the preposition
        if (len(pobj) != 1 or after or pobj[0].pos_ not in ("NOUN", "PROPN")
                or any(c.dep_ in ("conj", "cc") for c in pobj[0].children)
                or any(has_date(c) for c in verb.children if c.i in self.clause)
                or (prep.lower_ in PLACE_PREPS and pobj[0].ent_type_ in PLACE_LABELS)
                or any(c.dep_ == "neg" for c in verb.children)):
            return []
        removed = {t.i for t in pobj[0].subtree}
        # the phrase is the preposition and its object only: "range from dwarfs to giants" and
        # "not from fusion" strand badly
        if {t.i for t in prep.subtree} != removed | {prep.i}:
            return []
        body = self.inverted(removed)
        # a short question only: a long one strands its preposition far from its verb
        if body and len(body.split()) > 10:
            return []
        # "integrate philosophy, ethics, and governance, with?": the preposition must follow its
        # verb's phrase directly, not a comma
        before = self.doc[prep.i - 1]
        if not body or before.text in (",", ";") or (before.lower_ == "well" and before.nbor(-1).lower_ == "as"):
            return []
        known = self.kinds.get(normalize_text(render(np_tokens(pobj[0]))))
        wh = "Who" if known == "person" or (known is None and person_noun(pobj[0])) else "What"
        # "the astronomer Edwin Hubble": the name in apposition is the span asked, not "astronomer"
        names = [c for c in pobj[0].children if c.dep_ == "appos" and c.pos_ == "PROPN"]
        short = core_phrase(names[0]) if names else core_phrase(pobj[0])
        if names and person_noun(pobj[0]):
            wh = "Who"
        return [Candidate(wh.lower(), self.ask(wh, body), short, stranded=True)]

    def complement_of_question(self) -> list[Candidate]:
        """The of-phrase of a copular complement asked, its preposition left at the end: "Giáp was a
        member of the Politburo" -> "What was Giáp a member of?"; "Hanoi is the capital of Vietnam" ->
        "What is Hanoi the capital of?". A later sentence defining the document's subject again has
        no other question ("Who was Giáp?" is its lead's), and this asks what the sentence adds."""
        verb = self.verb
        attribute = self.child("attr")
        if (verb.lemma_ != "be" or self.implied_aux or not self.own_subject or attribute is None
                or attribute.pos_ != "NOUN" or any(c.dep_ in ("aux", "auxpass", "neg") for c in verb.children)):
            return []
        of = next((c for c in attribute.children if c.dep_ == "prep" and c.lower_ == "of"
                   and c.i == attribute.i + 1), None)
        pobj = [c for c in of.children if c.dep_ == "pobj"] if of is not None else []
        if of is None or len(pobj) != 1 or pobj[0].pos_ not in ("NOUN", "PROPN") or any(
                c.dep_ in ("conj", "cc") for c in pobj[0].children):
            return []
        # the of-phrase must end the clause, so that stranding "of" leaves the rest in order
        if [i for i in self.clause if i > of.right_edge.i and self.doc[i].dep_ != "punct"]:
            return []
        # nothing but the article and adjectives before the noun: "a member", "the largest city"
        if any(c.i > attribute.i and c != of for c in attribute.children if c.i in self.clause):
            return []
        body = self.inverted({t.i for t in pobj[0].subtree})
        if not body or len(body.split()) > 12:
            return []
        known = self.kinds.get(normalize_text(render(np_tokens(pobj[0]))))
        wh = "Who" if known == "person" or (known is None and person_noun(pobj[0])) else "What"
        return [Candidate(wh.lower(), self.ask(wh, body), core_phrase(pobj[0]), stranded=True)]


# ---------------------------------------------------------------- facts

def trimmed_clause(verb: Token, clause: set[int]) -> set[int] | None:
    """The clause cut before the first comma or semicolon after its verb, or None when there is
    nothing to cut. A long sentence's questions ran over the question length limit, or carried a
    pronoun from the tail ("..., who appointed him Prime Minister"); the head of the predicate still
    asks the fact: "Who came out of retirement at the request of President René Coty?"."""
    doc = verb.doc
    # Commas and semicolons only: a relative clause without one restricts its noun ("the only
    # astronomical object known to harbor life"), and cutting it would change the fact. Never inside
    # a list ("the Liao, Western Xia, and Jin dynasties"): the question would name part of it as all.
    cuts = [i for i in clause if i > verb.i and doc[i].text in (",", ";")
            and not any(c.dep_ == "conj" and c.i > i for c in doc[i].head.children)
            and not (i + 1 < len(doc) and doc[i + 1].dep_ in ("conj", "cc"))]
    if not cuts:
        return None
    cut = min(cuts)
    trimmed = {i for i in clause if i < cut}
    # at least the verb and two words after it: "Who reigned?" asks nothing
    return trimmed if sum(1 for i in trimmed if i > verb.i) >= 2 else None


def clause_candidates(builder: QuestionBuilder) -> list[Candidate]:
    """The clause's questions, then those of its trimmed head (selection keeps the ones that pass)."""
    out = builder.candidates()
    trimmed = trimmed_clause(builder.verb, builder.clause)
    if trimmed is not None:
        out += QuestionBuilder(builder.verb, trimmed, builder.kinds).candidates()
    return out


@dataclass(frozen=True)
class Fact:
    suffix: str  # "" for a whole sentence, ".1", ".2" for clauses of a long one
    answer: str
    candidates: tuple[Candidate, ...]


def facts_of(doc: Doc, max_answer_words: int, kinds: dict[str, str] | None = None) -> list[Fact]:
    """One fact per sentence (answer = the sentence); a sentence too long for an answer is split into
    its clauses, each a fact answered by that clause as a sentence of its own."""
    heads = clause_heads(doc)
    if not heads:
        return []
    if not is_finite(heads[0]) or (heads[0].lower_ in ("called", "known", "named")
                                   and not any(c.dep_ in ("aux", "auxpass") for c in heads[0].children)):
        return []  # "The Hồng Bàng period, also called ..." is a fragment, not a sentence
    builders = [QuestionBuilder(h, clause_tokens(h), kinds) for h in heads]
    text = fix_spacing(doc.text)
    if len(text.split()) <= max_answer_words or len(builders) == 1:
        candidates = tuple(c for b in builders for c in clause_candidates(b))
        return [Fact("", sentence_case(text), candidates)]
    facts = []
    for k, builder in enumerate(builders, start=1):
        if builder.subject is None:
            continue
        clause_text = render(builder.tokens(builder.clause))
        if not builder.own_subject:
            aux = f" {builder.implied_aux}" if builder.implied_aux else ""
            clause_text = f"{render(np_tokens(builder.subject))}{aux} {clause_text}"
        facts.append(Fact(f".{k}", sentence_case(clause_text), tuple(clause_candidates(builder))))
    return facts


# ---------------------------------------------------------------- definitions (technical text)

# "inc_path - The include path for the virtual environment.": a term and its description in a list
DASH_DEFINITION = re.compile(r"^([A-Za-z_][\w.]*(?:\(\))?) [-–] (\S.*)$")
_VERSION_NOTE = re.compile(r"^(?:New|Changed|Deprecated) in version (\d+(?:\.\d+)+)\b[.:]?\s*(.*)$")
_ADDED = re.compile(r"^Added (?:the |a |an )?(.+?)\.?$")
_TERM_KEYWORD = re.compile(r"^(?:class|function|method|attribute|exception|data|property)\s+")


def split_definition(text: str, kind: str) -> tuple[str, str] | None:
    """(term, description) of a definition-list sentence ("term: sentence", as clean writes it) or
    of a list line "term - description"; None for prose."""
    if kind == "definition" and ": " in text:
        term, description = text.split(": ", 1)
        return term.strip(), description.strip()
    match = DASH_DEFINITION.match(text)
    return (match.group(1), match.group(2)) if match else None


def term_name(term: str) -> str:
    """How a question names a documented term: "class venv.EnvBuilder(system_site_packages=False)" ->
    "venv.EnvBuilder()"; "--clear" stays."""
    name = _TERM_KEYWORD.sub("", term.strip())
    return re.sub(r"\(.*\)$", "()", name)


def usable_term_name(term: str) -> str | None:
    """`term_name`, or None when it is too long to ask about (a signature, not a name)."""
    name = term_name(term)
    return name if name and len(name.split()) <= 3 and len(name) <= 48 else None


def as_predicate(description: str) -> str | None:
    """The description read as what its term does: "Installs activation scripts ..." -> "It installs
    activation scripts ...". The tagger reads a capitalised opening "Installs" as a plural noun; with
    a subject before it, it parses as the verb it is. None when the description opens on a word that
    cannot be a verb (an article, a pronoun, a number, code)."""
    first = description.split(" ", 1)[0]
    if not first.isalpha() or not first[:1].isupper() or first.lower() in _NOT_A_VERB:
        return None
    return f"It {first.lower()}{description[len(first):]}"


_NOT_A_VERB = frozenset({"the", "a", "an", "this", "these", "that", "those", "it", "its", "if", "when", "for",
                         "in", "on", "at", "to", "by", "with", "as", "see", "note", "new", "changed", "deprecated",
                         "there", "each", "all", "any", "some", "one", "no", "not", "only", "also", "you", "we"})


def term_questions(term: str, description: Doc, predicate: Doc | None = None) -> list[Candidate]:
    """The questions a documented term's description answers: "venv.create(...): Create an EnvBuilder
    ..." -> "What does venv.create do?"; "inc_path - The include path ..." -> "What is inc_path?";
    `predicate`: the parse of `as_predicate(description)`."""
    name = usable_term_name(term)
    if name is None:
        return []
    text = description.text
    if _VERSION_NOTE.match(text):
        return []  # version_note_fact asks it, with an answer that reads as a sentence
    if predicate is not None and len(predicate) > 2:
        verb = predicate[1]
        if verb.dep_ == "ROOT" and verb.pos_ == "VERB" and predicate[0].dep_ == "nsubj":
            # what the term does, to the end of the verb's object: "Create an EnvBuilder"; through
            # a verb it governs when it has none of its own ("Skips installing or upgrading pip")
            obj = next((c for c in verb.children if c.dep_ == "dobj"), None) or next(
                (t for t in verb.subtree if t.dep_ == "dobj" and t.head.dep_ in ("xcomp", "conj")), None)
            last = np_tokens(obj)[-1] if obj is not None and np_tokens(obj) else predicate[min(len(predicate), 4) - 1]
            while last.i > 2 and last.dep_ in ("cc", "prep", "advmod", "det", "punct", "aux"):
                last = predicate[last.i - 1]  # "Try to use copies rather than" ends on "copies"
            # the predicate is "It " + the description: its offsets are the description's plus 3
            short = text[:last.idx + len(last.text) - 3].rstrip(".,;: ")
            if 1 <= len(short.split()) <= 8:
                # asked as a reader asks it, too ("what is envbuilder post_setup for"); an option by
                # its kind ("What does the --clear option do?")
                asked = [Candidate("define", f"What does {name} do?", short),
                         Candidate("what", f"What is {name} for?", short, stranded=True)]
                if name.startswith("-"):
                    asked.append(Candidate("what", f"What does the {name} option do?", short))
                return asked
            return []
    roots = [sent.root for sent in description.sents]
    if not roots:
        return []
    root = roots[0]
    if root.pos_ in ("NOUN", "PROPN") and not any(is_verb(t) and t.dep_ in ("ROOT", "relcl", "acl") and t.i < root.i
                                                  for t in description):
        # a noun phrase describing the term ("The include path for the virtual environment")
        return [Candidate("define", f"What is {name}?", described_kind(root))]
    return []


def described_kind(root: Token) -> str:
    """The short answer of "What is <term>?" from its noun-phrase description: the kind, and what
    the clause on it says the term does, where it has an object. Five parameters of one class are
    each "a Boolean value which ..."; "Boolean value" alone would score any of them right for any
    other ("clear: a Boolean value which, if true, will delete the contents of any existing target
    directory" -> "Boolean value: delete contents of existing target directory")."""
    kind = core_phrase(root)
    clause = next((c for c in root.children if c.dep_ in ("acl", "relcl")), None)
    if clause is None:
        return kind
    obj = next((t for t in clause.subtree if t.dep_ == "dobj" and is_verb(t.head)), None)
    if obj is None:
        return kind
    return f"{kind}: {obj.head.text} {core_phrase(obj)}"


def version_note_fact(term: str, description: str) -> Fact | None:
    """A documented term's version note as a fact of its own. The page writes it as a label without
    a full stop ("venv.create(...): Changed in version 3.4: Added the with_pip parameter"), which no
    answer can be; the fact's answer says it as a sentence ("The with_pip parameter was added to
    venv.create() in version 3.4."), asked both ways: "In which version was the with_pip parameter
    added to venv.create()?" / "What was added to venv.create() in version 3.4?"."""
    name = usable_term_name(term)
    note = _VERSION_NOTE.match(description.strip())
    if name is None or note is None:
        return None
    version, rest = note.groups()
    added = _ADDED.match(rest)
    if added and len(added.group(1).split()) <= 6:
        thing = added.group(1)
        return Fact("", f"The {thing} was added to {name} in version {version}.", (
            Candidate("which", f"In which version was the {thing} added to {name}?", version),
            Candidate("what", f"What was added to {name} in version {version}?", thing)))
    if not rest and description.startswith("New"):
        return Fact("", f"{name} was added in version {version}.",
                    (Candidate("which", f"In which version was {name} added?", version),))
    return None
