from chispa import assert_df_equality

from w2v_spark.text.schemas import VOCAB_SCHEMA
from w2v_spark.text.vocabulary import build_vocabulary, count_words


def _tokens(spark, sentences):
    return spark.createDataFrame([(s.split(),) for s in sentences], "tokens array<string>")


SENTENCES = ["b a c a", "c b a d", "e b a", "d c"]  # a:4 b:3 c:3 d:2 e:1


def test_counts_respect_min_count(spark):
    actual = count_words(_tokens(spark, SENTENCES), min_count=2)
    expected = spark.createDataFrame([("a", 4), ("b", 3), ("c", 3), ("d", 2)], "word string, count long")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_ids_by_descending_count_then_word(spark):
    vocab = build_vocabulary(_tokens(spark, SENTENCES), min_count=1)
    expected = spark.createDataFrame([("a", 4, 0), ("b", 3, 1), ("c", 3, 2), ("d", 2, 3), ("e", 1, 4)], VOCAB_SCHEMA)
    assert_df_equality(vocab.to_frame(spark), expected)
    assert vocab.total == 13


def test_max_vocab_size_keeps_the_most_frequent(spark):
    vocab = build_vocabulary(_tokens(spark, SENTENCES), min_count=1, max_vocab_size=3)
    assert vocab.words.to_pylist() == ["a", "b", "c"]
    assert vocab.counts.tolist() == [4, 3, 3]
