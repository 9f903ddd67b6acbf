"""The out-of-domain question pool: the relevance classifier's negatives.

Questions come from the *same generator* run on snapshot articles outside the domain, so related
and unrelated questions share one style and the classifier has to learn topic, not template.
Articles are a seeded sample of the snapshot minus (a) the domain's own documents and (b) articles
that mention a domain document's title ("Qianlong Emperor" mentions the Qing dynasty, "Cao Cao" the
Han dynasty): those are on-topic or adjacent, and as negatives they would teach the classifier that
the domain's own names mean "unrelated". Both exclusions are counted.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docent.cli import UserError
from docent.qa.records import Sentence


def domain_names(domain: Sequence[Sentence]) -> list[str]:
    """The domain documents' titles, longest first (so the regex prefers "Ho Chi Minh City" to "Ho Chi Minh")."""
    return sorted({s.title for s in domain if s.title.strip()}, key=lambda t: (-len(t), t))


def sample_articles(snapshot: dict[str, dict[str, Any]], domain: Sequence[Sentence], n_pages: int,
                    seed: int, counts: Counter[str]) -> list[tuple[str, str]]:
    """A seeded sample of (title, extract) pairs from outside the domain."""
    domain_titles = {s.title.casefold() for s in domain}
    names = domain_names(domain)
    mention = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b") if names else None
    eligible = []
    for title in sorted(snapshot):
        article = snapshot[title]
        extract = article.get("extract") if isinstance(article, dict) else None
        if not isinstance(extract, str) or not extract.strip():
            counts["unrelated_articles_skipped_empty"] += 1
        elif title.casefold() in domain_titles:
            counts["unrelated_articles_skipped_domain_title"] += 1
        elif mention is not None and (mention.search(extract) or mention.search(title)):
            counts["unrelated_articles_skipped_mentions_domain"] += 1
        else:
            eligible.append((title, extract))
    rng = random.Random(seed)
    chosen = rng.sample(eligible, min(n_pages, len(eligible)))
    chosen.sort()
    counts["unrelated_articles"] = len(chosen)
    return chosen


def lead_sentences(articles: Sequence[tuple[str, str]], per_article: int, counts: Counter[str]) -> list[Sentence]:
    """The first `per_article` sentences of each article; those beyond are counted. Split by the
    splitter the clean stage splits the domain with (Punkt trained on the text it splits,
    docent/text/sentences.py), so the classifier's two classes are segmented alike."""
    from docent.text.sentences import split_sentences, train_punkt

    texts = [re.sub(r"\s+", " ", extract).strip() for _, extract in articles]
    tokenizer, _ = train_punkt(texts)
    sentences: list[Sentence] = []
    for (title, _), text in zip(articles, texts, strict=True):
        doc_id = f"unrelated:{title}"
        texts_of_article = split_sentences(tokenizer, text)
        counts["unrelated_sentences_beyond_lead"] += max(0, len(texts_of_article) - per_article)
        for k, sentence in enumerate(texts_of_article[:per_article]):
            sentences.append(Sentence(doc_id=doc_id, title=title, sent_id=k, text=sentence))
    return sentences


def read_extra_questions(path: str | Path) -> list[tuple[str, str]]:
    """(question, source) from a user file: .txt one question a line, or .jsonl with a "question" key."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"qa.unrelated_extra = '{path}': file not found")
    out: list[tuple[str, str]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not valid UTF-8") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
            question = row.get("question") if isinstance(row, dict) else None
            if not isinstance(question, str) or not question.strip():
                raise UserError(f"{path}:{lineno}: needs a non-empty \"question\" string")
        elif path.suffix == ".txt":
            question = line
        else:
            raise UserError(f"qa.unrelated_extra = '{path}': must be a .txt or .jsonl file")
        out.append((question.strip(), path.name))
    if not out:
        raise UserError(f"{path}: no questions in the file")
    return out
