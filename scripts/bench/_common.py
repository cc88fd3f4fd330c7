"""Shared helpers for the hand-run benchmarks in scripts/bench (not run in CI).

Competitors are installed with pip into a throwaway environment, from the index pip itself is
configured to use, so the numbers compare like with like on this machine.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def safevenv_binary() -> Path:
    """The release binary, built now; `SAFEVENV_BENCH_BINARY` names an already built one instead."""
    if os.environ.get("SAFEVENV_BENCH_BINARY"):
        return Path(os.environ["SAFEVENV_BENCH_BINARY"])
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    return ROOT / "target" / "release" / "safevenv"


def tools_env(packages: list[str], python: str = sys.executable) -> Path:
    """A throwaway venv of `python` with the competitors installed; returns its bin directory.

    `SAFEVENV_BENCH_TOOLS` names the bin directory of one made before, to reuse it."""
    if os.environ.get("SAFEVENV_BENCH_TOOLS"):
        return Path(os.environ["SAFEVENV_BENCH_TOOLS"])
    venv = Path(tempfile.mkdtemp(prefix="safevenv-bench-tools-"))
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
        check=True,
    )
    return venv / "bin"


def time_runs(label: str, command, runs: int, setup=None) -> list[float]:
    """Runs `command()` (returning an argv) `runs` times after one warm-up; `setup()` runs untimed before each."""
    times = []
    for i in range(runs + 1):
        if setup:
            setup()
        argv = command()
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        if i > 0:
            times.append(elapsed)
    print(f"  {label:<28} median {statistics.median(times) * 1000:8.1f} ms  (min {min(times) * 1000:.1f}, n={runs})")
    return times


def print_ratios(results: dict[str, list[float]], baseline: str) -> None:
    base = statistics.median(results[baseline])
    print(f"\nratios (median / {baseline}; below 1.0 is faster than {baseline}):")
    for label, times in results.items():
        print(f"  {label:<28} {statistics.median(times) / base:6.2f}x")


def fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)



class RunFailed(Exception):
    """A timed command exited with an error; carries its exit code and what it printed."""

    def __init__(self, argv: list[str], returncode: int, output: str):
        super().__init__(f"`{' '.join(argv)}` exited with {returncode}")
        self.argv = argv
        self.returncode = returncode
        self.output = output


def time_command(label: str, command, runs: int, setup=None, warmup: int = 1, env=None) -> list[float]:
    """Like `time_runs`, but with `warmup` untimed runs (0 for cold-cache runs, where every run is
    a first run), an environment for the command, and a failure raised as `RunFailed` carrying the
    command's output, so that the caller can report it and go on."""
    times = []
    for i in range(warmup + runs):
        if setup:
            setup()
        argv = command()
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RunFailed(argv, done.returncode, done.stdout)
        if i >= warmup:
            times.append(elapsed)
    print(f"  {label:<28} median {statistics.median(times) * 1000:8.1f} ms  (min {min(times) * 1000:.1f}, n={runs})")
    return times
