"""The pyspark.ml API: Word2Vec, Word2VecModel and Tokenizer, as a drop-in for MLlib's Word2Vec."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.ml import Pipeline

from tests.helpers import ENV, REPO
from w2v_spark import Tokenizer, Word2Vec, Word2VecModel
from w2v_spark.io.formats import read_vectors


def test_the_estimator_trains_the_clis_vectors(spark, small_corpus, reference, tmp_path):
    """Pipeline([Tokenizer(), Word2Vec()]) on the lines the CLI reads gives the CLI's vectors."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    w2v = Word2Vec(numPartitions=2, vectorSize=32, maxIter=4, minCount=3, tempDir=str(temp))
    model = Pipeline(stages=[Tokenizer(), w2v]).fit(spark.read.text(str(small_corpus))).stages[-1]
    assert isinstance(model, Word2VecModel)
    words, vectors = read_vectors(str(reference))
    assert model.words == words
    assert model.vectors.tobytes() == vectors.tobytes(), float(np.abs(model.vectors - vectors).max())  # bit for bit
    assert list(temp.iterdir()) == []  # fit's working files are gone
    summary = model.summary
    assert [e.epoch for e in summary.epochs] == [1, 2, 3, 4] and summary.vocabSize == len(words)
    assert summary.lossHistory[-1] < summary.lossHistory[0] and all(e.examples > 0 for e in summary.epochs)
    assert model.getVectorSize() == 32 and model.getNumPartitions() == 2 and model.uid == w2v.uid


SCRIPT = REPO / "tests" / "scripts" / "ml_pipeline.py"


MLLIB_IMPORT = "from pyspark.ml.feature import Word2Vec  # the line the test replaces"


def _run_script(work: Path, corpus: Path, ours: bool, session: str) -> dict[str, Any]:
    text = SCRIPT.read_text()
    assert text.count(MLLIB_IMPORT) == 1
    if ours:
        text = text.replace(MLLIB_IMPORT, "from w2v_spark import Word2Vec  # the line the test replaces")
    script = work / f"{'ours' if ours else 'mllib'}-{session}.py"
    script.write_text(text)
    (work / script.stem).mkdir()
    r = subprocess.run([sys.executable, str(script), str(corpus), str(work / script.stem), session],
                       capture_output=True, text=True, timeout=600, env=ENV, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    result: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def script_run(script_corpus, tmp_path_factory) -> Callable[[bool, str], dict[str, Any]]:
    """The pipeline script's result for (ours, session), each run once per module: every run
    starts its own Spark, and the Connect case compares with the classic one."""
    work = tmp_path_factory.mktemp("scripts")
    return functools.cache(lambda ours, session: _run_script(work, script_corpus, ours, session))


@pytest.fixture(scope="module")
def script_corpus(small_corpus, tmp_path_factory) -> Path:
    path: Path = tmp_path_factory.mktemp("script") / "docs.txt"
    path.write_text("".join(small_corpus.read_text().splitlines(keepends=True)[:3000]))
    return path


@pytest.mark.parametrize("session", ["classic", "connect"])
def test_one_pipeline_script_runs_with_mllib_and_with_ours(script_run, session):
    """RegexTokenizer -> Word2Vec -> fit -> transform -> findSynonyms -> PipelineModel save and
    load, with only the Word2Vec import changed: the same columns and types come out."""
    mllib, ours = script_run(False, session), script_run(True, session)
    for key in ("transform", "synonyms", "vectors", "loaded_stages", "rows", "vector_size", "synonym_rows"):
        assert ours[key] == mllib[key], key
    assert ours["transform"][-1] == ["features", "vector"]
    assert ours["vectors"] == [["word", "string"], ["vector", "vector"]]
    assert ours["loaded_same"] and mllib["loaded_same"]
    assert ours["vector_rows"] == mllib["vector_rows"]  # the same vocabulary: minCount means the same
    assert "kernel" not in ours["synonym_words"] and len(ours["array"]) == 3
    if session == "connect":  # and the same vectors as the classic session's
        classic = script_run(True, "classic")
        assert ours["array"] == classic["array"] and ours["synonym_words"] == classic["synonym_words"]
