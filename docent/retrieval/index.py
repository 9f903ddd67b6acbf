"""A BM25 index over passages (bm25s: sparse score matrices, saved as .npy files, no server).

Terms are accent- and case-folded, stopwords (bm25s' English list and QUESTION_WORDS) dropped and
Snowball-stemmed, the same for passages and questions, so "who founded hanoi" matches "Hà Nội ...
was founded". The folder `models/index/` holds bm25s' files, `passages.jsonl` (row i = the
index's document i) and `manifest.json` (the params, the stopword list's hash, a hash of the
passages, library versions): an assistant or an evaluation built from other params, another
stopword list or another corpus is refused before it answers.

Everything answers through `Retriever.retrieve(question, k)`; another engine (OpenSearch,
Elasticsearch, Vespa) can stand behind the same method when a corpus outgrows one machine.
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
from docent.retrieval.passages import PASSAGE_KEYS, Passage, Retrieved
from docent.text.normalize import fold_for_matching

MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
BM25_DIR = "bm25"
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


def corpus_hash(passages: Sequence[Passage]) -> str:
    digest = hashlib.sha256()
    for p in passages:
        digest.update(json.dumps(p.row(), ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


class BM25Index:
    """Passages and their BM25 scores; `retrieve` returns the k best with score > 0."""

    def __init__(self, passages: Sequence[Passage], bm25: Any, manifest: dict[str, Any]) -> None:
        self.passages = list(passages)
        self.bm25 = bm25
        self.manifest = manifest
        # PyStemmer objects must not be used from two threads at once (the server answers in several)
        self._local = threading.local()

    @property
    def stemmer(self) -> Any:
        if not hasattr(self._local, "stemmer"):
            self._local.stemmer = _stemmer()
        return self._local.stemmer

    @classmethod
    def build(cls, passages: Sequence[Passage], manifest: dict[str, Any]) -> BM25Index:
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
        return cls(passages, bm25, {**manifest, "passages": len(passages), "corpus_sha256": corpus_hash(passages)})

    def save(self, folder: str | Path) -> None:
        with atomic_dir(folder) as tmp:
            self.bm25.save(str(tmp / BM25_DIR), show_progress=False)
            write_jsonl(tmp / PASSAGES, [p.row() for p in self.passages])
            write_json(tmp / MANIFEST, self.manifest)

    def retrieve(self, question: str, k: int) -> list[Retrieved]:
        query = terms(question, self.stemmer)
        known = [t for t in query if t in self.bm25.vocab_dict]
        if not known:
            return []
        k = min(k, len(self.passages))
        ids, scores = self.bm25.retrieve([known], k=k, show_progress=False, n_threads=1)
        weights = {t: self.idf(t) for t in known}
        total = sum(weights.values())
        found = []
        for i, s in zip(ids[0], scores[0], strict=True):
            if float(s) <= 0:
                continue
            passage = self.passages[int(i)]
            held = set(terms(passage.text + " " + passage.title, self.stemmer))
            found.append(Retrieved(passage, float(s), sum(w for t, w in weights.items() if t in held) / total))
        return found

    def idf(self, term: str) -> float:
        """bm25s' Lucene IDF of an indexed term, ln(1 + (N - df + 0.5) / (df + 0.5)), with df read
        off the score matrix (one stored score per passage that holds the term): always > 0."""
        column = self.bm25.vocab_dict[term]
        indptr = self.bm25.scores["indptr"]
        df = int(indptr[column + 1] - indptr[column])
        n = len(self.passages)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def retrieve_many(self, questions: Sequence[str], k: int) -> list[list[Retrieved]]:
        return [self.retrieve(q, k) for q in questions]


def load_index(folder: str | Path, expect: dict[str, Any] | None = None) -> BM25Index:
    """The saved index; `expect` (e.g. {"passage_words": 60}) must match its manifest."""
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
    return BM25Index(passages, bm25, manifest)
