"""The one answer path, shared by evaluate and the assistant:

    question -> relevance gate -> retrieve -> prompt with passages -> generate -> answer + sources

or, with `retrieval.answer_mode: select`, "-> choose" in place of "-> generate": the model scores
each sentence of the retrieved passages, and the abstention, as its answer to the prompt, and the
answer is the one it finds likeliest (`select`): a source sentence word for word, or the abstention.

Split in two around generation, because evaluate generates many prompts in batches and the
assistant streams one: `plan` decides everything before the model runs (refused by the gate,
nothing retrieved above `retrieval.min_score` and `retrieval.min_query_match` nor
`retrieval.min_similarity`: a fixed reply and
no generation; else the prompt),
`finish` turns the generated text into an Answer. An answer is "abstained" when it is the
abstention (the model's own or the threshold's), "refused" when the gate turned the question
away, else "answered", with the passages it drew on as its sources.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from docent.modeling.prompt import Turn, abstain_token_id, prompt_text, question_with_sources
from docent.qa.grounding import STOPWORDS
from docent.retrieval.index import Retriever
from docent.retrieval.passages import Passage, Retrieved
from docent.text.normalize import fact_terms
from docent.text.sentences import COMMON_ABBREVIATIONS

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from docent.modeling.generation import AnswerNLL

Status = Literal["answered", "abstained", "refused"]
AnswerMode = Literal["generate", "select"]
# An answer draws on a passage when this share of its content words is in the passage.
SOURCE_OVERLAP = 0.5
# The abstention is recognised by its opening words, so "I don't find that in my sources." counts
# even when the model drops the domain at the end.
ABSTAIN_PREFIX_WORDS = 5


@dataclass(frozen=True)
class Plan:
    question: str
    prompt: str | None  # None: no generation, `reply` is the answer
    reply: str = ""
    status: Status = "answered"
    retrieved: tuple[Retrieved, ...] = ()
    turn: str = ""  # the question turn the prompt ends with (the passages and the question)
    # answer_mode "select": what the answer is chosen from (the passages' sentences, the abstention)
    candidates: tuple[str, ...] = ()

    @property
    def passages(self) -> list[Passage]:
        return [r.passage for r in self.retrieved]


@dataclass(frozen=True)
class Answer:
    text: str
    status: Status
    sources: tuple[Passage, ...] = ()
    retrieved: tuple[Retrieved, ...] = field(default=(), repr=False)

    @property
    def best_score(self) -> float:
        return self.retrieved[0].score if self.retrieved else 0.0


def is_abstention(text: str, abstain: str) -> bool:
    if not abstain:
        return False
    head = fact_terms(abstain)[:ABSTAIN_PREFIX_WORDS]
    return bool(head) and fact_terms(text)[:len(head)] == head


def drawn_on(text: str, passages: Sequence[Passage]) -> tuple[Passage, ...]:
    """The passages an answer states: those holding SOURCE_OVERLAP of its content words (the best
    one when none does, since the answer was written from them)."""
    words = {w for w in fact_terms(text) if w not in STOPWORDS}
    if not words or not passages:
        return tuple(passages[:1])
    shares = [len(words & set(fact_terms(p.text + " " + p.title))) / len(words) for p in passages]
    chosen = tuple(p for p, share in zip(passages, shares, strict=True) if share >= SOURCE_OVERLAP)
    return chosen or (passages[max(range(len(passages)), key=shares.__getitem__)],)


# A sentence ends at . ! or ? (and a closing quote or bracket) before a space and a capital, a digit
# or an opening quote; not after an abbreviation clean's splitter knows ("U.S.", "John F. Kennedy").
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)\]]?\s+(?=[A-Z0-9\"“‘(])")
_LAST_WORD = re.compile(r"([\w.]+)\.[\"”’)\]]?$")
# A piece this short is not a sentence of its own ("c. 1400", "No. 5"): it stays with the one before.
MIN_SENTENCE_WORDS = 4


def passage_sentences(text: str) -> list[str]:
    """A passage's sentences again. A passage is clean's sentences joined by spaces, and the index
    keeps only that text, so they are found again where one ends; a piece of fewer than
    MIN_SENTENCE_WORDS words is joined to the one before it."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        last = _LAST_WORD.search(text[start:match.start()])
        if last and last.group(1).lower() in COMMON_ABBREVIATIONS:
            continue
        pieces.append(text[start:match.start()].strip())
        start = match.end()
    pieces.append(text[start:].strip())
    sentences: list[str] = []
    for piece in filter(None, pieces):
        if sentences and len(piece.split()) < MIN_SENTENCE_WORDS:
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


# A candidate is scored on its first tokens only: they say which sentence the model starts to
# repeat, and once started, copying the rest from the prompt is easy for any of them. On 250
# questions of the default run (50 per split) the sum over the first 8 tokens chose what the sum
# over every token chose, and costs one short batch after the prompt instead of ~40 tokens a row.
SELECT_TOKENS = 8


def candidate_score(nll: AnswerNLL) -> float:
    """How likely the model finds a candidate as its answer (higher is likelier): minus the summed
    NLL of its first SELECT_TOKENS tokens; see `select`."""
    return -nll.nll


class AnswerPath:
    """Prompts and answers in the trained format: closed-book when `retriever` is None."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, *, retriever: Retriever | None, k: int,
                 min_score: float, abstain: str, refusal: str = "",
                 gate: Callable[[str], bool] | None = None, abstain_min_prob: float = 0.0,
                 answer_mode: AnswerMode = "generate", min_query_match: float = 0.0,
                 min_similarity: float = 1.0) -> None:
        self.tokenizer = tokenizer
        self.retriever = retriever
        self.k = k
        self.min_score = min_score
        self.min_query_match = min_query_match
        self.min_similarity = min_similarity
        self.abstain = abstain
        self.refusal = refusal
        self.gate = gate
        self.abstain_min_prob = abstain_min_prob
        self.answer_mode: AnswerMode = answer_mode if retriever is not None else "generate"

    @property
    def abstain_floor(self) -> tuple[int, float] | None:
        """What generation needs to let the model abstain only above `retrieval.abstain_min_prob`
        (docent.modeling.generation.AbstentionFloor); None when the floor is 0 or there is no abstention."""
        token = abstain_token_id(self.tokenizer, self.abstain) if self.abstain_min_prob > 0 else None
        return None if token is None else (token, self.abstain_min_prob)

    def plan(self, question: str, history: Sequence[Turn] = (), search_text: str | None = None,
             admitted: bool | None = None) -> Plan:
        """`search_text`: what to retrieve with (a follow-up's conversation, so "When did he die?"
        finds the person asked about before); `admitted`: the gate's verdict when the caller judged
        already (the assistant judges a follow-up with its history)."""
        if admitted is None:
            admitted = self.gate(question) if self.gate is not None else True
        if not admitted:
            return Plan(question, None, self.refusal, "refused")
        if self.retriever is None:
            return Plan(question, prompt_text(self.tokenizer, question, history), turn=question)
        retrieved = tuple(self.retriever.retrieve(search_text or question, self.k))
        if not self.grounded_enough(retrieved):
            return Plan(question, None, self.abstain, "abstained", retrieved)
        turn = question_with_sources(question, [r.passage for r in retrieved], self.abstain)
        candidates: tuple[str, ...] = ()
        if self.answer_mode == "select":
            sentences = (s for r in retrieved for s in passage_sentences(r.passage.text))
            candidates = tuple(dict.fromkeys([*sentences, *([self.abstain] if self.abstain else [])]))
        return Plan(question, prompt_text(self.tokenizer, turn, history), retrieved=retrieved, turn=turn,
                    candidates=candidates)

    def grounded_enough(self, retrieved: Sequence[Retrieved]) -> bool:
        """Whether the passages are worth a generation: the best BM25 passage among them scores at
        least `retrieval.min_score` and holds at least `retrieval.min_query_match` of the question's
        weight (the IDF of its searched words), or one is at least `retrieval.min_similarity`
        similar to the question (embeddings). A question about a document the user never gave
        shares a word or two with the sources, not most of its rare words, nor its meaning."""
        if not retrieved:
            return False
        lexical = max(retrieved, key=lambda r: r.score)
        # score 0: BM25 did not find it (the embedding did), so no lexical floor can pass it
        if lexical.score > 0 and lexical.score >= self.min_score and lexical.match >= self.min_query_match:
            return True
        return max((r.similarity for r in retrieved if r.similarity is not None), default=-1.0) >= self.min_similarity

    def select(self, model: PreTrainedModel, plan: Plan, batch_size: int, max_len: int) -> str:
        """The candidate the model finds likeliest as its answer to the plan's question turn
        (teacher-forced NLL of each candidate's first SELECT_TOKENS tokens, one forward pass over
        the prompt shared by all). A candidate too long to fit `max_len` is not chosen."""
        from docent.modeling.generation import answer_nll

        if not plan.candidates:
            raise ValueError("select: the plan has no candidates (answer_mode is not select, or no prompt)")
        scores = answer_nll(model, self.tokenizer, [(plan.turn, c) for c in plan.candidates],
                            batch_size=batch_size, max_len=max_len, answer_tokens=SELECT_TOKENS)
        scored = [(candidate_score(nll), k) for k, nll in enumerate(scores) if nll is not None]
        if not scored:
            return self.abstain
        # ties (never seen) go to the earlier candidate: passages in retrieved order, sentences in order
        return plan.candidates[max(scored, key=lambda sk: (sk[0], -sk[1]))[1]]

    def with_history(self, plan: Plan, history: Sequence[Turn]) -> Plan:
        """The same plan with other earlier turns before its question turn (the assistant plans
        without history, then keeps the turns that fit its token budget with the passages)."""
        if plan.prompt is None:
            return plan
        return replace(plan, prompt=prompt_text(self.tokenizer, plan.turn, history))

    def finish(self, plan: Plan, generated: str = "") -> Answer:
        """The Answer for a plan and what the model generated (or chose) for it."""
        if plan.prompt is None:
            return Answer(plan.reply, plan.status, retrieved=plan.retrieved)
        text = generated.strip()
        if is_abstention(text, self.abstain):
            return Answer(text, "abstained", retrieved=plan.retrieved)
        return Answer(text, "answered", drawn_on(text, plan.passages), plan.retrieved)
