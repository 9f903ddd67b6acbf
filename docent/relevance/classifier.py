"""Is a question about the domain? TF-IDF + logistic regression, saved with skops (never pickle).

Trained on the train questions (related) against unrelated_train; the decision threshold is the
highest score that still keeps `classifier.min_recall` of the val questions related (a refused
domain question costs more than an off-topic one answered with a refusal check downstream), but
never so low that more than `classifier.max_unrelated_admitted` of the unrelated val questions
get in: on a small val split one odd question ("What ruled from 618 to 907?") would otherwise
drag the threshold down (0.63 -> 0.09 on the default domain, precision 0.96 -> 0.68).
Loading checks the file's types against an explicit list first: a file holding anything else
(a tampered or foreign file) is refused with a UserError before any object is built.
"""

from __future__ import annotations

import json
import math
import platform
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from docent.cli import UserError
from docent.config import ClassifierParams

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

MODEL_FILE = "classifier.skops"
META_FILE = "classifier.json"
# Every type a saved classifier may contain beyond skops' defaults (which already cover numpy arrays,
# scipy sparse matrices and builtins). Anything else in a file is refused.
TRUSTED_TYPES = [
    "docent.relevance.classifier.without_question_words",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.pipeline.Pipeline",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.feature_extraction.text.HashingVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
]


# How a question is asked, not what it asks about: wh-words, auxiliaries, pronouns, articles and
# prepositions. The domain's questions and the unrelated ones are asked in different forms (a manual's
# "How do I ...?" and "What does X do?"; Wikipedia's "Who was ...?"), so with these words as word
# n-grams the form alone scored "how do i boil an egg" 0.11 and "how do you tie a tie" 0.65 as
# documentation questions (`classifier.drop_question_words` leaves them out of the word n-grams; the
# character n-grams still see the whole question: params.yaml has what each choice measured). Not
# retrieval's QUESTION_WORDS (docent/retrieval/index.py), which adds to bm25s' stopwords and keeps
# what a search term may be ("from", "may", "us"); here every function word is form.
_QUESTION_FORM_GROUPS = (
    "what whats what's who whom whose when where which why how",  # wh-words
    "is are was were be been being am isn't aren't wasn't weren't",  # auxiliaries
    "do does did done don't doesn't didn't can could should would will shall may might must can't won't",
    "i me my mine you your yours we us our he him his she her they them their it its",  # pronouns
    "a an the this that these those there here",  # determiners
    "to of in on for at by with from into about and or but if so as",  # prepositions, conjunctions
    "tell please",  # "tell me about ...", "please"
)
QUESTION_FORM_WORDS = frozenset(word for group in _QUESTION_FORM_GROUPS for word in group.split())


# A word: letters, digits and the marks inside names and code ("Hồ", "don't", "sys.prefix",
# "--without-pip", "c++", "text/html"); the punctuation between words is form too.
_WORD = re.compile(r"[\w'.+/-]+")


def without_question_words(texts: Sequence[str]) -> list[str]:
    """Each text's words without QUESTION_FORM_WORDS (in any case) and without the punctuation between
    them: "How do I make a virtual env?" -> "make virtual env"."""
    return [" ".join(w for w in _WORD.findall(text) if w.lower().strip("'.") not in QUESTION_FORM_WORDS)
            for text in texts]


def build_pipeline(params: ClassifierParams, seed: int) -> Pipeline:
    """Hashed word n-grams (question words left out) and char_wb n-gram counts -> TF-IDF each -> one
    logistic regression.

    Hashing instead of a fitted vocabulary: the saved file holds two idf vectors and the weights
    (2 * 2**18 floats each, ~8 MB) instead of a dict of every n-gram (a 100k-entry vocabulary made
    a 110 MB skops file that took 6 minutes to write). Collisions cost nothing measurable at 2**18.
    """
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer

    def hashed_tfidf(analyzer: str, ngram_range: tuple[int, int], topic_only: bool = False) -> Pipeline:
        counts = HashingVectorizer(
            analyzer=analyzer,
            ngram_range=ngram_range,
            n_features=2**params.hash_bits,
            # "Trung sisters" typed without diacritics should match "Trưng sisters"
            strip_accents="unicode" if params.strip_accents else None,
            lowercase=True,
            alternate_sign=False,  # plain counts, so idf weighting applies as with a vocabulary
            norm=None,             # TfidfTransformer normalizes after weighting
        )
        steps = [("counts", counts), ("tfidf", TfidfTransformer(sublinear_tf=params.sublinear_tf))]
        if topic_only:
            steps.insert(0, ("topic", FunctionTransformer(without_question_words)))
        return Pipeline(steps)

    parts = []
    if params.word_ngram_max:
        parts.append(("words", hashed_tfidf("word", (1, params.word_ngram_max), params.drop_question_words)))
    if params.char_ngram_max:
        parts.append(("chars", hashed_tfidf("char_wb", (params.char_ngram_min, params.char_ngram_max))))
    # balanced: the unrelated pool is many times the domain texts; without reweighting the model would
    # learn to say "unrelated" by default
    regression = LogisticRegression(C=params.C, class_weight="balanced", max_iter=5000, random_state=seed)
    return Pipeline([("features", FeatureUnion(parts)), ("logreg", regression)])


def choose_threshold(scores: np.ndarray, labels: np.ndarray, min_recall: float,
                     max_unrelated_admitted: float = 1.0) -> float:
    """Highest threshold t with recall(score >= t) >= min_recall on the related (label 1) scores,
    raised where needed so that at most `max_unrelated_admitted` of the unrelated (label 0) score >= t.

    With n related scores sorted high to low, keeping k = ceil(min_recall * n) of them related means
    t = the k-th highest score (ties only raise recall). With m unrelated scores, admitting at most
    j = floor(max_unrelated_admitted * m) of them means t just above the (j+1)-th highest.
    """
    related = np.sort(scores[labels == 1])[::-1]
    if related.size == 0:
        raise UserError("classifier: the val split has no related question to choose a threshold on")
    k = max(1, math.ceil(min_recall * related.size - 1e-9))
    threshold = float(related[k - 1])
    unrelated = np.sort(scores[labels == 0])[::-1]
    j = math.floor(max_unrelated_admitted * unrelated.size + 1e-9)
    if j < unrelated.size and unrelated[j] >= threshold:
        threshold = float(np.nextafter(unrelated[j], np.inf))
    return threshold


def binary_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    predicted = (scores >= threshold).astype(int)
    return {
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else float("nan"),
        "accuracy": float((predicted == labels).mean()),
    }


@dataclass
class RelevanceClassifier:
    pipeline: Any
    threshold: float

    def score(self, questions: Sequence[str]) -> np.ndarray:
        """P(related) for each question."""
        if len(questions) == 0:
            return np.zeros(0)
        return self.pipeline.predict_proba(list(questions))[:, 1]

    def is_related(self, question: str) -> tuple[bool, float]:
        score = float(self.score([question])[0])
        return score >= self.threshold, score


def train_classifier(related: Sequence[str], unrelated: Sequence[str], params: ClassifierParams,
                     seed: int) -> Any:
    if not related or not unrelated:
        raise UserError(
            f"classifier: needs both related ({len(related)}) and unrelated ({len(unrelated)}) training questions"
        )
    pipeline = build_pipeline(params, seed)
    pipeline.fit(list(related) + list(unrelated), [1] * len(related) + [0] * len(unrelated))
    return pipeline


def versions() -> dict[str, str]:
    import sklearn
    import skops

    return {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "skops": skops.__version__}


_OBJECT_ID = re.compile(r'("__id__": |")(\d+)(\.npy")?')


def stable_skops(data: bytes) -> bytes:
    """The same skops file, byte-identical for the same model.

    skops names each array file and memo entry by the object's id() (a memory address) and stamps
    every zip member with the time of writing, so one classifier saved twice gave two files, and dvc
    re-ran evaluate after every classifier run. The ids are renumbered 1, 2, ... in their order of
    first appearance in schema.json (which is otherwise deterministic), and the time is fixed."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    numbers: dict[str, str] = {}

    def renumber(match: re.Match[str]) -> str:
        prefix, number, suffix = match.group(1), match.group(2), match.group(3) or ""
        if prefix == '"' and not suffix:  # a quoted number that is not a file name: leave it
            return match.group(0)
        numbers.setdefault(number, str(len(numbers) + 1))
        return prefix + numbers[number] + suffix

    schema = _OBJECT_ID.sub(renumber, members.pop("schema.json").decode("utf-8"))
    renamed = {}
    for name, payload in members.items():
        stem = name.removesuffix(".npy")
        if stem not in numbers:
            raise ValueError(f"skops member {name!r} is not named in schema.json")
        renamed[numbers[stem] + ".npy"] = payload
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
        for name, payload in [("schema.json", schema.encode("utf-8")), *sorted(renamed.items())]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            dst.writestr(info, payload)
    return out.getvalue()


def save_classifier(classifier: RelevanceClassifier, out_dir: str | Path, params: ClassifierParams, seed: int,
                    extra: dict[str, Any] | None = None) -> None:
    """Write classifier.skops + classifier.json into `out_dir` (an existing, empty folder)."""
    import skops.io as sio

    out_dir = Path(out_dir)
    # scikit-learn's text vectorizers cache id(stop_words) after fitting (`_stop_words_id`, only to
    # skip re-checking the same list): a memory address, different in every process. Without it
    # the vectorizer checks its stop words again on first use; nothing else changes.
    for part in [classifier.pipeline, *classifier.pipeline.get_params(deep=True).values()]:
        if hasattr(part, "_stop_words_id"):
            del part._stop_words_id
    (out_dir / MODEL_FILE).write_bytes(stable_skops(sio.dumps(classifier.pipeline)))
    meta = {"threshold": classifier.threshold, "params": asdict(params), "seed": seed, "versions": versions(),
            "trusted_types": TRUSTED_TYPES, **(extra or {})}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_classifier(path: str | Path) -> RelevanceClassifier:
    """Load models/classifier/ (or its .skops file); refuse files with types outside TRUSTED_TYPES."""
    import skops.io as sio

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    model_file = folder / MODEL_FILE if path.is_dir() else path
    meta_file = folder / META_FILE
    if not model_file.is_file():
        raise UserError(f"{model_file}: classifier not found; run `dvc repro classifier`")
    if not meta_file.is_file():
        raise UserError(f"{meta_file}: classifier metadata not found; run `dvc repro classifier`")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        threshold = float(meta["threshold"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise UserError(f"{meta_file}: not a valid classifier metadata file (needs a numeric 'threshold')") from None
    try:
        untrusted = sio.get_untrusted_types(file=model_file)
    except Exception as exc:  # a corrupt zip or schema raises many kinds of errors
        raise UserError(f"{model_file}: not a readable skops file ({type(exc).__name__})") from None
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise UserError(f"{model_file}: refusing to load untrusted types {', '.join(unexpected)}")
    try:
        pipeline = sio.load(model_file, trusted=TRUSTED_TYPES)
    except Exception as exc:
        raise UserError(f"{model_file}: cannot load classifier ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not hasattr(pipeline, "predict_proba"):
        raise UserError(f"{model_file}: not a classifier (no predict_proba)")
    return RelevanceClassifier(pipeline=pipeline, threshold=threshold)
