import tomllib

import pytest

from tests.helpers import REPO
from w2v_spark.cli.main import build_parser
from w2v_spark.config import DEFAULTS, FIELDS, TrainConfig, load_toml, resolve
from w2v_spark.errors import ConfigError


def test_conf_default_toml_matches_the_dataclass_defaults():
    with (REPO / "conf" / "default.toml").open("rb") as fh:
        raw = tomllib.load(fh)
    spark_table = raw.pop("spark")
    assert spark_table == {}
    expected = {k: v for k, v in DEFAULTS.items() if k not in ("input", "output", "spark_conf") and v is not None}
    assert raw == expected


def test_every_field_is_documented_and_has_a_flag():
    import argparse

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    help_text = sub.choices["train"].format_help()
    for name, field in FIELDS.items():
        assert field.metadata["doc"].strip()
        option = "--conf" if name == "spark_conf" else "--" + name.replace("_", "-")
        assert option in help_text


def test_flags_override_file_which_overrides_defaults(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('window = 3\nnegative = 7\nalpha = 0.05\ninput = ["a.txt"]\n[spark]\n"spark.x" = 1\n')
    cfg = resolve(load_toml(conf), {"window": 2, "output": "o", "spark_conf": (("spark.y", "z"),)})
    assert cfg.window == 2  # flag
    assert cfg.negative == 7  # file
    assert cfg.alpha == 0.05  # file
    assert cfg.vector_size == 100  # default
    assert cfg.input == ("a.txt",)
    assert dict(cfg.spark_conf) == {"spark.x": "1", "spark.y": "z"}


def test_cli_flags_parse_into_config_values():
    ns = build_parser().parse_args(
        ["train", "--input", "a", "b", "--output", "o", "--vector-size", "50", "--sample", "0", "--no-lowercase"]
    )
    from w2v_spark.cli.main import _flag_values

    cfg = resolve({}, _flag_values(ns))
    assert cfg.input == ("a", "b") and cfg.vector_size == 50 and cfg.sample == 0.0 and cfg.lowercase is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vector_size": 0}, "vector_size must be a positive integer"),
        ({"window": -1}, "window must be a positive integer"),
        ({"min_alpha": 0.5}, "min_alpha must be between 0 and alpha"),
        ({"sample": -1.0}, "sample must be 0 (off) or a positive threshold"),
        ({"alpha": float("nan")}, "alpha must be a finite number"),
        ({"max_vocab_size": 5}, "max_vocab_size must be 0 or more than 2*window+1"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"negative": -1}, "negative must be a non-negative integer"),
        ({"negative": 0}, "negative must be at least 1 for negative sampling"),
        ({"alpha": 0.0}, "alpha must be positive"),
        ({"partitions": -2}, "partitions must be a positive integer"),
        ({"objective": "hs"}, "objective must be one of batch_negative_sampling, negative_sampling, softmax"),
        ({"max_token_length": 0}, "max_token_length must be a positive integer"),
        ({"syncs_per_epoch": 0}, "syncs_per_epoch must be a positive integer"),
        ({"hot_syncs_per_epoch": 0}, "hot_syncs_per_epoch must be a positive integer (or unset"),
    ],
)
def test_invalid_values_fail_with_a_one_line_fix(change, message):
    with pytest.raises(ConfigError) as err:
        TrainConfig(input=("x",), output="o", **change)
    text = str(err.value)
    assert message in text and "\n" not in text and "--" in text


def test_unknown_key_and_wrong_type_in_config_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("vector_sise = 10\n")
    with pytest.raises(ConfigError, match="unknown key 'vector_sise'") as err:
        load_toml(bad)
    assert "vector_size" in str(err.value) and "\n" not in str(err.value)  # lists the valid keys
    typed = tmp_path / "typed.toml"
    typed.write_text('window = "5"\n')
    with pytest.raises(ConfigError, match="window must be of type int"):
        resolve(load_toml(typed), {"input": ("x",), "output": "o"})


def test_missing_input_and_output_are_named():
    with pytest.raises(ConfigError, match="no input given"):
        resolve({}, {"output": "o"})
    with pytest.raises(ConfigError, match="no output directory"):
        resolve({}, {"input": ("x",)})


def test_every_shipped_config_file_loads_and_validates():
    for path in sorted((REPO / "conf").glob("*.toml")):
        cfg = resolve(load_toml(path), {"input": ("x.txt",), "output": "out"})
        assert cfg.epochs >= 1, path
    cluster = resolve(load_toml(REPO / "conf" / "cluster.toml"), {"input": ("x.txt",), "output": "out"})
    assert (cluster.partitions or 0) > 1 and cluster.syncs_per_epoch > 1 and dict(cluster.spark_conf)


def test_what_a_run_publishes_of_its_settings_has_no_secrets():
    from w2v_spark.config import REDACTED, redact_url

    cfg = TrainConfig(
        input=("s3a://AKIA:se/cret@bucket/in",),
        output="out",
        remote="sc://host:15002/;token=abc;user_id=me",
        spark_conf=(
            ("spark.hadoop.fs.gs.auth.service.account.json.keyfile", "/k.json"),
            ("spark.a.b", "x"),
            ("spark.redaction.regex", "(?i)a\\.b"),
            ("spark.hadoop.fs.azure.account.oauth2.client.secret", "s"),
        ),
    )
    public = cfg.to_public_dict()
    assert public["spark_conf"] == {
        "spark.hadoop.fs.gs.auth.service.account.json.keyfile": REDACTED,
        "spark.a.b": REDACTED,  # the user's own spark.redaction.regex counts too
        "spark.redaction.regex": "(?i)a\\.b",
        "spark.hadoop.fs.azure.account.oauth2.client.secret": REDACTED,
    }
    assert public["remote"] == f"sc://host:15002/;token={REDACTED};user_id={REDACTED}"
    assert public["input"] == [f"s3a://AKIA:{REDACTED}@bucket/in"]
    assert redact_url("hdfs://nn:8020/x") == "hdfs://nn:8020/x" and redact_url("local[2]") == "local[2]"
    assert cfg.to_dict()["remote"].endswith("token=abc;user_id=me")  # the run itself still has them
