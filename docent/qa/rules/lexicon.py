"""The word lists and label sets the rules read: which nouns name people, which words date a phrase,
which prepositions place it, which dependents a reused noun phrase drops, which pronoun is which kind."""

from __future__ import annotations

import re

# Head nouns that make a subject a person even without a PERSON entity ("the first emperor").
PERSON_NOUNS = frozenset(
    [
        "person", "people", "man", "men", "woman", "women", "king", "kings", "queen", "queens", "emperor", "emperors",
        "empress", "leader", "leaders", "ruler", "rulers", "monarch", "monarchs", "president", "presidents", "general",
        "generals", "sister", "sisters", "brother", "brothers", "son", "sons", "daughter", "daughters", "revolutionary",
        "revolutionaries", "statesman", "politician", "politicians", "commander", "commanders", "prince", "princess",
        "lord", "lords", "chairman", "founder", "founders", "soldier", "soldiers", "warrior", "warriors", "heroine",
        "heroines", "hero", "heroes", "scholar", "scholars", "poet", "poets", "writer", "writers", "official",
        "officials", "dictator", "minister", "ministers", "chief", "chiefs", "khan", "admiral", "marshal",
        "philosopher", "philosophers", "theorist", "explorer", "explorers", "mariner", "diplomat", "activist", "lawyer",
        "despot", "monk", "monks", "teacher", "artist", "khagan", "navigator", "eunuch", "strategist", "figure",
        "figures", "premier", "secretary", "successor", "heir", "heirs", "member", "members", "citizen", "citizens",
        "inhabitants", "followers", "rebel", "rebels", "governor", "mayor", "pope", "priest", "bishop", "saint",
        "scientist", "economist", "historian", "journalist", "engineer",
        # occupations of any domain (the list above grew from history; a science or company corpus
        # names its people by these)
        "astronomer", "physicist", "mathematician", "polymath", "chemist", "biologist", "inventor", "astronaut",
        "cosmonaut", "author", "novelist", "composer", "painter", "sculptor", "singer", "actor", "actress",
        "director", "businessman", "businesswoman", "entrepreneur", "programmer", "developer", "designer",
        "architect", "doctor", "physician", "surgeon", "nurse", "pilot", "player", "athlete", "coach", "judge",
        "professor", "researcher", "student", "child", "children", "wife", "husband", "father", "mother",
        "ancestor", "descendant", "aristocrat", "nobleman", "noblewoman", "priestess", "prophet", "deity",
        "god", "goddess", "observer", "user", "users", "maintainer", "administrator"
    ]
)
# NER labels of amounts and times: their words are not names.
NUMBER_LABELS = frozenset({"CARDINAL", "QUANTITY", "PERCENT", "MONEY", "ORDINAL", "DATE", "TIME"})
# Modals of a procedure told to the reader ("You can create ... by running ...").
HOW_MODALS = frozenset({"can", "could", "may", "should", "must", "will", "need"})
# Occupation suffixes: "astrophysicist", "geologist", "musician", "cosmologist" name people too.
PERSON_SUFFIXES = ("ologist", "ist", "ician", "onomer", "grapher", "naut")
# Subject heads that read well after "Which": "The Nguyễn dynasty was ..." -> "Which dynasty was ...?"
CATEGORY_NOUNS = frozenset(
    [
        "dynasty", "war", "empire", "kingdom", "city", "country", "river", "language", "party", "state", "province",
        "capital", "sea", "battle", "treaty", "republic", "army", "movement", "revolution", "period", "era", "culture",
        "region", "island", "delta", "mountain", "lake", "port", "emperor", "king", "queen", "general", "president",
        "leader", "ruler", "government", "organization", "alliance", "conflict"
    ]
)
# Verbs whose subject, when it is a bare name, is nearly always a person.
ANIMATE_VERBS = frozenset({"die", "marry", "reign", "defeat", "command", "write", "serve", "succeed", "abdicate",
                           "proclaim", "rebel", "flee", "visit", "study", "graduate", "retire", "resign"})
TIME_UNITS = frozenset([
        "year", "years", "month", "months", "week", "weeks", "day", "days", "decade", "decades", "century", "centuries"
    ])
MONTHS = frozenset(
    [
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
        "december"
    ]
)
DATE_WORDS = MONTHS | {"century", "centuries", "millennium", "bc", "bce", "ad", "ce"}
# Preps that turn a date into a duration or a comparison ("for 10 years", "of the 1960s") rather than a time.
NON_TIME_PREPS = frozenset({"for", "of", "with", "than", "like", "about"})
PLACE_PREPS = frozenset({"in", "at", "near"})
# Prepositions a question cannot leave at its end: "What did X die despite?", "What is X than?";
# "by" has its own forms (by whom, the agent), "of" and "as" belong to the phrase before them.
NON_STRANDED_PREPS = frozenset({"of", "as", "by", "despite", "than", "because", "including", "like", "unlike",
                                "such", "whereas", "although", "per", "via", "among", "amid", "throughout"})
# ... but what a thing is made of is asked with "of" at the end: "What does Earth's crust consist of?"
OF_VERBS = frozenset({"consist", "compose", "make", "die", "accuse", "convict"})
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
NUMBER_SKIP_LABELS = frozenset({"DATE", "TIME", "MONEY", "PERCENT", "ORDINAL"})
SUBJECT_DEPS = ("nsubj", "nsubjpass")
# Dependents of a noun phrase dropped when it is reused in a question: "Hồ Chí Minh, colloquially
# known as Uncle Ho, ..." -> "Hồ Chí Minh".
NP_DROP_DEPS = frozenset({"appos", "relcl", "acl", "advcl", "parataxis"})
NP_DROP_PUNCT = frozenset({",", ";", ":", "(", ")", "—"})
PRONOUN_KIND = {"he": "person", "she": "person", "his": "person", "her": "person",
                "they": "plural", "their": "plural", "it": "thing", "its": "thing"}
# Dependents kept in the short answer a noun phrase gives: "the Democratic Republic" -> "Democratic Republic".
CORE_DEPS = frozenset({"compound", "amod", "nummod", "nmod", "flat", "quantmod"})
# Verbs too light to carry an object question ("What does Hanoi have?").
LIGHT_VERBS = frozenset([
        "have", "hold", "include", "contain", "cover", "make", "take", "give", "get", "do", "become", "see", "play",
        "mark", "reach", "remain", "receive", "find", "keep", "share", "feature", "lead"
    ])
# A year ("1945", "968") or a decade ("1960s").
YEAR = re.compile(r"^\d{3,4}s?$")
