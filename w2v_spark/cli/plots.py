"""Pictures of a run: the loss curve from metrics.json and a 2-D PCA map of chosen words.

matplotlib is an optional extra (``pip install "w2v-spark[plot]"``); it is imported only
here, and without it the ``plot`` command says how to install it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from w2v_spark.errors import ConfigError


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError('plotting needs matplotlib; install it with: pip install "w2v-spark[plot]"') from None
    return plt


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Coordinates of the rows on their first two principal components (centred, by SVD)."""
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    coords: np.ndarray = x @ vt[:2].T
    return coords


def plot_loss(epochs: Sequence[dict[str, Any]], path: str, title: str = "") -> None:
    """Mean loss per example against the epoch, with words/s on a second axis."""
    plt = _pyplot()
    x = [e["epoch"] for e in epochs]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(x, [e["loss"] for e in epochs], marker="o", color="tab:blue", label="loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss per example", color="tab:blue")
    ax.set_xticks(x)
    rate = ax.twinx()
    rate.plot(x, [e["words_per_sec"] for e in epochs], marker="s", ls="--", color="tab:gray")
    rate.set_ylabel("words/s", color="tab:gray")
    ax.set_title(title or "training loss")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_words(words: Sequence[str], vectors: np.ndarray, path: str, title: str = "") -> None:
    """The given words at their first two principal components, labelled."""
    plt = _pyplot()
    xy = pca_2d(vectors)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=120)
    ax.scatter(xy[:, 0], xy[:, 1], s=12, color="tab:blue")
    for (px, py), w in zip(xy, words, strict=True):
        ax.annotate(w, (px, py), fontsize=8, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title or f"{len(words)} words, PCA of the vectors")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
