"""The pyspark.ml API: Word2Vec, Word2VecModel and Tokenizer, as a drop-in for MLlib's Word2Vec."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.linalg import Vectors

from tests.helpers import toy_model
from w2v_spark import Tokenizer, Word2Vec, Word2VecModel
from w2v_spark.errors import ConfigError, DataError


def test_a_wrong_input_column_is_refused_before_training(spark):
    lines = spark.createDataFrame([("a b c",)], "value string")
    with pytest.raises(ValueError, match=r"inputCol 'value' has type string, but Word2Vec needs array<string>"):
        Word2Vec(inputCol="value").fit(lines)
    with pytest.raises(ValueError, match=r"inputCol 'tokens' is not a column of the DataFrame \(its columns: value\)"):
        Word2Vec().fit(lines)
    with pytest.raises(ValueError, match=r"Tokenizer's inputCol 'nope' must be a string column \(no such column\)"):
        Tokenizer(inputCol="nope").transform(lines)
    with pytest.raises(ValueError, match=r"pattern is not a valid Java regular expression"):
        Tokenizer(pattern="[a-z").transform(lines)


def test_bad_params_and_data_name_the_param_and_leave_nothing(spark, tmp_path):
    docs = Tokenizer().transform(spark.createDataFrame([("the cat sat on the mat",)] * 20, "value string"))
    bad = r"^vectorSize must be a positive integer \(got 0\); set the param vectorSize$"
    with pytest.raises(ConfigError, match=bad):
        Word2Vec(vectorSize=0, tempDir=str(tmp_path)).fit(docs)
    with pytest.raises(ConfigError, match=r"^minStepSize must be between 0 and stepSize=0.025 \(got 1.0\)"):
        Word2Vec(minStepSize=1.0, tempDir=str(tmp_path)).fit(docs)
    with pytest.raises(DataError, match=r"no word occurs at least minCount=100 times.*lower minCount"):
        Word2Vec(minCount=100, tempDir=str(tmp_path)).fit(docs)
    assert list(tmp_path.iterdir()) == []


def test_find_synonyms_ranks_by_cosine_and_excludes_the_word(spark):
    model = toy_model()
    got = model.findSynonymsArray("a", 2)
    assert [w for w, _ in got] == ["b", "c"] and got[0][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert [w for w, _ in model.findSynonymsArray(Vectors.dense([0.0, 2.0, 0.0]), 1)] == ["c"]  # a vector keeps all
    df = model.findSynonyms("d", 3)
    assert df.columns == ["word", "similarity"] and [r.word for r in df.collect()][-1] == "a"
    with pytest.raises(ValueError, match=r"'zebra' is not in the model's vocabulary of 4 words"):
        model.findSynonyms("zebra", 2)
    with pytest.raises(ValueError, match=r"the query vector has 2 values"):
        model.findSynonymsArray([1.0, 2.0], 2)


def test_transform_averages_over_all_tokens_as_mllib_does(spark):
    docs = spark.createDataFrame([(1, ["a", "c", "zebra"]), (2, []), (3, None)], "id int, words array<string>")
    rows = {r.id: r.vec.toArray() for r in toy_model().transform(docs).collect()}
    np.testing.assert_allclose(rows[1], [1 / 3, 1 / 3, 0], rtol=1e-6)  # the unknown word counts in the length
    assert rows[2].tolist() == [0, 0, 0] and rows[3].tolist() == [0, 0, 0]


def test_save_and_load_keep_vectors_params_and_summary(spark, tmp_path):
    model = toy_model()
    model._set(vectorSize=3, maxIter=7)
    path = str(tmp_path / "m")
    model.save(path)
    with pytest.raises(FileExistsError, match="overwrite"):
        model.save(path)
    model.write().overwrite().save(path)
    loaded = Word2VecModel.load(path)
    assert loaded.words == model.words and np.array_equal(loaded.vectors, model.vectors)
    assert loaded.uid == model.uid and loaded.getMaxIter() == 7 and loaded.getOutputCol() == "vec"
    assert not loaded.hasSummary
    est = Word2Vec(vectorSize=8, hogwild=True)
    est.save(str(tmp_path / "e"))
    again = Word2Vec.load(str(tmp_path / "e"))
    assert again.getVectorSize() == 8 and again.getHogwild() and again.getMaxIter() == 5


def test_fit_keeps_words_with_whitespace_and_the_word2vec_formats_refuse_them(spark, tmp_path):
    """fit() trains the tokens it is given, spaces included (its model writes no word2vec file
    unless asked); the word2vec formats separate fields with whitespace, so they refuse such a
    word, naming it, rather than write a file whose later words read back shifted."""
    words = ["new york", *(f"w{i}" for i in range(24))]
    rng = np.random.default_rng(0)
    docs = spark.createDataFrame([(list(rng.choice(words, 12)),) for _ in range(200)], "tokens array<string>")
    model = Word2Vec(vectorSize=8, minCount=1, maxIter=1, numPartitions=1, tempDir=str(tmp_path)).fit(docs)
    assert "new york" in model.words
    for name, binary in (("v.txt", False), ("v.bin", True)):
        with pytest.raises(DataError, match=r"^the word 'new york' holds whitespace, .*; keep such words in Parquet"):
            model.saveWord2VecFormat(str(tmp_path / name), binary=binary)
        assert not (tmp_path / name).exists()


def test_pipeline_with_our_tokenizer_saves_and_loads(spark, tmp_path):
    docs = spark.createDataFrame([(f"the cat sat on mat number {i % 7}",) for i in range(60)], "value string")
    # 13 words: window 2 leaves the default objective's negatives enough words (it needs 4 * 2 + 2)
    w2v = Word2Vec(
        vectorSize=8, minCount=1, maxIter=1, numPartitions=1, windowSize=2, outputCol="vec", tempDir=str(tmp_path / "t")
    )
    model = Pipeline(stages=[Tokenizer(), w2v]).fit(docs)
    model.write().overwrite().save(str(tmp_path / "p"))
    loaded = PipelineModel.load(str(tmp_path / "p"))
    assert [type(s).__name__ for s in loaded.stages] == ["Tokenizer", "Word2VecModel"]
    before = [r.vec for r in model.transform(docs).collect()]
    assert before == [r.vec for r in loaded.transform(docs).collect()]
    fitted = loaded.stages[-1]
    assert isinstance(fitted, Word2VecModel) and fitted.summary.epochs[0].examples > 0
