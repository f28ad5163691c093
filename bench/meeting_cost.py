"""What a hot-row meeting costs on one machine, without Spark: P processes, one shard copy each,
meet at every point of an epoch's schedule (48 meetings, 1,024 hot rows in pWord2Vec's tiers, a
35,477 x 100 model: the benchmark corpus at 16 shards), with a stretch of made-up work between
meetings as training would do, through each transport in turn.

    python bench/meeting_cost.py --shards 16 --work 24000 --repeat 2

``none`` does the work without meeting, so a transport's cost per meeting is its wall time
per meeting minus that of ``none`` in the same repetition. ``--work 24000`` is about 40 ms of
CPU per process between meetings, near what 16 shards of the benchmark corpus train between
two of their 48 meetings. Every transport must leave every copy's hot rows with the same bits.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import shutil
import time
import uuid
from contextlib import nullcontext
from typing import Any

import numpy as np

VOCAB, WIDTH, HOT_ROWS, PER_EPOCH = 35_477, 100, 1024, 48


def worker(transport: str, shard: int, shards: int, root: str, work: int, q: Any, go: Any) -> None:
    from w2v_spark.train import hot_rows

    hot = hot_rows.HotSync(HOT_ROWS, PER_EPOCH)
    points = hot.points(0, 1)
    rng = np.random.default_rng(shard)
    emb, theta = (rng.standard_normal((VOCAB, WIDTH), dtype=np.float32) for _ in range(2))
    meets: Any = nullcontext()
    if transport == "board":
        meets = hot_rows.SharedBoard(root, shards, hot, points, VOCAB, WIDTH)
    elif transport == "files":
        meets = hot_rows.FileMeetings(root, shards, hot, points, VOCAB)
    go.wait()
    started, cpu = time.perf_counter(), time.process_time()
    with meets:
        for j in points:
            x = 0.0
            for i in range(work):  # stands in for training: touches rows, allocates, as a kernel call would
                x += float(emb[i % 1000].sum())
            if transport != "none":
                meets.meet(j, {shard: (emb, theta)})
    digest = hashlib.md5(emb[:HOT_ROWS].tobytes()).hexdigest()
    q.put((shard, time.perf_counter() - started, time.process_time() - cpu, digest))


def run(transport: str, shards: int, work: int) -> dict[str, Any]:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp"
    root = os.path.join(base, f"w2v-spark-{os.getpid()}-bench", uuid.uuid4().hex)
    os.makedirs(root)
    q, go = mp.Queue(), mp.Event()
    procs = [mp.Process(target=worker, args=(transport, k, shards, root, work, q, go)) for k in range(shards)]
    for p in procs:
        p.start()
    time.sleep(3)  # every process has built its copy
    started = time.perf_counter()
    go.set()
    results = sorted(q.get() for _ in procs)
    wall = time.perf_counter() - started
    for p in procs:
        p.join()
    shutil.rmtree(os.path.dirname(root))
    meetings = PER_EPOCH - 1
    return {
        "transport": transport,
        "wall_ms_per_meeting": 1000 * wall / meetings,
        "cpu_ms_per_meeting": 1000 * sum(r[2] for r in results) / meetings,
        "hot_rows_md5": sorted({r[3] for r in results}),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", type=int, default=16)
    p.add_argument("--work", type=int, default=24000, help="made-up work between meetings (iterations)")
    p.add_argument("--transports", default="none,files,board")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    for rep in range(args.repeat):
        rows = [run(t, args.shards, args.work) for t in args.transports.split(",")]
        none = next((r["wall_ms_per_meeting"] for r in rows if r["transport"] == "none"), 0.0)
        for r in rows:
            cost = f", {r['wall_ms_per_meeting'] - none:.1f} ms over none" if r["transport"] != "none" else ""
            digests = ",".join(m[:8] for m in r["hot_rows_md5"])
            print(
                f"repetition {rep + 1}, {r['transport']:5s}: {r['wall_ms_per_meeting']:.1f} ms wall per meeting{cost}; "
                f"CPU of all processes {r['cpu_ms_per_meeting']:.1f} ms; hot rows {digests}",
                flush=True,
            )


if __name__ == "__main__":
    main()
