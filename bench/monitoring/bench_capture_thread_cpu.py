"""Benchmark: the CPU the capture writer thread itself uses per request, inside a capturing server.

Throughput and whole-process CPU on a shared machine move by more than capture
costs; the writer thread's own CPU time does not. One ``cloudeploy serve``
worker (the serving benchmark's forest, 30 features) captures every request;
``wrk`` sends single-row JSON at concurrency 64 for ``--rounds`` cells of
``--duration`` s; per cell, the user+system CPU of the process and of each of
its Python threads (found by name with ``py-spy dump``, read from
``/proc/<pid>/task/<tid>/stat``) is divided by the requests answered.
The request path's share (``RawSpool.add``, ~1 µs) is not in the thread's figure.

    .venv/bin/python bench/monitoring/bench_capture_thread_cpu.py          # 3 cells of 6 s

Needs wrk and py-spy (``pip install py-spy``); Linux only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _serving_bench():
    spec = importlib.util.spec_from_file_location("serving_bench", HERE.parent / "serving" / "run.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _cpu_seconds(pid: int, tid: int | None = None) -> float:
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    import psutil

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if shutil.which("wrk") is None or not Path(spy).exists():
        print("needs wrk (apt-get install -y wrk) and py-spy (pip install py-spy)", file=sys.stderr)
        return 2
    serving = _serving_bench()
    with tempfile.TemporaryDirectory(prefix="cloudeploy-bench-thread-") as scratch:
        scratch = Path(scratch)
        package, _constant, _model_file, instance = serving._build_models(scratch)
        body = json.dumps({"instances": [instance]})
        script = scratch / "post.lua"
        script.write_text('wrk.method = "POST"\n' f"wrk.body = {json.dumps(body)}\n"
                          'wrk.headers["Content-Type"] = "application/json"\n')
        process, url = serving._cloudeploy(package, serving._free_port(), 1, ["--capture-dir", str(scratch / "cap")])
        try:
            serving._check("capture on", url, body)
            children = psutil.Process(process.pid).children(recursive=True)
            pid = children[0].pid if children else process.pid
            dump = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True).stdout
            threads = {name: int(tid, 0) for tid, name in
                       re.findall(r'Thread (\S+) \((?:idle|active)\): "([^"]+)"', dump)}
            print(f"load average {os.getloadavg()[0]:.1f}; threads {threads}")
            for _ in range(args.rounds):
                before = {name: _cpu_seconds(pid, tid) for name, tid in threads.items()}
                process_before = _cpu_seconds(pid)
                cell = serving._wrk(url, script, 64, args.duration)
                count = cell["requests"]
                per_thread = {name: (_cpu_seconds(pid, tid) - before[name]) / count * 1e6
                              for name, tid in threads.items()}
                print(f"{cell['requests_per_s']:.0f} req/s: process "
                      f"{(_cpu_seconds(pid) - process_before) / count * 1e6:.0f} µs CPU per request; "
                      + ", ".join(f"{name} {value:.1f} µs" for name, value in per_thread.items()))
        finally:
            serving._stop(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
