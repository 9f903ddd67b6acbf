"""The one params loader: params.yaml -> frozen, validated dataclasses.

Every key lives in params.yaml (no defaults here), so `dvc exp run -S key=value` is the only
way a value changes. Validation runs before any heavy import or model load: an unknown key
(with the closest valid one suggested), a wrong type or an out-of-range value stops the stage
with one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from docent.cli import UserError


class ParamsError(UserError):
    """A params.yaml mistake; the message names the key."""


def _range(ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None) -> dict[str, Any]:
    return {"metadata": {"ge": ge, "gt": gt, "le": le, "lt": lt}}


def bounded(**bounds: float) -> Any:
    """A dataclass field with numeric bounds, e.g. `r: int = bounded(ge=1)`."""
    return field(**_range(**bounds))


# ---------------------------------------------------------------- sections

@dataclass(frozen=True, kw_only=True)
class ScrapeParams:
    source: Literal["snapshot", "wikipedia", "files"]
    pages: tuple[str, ...]
    base_url: str
    follow_links: int = bounded(ge=0, le=3)
    max_pages: int = bounded(ge=1)
    rate_limit_s: float = bounded(ge=0)
    timeout_s: float = bounded(gt=0)
    retries: int = bounded(ge=0, le=10)
    backoff_s: float = bounded(ge=0)
    max_page_bytes: int = bounded(ge=1000)
    max_file_bytes: int = bounded(ge=1000)
    max_pdf_pages: int = bounded(ge=1)
    user_agent: str

    def check(self) -> None:
        if self.source != "files" and not self.pages:
            raise ParamsError("scrape.pages: empty; list at least one page title")
        if self.source == "wikipedia" and not self.base_url.startswith(("http://", "https://")):
            raise ParamsError(f"scrape.base_url = {self.base_url!r}: must be an http(s) URL")


@dataclass(frozen=True, kw_only=True)
class CleanParams:
    min_words: int = bounded(ge=1)
    max_words: int = bounded(ge=1)
    max_code_lines: int = bounded(ge=1)
    max_signature_chars: int = bounded(ge=10)
    min_prose_share: float = bounded(ge=0, le=1)

    def check(self) -> None:
        if self.min_words > self.max_words:
            raise ParamsError(f"clean.min_words = {self.min_words}: must be <= clean.max_words ({self.max_words})")


@dataclass(frozen=True, kw_only=True)
class QAParams:
    generator: Literal["rules", "llm"]
    per_fact: int = bounded(ge=1, le=10)
    colloquial_forms: int = bounded(ge=0, le=2)
    model: str
    unrelated_pages: int = bounded(ge=0)
    unrelated_extra: str
    unrelated_sentences_per_article: int = bounded(ge=1)
    min_overlap: float = bounded(ge=0, le=1)
    llm_max_new_tokens: int = bounded(ge=16)
    max_answer_words: int = bounded(ge=3)


@dataclass(frozen=True, kw_only=True)
class SplitParams:
    train: float = bounded(gt=0, lt=1)
    val: float = bounded(ge=0, lt=1)
    test: float = bounded(ge=0, lt=1)
    unseen_facts: float = bounded(ge=0, lt=1)
    absent_documents: int = bounded(ge=0)

    def check(self) -> None:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ParamsError(
                f"split.train + split.val + split.test = {total:g}: must sum to 1 "
                f"(got {self.train:g} + {self.val:g} + {self.test:g})"
            )


@dataclass(frozen=True, kw_only=True)
class RetrievalParams:
    passage_words: int = bounded(ge=5, le=2000)
    resolve_references: bool
    code_lead_words: int = bounded(ge=1, le=2000)
    embedding_model: str
    lexical_weight: float = bounded(ge=0, le=1)
    answer_type_bonus: float = bounded(ge=0, le=1)
    train_embeddings: bool
    k: int = bounded(ge=1, le=50)
    p_gold: float = bounded(ge=0, le=1)
    abstain_share: float = bounded(ge=0, le=1)
    min_score: float = bounded(ge=0)
    min_query_match: float = bounded(ge=0, le=1)
    min_similarity: float = bounded(ge=0, le=1)
    abstain_min_prob: float = bounded(ge=0, le=1)
    answer_mode: Literal["generate", "select"]
    distractor_pool: int = bounded(ge=0, le=50)
    absent_document_share: float = bounded(ge=0, le=1)
    gold_position: Literal["retrieved", "random"]


@dataclass(frozen=True, kw_only=True)
class ClassifierParams:
    word_ngram_max: int = bounded(ge=0, le=4)
    char_ngram_min: int = bounded(ge=1, le=8)
    char_ngram_max: int = bounded(ge=0, le=8)
    hash_bits: int = bounded(ge=10, le=24)
    sublinear_tf: bool
    strip_accents: bool
    C: float = bounded(gt=0)
    drop_question_words: bool
    min_recall: float = bounded(gt=0, le=1)
    max_unrelated_admitted: float = bounded(ge=0, le=1)
    threshold_folds: int = bounded(ge=0, le=20)
    background_articles: int = bounded(ge=0)

    def check(self) -> None:
        if self.word_ngram_max == 0 and self.char_ngram_max == 0:
            raise ParamsError("classifier.word_ngram_max and classifier.char_ngram_max are both 0: "
                              "no features left; set at least one above 0")
        if self.char_ngram_max and self.char_ngram_min > self.char_ngram_max:
            raise ParamsError(f"classifier.char_ngram_min = {self.char_ngram_min}: must be <= "
                              f"classifier.char_ngram_max ({self.char_ngram_max})")


@dataclass(frozen=True, kw_only=True)
class ModelParams:
    name: str
    trust_remote_code: bool
    allow_pickle: bool
    dtype: Literal["auto", "float32", "bfloat16", "float16"]
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"]

    def check(self) -> None:
        if not self.name.strip():
            raise ParamsError("model.name: empty; use 'embedded', a hub id or a local folder")


@dataclass(frozen=True, kw_only=True)
class QuantParams:
    bits: Literal[4, 8]
    quant_type: Literal["nf4", "fp4"]
    double_quant: bool
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"]


@dataclass(frozen=True, kw_only=True)
class LoraParams:
    r: int = bounded(ge=1, le=4096)
    alpha: float = bounded(gt=0)
    dropout: float = bounded(ge=0, lt=1)
    target_modules: str | tuple[str, ...]
    bias: Literal["none", "all", "lora_only"]

    def check(self) -> None:
        if isinstance(self.target_modules, tuple) and not self.target_modules:
            raise ParamsError("lora.target_modules: empty list; name modules, or use 'auto' or 'all-linear'")
        if isinstance(self.target_modules, str) and self.target_modules not in ("auto", "all-linear"):
            raise ParamsError(
                f"lora.target_modules = {self.target_modules!r}: must be 'auto', 'all-linear' or a list of module names"
            )


@dataclass(frozen=True, kw_only=True)
class FreezeParams:
    # an int N freezes the first N decoder blocks; a string such as "0-11,20" names block ranges
    layers: int | str
    fraction: float = bounded(ge=0, lt=1)

    def check(self) -> None:
        if isinstance(self.layers, int):
            if self.layers < 0:
                raise ParamsError(f"freeze.layers = {self.layers}: must be >= 0")
        else:
            parse_block_ranges(self.layers, key="freeze.layers")
        if self.fraction and self.layers not in (0, ""):
            raise ParamsError("freeze.fraction: set either freeze.layers or freeze.fraction, not both")


@dataclass(frozen=True, kw_only=True)
class TrainParams:
    method: Literal["lora", "qlora", "full"]
    optimizer: Literal["adamw_torch", "adamw_8bit", "paged_adamw_32bit", "paged_adamw_8bit"]
    learning_rate: float = bounded(gt=0, lt=1)
    weight_decay: float = bounded(ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant"]
    warmup_ratio: float = bounded(ge=0, lt=1)
    epochs: float = bounded(gt=0)
    max_steps: int = bounded(ge=-1)
    min_steps: int = bounded(ge=0)
    batch_size: int = bounded(ge=1)
    grad_accum: int = bounded(ge=1)
    max_grad_norm: float = bounded(ge=0)
    gradient_checkpointing: bool
    max_seq_len: int = bounded(ge=16)
    eval_steps: int = bounded(ge=1)
    early_stopping_patience: int = bounded(ge=0)
    save_steps: int = bounded(ge=1)
    save_total_limit: int = bounded(ge=1)
    eval_bleu: bool
    eval_bleu_questions: int = bounded(ge=1)
    eval_bleu_max_new_tokens: int = bounded(ge=1)
    mix_passages: bool
    context: Literal["none", "retrieved"]
    merge: bool
    threads: int = bounded(ge=0)

    def check(self) -> None:
        if self.max_steps == 0:
            raise ParamsError("train.max_steps = 0: use -1 to train for train.epochs, or a positive step count")
        if self.save_steps % self.eval_steps:
            # the best checkpoint (by eval loss) is kept, so every save needs an eval at its step
            raise ParamsError(f"train.save_steps = {self.save_steps}: must be a multiple of "
                              f"train.eval_steps ({self.eval_steps})")


@dataclass(frozen=True, kw_only=True)
class EvalParams:
    max_new_tokens: int = bounded(ge=1)
    batch_size: int = bounded(ge=1)
    threads: int = bounded(ge=0)
    few_shot_k: int = bounded(ge=0, le=16)
    max_questions: int = bounded(ge=0)
    unrelated_questions: int = bounded(ge=0)
    probe_questions: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class AssistantParams:
    domain: str
    refusal: str
    abstain: str
    max_history_tokens: int = bounded(ge=32)
    follow_up_turns: int = bounded(ge=0, le=20)
    max_new_tokens: int = bounded(ge=1)
    max_question_chars: int = bounded(ge=10)
    timeout_s: float = bounded(gt=0)


@dataclass(frozen=True, kw_only=True)
class ExportParams:
    enabled: bool
    gguf_type: Literal["f16", "q8_0", "f32"]


SECTIONS: dict[str, type] = {
    "scrape": ScrapeParams,
    "clean": CleanParams,
    "qa": QAParams,
    "split": SplitParams,
    "retrieval": RetrievalParams,
    "classifier": ClassifierParams,
    "model": ModelParams,
    "quant": QuantParams,
    "lora": LoraParams,
    "freeze": FreezeParams,
    "train": TrainParams,
    "eval": EvalParams,
    "assistant": AssistantParams,
    "export": ExportParams,
}
TOP_LEVEL_SCALARS: dict[str, Any] = {"seed": int}


@dataclass(frozen=True)
class Params:
    """The sections a stage asked for; the others stay None (a stage reads only what it declares)."""

    seed: int | None = None
    scrape: ScrapeParams | None = None
    clean: CleanParams | None = None
    qa: QAParams | None = None
    split: SplitParams | None = None
    retrieval: RetrievalParams | None = None
    classifier: ClassifierParams | None = None
    model: ModelParams | None = None
    quant: QuantParams | None = None
    lora: LoraParams | None = None
    freeze: FreezeParams | None = None
    train: TrainParams | None = None
    eval: EvalParams | None = None
    assistant: AssistantParams | None = None
    export: ExportParams | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


# ---------------------------------------------------------------- helpers

def parse_block_ranges(spec: str, key: str = "freeze.layers") -> list[int]:
    """'0-11,20' -> [0, 1, ..., 11, 20]."""
    blocks: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if lo > hi or lo < 0:
                    raise ValueError
                blocks.extend(range(lo, hi + 1))
            else:
                n = int(part)
                if n < 0:
                    raise ValueError
                blocks.append(n)
        except ValueError:
            raise ParamsError(
                f"{key} = {spec!r}: must be a block count or ranges like '0-11,20'"
            ) from None
    return sorted(set(blocks))


# Not pydantic v2: the sections as strict models took import 62->142 ms, refused YAML lists as tuples, 0/9 messages same
def _suggest(key: str, choices: typing.Iterable[str]) -> str:
    match = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "a list of strings"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check `value` against the annotation `tp`; return it in canonical form or raise."""
    origin = typing.get_origin(tp)
    bad = ParamsError(f"{key} = {value!r}: must be {_type_name(tp)}")
    if origin is Literal:
        if value in typing.get_args(tp) and type(value) is type(typing.get_args(tp)[0]):
            return value
        hint = _suggest(str(value), map(str, typing.get_args(tp)))
        raise ParamsError(f"{key} = {value!r}: must be {_type_name(tp)}{hint}")
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _coerce(key, value, option)
            except ParamsError:
                continue
        raise bad
    if origin is tuple:
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise bad
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    raise TypeError(f"unsupported params type {tp} for {key}")


def _check_bounds(key: str, value: Any, meta: dict[str, Any]) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    checks = [("ge", lambda v, b: v >= b, ">="), ("gt", lambda v, b: v > b, ">"),
              ("le", lambda v, b: v <= b, "<="), ("lt", lambda v, b: v < b, "<")]
    for name, ok, sign in checks:
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            raise ParamsError(f"{key} = {value!r}: must be {sign} {bound:g}")


def build_section(name: str, raw: Any) -> Any:
    """Validate one section's mapping into its dataclass."""
    cls = SECTIONS[name]
    if not isinstance(raw, dict):
        raise ParamsError(f"{name}: must be a mapping of keys, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise ParamsError(f"{name}.{key}: unknown key{_suggest(str(key), fields)}")
    values: dict[str, Any] = {}
    for fname, f in fields.items():
        key = f"{name}.{fname}"
        if fname not in raw:
            raise ParamsError(f"{key}: missing from params (every key is set in params.yaml)")
        value = _coerce(key, raw[fname], hints[fname])
        _check_bounds(key, value, dict(f.metadata))
        values[fname] = value
    section = cls(**values)
    check = getattr(section, "check", None)
    if check:
        check()
    return section


class _ParamsLoader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as `1e-05`.

    PyYAML follows YAML 1.1, where a float needs a dot, so `1e-05` (which `dvc exp run -S`
    writes for 0.00001) would otherwise come back as a string.
    """


_ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_params_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    return parse_params_text(text, path)


def parse_params_text(text: str, source: str | Path) -> dict[str, Any]:
    """The params mapping in `text` (a params file's content); errors name `source` and the line."""
    try:
        raw = yaml.load(text, Loader=_ParamsLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else str(source)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ParamsError(f"{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: must be a mapping of sections")
    return raw


def validate_all(raw: dict[str, Any]) -> None:
    """Reject unknown top-level names (misspelt sections) for the whole file."""
    known = set(SECTIONS) | set(TOP_LEVEL_SCALARS)
    for key in raw:
        if key not in known:
            raise ParamsError(f"{key}: unknown params section{_suggest(str(key), known)}")


def load_params(path: str | Path, *sections: str) -> Params:
    """Load and validate the named sections (and 'seed') of a params file.

    A stage names only the sections its dvc.yaml entry declares.
    """
    return build_params(read_params_file(path), *sections)


def build_params(raw: dict[str, Any], *sections: str) -> Params:
    """`load_params` on an already read mapping (parse_params_text / read_params_file)."""
    validate_all(raw)
    values: dict[str, Any] = {}
    for name in sections:
        if name in TOP_LEVEL_SCALARS:
            if name not in raw:
                raise ParamsError(f"{name}: missing from params")
            value = _coerce(name, raw[name], TOP_LEVEL_SCALARS[name])
            _check_bounds(name, value, {"ge": 0})
            values[name] = value
        elif name in SECTIONS:
            if name not in raw:
                raise ParamsError(f"{name}: section missing from params")
            values[name] = build_section(name, raw[name])
        else:
            raise ValueError(f"no params section named {name!r}")
    return Params(**values)
