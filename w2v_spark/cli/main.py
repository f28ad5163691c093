"""The ``w2v-spark`` command. Flags are generated from :class:`TrainConfig`'s fields, so every
parameter has exactly one name, one default and one help text.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from typing import Any, NoReturn
from urllib.parse import urlparse

from w2v_spark import __version__
from w2v_spark.config import FIELDS, OPTIONAL_TYPES, TrainConfig, flag, load_toml, resolve
from w2v_spark.errors import ConfigError, W2VError

_STARTED = time.perf_counter()
log = logging.getLogger("w2v_spark")


def _spark_setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per config field; only flags actually given end up in the namespace."""
    parser.add_argument(
        "--config", metavar="FILE", help="TOML file of settings (see conf/default.toml); flags override it"
    )
    for name, field in FIELDS.items():
        doc = field.metadata["doc"]
        default = field.default
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        if name == "spark_conf":
            parser.add_argument("--conf", action="append", type=_spark_setting, metavar="KEY=VALUE", help=doc, **kwargs)
            continue
        if name == "input":
            kwargs.update(nargs="+", metavar="PATH")
        elif isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs.update(type=OPTIONAL_TYPES.get(name, type(default)), metavar=name.upper())
        shown = "" if name in ("input", "output") or default is None else f" (default: {default!r})"
        parser.add_argument(flag(name), help=doc.replace("%", "%%") + shown.replace("%", "%%"), **kwargs)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem and where to look (exit 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse takes "-1e-3" for an option (its pattern knows only "-1" and "-0.5"), which
        # turns "--sample -1e-3" into a puzzling "expected one argument"; let the value through
        # so validation can say what is wrong with it.
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"w2v-spark: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="w2v-spark", description="Distributed word2vec (skip-gram, negative sampling) on Spark."
    )
    parser.add_argument("--version", action="version", version=f"w2v-spark {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    train = sub.add_parser("train", help="train word vectors", description="Train word vectors on a text corpus.")
    add_train_arguments(train)
    _add_vector_commands(sub)
    _add_tool_commands(sub)
    return parser


VECTORS_HELP = "a run's output directory, or a word2vec file (binary if it ends in .bin, else text)"


def _add_vector_commands(sub: Any) -> None:
    """evaluate, neighbors, export: commands that read vectors."""
    ev = sub.add_parser(
        "evaluate",
        help="score vectors on word analogies and word-pair similarity",
        description="Score vectors as word2vec's compute-accuracy and gensim's evaluators do. "
        'gensim ships both standard sets: python -c "from gensim.test.utils import datapath; '
        "print(datapath('questions-words.txt'), datapath('wordsim353.tsv'))\"",
    )
    ev.add_argument("--vectors", required=True, metavar="PATH", help=VECTORS_HELP)
    ev.add_argument("--analogies", metavar="FILE", help="analogy questions (': section' lines, then 'a b c d')")
    ev.add_argument("--pairs", metavar="FILE", help="word pairs with human scores ('a<TAB>b<TAB>score')")
    ev.add_argument(
        "--restrict-vocab",
        type=int,
        default=300_000,
        metavar="N",
        help="analogies use only the N most frequent words (default: 300000)",
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

    nb = sub.add_parser("neighbors", help="nearest words by cosine similarity", description="Nearest words by cosine.")
    nb.add_argument("--vectors", required=True, metavar="PATH", help=VECTORS_HELP)
    nb.add_argument("words", nargs="+", metavar="WORD")
    nb.add_argument("-k", type=int, default=10, help="neighbours per word (default: 10)")

    ex = sub.add_parser(
        "export", help="write vectors in another format", description="Convert vectors to another format."
    )
    ex.add_argument("--vectors", required=True, metavar="PATH", help=VECTORS_HELP)
    ex.add_argument(
        "--format",
        required=True,
        choices=["text", "binary", "projector"],
        help="word2vec text, word2vec binary, or a directory with vectors.tsv and metadata.tsv "
        "for the TensorBoard embedding projector",
    )
    ex.add_argument("--output", required=True, metavar="PATH", help="file (text, binary) or directory (projector)")


def _add_tool_commands(sub: Any) -> None:
    """package and plot: commands around a run."""
    pk = sub.add_parser(
        "package",
        help="write the zip and entry point for spark-submit --py-files",
        description="Write w2v_spark-<version>.zip (for --py-files) and train.py (for spark-submit) into DIR.",
    )
    pk.add_argument("--output", required=True, metavar="DIR")

    pl = sub.add_parser(
        "plot",
        help="draw a run's loss curve and a PCA map of words (needs matplotlib)",
        description="Write loss.png (loss per epoch) and words.png (2-D PCA of chosen words) for a run.",
    )
    pl.add_argument("--run", required=True, metavar="DIR", help="a run's output directory (metrics.json, vectors/)")
    pl.add_argument("--output", metavar="DIR", help="where the PNG files go (default: the run directory)")
    pl.add_argument("--words", nargs="+", metavar="WORD", help="words to place on the map (default: the --top first)")
    pl.add_argument("--top", type=int, default=40, metavar="N", help="without --words: the N most frequent (40)")


def _flag_values(ns: argparse.Namespace) -> dict[str, Any]:
    values = {k: v for k, v in vars(ns).items() if k in FIELDS}
    if "input" in values:
        values["input"] = tuple(values["input"])
    if "spark_conf" in values:
        values["spark_conf"] = tuple(values["spark_conf"])
    return values


def train(ns: argparse.Namespace) -> int:
    from w2v_spark.job.outputs import lease
    from w2v_spark.job.preflight import check_arguments

    flags = _flag_values(ns)
    if "remote" not in flags and os.environ.get("SPARK_REMOTE"):  # as pyspark honours it
        flags["remote"] = os.environ["SPARK_REMOTE"]
    cfg = resolve(load_toml(ns.config) if ns.config else {}, flags)
    check_arguments(cfg)
    with lease(cfg.output):  # held from the checks to the publish: no second run in between
        _train(cfg)
    return 0


def _train(cfg: TrainConfig) -> None:
    import threading

    from w2v_spark import kernels
    from w2v_spark.job.preflight import preflight
    from w2v_spark.job.run import read_corpus, run
    from w2v_spark.runtime import jvmcache
    from w2v_spark.runtime.session import check_connect_client, effective_master, start_session

    preflight(cfg)
    if cfg.remote:
        check_connect_client()
    threading.Thread(target=kernels.warm_up, name="warm-up", daemon=True).start()
    classes = jvmcache.plan(effective_master(cfg.master, cfg.remote), cfg.remote, dict(cfg.spark_conf))
    # Spark's own WARN lines carry a full JVM and Python trace for every failed task attempt;
    # the CLI reports a failure in one line instead. --log-level DEBUG shows Spark's logs again.
    level = "WARN" if log.getEffectiveLevel() <= logging.DEBUG else "FATAL"
    spark = start_session(cfg.master, cfg.spark_conf, cfg.remote, level, classes)
    succeeded = False
    try:
        run(cfg, spark, read_corpus(spark, cfg), started=_STARTED)
        succeeded = True
    finally:
        spark.stop()
        if classes is not None:
            classes.finish(succeeded)


def evaluate(ns: argparse.Namespace) -> int:
    import json

    from w2v_spark.io import evaluation
    from w2v_spark.io.formats import read_vectors

    if not ns.analogies and not ns.pairs:
        raise ConfigError("nothing to evaluate; pass --analogies FILE and/or --pairs FILE")
    for path in (ns.analogies, ns.pairs):
        if path and not os.path.isfile(path):
            raise ConfigError(f"evaluation file {path!r} does not exist; check --analogies/--pairs")
    if ns.restrict_vocab < 1:
        raise ConfigError(f"--restrict-vocab must be a positive integer (got {ns.restrict_vocab})")
    words, vectors = read_vectors(ns.vectors)
    report: dict[str, Any] = {}
    if ns.analogies:
        report["analogies"] = evaluation.evaluate_analogies(
            words, vectors, ns.analogies, restrict_vocab=ns.restrict_vocab
        ).to_dict()
    if ns.pairs:
        report["pairs"] = evaluation.evaluate_pairs(words, vectors, ns.pairs).to_dict()
    if ns.json:
        print(json.dumps(report))
        return 0
    print(f"vectors: {ns.vectors} ({len(words):,} words x {vectors.shape[1]})")
    if "analogies" in report:
        a = report["analogies"]
        print(f"analogies: {100 * a['accuracy']:.2f}% ({a['correct']:,} of {a['total']:,}; {a['skipped']:,} skipped)")
        for name, sec in a["sections"].items():
            if sec["total"]:
                print(f"  {name:32s} {100 * sec['accuracy']:6.2f}% of {sec['total']:,}")
    if "pairs" in report:
        q = report["pairs"]
        print(
            f"pairs: Spearman {q['spearman']:.4f}, Pearson {q['pearson']:.4f}, "
            f"{q['pairs']:,} pairs, {q['oov_ratio']:.1f}% out of vocabulary"
        )
    return 0


def neighbors(ns: argparse.Namespace) -> int:
    from w2v_spark.io import evaluation
    from w2v_spark.io.formats import read_vectors

    if ns.k < 1:
        raise ConfigError(f"-k must be a positive integer (got {ns.k})")
    words, vectors = read_vectors(ns.vectors)
    unit = evaluation.unit_rows(vectors)
    unknown = [w for w in ns.words if evaluation.find_word(words, w) is None]
    for word in ns.words:
        if word in unknown:
            continue
        print(f"{word}:")
        for other, sim in evaluation.nearest(words, vectors, word, k=ns.k, unit=unit):
            print(f"  {other}\t{sim:.4f}")
    if unknown:
        print(f"w2v-spark: error: not in the vocabulary ({len(words):,} words): {', '.join(unknown)}", file=sys.stderr)
        return 1
    return 0


def export_vectors(ns: argparse.Namespace) -> int:
    import pyarrow as pa

    from w2v_spark.io import formats

    words, vectors = formats.read_vectors(ns.vectors)
    names = pa.array(words, pa.string())
    if ns.format == "projector":
        formats.write_projector(ns.output, names, vectors)
    else:
        writer = formats.write_word2vec_text if ns.format == "text" else formats.write_word2vec_binary
        writer(ns.output, formats.matrix_blocks(names, vectors), len(words), vectors.shape[1])
    print(f"wrote {ns.output} ({len(words):,} words x {vectors.shape[1]}, {ns.format})")
    return 0


def plot(ns: argparse.Namespace) -> int:
    import json

    from w2v_spark.cli import plots
    from w2v_spark.io import evaluation
    from w2v_spark.io.formats import read_vectors

    metrics_file = os.path.join(ns.run, "metrics.json")
    if not os.path.isfile(metrics_file):
        raise ConfigError(f"{ns.run!r} has no metrics.json; pass a finished run's output directory to --run")
    if ns.top < 2:
        raise ConfigError(f"--top must be at least 2 (got {ns.top})")
    plots._pyplot()  # fail on a missing matplotlib before reading anything
    out = ns.output or ns.run
    os.makedirs(out, exist_ok=True)
    with open(metrics_file, encoding="utf-8") as fh:
        metrics = json.load(fh)
    cfg = metrics.get("config", {})
    title = f"{cfg.get('partitions', '?')} shards, {len(metrics['epochs'])} epochs"
    plots.plot_loss(metrics["epochs"], os.path.join(out, "loss.png"), title=f"training loss ({title})")
    words, vectors = read_vectors(ns.run)
    if ns.words:
        rows = [evaluation.find_word(words, w) for w in ns.words]
        unknown = [w for w, r in zip(ns.words, rows, strict=True) if r is None]
        if unknown:
            raise ConfigError(f"not in the vocabulary: {', '.join(unknown)}; choose other --words")
        chosen = [int(r) for r in rows if r is not None]
        if len(chosen) < 2:
            raise ConfigError("a map needs at least two --words")
    else:
        chosen = list(range(min(ns.top, len(words))))
    plots.plot_words([words[i] for i in chosen], vectors[chosen], os.path.join(out, "words.png"))
    print(f"wrote {os.path.join(out, 'loss.png')} and {os.path.join(out, 'words.png')}")
    return 0


def package(ns: argparse.Namespace) -> int:
    from w2v_spark.cli.package import build

    archive, entry = build(ns.output)
    print(f"wrote {archive} and {entry}")
    print(f"submit with: spark-submit --py-files {archive} {entry} --input ... --output ...")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log.setLevel(ns.log_level if hasattr(ns, "log_level") else "INFO")
    try:
        commands = {
            "train": train,
            "evaluate": evaluate,
            "neighbors": neighbors,
            "export": export_vectors,
            "plot": plot,
            "package": package,
        }
        if ns.command in commands:
            return commands[ns.command](ns)
    except ConfigError as e:
        print(f"w2v-spark: error: {e}", file=sys.stderr)
        return 2
    except W2VError as e:
        print(f"w2v-spark: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("w2v-spark: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        # Spark's errors (unreadable input, a task that kept failing) and the OS's (permission
        # denied, disk full) are reported in one line; the full trace goes to the debug log.
        log.debug("full trace", exc_info=True)
        line = describe_failure(e, read_paths(ns))
        print(f"w2v-spark: error: {line} (--log-level DEBUG shows the full trace)", file=sys.stderr)
        return 1
    parser.error(f"unknown command {ns.command!r}")
    return 2


# "Caused by:" lines too: a Java trace's innermost cause (an unreadable file's "Permission denied"
# under Spark's FAILED_READ_FILE) is the error to report.
_ERROR_LINE = re.compile(r"^(?:Caused by: )?(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit)): (.+)$")


_FIXES = {
    "No space left on device": "free space where --output points, or choose another --output",
    "Permission denied": "check that --output (and the directory beside it) can be written",
    "Read-only file system": "choose an --output on a writable file system",
}


def read_paths(ns: argparse.Namespace) -> list[tuple[str, str]]:
    """The paths a command reads, with their flags, as given (for train: the flags', else the config file's)."""
    if ns.command == "train":
        inputs = getattr(ns, "input", None)
        if inputs is None and getattr(ns, "config", None):
            try:
                inputs = load_toml(ns.config).get("input")
            except W2VError:
                inputs = None
        return [("--input", p) for p in inputs or ()]
    flags = {"--vectors": "vectors", "--analogies": "analogies", "--pairs": "pairs", "--run": "run"}
    return [(option, getattr(ns, name)) for option, name in flags.items() if getattr(ns, name, None)]


def _denied_input(message: str, inputs: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The (flag, path) of ``inputs`` whose file, or a file under it, ``message`` names, if any."""
    for option, path in inputs:
        local = path.removeprefix("file://")
        where = urlparse(local).path if "://" in local else os.path.abspath(os.path.expanduser(local))
        fixed = re.split(r"[*?\[]", where)[0]  # a pattern: the directory its matches are in
        prefix = (os.path.dirname(fixed) if fixed != where else where).rstrip("/")
        if len(prefix) > 1 and re.search(re.escape(prefix) + r"(?=$|[/\s'\"():,])", message):
            return option, path
    return None


def describe_failure(e: BaseException, inputs: list[tuple[str, str]] | None = None) -> str:
    """One line for an unexpected failure: for a failed Spark job, the innermost error a task raised.

    ``inputs`` are the (flag, path) pairs the command reads: a permission error on one of them
    names it, rather than the output."""
    from pyspark.errors import AnalysisException

    text = str(e).strip()
    if isinstance(e, AnalysisException):
        return text.splitlines()[0] if text else type(e).__name__
    if isinstance(e, OSError) and not type(e).__module__.startswith("py4j"):
        text = f"{type(e).__name__}: {text}"
    # A job failure carries the task's Python traceback, or a Java one, in its message: the last
    # "SomeError: message" line is the original error.
    found = [m for line in text.splitlines() if (m := _ERROR_LINE.match(line.strip()))]
    python = [m for m in found if not m.group(1).startswith(("Py4J", "Spark", "Python"))]
    if python or found:
        m = (python or found)[-1]
        where = "a Spark task failed: " if type(e).__module__.startswith(("py4j", "pyspark")) else ""
        message = f"{where}{m.group(1)}: {m.group(2)}"
    else:
        message = f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"
    denied = _denied_input(message, inputs or []) if "Permission denied" in message else None
    if denied:
        return f"{message}; check that {denied[0]} {denied[1]} can be read by the user running the job"
    for symptom, fix in _FIXES.items():
        if symptom in message:
            return f"{message}; {fix}"
    return message


def console() -> None:
    """Entry point of the ``w2v-spark`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console()
