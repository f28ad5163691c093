"""Stage 1: raw text lines to token arrays, entirely in Spark SQL (no Python per row)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from w2v_spark.text.schemas import TOKENS_SCHEMA


def read_lines(spark: SparkSession, paths: list[str] | tuple[str, ...]) -> DataFrame:
    """Lines of text from files, globs, directories or gzip files (whatever spark.read.text reads)."""
    return spark.read.text(list(paths))


def tokenize(
    lines: DataFrame,
    token_pattern: str,
    lowercase: bool = True,
    max_sentence_length: int = 1000,
    column: str = "value",
    max_token_length: int = 100,
) -> DataFrame:
    """Lines to ``tokens array<string>``, one row per sentence: :func:`token_array` on each line,
    then :func:`sentences`. What the CLI trains on; ``Pipeline([Tokenizer(), Word2Vec()])`` does
    the same in two stages."""
    tokens = lines.select(token_array(F.col(column), token_pattern, lowercase, max_token_length).alias("tokens"))
    return sentences(tokens, "tokens", max_sentence_length)


def token_array(text: Column, token_pattern: str, lowercase: bool = True, max_token_length: int = 100) -> Column:
    """A string column to its tokens (an empty array for a line without any; null stays null).

    Invalid UTF-8 is replaced by U+FFFD (never fatal), text is optionally lower-cased, and
    tokens are the matches of ``token_pattern`` (a Java regex). Tokens longer than
    ``max_token_length`` characters are cut to that length, as word2vec.c does (its
    MAX_STRING is 100): a megabyte of base64 stays one short, rare word.
    """
    text = F.make_valid_utf8(text)
    if lowercase:
        text = F.lower(text)
    tokens = F.regexp_extract_all(text, F.lit(token_pattern), 0)
    # Cut only the arrays that hold a long token: most lines have none, and skip the rewrite.
    # Only a line longer than the limit can hold one, and the length test is compiled code
    # where the lambda is interpreted per token, so short lines skip the lambda (And stops early).
    too_long = (F.length(text) > max_token_length) & F.exists(tokens, lambda t: F.length(t) > max_token_length)
    return F.when(too_long, F.transform(tokens, lambda t: F.substring(t, 1, max_token_length))).otherwise(tokens)


def sentences(df: DataFrame, column: str, max_sentence_length: int = 1000) -> DataFrame:
    """``tokens array<string>`` rows to train on, from an array column: rows without tokens (or
    null) are dropped, and a row of more than ``max_sentence_length`` tokens becomes several
    consecutive sentences of at most that many, as MLlib's Word2Vec does, so one enormous line
    cannot blow up memory downstream."""
    n = F.size("tokens")
    n_chunks = F.ceil(n / F.lit(max_sentence_length)).cast("int")
    chunks = F.transform(
        F.sequence(F.lit(0), n_chunks - 1),
        lambda i: F.slice("tokens", i * max_sentence_length + 1, max_sentence_length),
    )
    # Rows without tokens are dropped after the explode, not before: Spark pushes a filter on
    # the tokens (or the one it infers for a plain explode) below the projection that tokenizes,
    # which then ran twice per line. A filter on the explode's output stays above it.
    return (
        df.select(F.col(column).alias("tokens"))
        .select(F.when(n > max_sentence_length, chunks).when(n > 0, F.array(F.col("tokens"))).alias("chunks"))
        .select(F.explode_outer("chunks").alias("tokens"))
        .where(F.col("tokens").isNotNull())
    )


def check_token_pattern(spark: SparkSession, token_pattern: str) -> str | None:
    """None if the JVM accepts ``token_pattern``, else the regex error message.

    A one-row query on constants, which Spark folds while planning, so no job runs; the same
    on classic and Connect sessions.
    """
    try:
        spark.sql("SELECT regexp_extract_all('x', :pattern, 0) AS t", args={"pattern": token_pattern}).collect()
    except Exception as e:  # Spark's error carries the Java PatternSyntaxException text
        text = str(e).strip()
        lines = [line for line in text.splitlines() if "PatternSyntaxException" in line] or text.splitlines()
        return lines[0].split("PatternSyntaxException: ")[-1].strip() if lines else type(e).__name__
    return None


__all__ = ["TOKENS_SCHEMA", "check_token_pattern", "read_lines", "sentences", "token_array", "tokenize"]
