"""The passage index: BM25 (bm25s: sparse score matrices, saved as .npy files, no server) and,
with `retrieval.embedding_model`, a sentence embedding of every passage; a question is answered by
both, their scores fused.

Terms are accent- and case-folded, stopwords (bm25s' English list and QUESTION_WORDS) dropped and
Snowball-stemmed, the same for passages and questions, so "who founded hanoi" matches "Hà Nội ...
was founded". Lexical search misses what visitors say in other words ("die" / "death", "biggest" /
"largest"); the embedding finds those, and BM25 keeps the names and numbers an embedding blurs.
A passage's fused score is `lexical_weight` x its BM25 score over the question's best BM25 score,
plus (1 - `lexical_weight`) x its cosine similarity to the question (why 0.3: params.yaml), plus
`answer_type_bonus` when the question asks for a time or a number and the passage states one
(docent/retrieval/answer_types.py). BM25 alone ranks by its score only.

The folder `models/index/` holds bm25s' files, `passages.jsonl` (row i = the index's document i),
`embeddings.npy` (row i = passage i's unit vector; only with an embedding model) and
`manifest.json` (the params, the stopword list's hash, a hash of the passages, library and model
versions): an assistant or an evaluation built from other params, another stopword list or
another corpus is refused before it answers.

Everything answers through `Retriever.retrieve(question, k)`; another engine (OpenSearch,
Elasticsearch, Vespa: BM25 and k-NN vector search side by side) can stand behind the same method
when a corpus outgrows one machine.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from docent.cli import UserError
from docent.io import atomic_dir, read_jsonl, write_json, write_jsonl
from docent.retrieval.answer_types import AnswerType, asked_answer_type, holds_answer_type
from docent.retrieval.embedding import embedder
from docent.retrieval.passages import PASSAGE_KEYS, Passage, Retrieved
from docent.text.normalize import fold_for_matching

MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
BM25_DIR = "bm25"
EMBEDDINGS = "embeddings.npy"
SOURCE_DIR = "source"  # the passages as the source words them, BM25 alone (training contexts)
_TERM = re.compile(r"\w\w+", re.UNICODE)


# bm25s' English list (33 words) keeps the words that say how a question is asked: "when did ho chi
# minh die" then matched "... when he assumed the presidency" of another man, and an everyday
# question scored on "what" and "how" alone. Added: interrogatives, auxiliaries, pronouns, a few
# fillers of typed questions ("just", "get", "tell"); not "from" (a documents-folder question, "what
# is a python interpreter running from", lost its passage without it). Gold passage first / among
# the 3 retrieved for the hand-written natural questions: default 0.529 -> 0.549 / 0.804 -> 0.804,
# astronomy 0.619 -> 0.667 / 0.857 -> 0.857, documents folder 0.250 -> 0.375 / 0.563 -> 0.688;
# default train questions first 0.902 -> 0.913, test_unseen 0.938 -> 0.953.
QUESTION_WORDS = frozenset({
    "what", "whats", "which", "who", "whom", "whose", "when", "where", "why", "how",
    "do", "does", "did", "doing", "done", "has", "have", "had", "having", "were", "been", "being", "am",
    "can", "could", "would", "should", "shall", "might", "must",  # not "may" (the month), not "us" (US)
    "i", "me", "my", "you", "your", "we", "our", "he", "him", "his", "she", "her", "its", "them",
    "those", "so", "than", "about", "also", "just", "any", "some", "get", "got", "tell",
})


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN) | QUESTION_WORDS


def stopwords_digest() -> str:
    """A short hash of the stopword list: an index's terms are only comparable with its own list."""
    return hashlib.sha256(" ".join(sorted(_stopwords())).encode("utf-8")).hexdigest()[:16]


class Retriever(Protocol):
    """What the answer path needs from a search engine."""

    def retrieve(self, question: str, k: int) -> list[Retrieved]: ...


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(text: str, stemmer: Any | None = None) -> list[str]:
    """Folded, stopword-free, stemmed terms of a text."""
    stop = _stopwords()
    words = [w for w in _TERM.findall(fold_for_matching(text)) if w not in stop]
    return list((stemmer or _stemmer()).stemWords(words))


def passage_text(passage: Passage) -> str:
    """What a passage is embedded as: its document's title, then its text (a sentence's pronoun,
    "He served as its first president", is then still about the title's person)."""
    return f"{passage.title}: {passage.text}"


def corpus_hash(passages: Sequence[Passage]) -> str:
    digest = hashlib.sha256()
    for p in passages:
        digest.update(json.dumps(p.row(), ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


class PassageIndex:
    """Passages, their BM25 scores and (optionally) their embeddings; `retrieve` returns the k best."""

    def __init__(self, passages: Sequence[Passage], bm25: Any, manifest: dict[str, Any],
                 embeddings: Any | None = None, answer_type_bonus: float = 0.0,
                 source: PassageIndex | None = None) -> None:
        """`answer_type_bonus`: added to the fused score of a passage holding the kind of answer
        asked for (a query-time setting, not part of the index: retrieval.answer_type_bonus).
        `source`: where passages name their references (retrieval.resolve_references), the same
        sentences as the source words them, searched by BM25 alone: what training contexts are
        retrieved from (`lexical`)."""
        self.passages = list(passages)
        self.bm25 = bm25
        self.manifest = manifest
        self.embeddings = embeddings
        model = str(manifest.get("embedding_model") or "")
        if (embeddings is None) != (not model):
            raise ValueError("PassageIndex: embeddings without an embedding_model in the manifest, or the reverse")
        self.embedder = None if embeddings is None else embedder(model)
        self.lexical_weight = float(manifest.get("lexical_weight", 1.0)) if embeddings is not None else 1.0
        self.answer_type_bonus = answer_type_bonus
        self.source = source
        self._holds: dict[AnswerType, Any] = {}  # answer type -> which passages state one (0/1 array)
        # PyStemmer objects must not be used from two threads at once (the server answers in several)
        self._local = threading.local()

    @property
    def stemmer(self) -> Any:
        if not hasattr(self._local, "stemmer"):
            self._local.stemmer = _stemmer()
        return self._local.stemmer

    @classmethod
    def build(cls, passages: Sequence[Passage], manifest: dict[str, Any]) -> PassageIndex:
        """`manifest["embedding_model"]` (a packaged sentence-transformers model, see
        docent.retrieval.embedding) adds the embeddings; absent or "": BM25 alone."""
        import bm25s

        if not passages:
            raise UserError("index: no passages to index (is data/clean/sentences.jsonl empty?); "
                            "add documents and run `dvc repro`")
        stemmer = _stemmer()
        bm25 = bm25s.BM25()
        tokens = [terms(p.text + " " + p.title, stemmer) for p in passages]
        # bm25s numbers a vocabulary it builds itself in set order, which follows the interpreter's
        # string-hash seed (a new one per process): the same index, saved as different files on every
        # run. Numbered in sorted order, the saved index is byte-identical from run to run.
        vocab = {term: i for i, term in enumerate(sorted({t for doc in tokens for t in doc}))}
        # create_empty_token (the default): a passage made only of stopwords still gets a row
        bm25.index(([[vocab[t] for t in doc] for doc in tokens], vocab), show_progress=False)
        model = str(manifest.get("embedding_model") or "")
        embeddings = embedder(model).encode([passage_text(p) for p in passages]) if model else None
        return cls(passages, bm25, {**manifest, "passages": len(passages), "corpus_sha256": corpus_hash(passages)},
                   embeddings)

    def save(self, folder: str | Path) -> None:
        import numpy as np

        with atomic_dir(folder) as tmp:
            self.bm25.save(str(tmp / BM25_DIR), show_progress=False)
            write_jsonl(tmp / PASSAGES, [p.row() for p in self.passages])
            if self.embeddings is not None:
                np.save(tmp / EMBEDDINGS, self.embeddings, allow_pickle=False)
            if self.source is not None:
                self.source.save(tmp / SOURCE_DIR)
            write_json(tmp / MANIFEST, self.manifest)

    def lexical(self) -> PassageIndex:
        """The passages searched by BM25 alone, as the source words them where this index names
        references (`source`): training contexts (retrieval.train_embeddings, resolve_references)."""
        if self.source is not None:
            return self.source
        if self.embeddings is None:
            return self
        return PassageIndex(self.passages, self.bm25, {**self.manifest, "embedding_model": ""})

    def retrieve(self, question: str, k: int) -> list[Retrieved]:
        return self.retrieve_many([question], k)[0]

    def retrieve_many(self, questions: Sequence[str], k: int) -> list[list[Retrieved]]:
        """The k best passages for each question (questions embedded in one batch)."""
        k = min(k, len(self.passages))
        if self.embedder is None or self.embeddings is None:
            return [self._retrieve_bm25(question, k) for question in questions]
        similarities = self.embedder.encode(questions) @ self.embeddings.T
        return [self._retrieve_fused(question, similarity, k)
                for question, similarity in zip(questions, similarities, strict=True)]

    def _retrieve_bm25(self, question: str, k: int) -> list[Retrieved]:
        """BM25 alone: passages sharing no term with the question are not found."""
        known = self._known_terms(question)
        if not known:
            return []
        ids, scores = self.bm25.retrieve([known], k=k, show_progress=False, n_threads=1)
        weights = self._weights(known)
        return [self._retrieved(int(i), float(s), weights, None)
                for i, s in zip(ids[0], scores[0], strict=True) if float(s) > 0]

    def _retrieve_fused(self, question: str, similarity: Any, k: int) -> list[Retrieved]:
        """lexical_weight x BM25 over the question's best BM25 score + the rest x cosine similarity."""
        import numpy as np

        known = self._known_terms(question)
        lexical = (np.asarray(self.bm25.get_scores(known), dtype=np.float64) if known
                   else np.zeros(len(self.passages)))
        best = float(lexical.max())
        fused = (self.lexical_weight * (lexical / best if best > 0 else lexical)
                 + (1 - self.lexical_weight) * similarity.astype(np.float64))
        weights = self._weights(known)
        answer_type = asked_answer_type(question) if self.answer_type_bonus else None
        if answer_type is not None:
            fused += self.answer_type_bonus * self._holding(answer_type)
        return [self._retrieved(int(i), float(lexical[i]), weights, float(similarity[i]))
                for i in top_k(fused, k)]

    def _holding(self, answer_type: AnswerType) -> Any:
        """1.0 for each passage whose text states an answer of this type, else 0.0 (read once)."""
        import numpy as np

        if answer_type not in self._holds:
            self._holds[answer_type] = np.array([holds_answer_type(answer_type, p.text) for p in self.passages],
                                                dtype=np.float64)
        return self._holds[answer_type]

    def _known_terms(self, question: str) -> list[str]:
        return [t for t in terms(question, self.stemmer) if t in self.bm25.vocab_dict]

    def _weights(self, known: list[str]) -> dict[str, float]:
        """A question's weight: the IDF of each of its indexed terms."""
        return {t: self.idf(t) for t in known}

    def _retrieved(self, i: int, score: float, weights: dict[str, float], similarity: float | None) -> Retrieved:
        """Passage i with its scores, and the share of the question's weight it holds (Retrieved.match)."""
        passage = self.passages[i]
        total = sum(weights.values())
        held = set(terms(passage.text + " " + passage.title, self.stemmer))
        match = sum(w for t, w in weights.items() if t in held) / total if total else 0.0
        return Retrieved(passage, score, match, similarity)

    def idf(self, term: str) -> float:
        """bm25s' Lucene IDF of an indexed term, ln(1 + (N - df + 0.5) / (df + 0.5)), with df read
        off the score matrix (one stored score per passage that holds the term): always > 0."""
        column = self.bm25.vocab_dict[term]
        indptr = self.bm25.scores["indptr"]
        df = int(indptr[column + 1] - indptr[column])
        n = len(self.passages)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))


def top_k(scores: Any, k: int) -> Any:
    """The indices of the k highest scores, best first, a tie in passage order (deterministic):
    what a stable sort of every score gives, at the cost of a partition (linear in the passages)
    and a sort of the k (and of any passage tied with the k-th) instead of a sort of them all."""
    import numpy as np

    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]  # the k-th highest score
    candidates = np.flatnonzero(scores >= kth)  # in passage order: the stable sort keeps ties so
    return candidates[np.argsort(-scores[candidates], kind="stable")][:k]


def load_index(folder: str | Path, expect: dict[str, Any] | None = None,
               answer_type_bonus: float = 0.0) -> PassageIndex:
    """The saved index; `expect` (e.g. {"passage_words": 60}) must match its manifest.
    `answer_type_bonus`: see PassageIndex (0 = the fused score alone)."""
    import bm25s

    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"{manifest_path}: missing; run `dvc repro index`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{manifest_path}: unreadable ({str(exc).splitlines()[0][:120]}); run `dvc repro index`") \
            from None
    for key, value in (expect or {}).items():
        if manifest.get(key) != value:
            raise UserError(f"{folder}: built with {key} = {manifest.get(key)!r}, but this run has {value!r}; "
                            "run `dvc repro index`")
    passages = [Passage.from_row(r) for r in read_jsonl(folder / PASSAGES, required=PASSAGE_KEYS)]
    if corpus_hash(passages) != manifest.get("corpus_sha256"):
        raise UserError(f"{folder / PASSAGES}: does not match {manifest_path} (edited or from another build); "
                        "run `dvc repro index`")
    try:
        bm25 = bm25s.BM25.load(str(folder / BM25_DIR), show_progress=False, verbosity=0)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise UserError(f"{folder / BM25_DIR}: unreadable BM25 index ({str(exc).splitlines()[0][:120]}); "
                        "run `dvc repro index`") from None
    if int(bm25.scores["num_docs"]) != len(passages):
        raise UserError(f"{folder}: the BM25 index has {bm25.scores['num_docs']} rows for {len(passages)} passages; "
                        "run `dvc repro index`")
    embeddings = None
    if manifest.get("embedding_model"):
        import numpy as np

        try:
            embeddings = np.load(folder / EMBEDDINGS, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"{folder / EMBEDDINGS}: unreadable ({str(exc).splitlines()[0][:120]}); "
                            "run `dvc repro index`") from None
        if embeddings.ndim != 2 or embeddings.shape[0] != len(passages):
            raise UserError(f"{folder / EMBEDDINGS}: {embeddings.shape[0] if embeddings.ndim else 0} rows for "
                            f"{len(passages)} passages; run `dvc repro index`")
    source = load_index(folder / SOURCE_DIR) if (folder / SOURCE_DIR).is_dir() else None
    return PassageIndex(passages, bm25, manifest, embeddings, answer_type_bonus, source)
