"""Command overhead of ``hpo tune`` and ``hpo promote``: Prefect's ephemeral server (before) beside
a running local server (``hpo server start``, after), interleaved in one run.

Each repeat runs, in both modes, a 5-trial ``hpo tune branin`` on a new study and an ``hpo
promote`` of that study (one re-evaluation seed), as a new process, the way a person types them.
A command's *own work* is its flow run (from "Beginning flow run" to "Finished in state" in its
log lines); *overhead* is the rest of its wall time: interpreter and imports, the ephemeral
server's start and stop, flow-run creation. The local server is started (in a temporary data
directory) before the first repeat and stopped at the end; its start is reported once.

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python benchmarks/command_overhead.py

``--baseline /path/to/other-venv/bin/python`` adds the same commands run by another install (an
older commit) against the same local server, interleaved with the others.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

_STAMP = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \| \w+ +\| Flow run '[^']+' - (.*)$")


def flow_seconds(output: str) -> float:
    """Seconds from "Beginning flow run" to "Finished in state" of the command's flow run."""
    begin = end = None
    for line in output.splitlines():
        match = _STAMP.match(line.strip())
        if not match:
            continue
        at = datetime.strptime(match.group(1), "%H:%M:%S.%f")
        if match.group(2).startswith("Beginning flow run") and begin is None:
            begin = at
        elif match.group(2).startswith("Finished in state"):
            end = at
    if begin is None or end is None:
        raise RuntimeError("no flow-run log lines in the command's output:\n" + output[-2000:])
    return (end - begin).total_seconds()


def run(env: dict[str, str], *args: str, python: str = sys.executable) -> tuple[float, float]:
    """Wall seconds and flow-run seconds of one ``hpo`` command run by ``python``."""
    start = time.perf_counter()
    proc = subprocess.run(
        [python, "-m", "hpo", *args],
        env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"hpo {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return wall, flow_seconds(proc.stdout + proc.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--baseline",
        metavar="PYTHON",
        help="also run the commands with this interpreter (an older checkout installed in "
        "its own venv) against the same local server, interleaved: before/after in one run",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hpo-overhead-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    base.update(
        {
            "HPO_SERVER_DIR": str(tmp / "server"),
            "HPO_ARTIFACTS_DIR": str(tmp / "artifacts"),
            "PREFECT_HOME": str(tmp / "client-home"),
            "HPO_SERVER_AUTOSTART": "false",
        }
    )
    # mode -> (interpreter, environment)
    modes = {
        # A server directory with no server in it: Prefect's ephemeral server, as before.
        "ephemeral": (sys.executable, {**base, "HPO_SERVER_DIR": str(tmp / "none")}),
        "local server": (sys.executable, base),
    }
    if args.baseline:
        modes["local server, baseline"] = (args.baseline, base)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hpo", "server", "start"], env=base, cwd=tmp, check=True)
    server_start = time.perf_counter() - start
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for i in range(args.repeat):
            for mode, (python, env) in modes.items():
                study = f"overhead-{uuid.uuid4().hex[:8]}"
                tune = run(env, "tune", "branin", "--n-trials", "5", "--study", study,
                           "--no-progress", python=python)  # fmt: skip
                promote = run(env, "promote", study, "--pipeline", f"overhead-{i}",
                              "--reeval-seeds", "1", python=python)  # fmt: skip
                results.setdefault((mode, "tune"), []).append(tune)
                results.setdefault((mode, "promote"), []).append(promote)
                print(
                    f"repeat {i} {mode}: tune {tune[0]:.1f} s (flow {tune[1]:.1f} s), "
                    f"promote {promote[0]:.1f} s (flow {promote[1]:.1f} s)",
                    flush=True,
                )
    finally:
        subprocess.run([sys.executable, "-m", "hpo", "server", "stop"], env=base, cwd=tmp)
    print(f"\nlocal server start (first, migrations included): {server_start:.1f} s")
    print(f"medians of {args.repeat} runs:")
    print("| command | server | wall (s) | flow run (s) | overhead (s) |")
    print("|---|---|---:|---:|---:|")
    for command in ("tune", "promote"):
        for mode in modes:
            rows = results[(mode, command)]
            wall = statistics.median(r[0] for r in rows)
            flow = statistics.median(r[1] for r in rows)
            over = statistics.median(r[0] - r[1] for r in rows)
            print(f"| `hpo {command}` | {mode} | {wall:.1f} | {flow:.1f} | {over:.1f} |")


if __name__ == "__main__":
    main()
