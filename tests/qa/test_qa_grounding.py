"""The checks every generated pair passes: question form, answer form, grounding."""

from __future__ import annotations

import unicodedata

import pytest

from docent.qa.grounding import (
    answer_problem,
    description_problem,
    normalize_text,
    question_problem,
    question_type,
    token_overlap,
)


@pytest.mark.parametrize("question", ["Who was Hồ Chí Minh?", "When did the Vietnam War end?",
                                      "In what year was Hanoi founded?", "By whom was Nanyue founded in 204 BC?"])
def test_good_questions_pass(question):
    assert question_problem(question) is None


@pytest.mark.parametrize(("question", "reason"), [
    ("Hanoi?", "question_too_short"),
    ("Hanoi is the capital of Vietnam.", "question_ungrammatical"),
    ("What did Hồ Chí Minh found in ?", "question_ungrammatical"),
    ("What was founded by the?", "question_ungrammatical"),
    ("When did it become the capital of Vietnam?", "question_unresolved_pronoun"),
    ("What was the capital of the country?", "question_no_anchor"),
    ("What (was the capital of Vietnam?", "question_ungrammatical"),
    ("What " + "very " * 30 + "big Vietnam?", "question_too_long"),
])
def test_bad_questions_are_named(question, reason):
    assert question_problem(question) == reason


def test_possessive_allowed_only_where_the_wh_word_is_its_referent():
    question = "Who served as president until his death in 1969?"
    assert question_problem(question) == "question_unresolved_pronoun"
    assert question_problem(question, allow_possessive=True) is None


@pytest.mark.parametrize(("answer", "reason"), [
    ("Hanoi is the capital of Vietnam.", None),
    ("the capital of Vietnam", "answer_ungrammatical"),
    ("Hanoi.", "answer_too_short"),
    ("It is the capital of Vietnam.", "answer_unresolved_pronoun"),
    ("Hanoi (the capital of Vietnam.", "answer_ungrammatical"),
    # a term and its description: the description may open in lower case, the term on dashes
    ("symlinks – a Boolean value indicating whether to symlink.", None),
    ("--clear: Delete the contents of the environment directory.", None),
    ("- Delete the contents of the environment directory.", "answer_ungrammatical"),
    ("Hanoi is " + "a very " * 30 + "city.", "answer_too_long"),
])
def test_answers(answer, reason):
    assert answer_problem(answer, max_words=40) == reason


def test_token_overlap_counts_content_words_only():
    passage = "Hồ Chí Minh founded the Democratic Republic of Vietnam in 1945."
    assert token_overlap("Hồ Chí Minh founded the Democratic Republic of Vietnam in 1945.", passage) == 1.0
    assert token_overlap("Hồ Chí Minh founded Vietnam in 1954.", passage) == pytest.approx(5 / 6)
    assert token_overlap("The cat sat on the mat.", passage) == 0.0
    assert token_overlap("It was.", passage) == 0.0


def test_normalization_merges_unicode_forms_and_punctuation():
    composed = "Who were the Trưng sisters?"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert normalize_text(composed) == normalize_text(decomposed) == normalize_text("who were the  TRƯNG sisters")


@pytest.mark.parametrize(("question", "qtype"), [("Who was Lê Lợi?", "who"), ("How many provinces are there?",
                                                 "how_many"), ("In what year did it end?", "what"),
                                                 ("Hanoi?", "other")])
def test_question_type(question, qtype):
    assert question_type(question) == qtype


def test_the_document_topic_and_code_words_anchor_a_question():
    from docent.qa.grounding import topic_words

    assert question_problem("What is napalm?") == "question_no_anchor"
    assert question_problem("What is napalm?", topic=topic_words("Napalm")) is None
    # the whole title names the topic, one of its words does not ("the dynasty" of "Trần dynasty")
    assert question_problem("What weakened the Trần dynasty?".lower().capitalize(),
                            topic=topic_words("Trần dynasty")) is None
    assert question_problem("What severely weakened the dynasty?", topic=topic_words("Trần dynasty")) == \
        "question_no_anchor"
    # any word of the heading the sentence is under anchors
    assert question_problem("What did the empires introduce?", topic=topic_words("Colonialism", "History > Empires")) \
        is None
    assert question_problem("What did the empires introduce?", topic=topic_words("Colonialism")) == \
        "question_no_anchor"
    assert question_problem("What does os.path.join return?") is None


def test_such_and_a_noun_points_back_at_an_earlier_sentence():
    assert question_problem("What do such effects occur in, in the context of galaxy formation?") == \
        "question_unresolved_pronoun"
    # "such as" introduces examples, which the question itself names
    assert question_problem("What are composed largely of frozen volatiles, such as methane?") is None


def test_enough_content_words_pin_a_question_down_without_a_name():
    assert question_problem("What is thought to serve as gravitational scaffolding for cosmic structures?") is None
    assert question_problem("What did the empires introduce?") == "question_no_anchor"


def test_a_heading_word_anchors_in_singular_too():
    from docent.qa.grounding import topic_words

    assert question_problem("How do I install a package?",
                            topic=topic_words("Python tutorial", "12. Virtual Environments and Packages")) is None


def test_a_quantifier_is_no_short_answer():
    from docent.qa.grounding import short_answer_problem

    answer = "Most of the planet is made of water, ammonia and methane."
    assert short_answer_problem("Most", "What is made of water, ammonia and methane?", answer) == "short_answer_vague"
    assert short_answer_problem("Neptune", "What is made of water?", "Neptune is made of water.") is None


@pytest.mark.parametrize("question", ["Who was a German polymath?", "What is a country in Mainland Southeast Asia?",
                                      "What is an Austroasiatic language?", "Who is a member of ASEAN?"])
def test_a_short_indefinite_description_names_no_one_thing(question):
    assert description_problem(question) == "question_not_identifying"


@pytest.mark.parametrize("question", [
    "What is a luminous giant star of low or intermediate mass?",  # six content words
    "What is an inland province in Southwestern China, spanning approximately 394,000 km2?",  # a number
    "Who was a Chinese philosopher who is considered the paragon of Chinese sages?",  # a relative clause
    "What is the capital of Vietnam?",  # definite: one thing
    "Who was Hồ Chí Minh?",
])
def test_an_identifying_description_passes(question):
    assert description_problem(question) is None
