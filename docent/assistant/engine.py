"""The assistant's engine: one loaded base model, its adapters, the relevance classifier, streaming answers.

Shared by the `ask`/`chat` commands and the web server, so every front end gets the same rules:

- Relevance: the classifier judges the question before the LLM runs. An unrelated question gets
  `assistant.refusal` and the model is never called. A follow-up such as "When did he die?" is
  judged in context (see `Assistant.judge`).
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
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from docent.cli import UserError
from docent.config import AssistantParams, ModelParams, QuantParams
from docent.modeling.prompt import Turn, prompt_text, stop_token_ids

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

BASE = "base"  # the model name meaning "no adapter"
FINETUNED = "finetuned"  # the name of the adapter (or full model) loaded from --finetuned
ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# A follow-up refers back to the previous turn with one of these words ("When did he die?").
REFERRING_WORDS = frozenset({
    "he", "she", "it", "they", "him", "her", "his", "hers", "its", "their", "theirs", "them",
    "this", "that", "these", "those", "there", "then",
})
FOLLOW_UP_CONTEXT_TURNS = 3  # earlier questions scored together with a follow-up
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# The consumer waits this long past the deadline for the worker to report, so a crashed
# worker can never leave a request hanging forever.
WORKER_GRACE_S = 30.0


class RelevanceClassifier(Protocol):
    """What docent.relevance.classifier.load_classifier returns."""

    threshold: float

    def is_related(self, question: str) -> tuple[bool, float]: ...


class AnswerTimeout(Exception):
    """The answer did not finish (or start) within assistant.timeout_s."""


@dataclass(frozen=True)
class Verdict:
    """The classifier's decision on one question."""

    related: bool
    score: float
    follow_up: bool  # accepted only because it refers back to the previous related turn


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
    """An answer being produced: iterate it for text pieces; afterwards read `text` and the counts.

    The refusal is a stream too (one piece, no model involved), so callers treat both alike.
    Iterating raises `AnswerTimeout` when the deadline passed (pieces already yielded stand).
    `cancel()` stops the generation early (a web client that disconnected).
    """

    def __init__(self, model_name: str, verdict: Verdict, refusal: str | None = None) -> None:
        self.model_name = model_name
        self.verdict = verdict
        self.refused = refusal is not None
        self.pieces: list[str] = [refusal] if refusal is not None else []
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.history_turns_used = 0
        self.history_turns_dropped = 0
        self.finish_reason = "stop"
        self.error: BaseException | None = None
        self.busy = False  # the deadline passed while waiting for another answer to finish
        self._cancel = threading.Event()
        self._streamer: Any = None
        self._stopper: _StopWhen | None = None
        self._thread: threading.Thread | None = None
        self._timeout_s = 0.0

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def cancel(self) -> None:
        self._cancel.set()

    def __iter__(self) -> Iterator[str]:
        if self._streamer is None:  # the refusal
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
        assert self._thread is not None
        self._thread.join(timeout=WORKER_GRACE_S)
        if self.error is not None:
            raise self.error
        if self.busy:
            raise AnswerTimeout(
                f"the assistant is busy answering other questions; no answer started within {self._timeout_s:g} s, "
                f"try again"
            )
        if self._stopper is not None and self._stopper.timed_out:
            raise AnswerTimeout(f"the answer took longer than {self._timeout_s:g} s and was cut off")

    def read(self) -> str:
        """The whole answer (non-streaming callers)."""
        for _ in self:
            pass
        return self.text


# ---------------------------------------------------------------- the assistant

class Assistant:
    """A loaded model with named adapters, the classifier and the assistant params."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        classifier: RelevanceClassifier,
        params: AssistantParams,
        adapters: Sequence[str] = (),
        default: str | None = None,
        no_adapter_name: str = BASE,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.classifier = classifier
        self.params = params
        self.adapters = list(adapters)
        # A full fine-tune has no adapter to switch off: its "no adapter" model is the fine-tuned one.
        self.no_adapter_name = no_adapter_name
        self.default = default or (self.adapters[0] if self.adapters else no_adapter_name)
        if self.default not in self.model_names:
            raise UserError(f"model {self.default!r}: not loaded; choose one of {', '.join(self.model_names)}")
        self.stop_ids = stop_token_ids(tokenizer)
        self.lock = threading.Lock()

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
        with the questions of the last FOLLOW_UP_CONTEXT_TURNS answered turns; it is accepted
        as a follow-up when that combined text is related. So "When did he die?" after "Who was
        Ho Chi Minh?" is answered, while "How do I bake bread?" after it is still refused
        (no referring word), as is "When did he die?" at the start of a conversation.
        History only ever holds answered (related) turns: refusals are not kept.
        """
        related, score = self.classifier.is_related(question)
        if related:
            return Verdict(True, float(score), follow_up=False)
        words = {w.lower() for w in WORD.findall(question)}
        if history and words & REFERRING_WORDS:
            context = " ".join(q for q, _a in history[-FOLLOW_UP_CONTEXT_TURNS:])
            related, combined = self.classifier.is_related(f"{context} {question}")
            if related:
                return Verdict(True, float(combined), follow_up=True)
        return Verdict(False, float(score), follow_up=False)

    # ------------------------------------------------------------ history

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def fit_history(self, question: str, history: Sequence[Turn]) -> list[Turn]:
        """The most recent turns whose prompt (turns + question) fits in max_history_tokens.

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
        """Start answering; returns at once with a stream (the refusal, or a generation under way)."""
        name = self.resolve(model)
        question = question.strip()
        if not question:
            raise UserError("question: empty")
        history = self.answered_turns(history)
        verdict = self.judge(question, history)
        if not verdict.related:
            log.info("refused (score %.3f < threshold %.3f): %r", verdict.score, self.classifier.threshold, question)
            return AnswerStream(name, verdict, refusal=self.params.refusal)

        deadline = time.monotonic() + self.params.timeout_s
        limit = self.params.max_new_tokens
        if max_new_tokens is not None:  # a client may ask for less (OpenAI max_tokens), never more
            limit = min(max_new_tokens, limit)
        turns = self.fit_history(question, history)
        prompt = prompt_text(self.tokenizer, question, turns)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)

        from transformers import TextIteratorStreamer

        stream = AnswerStream(name, verdict)
        stream.history_turns_used = len(turns)
        stream.history_turns_dropped = len(history) - len(turns)
        stream.prompt_tokens = int(inputs["input_ids"].shape[1])
        stream._timeout_s = self.params.timeout_s
        stream._stopper = _StopWhen(deadline, stream._cancel)
        stream._streamer = TextIteratorStreamer(
            self.tokenizer,
            skip_prompt=True,
            skip_special_tokens=True,
            timeout=self.params.timeout_s + WORKER_GRACE_S,
        )
        stream._thread = threading.Thread(
            target=self._generate, args=(stream, inputs, name, limit, deadline), name="docent-generate", daemon=True
        )
        stream._thread.start()
        return stream

    def _generate(self, stream: AnswerStream, inputs: Any, name: str, max_new_tokens: int, deadline: float) -> None:
        """Worker thread: wait for the model, switch adapter, generate greedily into the streamer."""
        from transformers import GenerationConfig, StoppingCriteriaList

        finished = False
        try:
            wait_s = deadline - time.monotonic()
            if wait_s <= 0 or not self.lock.acquire(timeout=wait_s):
                stream.busy = True
                return
            try:
                if stream._cancel.is_set():
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
                with self._use_model(name):
                    output = self.model.generate(
                        input_ids=inputs["input_ids"].to(device),
                        attention_mask=inputs["attention_mask"].to(device),
                        generation_config=config,
                        stopping_criteria=StoppingCriteriaList([stream._stopper]),
                        streamer=stream._streamer,
                    )
                finished = True  # generate() called streamer.end()
                new_ids = output[0, inputs["input_ids"].shape[1]:].tolist()
                stream.completion_tokens = len(new_ids)
                ended_on_stop = bool(new_ids) and new_ids[-1] in self.stop_ids
                stream.finish_reason = "length" if len(new_ids) >= max_new_tokens and not ended_on_stop else "stop"
            finally:
                self.lock.release()
        except BaseException as exc:  # reported to the reader, which re-raises it
            stream.error = exc
            log.exception("generation failed")
        finally:
            if not finished:
                stream._streamer.end()  # wake the reader

    @contextlib.contextmanager
    def _use_model(self, name: str) -> Iterator[None]:
        """Activate an adapter, or disable all adapters for the no-adapter model (lock held)."""
        from peft import PeftModel

        if not isinstance(self.model, PeftModel):
            yield
        elif name == self.no_adapter_name:
            with self.model.disable_adapter():
                yield
        else:
            self.model.set_adapter(name, inference_mode=True)
            yield


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
) -> Assistant:
    """Load params, the classifier, the base model once and every adapter onto it."""
    from docent.config import load_params

    params = load_params(params_path, "assistant", "model", "quant")
    assert params.assistant is not None and params.model is not None and params.quant is not None
    adapters = [parse_adapter_option(v) for v in extra_adapters]
    names = [n for n, _ in adapters]
    if len(set(names)) != len(names):
        raise UserError(f"--adapter: the name {sorted(n for n in names if names.count(n) > 1)[0]!r} is given twice")
    classifier = _load_classifier(Path(classifier_dir))
    model, tokenizer, loaded, no_adapter_name = _load_model(
        Path(finetuned_dir), params.model, params.quant, model_cache, adapters, no_adapter
    )
    default = no_adapter_name if no_adapter else None
    log.info("assistant ready: models %s, default %s", [*loaded, no_adapter_name], default or loaded[:1])
    return Assistant(model, tokenizer, classifier, params.assistant, loaded, default, no_adapter_name)


def _load_classifier(path: Path) -> RelevanceClassifier:
    if not path.exists():
        raise UserError(f"{path}: relevance classifier not found; run `dvc repro classifier` or pass --classifier")
    from docent.relevance.classifier import load_classifier

    return load_classifier(path)


def _load_model(
    finetuned_dir: Path,
    model_params: ModelParams,
    quant: QuantParams,
    model_cache: str | Path,
    adapters: Sequence[tuple[str, Path]],
    no_adapter: bool,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, list[str], str]:
    """(model, tokenizer, adapter names loaded, name of the no-adapter model)."""
    from docent.modeling.loading import (
        load_base_model,
        load_finetuned,
        load_tokenizer,
        read_manifest,
        resolve_model_source,
    )

    loaded: list[str] = []
    no_adapter_name = BASE
    if finetuned_dir.exists():
        method = read_manifest(finetuned_dir).get("method")
        if method == "full":
            if no_adapter:
                raise UserError(
                    f"--no-adapter: {finetuned_dir} holds full fine-tuned weights, not an adapter on the base; "
                    f"point --finetuned at a missing folder to answer with the base model alone"
                )
            no_adapter_name = FINETUNED
        model, tokenizer = load_finetuned(finetuned_dir, model_params, model_cache, quant, adapter_name=FINETUNED)
        if method != "full":
            loaded.append(FINETUNED)
    elif no_adapter or adapters:
        log.info("%s not found: answering with the base model %s", finetuned_dir, model_params.name)
        model = load_base_model(model_params, model_cache)
        tokenizer = load_tokenizer(resolve_model_source(model_params, model_cache), model_params.trust_remote_code)
    else:
        raise UserError(
            f"{finetuned_dir}: fine-tuned model not found; run `dvc repro finetune`, "
            f"or pass --no-adapter to answer with the base model"
        )
    if adapters:
        from peft import PeftModel

        for name, path in adapters:
            try:
                if isinstance(model, PeftModel):
                    model.load_adapter(str(path), adapter_name=name, is_trainable=False)
                else:
                    model = PeftModel.from_pretrained(model, str(path), adapter_name=name, is_trainable=False)
            except (ValueError, RuntimeError, KeyError) as exc:  # shapes or modules that do not fit this base
                raise UserError(f"--adapter {name}={path}: does not fit the base model ({str(exc)[:200]})") from None
            loaded.append(name)
    model.eval()
    _move_to_accelerator(model)
    return model, tokenizer, loaded, no_adapter_name


def _move_to_accelerator(model: Any) -> None:
    """A float model goes to the GPU when there is one (a quantised one was placed by device_map)."""
    import torch

    if torch.cuda.is_available() and not getattr(model, "hf_device_map", None) and model.device.type == "cpu":
        model.to("cuda")
