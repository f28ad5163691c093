"""The pyspark.ml API: Word2Vec, Word2VecModel and Tokenizer, as a drop-in for MLlib's Word2Vec."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from tests.helpers import toy_model
from w2v_spark import Tokenizer, Word2Vec
from w2v_spark.io.formats import read_vectors


def test_word2vec_formats_read_back(tmp_path):
    model = toy_model()
    for name, binary in (("v.txt", False), ("v.bin", True)):
        model.saveWord2VecFormat(str(tmp_path / name), binary=binary)
        words, vectors = read_vectors(str(tmp_path / name))
        assert words == model.words and np.array_equal(vectors, model.vectors)


@pytest.mark.parametrize("cls", [Word2Vec, Tokenizer])
def test_constructor_defaults_are_the_params_defaults(cls):
    """The signature users read and the defaults fit uses are declared in two places: keep them equal."""
    stage = cls()
    signature = inspect.signature(cls.setParams if cls is Word2Vec else cls.__init__)
    for name, p in signature.parameters.items():
        if name in ("self", "outputCol") or p.kind is not p.KEYWORD_ONLY:
            continue
        param = stage.getParam(name)
        default = stage.getOrDefault(param) if stage.isDefined(param) else None
        assert default == p.default, name
    assert "numPartitions" in stage.explainParams() if cls is Word2Vec else "pattern" in stage.explainParams()


def test_every_model_setting_of_the_cli_is_a_param():
    """The CLI's settings are run options, the Tokenizer's, or Word2Vec's Params: none is lost."""
    from w2v_spark.config import FIELDS, RUN_OPTIONS, TOKENIZER_FIELDS
    from w2v_spark.ml.params import PARAM_FIELDS

    model_fields = set(FIELDS) - RUN_OPTIONS - TOKENIZER_FIELDS
    assert model_fields == set(PARAM_FIELDS.values()) - RUN_OPTIONS
    assert all(Word2Vec().hasParam(name) for name in PARAM_FIELDS)
    tokenizer = {"pattern": "token_pattern", "toLowercase": "lowercase", "maxTokenLength": "max_token_length"}
    assert set(tokenizer.values()) == TOKENIZER_FIELDS and all(Tokenizer().hasParam(n) for n in tokenizer)
