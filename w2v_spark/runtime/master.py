"""A Spark master URL, parsed once: where the tasks run, how many at once, how often they retry.

The job reads the session's ``spark.master`` once and hands this record to whatever needs it,
instead of matching the URL's text in each place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from w2v_spark.runtime import limits

_LOCAL = re.compile(r"local(?:\[\s*(\*|\d+)\s*(?:,\s*(\d+)\s*)?\])?")
_LOCAL_CLUSTER = re.compile(r"local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*\d+\s*\]")


@dataclass(frozen=True)
class Master:
    """What the job needs to know of a master URL (``local[4]``, ``local-cluster[2,1,1024]``,
    ``spark://host:7077``, ``yarn``, ``k8s://...``; "" when unknown, e.g. over Spark Connect)."""

    url: str
    local: bool = False  # every task runs on this machine (local and local-cluster modes)
    one_jvm: bool = False  # local[N]: the driver's JVM runs the tasks
    slots: int | None = None  # tasks that run at once, where the URL says (local modes)
    task_retries: int | None = None  # local[N,F] retries a task F − 1 times, local[N] never; else Spark's setting

    @classmethod
    def parse(cls, url: str) -> Master:
        """``local[*]`` counts the CPUs this process may use (affinity, cgroup quota), not the
        machine's; bare ``local`` is one thread, as in Spark."""
        url = url.strip()
        if m := _LOCAL.fullmatch(url):
            slots = 1 if m.group(1) is None else limits.usable_cpus() if m.group(1) == "*" else int(m.group(1))
            retries = int(m.group(2)) - 1 if m.group(2) else 0
            return cls(url, local=True, one_jvm=True, slots=slots, task_retries=retries)
        if m := _LOCAL_CLUSTER.fullmatch(url):
            return cls(url, local=True, slots=int(m.group(1)) * int(m.group(2)))
        return cls(url)

    @property
    def container_managed(self) -> bool:
        """YARN or Kubernetes: executors live in containers whose non-heap room must hold Python."""
        return self.url.startswith(("yarn", "k8s"))
