"""Retrieval cost as the corpus grows: index build time, query latency and memory, on synthetic passages.

    .venv/bin/python benchmarks/retrieval_scale.py [--sizes 10000,1000000] [--queries 200]

The passages are what the index stage builds from a real corpus (docent.retrieval.PassageIndex over
Passage rows, the same term pipeline: folding, stopwords, stemming), but their words are drawn
from a Zipf distribution over a synthetic vocabulary, so any size can be made offline: each passage
has retrieval.passage_words words (20 by default, the mean of a real passage is 22.9 on the default
domain) from a vocabulary of 200,000 word forms, exponent 1.1 (English-like: a few words everywhere,
most words rare). Queries are 3 to 6 words drawn from the same distribution, answered with
retrieve(question, k) one at a time as the assistant answers them.

Then the same passages with embeddings (retrieval.embedding_model, fused with BM25 as the index
stage does): up to --encode-max passages the real model embeds them (its build time is the
encoding); above it random unit vectors of the model's size stand in, so the query column is the
real cost of a question (embedding it, one matrix product, the fusion) and the build column is
left out (the encoding rate measured at the smaller size says what it would be).

Not a test: numbers depend on the machine (and on what else runs on it).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VOCABULARY = 200_000
ZIPF_EXPONENT = 1.1


def word(i: int) -> str:
    """A pronounceable synthetic word for rank i: i's base-100 digits as consonant-vowel syllables,
    so every rank has its own word. A few of the commonest are 2-letter stopwords ("be", "no"),
    dropped as real stopwords are."""
    letters = "bcdfghjklmnpqrstvwxz"
    vowels = "aeiou"
    out = []
    while True:
        out.append(letters[i % 20] + vowels[(i // 20) % 5])
        i //= 100
        if i == 0:
            return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--sizes", default="10000,1000000", help="passage counts, comma-separated")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encode-max", type=int, default=10000,
                        help="largest size whose passages the embedding model really encodes")
    args = parser.parse_args()

    import numpy as np

    from docent.config import load_params
    from docent.retrieval.index import PassageIndex
    from docent.retrieval.passages import Passage

    retrieval = load_params(args.params, "retrieval").retrieval
    assert retrieval is not None
    rng = np.random.default_rng(args.seed)
    # Zipf over a finite vocabulary: p(rank r) proportional to r ** -s
    weights = 1.0 / np.arange(1, VOCABULARY + 1) ** ZIPF_EXPONENT
    weights /= weights.sum()
    words = [word(i) for i in range(VOCABULARY)]
    print(f"passages of {retrieval.passage_words} words, k {retrieval.k}, {args.queries} queries; "
          f"vocabulary {VOCABULARY:,}, Zipf exponent {ZIPF_EXPONENT}")
    print(f"{'passages':>10} {'make s':>8} {'build s':>8} {'query ms p50':>13} {'p95':>7} {'max RSS MB':>11}")
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        ids = rng.choice(VOCABULARY, size=(size, retrieval.passage_words), p=weights)
        passages = [Passage(passage_id=f"d{i}@0", doc_id=f"d{i}", title=f"Document {i}", url="", section="",
                            text=" ".join(words[j] for j in row), sent_ids=(f"d{i}#0",))
                    for i, row in enumerate(ids)]
        made = time.perf_counter() - started
        started = time.perf_counter()
        index = PassageIndex.build(passages, {"passage_words": retrieval.passage_words})
        built = time.perf_counter() - started
        queries = [" ".join(words[j] for j in rng.choice(VOCABULARY, size=int(rng.integers(3, 7)), p=weights))
                   for _ in range(args.queries)]
        print_row(size, made, f"{built:>8.1f}", index, queries, retrieval.k, "BM25")
        if retrieval.embedding_model:
            hybrid_row(index, queries, size <= args.encode_max, retrieval, rng, size, made)
        del passages, index


def hybrid_row(index, queries, encode: bool, retrieval, rng, size: int, made: float) -> None:
    """The same passages and BM25 index with embeddings: encoded by the model, or random unit vectors."""
    import numpy as np

    from docent.retrieval.embedding import embedder
    from docent.retrieval.index import PassageIndex, passage_text

    model = embedder(retrieval.embedding_model)
    started = time.perf_counter()
    if encode:
        vectors = model.encode([passage_text(p) for p in index.passages])
    else:
        vectors = rng.standard_normal((size, model.dimensions), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    built = time.perf_counter() - started
    manifest = {**index.manifest, "embedding_model": retrieval.embedding_model,
                "lexical_weight": retrieval.lexical_weight}
    hybrid = PassageIndex(index.passages, index.bm25, manifest, vectors)
    build = f"{built:>8.1f}" if encode else f"{'-':>8}"
    label = "BM25 + embeddings" + ("" if encode else " (random vectors stand in)")
    print_row(size, made, build, hybrid, queries, retrieval.k, label)
    del hybrid, vectors


def print_row(size: int, made: float, build: str, index, queries: list[str], k: int, label: str) -> None:
    """One table row: the queries answered one at a time, their latency percentiles, peak memory."""
    import numpy as np

    index.retrieve(queries[0], k)  # the first call pays one-off lazy imports (and the model load)
    latencies = []
    for query in queries:
        started = time.perf_counter()
        index.retrieve(query, k)
        latencies.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(latencies, [50, 95])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{size:>10,} {made:>8.1f} {build} {p50:>13.2f} {p95:>7.2f} {rss:>11,.0f}  {label}", flush=True)


if __name__ == "__main__":
    main()
