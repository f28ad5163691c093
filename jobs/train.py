"""spark-submit entry point: ``spark-submit jobs/train.py --input ... --output ...``.

Takes exactly the flags of ``w2v-spark train``; the master comes from spark-submit unless
--master is given. The w2v_spark package must be importable by the driver and the executors
(installed in their Python, or shipped with --py-files).
"""

import sys

from w2v_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
