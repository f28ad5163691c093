"""Training configuration: every parameter, its default and its documentation, in one place.

`TrainConfig` is a frozen dataclass validated on construction, so a bad value fails before
Spark starts. Values come from three layers, later ones winning: the defaults below, a TOML
file (``--config``, see ``conf/default.toml``), and command-line flags. Names follow gensim's
``Word2Vec`` where they overlap.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from w2v_spark.errors import ConfigError


def _param(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


# The default tokenizer: runs of Unicode letters, combining marks, digits and underscores,
# with inner apostrophes kept ("don't", "l'été"). It is a Java regular expression, because
# Spark applies it in the JVM.
DEFAULT_TOKEN_PATTERN = r"[\p{L}\p{M}\p{N}_]+(?:['’][\p{L}\p{M}\p{N}_]+)*"


@dataclass(frozen=True)
class TrainConfig:
    """All settings of a training run. Fields carry their own docs (``field.metadata['doc']``)."""

    input: tuple[str, ...] = _param(
        (), "Text to train on: files, globs, directories or .gz files; one sentence per line."
    )
    output: str = _param("", "Output directory (local path or a URI such as hdfs://...).")
    master: str = _param("", "Spark master URL; empty means spark-submit's master, or local[*] outside spark-submit.")
    remote: str = _param(
        "",
        "Spark Connect URL (sc://host:port), or local[N] to start a local Connect server, as pyspark --remote "
        "does; empty means $SPARK_REMOTE if set. Not together with --master.",
    )
    partitions: int | None = _param(
        None, "Number of training shards, at least 1; unset means Spark's default parallelism (cores in local mode)."
    )
    vector_size: int = _param(100, "Dimensionality d of the word vectors.")
    window: int = _param(5, "Maximum distance N between a center word and a context word.")
    objective: str = _param(
        "batch_negative_sampling",
        "batch_negative_sampling (SGNS, the pairs of a window sharing their negatives: faster), negative_sampling "
        "(SGNS, k negatives per pair, as word2vec) or softmax (the full softmax, O(V) per pair, for small "
        "vocabularies only); docs/design/kernels.md#objectives.",
    )
    negative: int = _param(5, "Negative samples drawn per true (center, context) pair (unused by softmax).")
    min_count: int = _param(5, "Ignore words with a total count below this.")
    max_vocab_size: int = _param(0, "Keep only this many most frequent words (after min_count); 0 means no limit.")
    sample: float = _param(1e-3, "Subsampling threshold for frequent words (word2vec's formula); 0 disables it.")
    ns_exponent: float = _param(0.75, "Exponent of the counts in the negative-sampling distribution.")
    alpha: float = _param(0.025, "Initial learning rate.")
    min_alpha: float = _param(0.0001, "Final learning rate; the rate decays linearly over the whole run's progress.")
    epochs: int = _param(
        5,
        "Epochs of training: passes over the corpus for one model, more for averaged shards (scale_epochs); "
        "fresh tuples are generated for every pass.",
    )
    scale_epochs: bool = _param(
        True,
        "With P shard models averaged, train floor(epochs x min(P, 4)^(1/6)) passes instead of epochs (3 shards or "
        "more: 6 for 5), as averaged copies move each row less per pass than one model "
        "(docs/design/averaging.md#passes); off: exactly epochs passes.",
    )
    seed: int = _param(1, "Seed for initialisation, subsampling, windows and negative draws.")
    syncs_per_epoch: int = _param(
        1, "Times per epoch the shards' parameters are averaged; more keeps many shards closer to one machine."
    )
    hot_words: int = _param(
        1024,
        "Shards meet hot_syncs_per_epoch times per epoch, inside the training tasks (a Spark barrier stage), to "
        "average the rows of the most frequent words: this many at every meeting, twice as many at every second "
        "meeting, four times at every fourth, and so on (pWord2Vec's schedule); at fixed row counts, so runs stay "
        "reproducible. 0 turns meetings off (shards are then averaged only syncs_per_epoch times).",
    )
    hot_syncs_per_epoch: int | None = _param(
        None,
        "Meetings per epoch at which the shards average their hot_words rows; unset means 16 per 1.6 million "
        "tokens of the corpus (in steps of 16, at least 16), so that the same number of windows is trained "
        "between meetings whatever the corpus's size (docs/design/averaging.md#meetings).",
    )
    hogwild: bool = _param(
        False,
        "Tasks in one executor train one shared copy of the model in place, without locks (Hogwild, as "
        "word2vec's and gensim's threads do), and only the executors' copies are averaged: quality close to "
        "one machine's when executors run several tasks, but runs are not bit-for-bit reproducible.",
    )
    max_sentence_length: int = _param(1000, "Longer lines are cut into chunks of at most this many tokens.")
    max_token_length: int = _param(100, "Longer tokens are cut to this many characters (word2vec.c's limit).")
    token_pattern: str = _param(DEFAULT_TOKEN_PATTERN, "Java regular expression matching one token.")
    lowercase: bool = _param(True, "Lower-case text before tokenizing.")
    keep_tuples: bool = _param(
        False, "Keep tuples/epoch=E/ and corpus/ after training (deleted by default to save disk)."
    )
    overwrite: bool = _param(
        False,
        "Replace an earlier run of w2v-spark at the output (it stays in place until the new one is complete; a "
        "directory holding other files is refused). With resume: start over when the checkpoint cannot be continued.",
    )
    resume: bool = _param(
        False,
        "Continue an unfinished run (DIR.inprogress) from its newest usable checkpoint, or publish one that finished "
        "but was not published; start afresh if there is none. Refused if the checkpoint had other settings or input.",
    )
    keep_checkpoints: int = _param(
        2, "Checkpoints (E and Theta after an epoch) kept while training; all are deleted when the run succeeds."
    )
    report_delay: float = _param(
        10.0, "Seconds between progress lines within an epoch (gensim's report_delay); 0 turns them off."
    )
    spark_conf: tuple[tuple[str, str], ...] = _param(
        (), "Extra Spark settings, from the [spark] table of the config file or --conf KEY=VALUE."
    )

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def shards(self) -> int:
        """The number of training shards: ``partitions``, once the job has resolved it (else 1)."""
        return self.partitions or 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (lists for tuples, a table for spark_conf)."""
        d = dataclasses.asdict(self)
        d["input"] = list(self.input)
        d["spark_conf"] = dict(self.spark_conf)
        return d

    def to_public_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` with secrets redacted, for what a run writes and logs (metrics.json):
        Spark settings whose key looks secret, as Spark redacts them (``spark.redaction.regex``,
        and the user's own if set), the Connect URL's parameters, and passwords in URLs."""
        d = self.to_dict()
        conf = d["spark_conf"]
        own = conf.get("spark.redaction.regex")
        d["spark_conf"] = {
            k: REDACTED if SECRET_KEY.search(k) or (own and _search(own, k)) else v for k, v in conf.items()
        }
        d["remote"] = redact_url(d["remote"])
        d["input"] = [redact_url(p) for p in d["input"]]
        d["output"], d["master"] = redact_url(d["output"]), redact_url(d["master"])
        return d


# What Spark shows instead of a redacted value, and the keys it redacts by default (its
# spark.redaction.regex, widened to any "key" or "credential" setting).
REDACTED = "*********(redacted)"
SECRET_KEY = re.compile(r"(?i)secret|password|passwd|token|key|credential")


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:  # a Java pattern Python cannot read: redact to be safe
        return True


def redact_url(url: str) -> str:
    """A URL without its secrets: the password of ``user:password@``, and the values of a Spark
    Connect URL's parameters (``sc://host:port/;token=...;user_id=...``)."""
    url = re.sub(r"^([a-zA-Z][\w+.-]*://[^/@:]*):[^@]*@", rf"\1:{REDACTED}@", url)
    head, sep, params = url.partition("/;")
    if not sep:
        return url
    pairs = [p.split("=", 1)[0] + f"={REDACTED}" if "=" in p else p for p in params.split(";")]
    return head + sep + ";".join(pairs)


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(TrainConfig)}
# How the settings split. Run options say where and how a run goes, never what it learns: they
# stay out of a checkpoint's fingerprint (checkpoints.py), and the Python API has no Params for
# them. The tokenizer's settings are Params of w2v_spark.Tokenizer; every other field is a
# model parameter, a Param of w2v_spark.Word2Vec (ml/params.py; tests/unit/test_estimator.py checks
# that each field has its place).
RUN_OPTIONS = frozenset(
    {
        "input",
        "output",
        "master",
        "remote",
        "overwrite",
        "resume",
        "keep_tuples",
        "keep_checkpoints",
        "spark_conf",
        "report_delay",
    }
)
TOKENIZER_FIELDS = frozenset({"token_pattern", "lowercase", "max_token_length"})
DEFAULTS: dict[str, Any] = {name: f.default for name, f in FIELDS.items()}
# Fields whose default is "unset" (None) and the type a value must have when given.
OPTIONAL_TYPES: dict[str, type] = {"partitions": int, "hot_syncs_per_epoch": int}


def flag(name: str) -> str:
    """The command-line flag of a field: ``vector_size`` -> ``--vector-size``."""
    return "--" + name.replace("_", "-")


def _fail(name: str, rule: str, value: Any) -> None:
    raise ConfigError(f"{name} must be {rule} (got {value!r}); set {flag(name)} or {name} in the config file")


def _validate(c: TrainConfig) -> None:
    _check_types(c)
    _check_ranges(c)


def _check_types(c: TrainConfig) -> None:
    """Each field holds a value of its kind (a bool is not an int here, as TOML and flags keep them apart)."""
    for name in (
        "vector_size",
        "window",
        "min_count",
        "epochs",
        "max_sentence_length",
        "syncs_per_epoch",
        "max_token_length",
    ):
        v = getattr(c, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            _fail(name, "a positive integer", v)
    for name, unset in (("partitions", "one shard per core"), ("hot_syncs_per_epoch", "16 per 1.6M tokens")):
        v = getattr(c, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            _fail(name, f"a positive integer (or unset, for {unset})", v)
    for name in ("max_vocab_size", "seed", "negative", "keep_checkpoints", "hot_words"):
        v = getattr(c, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            _fail(name, "a non-negative integer", v)
    for name in ("sample", "ns_exponent", "alpha", "min_alpha", "report_delay"):
        v = getattr(c, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            _fail(name, "a finite number", v)
    if not isinstance(c.input, tuple) or not all(isinstance(p, str) and p for p in c.input):
        _fail("input", "one or more paths", c.input)


def _check_ranges(c: TrainConfig) -> None:
    """Values of the right kind are in range and agree with each other."""
    from w2v_spark.train import objectives

    if c.objective not in objectives.REGISTRY:
        _fail("objective", "one of " + ", ".join(objectives.REGISTRY), c.objective)
    if objectives.REGISTRY[c.objective].uses_negatives and c.negative < 1:
        _fail("negative", "at least 1 for negative sampling (or use --objective softmax)", c.negative)
    if c.master and c.remote:
        _fail(
            "remote",
            "unset when --master is given (--master starts classic Spark, --remote connects to Spark "
            "Connect; choose one, and unset SPARK_REMOTE if it is set)",
            c.remote,
        )
    if c.report_delay < 0:
        _fail("report_delay", "0 (off) or a positive number of seconds", c.report_delay)
    if c.sample < 0:
        _fail("sample", "0 (off) or a positive threshold such as 1e-3", c.sample)
    if c.ns_exponent < 0:
        _fail("ns_exponent", "non-negative", c.ns_exponent)
    if c.alpha <= 0:
        _fail("alpha", "positive", c.alpha)
    if not 0 <= c.min_alpha <= c.alpha:
        _fail("min_alpha", f"between 0 and alpha={c.alpha}", c.min_alpha)
    if c.max_vocab_size and c.max_vocab_size <= 2 * c.window + 1:
        _fail("max_vocab_size", f"0 or more than 2*window+1={2 * c.window + 1}", c.max_vocab_size)
    # The pattern's syntax is Java's; it is checked in the JVM as soon as Spark is up.
    if not c.token_pattern:
        _fail("token_pattern", "a non-empty regular expression", c.token_pattern)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file into field values; unknown keys are an error, not silently ignored."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(p)!r} does not exist; check --config") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {e}") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "spark":
            if not isinstance(value, dict):
                raise ConfigError(f"[spark] in {str(p)!r} must be a table of Spark settings")
            values["spark_conf"] = tuple((str(k), _spark_value(v)) for k, v in value.items())
        elif key in FIELDS and key not in ("spark_conf",):
            values[key] = tuple(value) if key == "input" else value
        else:
            known = ", ".join(sorted(k for k in FIELDS if k != "spark_conf"))
            raise ConfigError(f"unknown key {key!r} in {str(p)!r}; known keys: {known}, [spark]")
    return values


def _spark_value(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def resolve(file_values: dict[str, Any], flag_values: dict[str, Any]) -> TrainConfig:
    """Defaults, then the config file, then flags. Checks types that TOML cannot enforce."""
    merged: dict[str, Any] = {}
    for source in (file_values, flag_values):
        for key, value in source.items():
            if key == "spark_conf":
                merged["spark_conf"] = tuple(dict((*merged.get("spark_conf", ()), *value)).items())
            else:
                merged[key] = value
    for key, value in merged.items():
        default = DEFAULTS[key]
        if key in OPTIONAL_TYPES:
            default = OPTIONAL_TYPES[key]()
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            merged[key] = float(value)
        elif type(default) is not type(value) and key not in ("input", "spark_conf"):
            raise ConfigError(
                f"{key} must be of type {type(default).__name__} (got {value!r}); fix it in the config file"
            )
    cfg = TrainConfig(**merged)
    if not cfg.input:
        raise ConfigError("no input given; pass --input PATH [PATH ...] or set input in the config file")
    if not cfg.output:
        raise ConfigError("no output directory given; pass --output DIR or set output in the config file")
    return cfg
