"""Stage 6: how good are the vectors? Word analogies, word-pair similarity, nearest neighbours.

Plain numpy on a (words, vectors) pair, no Spark. The semantics are word2vec's
compute-accuracy and gensim's ``evaluate_word_analogies`` / ``evaluate_word_pairs``, so scores
can be compared with published ones and with gensim on the same vectors:

- only the ``restrict_vocab`` (300,000) first words count: the most frequent ones, since trainers
  write vectors in descending frequency;
- case-insensitive: words are compared upper-cased, and where several vocabulary words share an
  upper-cased form the most frequent one stands for it;
- an analogy a:b :: c:d is answered by 3CosAdd (the word nearest to b - a + c on unit vectors),
  never one of a, b, c; questions with a word outside the restricted vocabulary are skipped;
- pair similarity is the cosine, compared with the human scores by Spearman (and Pearson)
  correlation over the pairs whose two words are known; ``oov_ratio`` is the percentage of pairs
  skipped, as gensim reports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from w2v_spark.errors import DataError

RESTRICT_VOCAB = 300_000
# Candidates looked at per analogy question, after removing the question words: gensim's topn.
_ANALOGY_TOPN = 5
_CHUNK = 512  # analogy questions scored per matrix product


@dataclass(frozen=True)
class SectionScore:
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {"accuracy": self.accuracy, "correct": self.correct, "total": self.total}


@dataclass(frozen=True)
class AnalogyScore:
    correct: int
    total: int  # questions evaluated (all four words known)
    skipped: int  # questions with an out-of-vocabulary word
    sections: dict[str, SectionScore] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy,
            "correct": self.correct,
            "total": self.total,
            "skipped": self.skipped,
            "sections": {name: s.to_dict() for name, s in self.sections.items()},
        }


@dataclass(frozen=True)
class PairScore:
    spearman: float
    pearson: float
    oov_ratio: float  # percent of pairs skipped for an unknown word, as gensim reports it
    pairs: int  # pairs evaluated

    def to_dict(self) -> dict[str, float | int]:
        return {"spearman": self.spearman, "pearson": self.pearson, "oov_ratio": self.oov_ratio, "pairs": self.pairs}


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (float32); all-zero rows stay zero."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    return unit


def _case_index(words: Sequence[str], case_insensitive: bool) -> dict[str, int]:
    """Key -> row among ``words``; the first (most frequent) word wins a shared upper-cased key."""
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w.upper() if case_insensitive else w, i)
    return index


def evaluate_analogies(
    words: Sequence[str],
    vectors: np.ndarray,
    questions: str | Path,
    restrict_vocab: int = RESTRICT_VOCAB,
    case_insensitive: bool = True,
) -> AnalogyScore:
    """Accuracy on an analogy file (``: section`` headers, then ``a b c d`` lines)."""
    words = list(words[:restrict_vocab])
    unit = unit_rows(vectors[: len(words)])
    index = _case_index(words, case_insensitive)
    key = str.upper if case_insensitive else str
    keys = [key(w) for w in words]
    per_section: dict[str, list[tuple[int, int, int, int]]] = {}
    section: str | None = None
    skipped = 0
    with open(questions, encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, 1):
            if line.startswith(": "):
                section = line[2:].strip()
                per_section.setdefault(section, [])
                continue
            parts = line.split()
            if len(parts) != 4:
                continue  # blank or malformed line: skipped, as gensim does
            if section is None:
                raise DataError(f"{questions}: line {line_no} comes before any ': section' header; check the file")
            ids = [index.get(key(p)) for p in parts]
            if any(i is None for i in ids):
                skipped += 1
                continue
            a, b, c, d = (int(i) for i in ids)  # type: ignore[arg-type]
            per_section[section].append((a, b, c, d))
    sections: dict[str, SectionScore] = {}
    for name, quads in per_section.items():
        correct = sum(_answer_analogies(unit, keys, np.array(quads, dtype=np.int64).reshape(-1, 4)))
        sections[name] = SectionScore(int(correct), len(quads))
    return AnalogyScore(
        correct=sum(s.correct for s in sections.values()),
        total=sum(s.total for s in sections.values()),
        skipped=skipped,
        sections=sections,
    )


def _answer_analogies(unit: np.ndarray, keys: list[str], quads: np.ndarray) -> list[bool]:
    """For each (a, b, c, d) row: is d the 3CosAdd answer? Scored in chunks of matrix products."""
    results: list[bool] = []
    for start in range(0, len(quads), _CHUNK):
        q = quads[start : start + _CHUNK]
        target = unit[q[:, 1]] + unit[q[:, 2]] - unit[q[:, 0]]  # b - a + c; its length does not matter
        scores = target @ unit.T
        rows = np.arange(len(q))[:, None]
        scores[rows, q[:, :3]] = -np.inf  # the question words are never the answer
        top = min(_ANALOGY_TOPN, scores.shape[1])
        best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
        best = np.take_along_axis(best, np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1), axis=1)
        for (a, b, c, d), candidates in zip(q, best, strict=True):
            ignore = {keys[a], keys[b], keys[c]}
            predicted = None
            for cand in candidates:
                predicted = keys[cand]
                if predicted not in ignore:  # another casing of a question word is skipped too
                    break
            results.append(predicted == keys[d])
    return results


def evaluate_pairs(
    words: Sequence[str],
    vectors: np.ndarray,
    pairs: str | Path,
    restrict_vocab: int = RESTRICT_VOCAB,
    case_insensitive: bool = True,
    delimiter: str = "\t",
) -> PairScore:
    """Spearman and Pearson correlation of cosine similarity with human scores (``a<TAB>b<TAB>score``)."""
    words = list(words[:restrict_vocab])
    unit = unit_rows(vectors[: len(words)])
    index = _case_index(words, case_insensitive)
    key = str.upper if case_insensitive else str
    gold: list[float] = []
    model: list[float] = []
    oov = 0
    with open(pairs, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line or line.startswith("#"):
                continue
            parts = line.split(delimiter)
            if len(parts) != 3:
                continue
            try:
                score = float(parts[2])
            except ValueError:
                continue
            i, j = index.get(key(parts[0])), index.get(key(parts[1]))
            if i is None or j is None:
                oov += 1
                continue
            gold.append(score)
            model.append(float(unit[i] @ unit[j]))
    if not gold:
        raise DataError(f"no pair in {pairs} has both words in the vocabulary; check the file and the vectors")
    g, m = np.array(gold), np.array(model)
    return PairScore(
        spearman=_pearson(_ranks(g), _ranks(m)),
        pearson=_pearson(g, m),
        oov_ratio=100.0 * oov / (len(gold) + oov),
        pairs=len(gold),
    )


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (what Spearman's correlation uses)."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # runs of equal values: each gets the mean of the positions it spans
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    avg = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc @ xc) * (yc @ yc))
    return float(xc @ yc / denom) if denom > 0 else float("nan")


def nearest(
    words: Sequence[str], vectors: np.ndarray, query: str, k: int = 10, unit: np.ndarray | None = None
) -> list[tuple[str, float]]:
    """The ``k`` words with the highest cosine similarity to ``query`` (itself excluded).

    ``query`` is looked up exactly, then case-insensitively (most frequent casing). Raises
    KeyError when it is not in the vocabulary. Pass ``unit`` (from :func:`unit_rows`) to reuse
    the normalised matrix across queries.
    """
    row = find_word(words, query)
    if row is None:
        raise KeyError(query)
    unit = unit_rows(vectors) if unit is None else unit
    scores = unit @ unit[row]
    scores[row] = -np.inf
    k = min(k, len(words) - 1)
    if k <= 0:
        return []
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(words[i], float(scores[i])) for i in best]


def find_word(words: Sequence[str], query: str) -> int | None:
    """Row of ``query``: an exact match, else the first (most frequent) case-insensitive one."""
    upper = query.upper()
    fallback = None
    for i, w in enumerate(words):
        if w == query:
            return i
        if fallback is None and w.upper() == upper:
            fallback = i
    return fallback
