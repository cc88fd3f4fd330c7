#!/usr/bin/env python3
"""Times installing a locked set: `safevenv sync` side by side with `uv pip sync --require-hashes`
and `pip install --require-hashes --no-deps`, cold cache, warm cache and no-op, with peak RSS.

Run by hand (it needs the network; it installs uv from the default index into a throwaway
environment):
    python3 scripts/bench/install.py [--runs N] [--python PATH] [--sets small,web,data,large]

Every tool installs the same artifacts: safevenv locks each set once (`safevenv lock`), and the
same lock exported as hashed requirements (`--format requirements.txt`) feeds uv and pip. Each
timed run installs into a fresh environment made untimed beforehand (pip's with pip in it, as it
needs). Cold runs get a fresh cache each time; warm runs share one that an untimed run filled;
no-op runs sync an environment that already holds the set. The runs interleave the tools, each run
starting with another one. Nothing is deleted until the end (old trees are moved aside): deleting
large trees slows down creating files for minutes on some file systems. After deleting large trees
yourself, pass `--settle 360`. The sets need several GB of free space in the temporary directory.

`SAFEVENV_BENCH_TOOLS` names the bin directory of an earlier run's throwaway environment to reuse.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import safevenv_binary, tools_env  # noqa: E402

SETS = {
    "small": ["flask", "requests"],
    "web": [
        "django", "celery", "redis", "psycopg[binary]", "djangorestframework", "boto3", "sentry-sdk",
        "pydantic",
    ],
    "data": ["numpy", "pandas", "scipy", "scikit-learn", "matplotlib"],
    "large": ["jupyterlab", "dask[complete]"],
}


def peak_rss(argv: list[str], env: dict) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one run, measured in a wrapper process of its own."""
    wrapper = (
        "import resource, subprocess, sys, time; s = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
        "e = time.perf_counter() - s; "
        "sys.stderr.write(r.stderr) if r.returncode else None; "
        "print(e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); sys.exit(r.returncode)"
    )
    done = subprocess.run([sys.executable, "-c", wrapper, *argv], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"`{' '.join(argv)}` failed ({done.returncode}):\n{done.stderr}")
    seconds, rss = done.stdout.split()
    return float(seconds), float(rss)


def settle(seconds: float) -> None:
    """Flushes the file system and waits, so that inodes freed before the bench no longer slow it
    (ext4 without a journal skips inodes freed in the last minute, or six while their inode table
    block is dirty, scanning past each one when it allocates)."""
    os.sync()
    if seconds:
        print(f"  (settling {seconds:.0f} s)", flush=True)
        time.sleep(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--sets", default="small,web,data,large")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds to wait before starting, after deleting large trees (360 is safe)")
    args = parser.parse_args()

    python = os.path.realpath(args.python)
    safevenv = str(safevenv_binary())
    uv = str(tools_env(["uv"], python) / "uv")
    work = Path(tempfile.mkdtemp(prefix="safevenv-bench-install-"))
    base_env = dict(os.environ)
    trash = work / "trash"
    trash.mkdir()
    print(f"install, {args.runs} runs each, interpreter {python}; work in {work}")

    settle(args.settle)
    for set_number, name in enumerate(args.sets.split(",")):
        requirements = SETS[name]
        lock = work / f"{name}.pylock.toml"
        hashed = work / f"{name}.txt"
        lock_env = dict(base_env, SAFEVENV_CACHE_DIR=str(work / "lock-cache"))
        subprocess.run([safevenv, "lock", "-q", "--python", python, "-o", str(lock), *requirements],
                       env=lock_env, check=True, cwd=work)
        subprocess.run([safevenv, "lock", "-q", "--python", python, "--format", "requirements.txt",
                        "-o", str(hashed), *requirements], env=lock_env, check=True, cwd=work)
        count = sum(1 for line in lock.read_text().splitlines() if line == "[[packages]]")
        print(f"\n== {name}: {count} distributions")

        def discard(path: Path) -> None:
            # Deleting a large tree makes creating inodes slower for minutes afterwards on some file
            # systems (see `settle`), which would slow down whichever tool runs next: trees are
            # moved aside and deleted when the bench is done.
            if path.exists():
                path.rename(trash / f"{len(list(trash.iterdir()))}")

        def fresh_env(tool: str, make: list[str]) -> Path:
            env_dir = work / f"env-{tool.split()[0]}"
            discard(env_dir)
            subprocess.run([*make, str(env_dir)], check=True)
            return env_dir

        def env_of(tool: str) -> Path:
            return work / f"env-{tool.split()[0]}"

        tools = {
            "safevenv sync": ([safevenv, "create", "-q", "--python", python],
                              lambda env: [safevenv, "sync", "-q", "--python", str(env / "bin" / "python"),
                                           str(lock)], "SAFEVENV_CACHE_DIR"),
            "uv pip sync": ([uv, "venv", "-q", "--python", python],
                            lambda env: [uv, "pip", "sync", "-q", "--require-hashes", "--python",
                                         str(env / "bin" / "python"), str(hashed)], "UV_CACHE_DIR"),
            "pip install": ([python, "-m", "venv"],
                            lambda env: [str(env / "bin" / "pip"), "install", "-q", "--require-hashes", "--no-deps",
                                         "--disable-pip-version-check", "-r", str(hashed)], "PIP_CACHE_DIR"),
        }
        names = list(tools)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for mode in ("cold", "warm", "no-op"):
            for tool in names:
                make, command, cache_var = tools[tool]
                results[(tool, mode)] = []
                warm_cache = work / f"cache-{tool.split()[0]}-{name}"
                if mode == "warm":  # fill, untimed
                    peak_rss(command(fresh_env(tool, make)), dict(base_env, **{cache_var: str(warm_cache)}))
                if mode == "no-op":
                    peak_rss(command(fresh_env(tool, make)), dict(base_env, **{cache_var: str(warm_cache)}))
            # Runs interleave the tools, each run starting with another one, so that no tool always
            # meets the file system in the state the previous one left it.
            for i in range(args.runs):
                shift = (set_number + i) % len(names)
                for tool in names[shift:] + names[:shift]:
                    make, command, cache_var = tools[tool]
                    cache = work / f"cache-{tool.split()[0]}-{name}"
                    if mode == "cold":
                        cache = work / f"cache-cold-{tool.split()[0]}"
                        discard(cache)
                    env_dir = env_of(tool) if mode == "no-op" else fresh_env(tool, make)
                    results[(tool, mode)].append(peak_rss(command(env_dir), dict(base_env, **{cache_var: str(cache)})))
            for tool in names:
                runs = results[(tool, mode)]
                seconds = statistics.median(run[0] for run in runs)
                rss = max(run[1] for run in runs)
                print(f"  {tool:<14} {mode:<6} median {seconds * 1000:8.1f} ms   peak RSS {rss:7.1f} MiB"
                      f"   runs {', '.join(f'{run[0] * 1000:.0f}' for run in runs)}")
        print("  ratios vs uv (median; below 1.0 is faster than uv):")
        for mode in ("cold", "warm", "no-op"):
            base = statistics.median(run[0] for run in results[("uv pip sync", mode)])
            line = "   ".join(
                f"{tool} {statistics.median(run[0] for run in results[(tool, mode)]) / base:5.2f}x"
                for tool in tools
            )
            print(f"    {mode:<6} {line}")
    print(f"\ndeleting {work}", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
