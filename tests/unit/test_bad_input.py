"""Input that must be refused in one line, input that must be accepted, outputs that cannot be
written, and tasks that keep failing: each through the command line, as users meet them."""

from __future__ import annotations

import numpy as np
import pytest


def test_checkpoints_load_without_unpickling(tmp_path):
    """A model file holding pickled objects is refused, not executed."""
    from w2v_spark.runtime import storage

    evil = tmp_path / "model.npy"
    with open(evil, "wb") as fh:
        np.save(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        storage.read_arrays(str(evil), 1)
