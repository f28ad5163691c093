"""w2v-spark: distributed word2vec (skip-gram with negative sampling) on Apache Spark."""

__version__ = "0.1.0"
