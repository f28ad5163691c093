"""Schemas of every table the pipeline reads or writes, as named constants.

Spark schemas are DDL strings (what ``mapInArrow`` and readers take); Arrow schemas describe
the Parquet files that Python tasks write directly with pyarrow.
"""

from __future__ import annotations

import pyarrow as pa
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

# Tokenized sentences: one row per sentence (a line, or a chunk of a long line).
TOKENS_SCHEMA = "tokens array<string>"

# The vocabulary, saved as vocab/: ids 0..V-1 by descending count, ties broken by the word.
VOCAB_SCHEMA = "word string, count long, id int"

# Id-encoded sentences (out-of-vocabulary words removed), one file per training shard under
# corpus/part-NNNNN.parquet. ``seq`` is the sentence's position in the input; sentences are
# stored (and trained) in the order of a hash of (seq, seed), a reproducible shuffle.
CORPUS_ARROW_SCHEMA = pa.schema([("seq", pa.int64()), ("ids", pa.list_(pa.int32()))])

# Training tuples, tuples/epoch=E/part-NNNNN.parquet; the objective (objectives.py) sets the columns.
# negative_sampling and softmax, one row per true skip-gram pair:
#   center       int32  id of the center word c, the word whose embedding E[c] is trained
#   target       int32  id of a context word t within the (random, 1..window) window of c; label 1
#   negative_1 .. negative_k  int32  the k = `negative` noise ids drawn from count^ns_exponent,
#                none equal to c or within `window` positions of it; label 0 each (none for softmax)
# batch_negative_sampling, one row per window (pWord2Vec's HogBatch):
#   target       int32  id of the window's middle word t (the Theta side); label 1 with every context
#   context_1 .. context_2N  int32  the words c within the (random, 1..window) window of t, whose
#                embeddings are trained; packed first, then -1 up to 2 * window columns
#   negative_1 .. negative_k  int32  noise ids shared by the row's pairs, none within `window`
#                positions of any of its contexts; label 0 with every context
# Flat, non-nullable int32 columns, uncompressed, no dictionary: a list<int32> column wrote and
# read back several times slower (nested columns need repetition levels), and the files are
# transient (docs/output-format.md#tuples).


# The seed's literal training examples, from explode_triples(): words as strings.
# ``context`` is the input word c (our center), ``target`` the predicted word t or n_i.
TRIPLE_SCHEMA = "context string, target string, label int"
TRIPLE_STRUCT = StructType(
    [StructField("context", StringType()), StructField("target", StringType()), StructField("label", IntegerType())]
)

# Final vectors, saved as vectors/ (Spark reads them as word string, vector array<float>).
VECTORS_ARROW_SCHEMA = pa.schema([("word", pa.string()), ("vector", pa.list_(pa.float32()))])
