"""Where a run's wall time goes between Spark jobs: a summary of Spark's event log.

    w2v-spark train --input tokens.txt --output /tmp/run --overwrite --master 'local[2]' \\
        --conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file:///tmp/ev \\
        --conf spark.eventLog.compress=false
    python bench/job_timeline.py /tmp/ev

One line per Spark job, in order: when it was submitted (seconds after the application
started), the driver's gap since the previous job ended, the job's wall time, the wait from
submission to its first task's launch, its tasks and their summed run time (Spark's
"Executor Run Time", which includes the Python worker's time), and the call site. The totals
at the end split the jobs' span into time inside jobs and time between them, and the jobs'
wall time into the part their tasks filled (summed run time / task slots) and the rest. What
this measured is in docs/benchmarks.md#spark-overhead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def latest_log(directory: Path) -> Path:
    """The newest event log under ``directory`` (a plain file, or Spark 4's rolling directory)."""
    logs = [p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("appstatus")]
    if not logs:
        raise SystemExit(f"no event log under {directory}: run with --conf spark.eventLog.enabled=true")
    newest = max(logs, key=lambda p: p.stat().st_mtime)
    if newest.suffix in (".zstd", ".lz4", ".snappy", ".lzf"):
        raise SystemExit(f"{newest} is compressed: rerun with --conf spark.eventLog.compress=false")
    return newest


def read_jobs(path: Path) -> tuple[int, list[dict[str, Any]]]:
    """(application start in ms, jobs with their tasks' (launch, finish, run ms)) from an event log."""
    app_start, jobs, stage_job = 0, {}, {}
    with open(path) as fh:
        for line in fh:
            e = json.loads(line)
            kind = e["Event"]
            if kind == "SparkListenerApplicationStart":
                app_start = e["Timestamp"]
            elif kind == "SparkListenerJobStart":
                site = e.get("Properties", {}).get("callSite.short", "")
                jobs[e["Job ID"]] = {"id": e["Job ID"], "start": e["Submission Time"], "site": site, "tasks": []}
                stage_job.update({s: e["Job ID"] for s in e["Stage IDs"]})
            elif kind == "SparkListenerJobEnd":
                jobs[e["Job ID"]]["end"] = e["Completion Time"]
            elif kind == "SparkListenerTaskEnd" and e["Stage ID"] in stage_job:
                info, metrics = e["Task Info"], e.get("Task Metrics") or {}
                run = metrics.get("Executor Run Time", 0)
                jobs[stage_job[e["Stage ID"]]]["tasks"].append((info["Launch Time"], info["Finish Time"], run))
    return app_start, [j for _, j in sorted(jobs.items()) if j["tasks"] and "end" in j]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eventlog_dir", type=Path, help="spark.eventLog.dir of the run")
    parser.add_argument("--slots", type=int, default=2, help="task slots of the run (local[N]: N)")
    args = parser.parse_args()
    app_start, jobs = read_jobs(latest_log(args.eventlog_dir))
    between = inside = filled = 0.0
    previous_end = None
    for j in jobs:
        wall = (j["end"] - j["start"]) / 1000
        run = sum(t[2] for t in j["tasks"]) / 1000
        gap = (j["start"] - previous_end) / 1000 if previous_end is not None else 0.0
        launch = (min(t[0] for t in j["tasks"]) - j["start"]) / 1000
        between, inside, previous_end = between + gap, inside + wall, j["end"]
        filled += min(wall, run / min(args.slots, len(j["tasks"])))
        print(
            f"job {j['id']:3d} at {(j['start'] - app_start) / 1000:6.2f} s  gap {gap:5.2f}  wall {wall:5.2f}  "
            f"to first task {launch:4.2f}  tasks {len(j['tasks']):3d}  run {run:6.2f}  {j['site'][:50]}"
        )
    print(
        f"{len(jobs)} jobs: {inside:.2f} s inside jobs ({filled:.2f} s filled by their tasks), "
        f"{between:.2f} s between them"
    )


if __name__ == "__main__":
    main()
