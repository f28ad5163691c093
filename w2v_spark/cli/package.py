"""``w2v-spark package``: what spark-submit needs to run the job on a cluster.

Writes ``w2v_spark-<version>.zip`` (the pure-Python package, for ``--py-files``) and
``train.py`` (the entry point, the same as ``jobs/train.py``). The native dependencies (numpy,
pyarrow, numba, pandas) cannot travel in a zip: executors need them installed, from a packed
virtual environment shipped with ``--archives`` (venv-pack) or from the Docker image; see the
docs/deploy.md#package.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from w2v_spark import __version__

# Timestamps fixed so the same sources always give the same zip, byte for byte.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)

ENTRY_POINT = '''"""spark-submit entry point: ``spark-submit jobs/train.py --input ... --output ...``.

Takes exactly the flags of ``w2v-spark train``; the master comes from spark-submit unless
--master is given. The w2v_spark package must be importable by the driver and the executors
(installed in their Python, or shipped with --py-files).
"""

import sys

from w2v_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
'''


def build(output_dir: str) -> tuple[Path, Path]:
    """Write the zip and the entry point into ``output_dir``; returns their paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = Path(__file__).resolve().parent.parent  # the w2v_spark package, with its subpackages
    archive = out / f"w2v_spark-{__version__}.zip"
    tmp = archive.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(source.rglob("*.py")) + sorted(source.glob("py.typed")):
            name = path.relative_to(source).as_posix()
            info = zipfile.ZipInfo(f"w2v_spark/{name}", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    tmp.replace(archive)
    entry = out / "train.py"
    entry.write_text(ENTRY_POINT, encoding="utf-8")
    return archive, entry
