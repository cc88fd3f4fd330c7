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
no-op runs sync an environment that already holds the set. Each set starts with another tool, so that
no tool always runs first after the previous set's deletions.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--sets", default="small,web,data,large")
    args = parser.parse_args()

    python = os.path.realpath(args.python)
    safevenv = str(safevenv_binary())
    uv = str(tools_env(["uv"], python) / "uv")
    work = Path(tempfile.mkdtemp(prefix="safevenv-bench-install-"))
    base_env = dict(os.environ)
    print(f"install, {args.runs} runs each, interpreter {python}; work in {work}")

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

        env_dir = work / "env"

        def fresh_safevenv() -> None:
            shutil.rmtree(env_dir, ignore_errors=True)
            subprocess.run([safevenv, "create", "-q", "--python", python, str(env_dir)], check=True)

        def fresh_uv() -> None:
            shutil.rmtree(env_dir, ignore_errors=True)
            subprocess.run([uv, "venv", "-q", "--python", python, str(env_dir)], check=True)

        def fresh_pip() -> None:
            shutil.rmtree(env_dir, ignore_errors=True)
            subprocess.run([python, "-m", "venv", str(env_dir)], check=True)

        tools = {
            "safevenv sync": (fresh_safevenv, lambda: [safevenv, "sync", "-q", "--python",
                                                      str(env_dir / "bin" / "python"), str(lock)], "SAFEVENV_CACHE_DIR"),
            "uv pip sync": (fresh_uv, lambda: [uv, "pip", "sync", "-q", "--require-hashes", "--python",
                                               str(env_dir / "bin" / "python"), str(hashed)], "UV_CACHE_DIR"),
            "pip install": (fresh_pip, lambda: [str(env_dir / "bin" / "pip"), "install", "-q", "--require-hashes",
                                                "--no-deps", "--disable-pip-version-check", "-r", str(hashed)],
                            "PIP_CACHE_DIR"),
        }
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        # Each set starts with another tool: the first runs after the previous set's deletions,
        # which make creating inodes slower on some file systems (ext4 without a journal).
        names = list(tools)
        order = names[set_number % len(names):] + names[:set_number % len(names)]
        print(f"  tools in this order: {', '.join(order)}")
        for tool in order:
            fresh, command, cache_var = tools[tool]
            for mode in ("cold", "warm", "no-op"):
                runs = []
                warm_cache = work / f"cache-{tool.split()[0]}-{name}"
                if mode == "warm":
                    shutil.rmtree(warm_cache, ignore_errors=True)
                    fresh()
                    peak_rss(command(), dict(base_env, **{cache_var: str(warm_cache)}))  # fill, untimed
                for i in range(args.runs):
                    cache = work / f"cache-cold-{i}" if mode == "cold" else warm_cache
                    if mode == "cold":
                        shutil.rmtree(cache, ignore_errors=True)
                    if mode != "no-op" or i == 0:
                        fresh()
                        if mode == "no-op":
                            peak_rss(command(), dict(base_env, **{cache_var: str(cache)}))
                    runs.append(peak_rss(command(), dict(base_env, **{cache_var: str(cache)})))
                results[(tool, mode)] = runs
                seconds = statistics.median(run[0] for run in runs)
                rss = max(run[1] for run in runs)
                print(f"  {tool:<14} {mode:<6} median {seconds * 1000:8.1f} ms   peak RSS {rss:7.1f} MiB")
        print("  ratios vs uv (median; below 1.0 is faster than uv):")
        for mode in ("cold", "warm", "no-op"):
            base = statistics.median(run[0] for run in results[("uv pip sync", mode)])
            line = "   ".join(
                f"{tool} {statistics.median(run[0] for run in results[(tool, mode)]) / base:5.2f}x"
                for tool in tools
            )
            print(f"    {mode:<6} {line}")


if __name__ == "__main__":
    main()
