"""The assistant's engine: one loaded base model, its adapters, the relevance classifier, streaming answers.

Shared by the `ask`/`chat` commands and the web server, so every front end gets the same rules:

- Relevance: the classifier judges the question before the LLM runs. An unrelated question gets
  `assistant.refusal` and the model is never called. A follow-up such as "When did he die?" is
  judged in context (see `Assistant.judge`).
- Retrieval and sources: every answer goes through the one answer path
  (`docent.assistant.answer.AnswerPath`, shared with evaluate). With an index, the passages
  retrieved for the question (a follow-up: for the conversation's earlier questions and it) go
  into the prompt, and the answer carries the passages it drew on as its sources; when the best
  passage scores below `retrieval.min_score` or holds less than `retrieval.min_query_match` of the
  question's weight, the answer is `assistant.abstain`, again without running the model. Without
  an index (a closed-book model) the prompt is the bare question.
- History: earlier turns are passed to `prompt_text` as (question, answer) pairs; when the prompt
  would exceed `assistant.max_history_tokens` tokens, the oldest turns are dropped first.
- Adapters: several LoRA adapters on the one base (peft `load_adapter` / `set_adapter`); the name
  `base` answers with the adapters disabled (`model.disable_adapter()`), for comparison.
- Streaming: `generate` runs in a worker thread and feeds a `TextIteratorStreamer`; the caller
  iterates the text pieces. One lock around the model, because adapter switching and generation
  share its state; a waiting request gives up when its deadline passes.
- Timeout: one deadline (`assistant.timeout_s`) covers waiting for the model and generating; a
  stopping criterion ends generation when it passes, and the caller gets `AnswerTimeout`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docent.assistant.answer import Answer, AnswerPath, Plan, Status
from docent.cli import UserError
from docent.config import AssistantParams, RetrievalParams
from docent.modeling.lifecycle import BASE, FINETUNED, ModelSet, load_model_set
from docent.modeling.prompt import Turn, prompt_text, stop_token_ids
from docent.retrieval.passages import Passage

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from docent.relevance.classifier import RelevanceClassifier
    from docent.retrieval.index import PassageIndex, Retriever

log = logging.getLogger(__name__)

ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# A follow-up refers back to the previous turn with one of these words ("When did he die?").
REFERRING_WORDS = frozenset({
    "he", "she", "it", "they", "him", "her", "his", "hers", "its", "their", "theirs", "them",
    "this", "that", "these", "those", "there", "then",
})
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# The consumer waits this long past the deadline for the worker to report, so a crashed
# worker can never leave a request hanging forever.
WORKER_GRACE_S = 30.0
# answer_mode select: candidates scored per forward pass. k = 3 passages of ~60 words hold about 10
# sentences, so one or two batches after the shared prompt.
SELECT_BATCH = 8


class AnswerTimeout(Exception):
    """The answer did not finish (or start) within assistant.timeout_s."""


@dataclass(frozen=True)
class Verdict:
    """The classifier's decision on one question."""

    related: bool
    score: float
    follow_up: bool  # accepted only because it refers back to the previous related turn


# ---------------------------------------------------------------- sources

def source_record(passage: Passage) -> dict[str, str]:
    """A source as every interface reports it (the API's `sources` items, the page's links)."""
    return {"title": passage.title, "url": passage.url, "section": passage.section, "passage_id": passage.passage_id}


def source_line(sources: Sequence[Passage]) -> str:
    """The terminal's line, `Sources: Title, section (url); Title2` (each label once), or "" for none."""
    labels: list[str] = []
    for p in sources:
        label = p.title + (f", {p.section}" if p.section else "") + (f" ({p.url})" if p.url else "")
        if label not in labels:
            labels.append(label)
    return f"Sources: {'; '.join(labels)}" if labels else ""


# ---------------------------------------------------------------- one answer, streamed

class _StopWhen:
    """A generate() stopping criterion: stop at the deadline or when the reader went away."""

    def __init__(self, deadline: float, cancel: threading.Event) -> None:
        self.deadline = deadline
        self.cancel = cancel
        self.timed_out = False

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        stop = self.cancel.is_set()
        if not stop and time.monotonic() > self.deadline:
            self.timed_out = stop = True
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class AnswerStream:
    """An answer being produced: iterate it for text pieces; afterwards read `answer` and the counts.

    A fixed reply (the refusal, or the abstention when retrieval found nothing good enough) is a
    stream too, of one piece with no model involved, so callers treat all answers alike. A
    generated answer starts with `start`; once its pieces are all read, `answer` holds the final
    `Answer` (text, status, sources). Iterating raises `AnswerTimeout` when the deadline passed
    (pieces already yielded stand, and `answer` holds what was cut off). `cancel()` stops the
    generation early (a web client that disconnected).
    """

    def __init__(self, model_name: str, verdict: Verdict, path: AnswerPath, plan: Plan, *,
                 timeout_s: float = 0.0, prompt_tokens: int = 0, history_turns_used: int = 0,
                 history_turns_dropped: int = 0) -> None:
        self.model_name = model_name
        self.verdict = verdict
        self.plan = plan
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self.history_turns_used = history_turns_used
        self.history_turns_dropped = history_turns_dropped
        self.finish_reason = "stop"
        self.error: BaseException | None = None
        self.busy = False  # the deadline passed while waiting for another answer to finish
        # the final answer: at once for a fixed reply, when the generation has been read otherwise
        self.answer: Answer | None = path.finish(plan) if plan.prompt is None else None
        self.pieces: list[str] = [self.answer.text] if self.answer is not None else []
        self._path = path
        self._timeout_s = timeout_s
        self._cancel = threading.Event()
        self._streamer: Any = None
        self._stopper: _StopWhen | None = None
        self._thread: threading.Thread | None = None
        self._generated = False  # generate() returned (and so called streamer.end())

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def status(self) -> Status:
        """answered | abstained | refused (a generation not read to its end yet: its plan's status)."""
        return self.answer.status if self.answer is not None else self.plan.status

    @property
    def refused(self) -> bool:
        return self.plan.status == "refused"

    @property
    def sources(self) -> tuple[Passage, ...]:
        """The passages the answer drew on (none for a refusal, an abstention or closed-book)."""
        return self.answer.sources if self.answer is not None else ()

    # ------------------------------------------------------------ the generation side

    def start(self, tokenizer: PreTrainedTokenizerBase, worker: Callable[[AnswerStream], None],
              deadline: float) -> None:
        """Run `worker(self)` in a thread: it generates into `streamer`, stopping on `stopper`."""
        from transformers import TextIteratorStreamer

        if self.plan.prompt is None or self._thread is not None:
            raise RuntimeError("start: a fixed reply, or a stream already started")
        self._stopper = _StopWhen(deadline, self._cancel)
        self._streamer = TextIteratorStreamer(
            tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=self._timeout_s + WORKER_GRACE_S,
        )
        self._thread = threading.Thread(target=self._run, args=(worker,), name="docent-generate", daemon=True)
        self._thread.start()

    def _run(self, worker: Callable[[AnswerStream], None]) -> None:
        try:
            worker(self)
        except BaseException as exc:  # reported to the reader, which re-raises it
            self.error = exc
            log.exception("generation failed")
        finally:
            if not self._generated:
                self._streamer.end()  # wake the reader

    @property
    def streamer(self) -> Any:
        """The TextIteratorStreamer the worker passes to generate()."""
        return self._streamer

    @property
    def stopper(self) -> _StopWhen:
        """The stopping criterion the worker passes to generate() (deadline, cancel)."""
        assert self._stopper is not None, "start() first"
        return self._stopper

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def mark_busy(self) -> None:
        """The worker never got the model before the deadline."""
        self.busy = True

    def generation_done(self, completion_tokens: int, finish_reason: str) -> None:
        """The worker's report once generate() returned (it has ended the streamer)."""
        self._generated = True
        self.completion_tokens = completion_tokens
        self.finish_reason = finish_reason

    # ------------------------------------------------------------ the reading side

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the generation thread; True when it has ended (or there is none)."""
        if self._thread is None:
            return True
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()

    def __iter__(self) -> Iterator[str]:
        if self._streamer is None:  # a fixed reply
            yield from self.pieces
            return
        try:
            for piece in self._streamer:
                if piece:
                    self.pieces.append(piece)
                    yield piece
        finally:
            # Leaving early (an exception in the reader, or the generator closed) stops generation.
            self._cancel.set()
        self.join(timeout=WORKER_GRACE_S)
        if self.error is not None:
            raise self.error
        if self.busy:
            raise AnswerTimeout(
                f"the assistant is busy answering other questions; no answer started within {self._timeout_s:g} s, "
                f"try again"
            )
        self.answer = self._path.finish(self.plan, self.text)
        if self._stopper is not None and self._stopper.timed_out:
            raise AnswerTimeout(f"the answer took longer than {self._timeout_s:g} s and was cut off")

    def read(self) -> str:
        """The whole answer (non-streaming callers)."""
        for _ in self:
            pass
        return self.text


# ---------------------------------------------------------------- the assistant

class Assistant:
    """A loaded model with named adapters, the classifier, the assistant params and (for grounded
    answers) a retriever with the retrieval params (k, min_score)."""

    def __init__(
        self,
        models: ModelSet,
        classifier: RelevanceClassifier,
        params: AssistantParams,
        default: str | None = None,
        retriever: Retriever | None = None,
        retrieval: RetrievalParams | None = None,
    ) -> None:
        self.models = models  # loading and switching between base and adapters: docent.modeling.lifecycle
        self.model = models.model
        self.tokenizer = tokenizer = models.tokenizer
        self.classifier = classifier
        self.params = params
        if retriever is not None and retrieval is None:
            raise ValueError("a retriever needs the retrieval params (k, min_score)")
        self.retriever = retriever
        self.retrieval = retrieval
        self.path = AnswerPath(
            tokenizer, retriever=retriever,
            k=retrieval.k if retrieval else 0,
            min_score=retrieval.min_score if retrieval else 0.0, abstain=params.abstain, refusal=params.refusal,
            abstain_min_prob=retrieval.abstain_min_prob if retrieval else 0.0,
            answer_mode=retrieval.answer_mode if retrieval else "generate",
            min_query_match=retrieval.min_query_match if retrieval else 0.0,
            min_similarity=retrieval.min_similarity if retrieval else 1.0,
        )
        self.adapters = models.adapters
        # A full fine-tune has no adapter to switch off: its "no adapter" model is the fine-tuned one.
        self.no_adapter_name = models.no_adapter_name
        self.default = default or (self.adapters[0] if self.adapters else self.no_adapter_name)
        if self.default not in self.model_names:
            raise UserError(f"model {self.default!r}: not loaded; choose one of {', '.join(self.model_names)}")
        self.stop_ids = stop_token_ids(tokenizer)
        self.lock = threading.Lock()

    @property
    def retrieves(self) -> bool:
        """Whether answers are grounded in retrieved passages (else closed-book)."""
        return self.retriever is not None

    @property
    def model_names(self) -> list[str]:
        """Names a user may pick: the adapters, then the model without adapter."""
        return [*self.adapters, self.no_adapter_name]

    def resolve(self, name: str | None) -> str:
        """A model name from a user (None = the default); unknown names are a clear error."""
        if name is None or not name.strip():
            return self.default
        name = name.strip()
        if name not in self.model_names:
            raise UserError(f"model {name!r}: unknown; choose one of {', '.join(self.model_names)}")
        return name

    # ------------------------------------------------------------ relevance

    def judge(self, question: str, history: Sequence[Turn] = ()) -> Verdict:
        """Is the question about the domain?

        The rule: the question is scored alone by the classifier. If that says unrelated, the
        question contains a referring word (he, she, it, they, his, their, that, there, then, ...)
        and the conversation has earlier answered turns, the question is scored again together
        with the questions of the last `assistant.follow_up_turns` answered turns; it is accepted
        as a follow-up when that combined text is related. So "When did he die?" after "Who was
        Ho Chi Minh?" is answered, while "How do I bake bread?" after it is still refused
        (no referring word), as is "When did he die?" at the start of a conversation.
        History only ever holds answered (related) turns: refusals are not kept.
        """
        related, score = self.classifier.is_related(question)
        if related:
            return Verdict(True, float(score), follow_up=False)
        context = self.earlier_questions(question, history)
        if context:
            related, combined = self.classifier.is_related(f"{context} {question}")
            if related:
                return Verdict(True, float(combined), follow_up=True)
        return Verdict(False, float(score), follow_up=False)

    def earlier_questions(self, question: str, history: Sequence[Turn]) -> str:
        """What a follow-up refers back to: when the question has a referring word, the questions
        of the last `assistant.follow_up_turns` answered turns (joined), else "".

        The same text decides the relevance of a follow-up (`judge`) and what it retrieves with
        (`search_text`), so "When did he die?" finds the passages of the person asked about before.
        """
        words = {w.lower() for w in WORD.findall(question)}
        turns = self.params.follow_up_turns
        if not history or not turns or not words & REFERRING_WORDS:
            return ""
        return " ".join(q for q, _a in history[-turns:])

    def search_text(self, question: str, history: Sequence[Turn] = ()) -> str:
        """What retrieval searches with: the question, after the earlier questions it refers back to."""
        context = self.earlier_questions(question, history)
        return f"{context} {question}" if context else question

    # ------------------------------------------------------------ history

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def fit_history(self, question: str, history: Sequence[Turn]) -> list[Turn]:
        """The most recent turns whose prompt (turns + question) fits in max_history_tokens.

        `question` is the question turn as the prompt carries it (with retrieval: the passages,
        the instruction and the question), so the passages count against the budget too.
        Oldest turns are dropped first. If the question alone is over the budget it is still
        answered, with no history (its length is capped by max_question_chars).
        """
        turns = list(history)
        budget = self.params.max_history_tokens
        while turns and self.count_tokens(prompt_text(self.tokenizer, question, turns)) > budget:
            turns.pop(0)
        return turns

    def answered_turns(self, history: Sequence[Turn]) -> list[Turn]:
        """History without refused turns (a client may send them back; they carry no knowledge)."""
        refusal = self.params.refusal.strip()
        return [(q, a) for q, a in history if a.strip() != refusal]

    # ------------------------------------------------------------ answering

    def answer(
        self,
        question: str,
        history: Sequence[Turn] = (),
        model: str | None = None,
        max_new_tokens: int | None = None,
    ) -> AnswerStream:
        """Start answering; returns at once with a stream (a fixed reply, or a generation under way).

        The one answer path: relevance gate (follow-ups judged with the history) -> retrieve (a
        follow-up with the earlier questions) -> prompt with the passages and the history that
        fits -> generate in a worker thread -> `AnswerPath.finish` when the stream has been read.
        """
        name = self.resolve(model)
        question = question.strip()
        if not question:
            raise UserError("question: empty")
        history = self.answered_turns(history)
        verdict = self.judge(question, history)
        plan = self.path.plan(question, search_text=self.search_text(question, history), admitted=verdict.related)
        if plan.prompt is None:
            if plan.status == "refused":
                log.info("refused (score %.3f < threshold %.3f): %r", verdict.score, self.classifier.threshold,
                         question)
            else:
                best = plan.retrieved[0] if plan.retrieved else None
                log.info("abstained (best passage score %.3f, min_score %.3f; query match %.2f, min_query_match "
                         "%.2f): %r", best.score if best else 0.0, self.path.min_score, best.match if best else 0.0,
                         self.path.min_query_match, question)
            return AnswerStream(name, verdict, self.path, plan)

        limit = self.params.max_new_tokens
        if max_new_tokens is not None:  # a client may ask for less (OpenAI max_tokens), never more
            limit = min(max_new_tokens, limit)
        turns = self.fit_history(plan.turn, history)
        plan = self.path.with_history(plan, turns)
        assert plan.prompt is not None
        inputs = self.tokenizer(plan.prompt, return_tensors="pt", add_special_tokens=False)
        stream = AnswerStream(
            name, verdict, self.path, plan, timeout_s=self.params.timeout_s,
            prompt_tokens=int(inputs["input_ids"].shape[1]), history_turns_used=len(turns),
            history_turns_dropped=len(history) - len(turns),
        )
        deadline = time.monotonic() + self.params.timeout_s
        if self.path.answer_mode == "select":
            worker = functools.partial(self._select, name=name, deadline=deadline)
        else:
            worker = functools.partial(self._generate, inputs=inputs, name=name, max_new_tokens=limit,
                                       deadline=deadline)
        stream.start(self.tokenizer, worker, deadline)
        return stream

    def _select(self, stream: AnswerStream, *, name: str, deadline: float) -> None:
        """Worker thread for `retrieval.answer_mode: select`: wait for the model, switch adapter, choose
        the answer among the passages' sentences and the abstention, and stream it as one piece.
        The choice reads the question turn alone: earlier turns found the passages (`search_text`)."""
        from docent.modeling.generation import max_positions

        with self._model_for(stream, deadline) as ready:
            if not ready:
                return
            with self.models.use(name) as model:
                text = self.path.select(model, stream.plan, batch_size=SELECT_BATCH, max_len=max_positions(model))
            stream.streamer.on_finalized_text(text, stream_end=True)
            stream.generation_done(self.count_tokens(text), "stop")

    @contextlib.contextmanager
    def _model_for(self, stream: AnswerStream, deadline: float) -> Iterator[bool]:
        """Hold the model for one worker: True once it is this stream's turn; False when the deadline
        passed first (the stream is marked busy) or the reader left meanwhile."""
        wait_s = deadline - time.monotonic()
        if wait_s <= 0 or not self.lock.acquire(timeout=wait_s):
            stream.mark_busy()
            yield False
            return
        try:
            yield not stream.cancelled
        finally:
            self.lock.release()

    def _generate(self, stream: AnswerStream, *, inputs: Any, name: str, max_new_tokens: int,
                  deadline: float) -> None:
        """Worker thread: wait for the model, switch adapter, generate greedily into the stream's streamer."""
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        from docent.modeling.generation import AbstentionFloor

        with self._model_for(stream, deadline) as ready:
            if not ready:
                return
            config = GenerationConfig(
                do_sample=False,  # greedy: the same question gets the same answer
                max_new_tokens=max_new_tokens,
                eos_token_id=self.stop_ids,
                pad_token_id=self.tokenizer.pad_token_id
                if self.tokenizer.pad_token_id is not None
                else self.stop_ids[0],
            )
            device = self.model.device
            floor = self.path.abstain_floor
            processors = LogitsProcessorList([AbstentionFloor(*floor)] if floor is not None else [])
            with self.models.use(name):
                output = self.model.generate(
                    input_ids=inputs["input_ids"].to(device),
                    attention_mask=inputs["attention_mask"].to(device),
                    generation_config=config,
                    stopping_criteria=StoppingCriteriaList([stream.stopper]),
                    logits_processor=processors,
                    streamer=stream.streamer,
                )
            new_ids = output[0, inputs["input_ids"].shape[1]:].tolist()
            ended_on_stop = bool(new_ids) and new_ids[-1] in self.stop_ids
            stream.generation_done(
                len(new_ids), "length" if len(new_ids) >= max_new_tokens and not ended_on_stop else "stop",
            )


# ---------------------------------------------------------------- loading

def parse_adapter_option(value: str) -> tuple[str, Path]:
    """`--adapter NAME=PATH` -> (name, path), checked."""
    name, sep, path = value.partition("=")
    name, path = name.strip(), path.strip()
    if not sep or not name or not path:
        raise UserError(f"--adapter {value!r}: expected NAME=PATH")
    if not ADAPTER_NAME.match(name):
        raise UserError(f"--adapter {value!r}: name must be letters, digits, '_', '.' or '-' (at most 64)")
    if name in (BASE, FINETUNED):
        raise UserError(f"--adapter {value!r}: the name {name!r} is reserved; pick another")
    adapter_dir = Path(path)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise UserError(f"--adapter {value!r}: {adapter_dir} has no adapter_config.json (not a PEFT adapter)")
    return name, adapter_dir


def load_assistant(
    params_path: str | Path,
    finetuned_dir: str | Path,
    classifier_dir: str | Path,
    model_cache: str | Path,
    extra_adapters: Sequence[str] = (),
    no_adapter: bool = False,
    index_dir: str | Path = "models/index",
    retrieval: bool | None = None,
) -> Assistant:
    """Load params, the classifier, the index (when answers retrieve), the base model once and every
    adapter onto it. `retrieval` None: retrieve when the fine-tuned model was trained with passages
    (its manifest's `context` is "retrieved"); True/False force it on or off."""
    from docent.config import load_params

    params = load_params(params_path, "assistant", "model", "quant", "retrieval")
    assert params.assistant is not None and params.model is not None and params.quant is not None
    assert params.retrieval is not None
    adapters = [parse_adapter_option(v) for v in extra_adapters]
    names = [n for n, _ in adapters]
    if len(set(names)) != len(names):
        raise UserError(f"--adapter: the name {sorted(n for n in names if names.count(n) > 1)[0]!r} is given twice")
    finetuned_dir = Path(finetuned_dir)
    retrieves = answers_retrieve(finetuned_dir, params.assistant, params.retrieval, retrieval)
    classifier = _load_classifier(Path(classifier_dir))
    index = load_assistant_index(Path(index_dir), params.retrieval) if retrieves else None
    models = load_model_set(finetuned_dir, params.model, params.quant, model_cache, adapters, no_adapter)
    _move_to_accelerator(models.model)
    default = models.no_adapter_name if no_adapter else None
    log.info("assistant ready: models %s, default %s, %s", models.names, default or models.adapters[:1],
             f"retrieving from {index_dir} ({len(index.passages)} passages)" if index else "closed-book")
    return Assistant(models, classifier, params.assistant, default, retriever=index, retrieval=params.retrieval)


def answers_retrieve(finetuned_dir: Path, assistant: AssistantParams, retrieval: RetrievalParams,
                     wanted: bool | None) -> bool:
    """Whether answers retrieve: as the fine-tuned model was trained (manifest `context`) unless
    `wanted` says otherwise. A model trained with passages must prompt with the same abstention."""
    from docent.modeling.loading import read_manifest

    manifest = read_manifest(finetuned_dir) if finetuned_dir.exists() else {}
    trained_with = manifest.get("context") or "none"
    retrieves = trained_with == "retrieved" if wanted is None else wanted
    if trained_with == "retrieved":
        trained_abstain = manifest.get("abstain") or ""
        if retrieves and trained_abstain and trained_abstain != assistant.abstain:
            raise UserError(
                f"{finetuned_dir}: trained to abstain with {trained_abstain!r}, but params has assistant.abstain "
                f"{assistant.abstain!r}; run `dvc repro finetune` (or answer closed-book with --no-retrieval)"
            )
        trained_k = manifest.get("retrieval_k")
        if retrieves and trained_k and trained_k != retrieval.k:
            log.warning("%s was trained with %s passages per prompt; answering with retrieval.k = %d",
                        finetuned_dir, trained_k, retrieval.k)
        if not retrieves:
            log.warning("%s was trained with retrieved passages; answering closed-book (--no-retrieval)",
                        finetuned_dir)
    return retrieves


def load_assistant_index(index_dir: Path, retrieval: RetrievalParams) -> PassageIndex:
    """The passage index, refused when built from other params or library versions than this run's."""
    from docent.retrieval.build import index_manifest
    from docent.retrieval.index import load_index

    try:
        return load_index(index_dir, expect=index_manifest(retrieval), answer_type_bonus=retrieval.answer_type_bonus)
    except (UserError, FileNotFoundError) as exc:
        message = exc.format_message() if isinstance(exc, UserError) else f"{exc.filename}: file not found"
        if "dvc repro index" not in message:
            message += "; run `dvc repro index`"
        raise UserError(f"{message} (or answer closed-book with --no-retrieval)") from None


def _load_classifier(path: Path) -> RelevanceClassifier:
    if not path.exists():
        raise UserError(f"{path}: relevance classifier not found; run `dvc repro classifier` or pass --classifier")
    from docent.relevance.classifier import load_classifier

    return load_classifier(path)


def _move_to_accelerator(model: Any) -> None:
    """A float model goes to the GPU when there is one (a quantised one was placed by device_map)."""
    import torch

    if torch.cuda.is_available() and not getattr(model, "hf_device_map", None) and model.device.type == "cpu":
        model.to("cuda")
