#!/usr/bin/env python3
"""Times `safevenv create` side by side with `uv venv` and `python -m venv --without-pip`.

Run by hand (it installs uv from the default index into a throwaway environment):
    python3 scripts/bench/create.py [--runs N] [--python PATH]
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import fresh_dir, print_ratios, safevenv_binary, time_runs, tools_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--python", default=sys.executable, help="interpreter all three use")
    args = parser.parse_args()

    python = os.path.realpath(args.python)
    safevenv = safevenv_binary()
    tools = tools_env(["uv"])
    work = Path(tempfile.mkdtemp(prefix="safevenv-bench-create-"))
    target = work / "env"
    os.environ["SAFEVENV_CACHE_DIR"] = str(work / "cache-safevenv")
    os.environ["UV_CACHE_DIR"] = str(work / "cache-uv")

    print(f"create, {args.runs} runs each, interpreter {python} (caches warm after the first run)")
    results = {
        "safevenv create": time_runs(
            "safevenv create", lambda: [str(safevenv), "create", "-q", "--python", python, str(target)],
            args.runs, setup=lambda: fresh_dir(target)),
        "uv venv": time_runs(
            "uv venv", lambda: [str(tools / "uv"), "venv", "-q", "--python", python, str(target)],
            args.runs, setup=lambda: fresh_dir(target)),
        "python -m venv --without-pip": time_runs(
            "python -m venv --without-pip", lambda: [python, "-m", "venv", "--without-pip", str(target)],
            args.runs, setup=lambda: fresh_dir(target)),
    }
    print_ratios(results, "uv venv")


if __name__ == "__main__":
    main()
