"""The ``w2v-spark`` command. Flags are generated from :class:`TrainConfig`'s fields, so every
parameter has exactly one name, one default and one help text.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

from w2v_spark import __version__
from w2v_spark.config import FIELDS, flag, load_toml, resolve
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
            kwargs.update(type=type(default), metavar=name.upper())
        shown = "" if name in ("input", "output") else f" (default: {default!r})"
        parser.add_argument(flag(name), help=doc.replace("%", "%%") + shown.replace("%", "%%"), **kwargs)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="w2v-spark", description="Distributed word2vec (skip-gram, negative sampling) on Spark."
    )
    parser.add_argument("--version", action="version", version=f"w2v-spark {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train word vectors", description="Train word vectors on a text corpus.")
    add_train_arguments(train)
    return parser


def _flag_values(ns: argparse.Namespace) -> dict[str, Any]:
    values = {k: v for k, v in vars(ns).items() if k in FIELDS}
    if "input" in values:
        values["input"] = tuple(values["input"])
    if "spark_conf" in values:
        values["spark_conf"] = tuple(values["spark_conf"])
    return values


def train(ns: argparse.Namespace) -> int:
    from w2v_spark.pipeline import preflight

    cfg = resolve(load_toml(ns.config) if ns.config else {}, _flag_values(ns))
    preflight(cfg)

    import threading

    from w2v_spark import kernels
    from w2v_spark.pipeline import run
    from w2v_spark.session import start_session

    threading.Thread(target=kernels.warm_up, name="warm-up", daemon=True).start()
    spark = start_session(cfg.master, cfg.spark_conf)
    try:
        run(cfg, spark, started=_STARTED)
    finally:
        spark.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log.setLevel(ns.log_level if hasattr(ns, "log_level") else "INFO")
    try:
        if ns.command == "train":
            return train(ns)
    except ConfigError as e:
        print(f"w2v-spark: error: {e}", file=sys.stderr)
        return 2
    except W2VError as e:
        print(f"w2v-spark: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        # Spark's analysis errors (unreadable input, bad URI) are user errors too: one line, not a trace.
        from pyspark.errors import AnalysisException

        if isinstance(e, AnalysisException):
            print(f"w2v-spark: error: {str(e).splitlines()[0]}", file=sys.stderr)
            return 1
        raise
    parser.error(f"unknown command {ns.command!r}")
    return 2


def console() -> None:
    """Entry point of the ``w2v-spark`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console()
