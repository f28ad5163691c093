import gzip

from chispa import assert_df_equality
from pyspark.sql import functions as F

from w2v_spark.config import DEFAULT_TOKEN_PATTERN
from w2v_spark.text.tokens import check_token_pattern, read_lines, tokenize


def _tokens(spark, lines, **kw):
    df = spark.createDataFrame([(line,) for line in lines], "value string")
    return tokenize(df, kw.pop("pattern", DEFAULT_TOKEN_PATTERN), **kw)


def test_lowercases_and_splits_on_unicode_words(spark):
    actual = _tokens(spark, ["Don't STOP: naïve café, 42 foo_bar!", "Ünïcode—Straße ÉTÉ", "  ...  "])
    expected = spark.createDataFrame(
        [(["don't", "stop", "naïve", "café", "42", "foo_bar"],), (["ünïcode", "straße", "été"],)],
        "tokens array<string>",
    )
    assert_df_equality(actual, expected)


def test_case_is_kept_when_lowercase_is_off(spark):
    actual = _tokens(spark, ["Linux Kernel"], lowercase=False)
    expected = spark.createDataFrame([(["Linux", "Kernel"],)], "tokens array<string>")
    assert_df_equality(actual, expected)


def test_long_lines_are_cut_into_bounded_chunks_in_order(spark):
    words = [f"w{i}" for i in range(10)]
    actual = _tokens(spark, [" ".join(words), "a b"], max_sentence_length=4)
    expected = spark.createDataFrame(
        [(words[0:4],), (words[4:8],), (words[8:10],), (["a", "b"],)], "tokens array<string>"
    )
    assert_df_equality(actual, expected)


def test_reads_files_globs_directories_and_gzip_with_invalid_utf8(spark, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_bytes(b"alpha beta\n")
    with gzip.open(tmp_path / "d" / "b.txt.gz", "wb") as fh:
        fh.write(b"gamma \xff\xfe delta\n")  # invalid UTF-8 in the middle of a line
    (tmp_path / "c.txt").write_text("epsilon\n")
    for paths in ([str(tmp_path / "d")], [str(tmp_path / "d" / "*.txt*")]):
        got = sorted(w for r in tokenize(read_lines(spark, paths), DEFAULT_TOKEN_PATTERN).collect() for w in r.tokens)
        assert got == ["alpha", "beta", "delta", "gamma"]
    lines = read_lines(spark, [str(tmp_path / "c.txt"), str(tmp_path / "d" / "b.txt.gz")])
    raw = tokenize(lines, DEFAULT_TOKEN_PATTERN).select(F.explode("tokens").alias("t"))
    assert sorted(r.t for r in raw.collect()) == ["delta", "epsilon", "gamma"]


def test_token_pattern_is_checked_by_the_jvm(spark):
    assert check_token_pattern(spark, DEFAULT_TOKEN_PATTERN) is None
    assert check_token_pattern(spark, r"(?U)\w+") is None  # Java syntax that Python's re rejects
    assert check_token_pattern(spark, "([a-z]") is not None


def test_lines_without_tokens_are_dropped_and_each_line_is_tokenized_once(spark):
    df = spark.createDataFrame([("a b",), (None,), ("",), ("...",), ("c",)], "value string")
    actual = tokenize(df, DEFAULT_TOKEN_PATTERN)
    assert [r.tokens for r in actual.collect()] == [["a", "b"], ["c"]]
    # A filter that Spark pushes (or infers for an explode) below the tokenizing projection
    # repeats the regex for every line: the only filter left must sit above the explode.
    plan = actual._jdf.queryExecution().optimizedPlan().toString()
    filters = [line for line in plan.splitlines() if line.lstrip(" +-:").startswith("Filter")]
    assert filters and not any("regexp_extract_all" in f for f in filters), plan
