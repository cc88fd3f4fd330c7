#!/usr/bin/env python3
"""Acceptance on the real index: does safevenv install the most-used projects, as pip and uv do?

For each name of a list (default: top-packages.txt beside this script, the most-downloaded
projects on PyPI), in a scratch directory of its own with a fresh cache: `safevenv create`, then
`safevenv install NAME` into that environment under the default policy, from the default index
(the one pip is configured to use; docs/index.md). Records success, each refusal's rule, or the
error, and prints a summary table. With `--compare`, every name safevenv did not install is also
tried with pip and with uv (installed into a throwaway environment), to tell a false refusal (pip
and uv install it) from an intended one.

Run by hand; it needs the network and is not part of CI:
    python3 scripts/acceptance/run.py [--limit N] [--start N] [--names a,b] [--compare]
                                      [--python PATH] [--json FILE] [--timeout S]

`SAFEVENV_BENCH_BINARY=path` runs an already built binary instead of building the release one.
A full run of the list downloads some GB and took about half an hour here; `--limit 40` checks
the first 40.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
from _common import safevenv_binary, tools_env  # noqa: E402


def read_list(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


def last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])


def run(argv: list[str], timeout: float, env=None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as expired:
        return subprocess.CompletedProcess(argv, -1, expired.stdout or "", f"timed out after {timeout:.0f} s")


def try_safevenv(binary: Path, python: str, name: str, scratch: Path, timeout: float) -> dict:
    """One name in a fresh environment and cache: `ok`, `refused` (with the rules) or `error`."""
    cache, venv = scratch / "cache", scratch / "venv"
    start = time.perf_counter()
    created = run([str(binary), "--cache-dir", str(cache), "create", "--python", python, str(venv)], timeout)
    if created.returncode != 0:
        return {"name": name, "outcome": "error", "step": "create", "detail": last_lines(created.stderr)}
    done = run(
        [
            str(binary), "--cache-dir", str(cache), "install", "--python", str(venv / "bin" / "python"),
            "--lockfile", str(scratch / "pylock.toml"), "--format", "json", name,
        ],
        timeout,
    )
    seconds = time.perf_counter() - start
    report = None
    if done.stdout.strip():
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            report = None
    if done.returncode == 0 and report is not None:
        return {"name": name, "outcome": "ok", "installed": len(report.get("installed", [])), "seconds": seconds}
    if report is not None and report.get("refusals"):
        refusals = [
            {
                "rule": refusal.get("rule"),
                "package": refusal.get("package"),
                "version": refusal.get("version"),
                "message": refusal.get("message"),
            }
            for refusal in report["refusals"]
        ]
        return {"name": name, "outcome": "refused", "refusals": refusals, "seconds": seconds}
    return {"name": name, "outcome": "error", "step": "install", "detail": last_lines(done.stderr), "seconds": seconds}


def try_other(tools: Path, python: str, name: str, scratch: Path, timeout: float) -> dict:
    """Whether pip and uv install `name` for the same interpreter, each into a fresh environment."""
    verdicts = {}
    pip_venv = scratch / "pip-venv"
    made = run([python, "-m", "venv", str(pip_venv)], timeout)
    if made.returncode != 0:
        return {"pip": f"not tried: {last_lines(made.stderr, 1)}", "uv": "not tried"}
    pip = run(
        [str(pip_venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-cache-dir", "--only-binary", ":all:", name],
        timeout,
    )
    verdicts["pip"] = "ok" if pip.returncode == 0 else f"failed: {last_lines(pip.stderr, 1)}"
    uv_venv = scratch / "uv-venv"
    made = run([python, "-m", "venv", "--without-pip", str(uv_venv)], timeout)
    if made.returncode != 0:
        verdicts["uv"] = f"not tried: {last_lines(made.stderr, 1)}"
        return verdicts
    env = dict(os.environ, UV_CACHE_DIR=str(scratch / "uv-cache"))
    uv = run(
        [str(tools / "uv"), "pip", "install", "-q", "--python", str(uv_venv / "bin" / "python"),
         "--only-binary", ":all:", name],
        timeout,
        env=env,
    )
    verdicts["uv"] = "ok" if uv.returncode == 0 else f"failed: {last_lines(uv.stderr, 1)}"
    return verdicts


def summary(results: list[dict]) -> None:
    print(f"\n{'name':<36} {'outcome':<8} rule / detail")
    for result in results:
        if result["outcome"] == "ok":
            detail = f"{result['installed']} installed in {result['seconds']:.1f} s"
        elif result["outcome"] == "refused":
            detail = "; ".join(
                f"{r['rule']} ({r['package']} {r['version']}): {r['message']}" for r in result["refusals"]
            )
        else:
            detail = f"{result['step']}: {result['detail']}"
        if "others" in result:
            detail += f"  [pip {result['others']['pip']}; uv {result['others']['uv']}]"
        print(f"{result['name']:<36} {result['outcome']:<8} {detail}")
    outcomes = Counter(result["outcome"] for result in results)
    rules = Counter(
        refusal["rule"] for result in results if result["outcome"] == "refused" for refusal in result["refusals"]
    )
    print(f"\n{len(results)} names: " + ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())))
    for rule, count in rules.most_common():
        print(f"  refused by {rule}: {count}")
    false_refusals = [
        result["name"]
        for result in results
        if result["outcome"] != "ok" and result.get("others", {}).get("pip") == "ok"
        and result.get("others", {}).get("uv") == "ok"
    ]
    if any("others" in result for result in results):
        print(f"not installed by safevenv but by pip and uv: {len(false_refusals)} {false_refusals}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", type=Path, default=HERE / "top-packages.txt")
    parser.add_argument("--names", help="comma-separated names instead of the list")
    parser.add_argument("--start", type=int, default=0, help="skip the first N names of the list")
    parser.add_argument("--limit", type=int, help="at most N names")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to install for")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per command")
    parser.add_argument("--compare", action="store_true", help="try pip and uv on what safevenv did not install")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    names = args.names.split(",") if args.names else read_list(args.list)[args.start:]
    if args.limit is not None:
        names = names[: args.limit]
    python = os.path.realpath(args.python)
    binary = safevenv_binary()
    tools = tools_env(["uv"], python) if args.compare else None
    results = []
    for index, name in enumerate(names, 1):
        scratch = Path(tempfile.mkdtemp(prefix="safevenv-acceptance-"))
        try:
            result = try_safevenv(binary, python, name, scratch, args.timeout)
            if tools is not None and result["outcome"] != "ok":
                result["others"] = try_other(tools, python, name, scratch, args.timeout)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        results.append(result)
        rules = ",".join(sorted({r["rule"] for r in result.get("refusals", [])}))
        print(f"[{index}/{len(names)}] {name}: {result['outcome']} {rules}", flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    summary(results)


if __name__ == "__main__":
    main()
