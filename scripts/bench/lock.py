#!/usr/bin/env python3
"""Times `safevenv lock` side by side with `uv pip compile --generate-hashes` and `pip-compile
--generate-hashes` (pip-tools), with cold and with warm caches, on four requirement sets.

Run by hand (it needs the network; it installs uv and pip-tools from the default index into a
throwaway environment):
    python3 scripts/bench/lock.py [--runs N] [--python PATH] [--sets small,web,data,large]

Every tool reads the default index (the one pip is configured with): no index is passed, each
finds it the usual way. All resolve for one interpreter: `--python` for safevenv and uv, while
pip-compile resolves for the interpreter it runs in, the tools environment's, which is a venv of
that same interpreter. Cold runs get a fresh cache directory each time (`SAFEVENV_CACHE_DIR`,
`UV_CACHE_DIR`, pip-compile's `--cache-dir` and pip's `PIP_CACHE_DIR`); warm runs share one that an
untimed first run fills.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RunFailed, fresh_dir, print_ratios, safevenv_binary, time_command, tools_env  # noqa: E402

SETS = {
    "small": ["flask", "requests"],
    "web": [
        "django", "celery", "redis", "psycopg[binary]", "djangorestframework", "boto3", "sentry-sdk",
        "pydantic",
    ],
    "data": ["numpy", "pandas", "scipy", "scikit-learn", "matplotlib"],
    "large": ["jupyterlab", "dask[complete]"],
}

BASELINE = "uv pip compile"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)")


def interpreter_version(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements output, by normalized name."""
    found = {}
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", default=sys.executable, help="interpreter all three resolve for")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated names of the sets to run")
    args = parser.parse_args()
    names = [name for name in args.sets.split(",") if name]
    unknown = [name for name in names if name not in SETS]
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; known: {', '.join(SETS)}")

    python = os.path.realpath(args.python)
    safevenv = safevenv_binary()
    tools = tools_env(["uv", "pip-tools"], python=python)
    tools_python = str(tools / "python")
    work = Path(tempfile.mkdtemp(prefix="safevenv-bench-lock-"))
    uv_version = subprocess.run([str(tools / "uv"), "--version"], capture_output=True, text=True).stdout.strip()
    pip_compile_version = subprocess.run(
        [str(tools / "pip-compile"), "--version"], capture_output=True, text=True,
    ).stdout.strip()

    print(f"lock, {args.runs} runs each; interpreter {python} ({interpreter_version(python)})")
    print(f"  safevenv and uv resolve for it with --python; pip-compile runs in {tools_python} "
          f"({interpreter_version(tools_python)}), a venv of the same interpreter")
    print(f"  {uv_version}; {pip_compile_version}")
    print("  cold: a fresh cache directory for every run; warm: one cache filled by an untimed first run")

    failures = []
    for name in names:
        requirements = work / f"{name}.in"
        requirements.write_text("\n".join(SETS[name]) + "\n")
        outputs = {}
        for mode in ("cold", "warm"):
            print(f"\n{name} ({', '.join(SETS[name])}), {mode} cache")
            results = {}
            for label, argv_of, env_of in tool_commands(safevenv, tools, python, requirements, work):
                cache = work / "caches" / f"{name}-{mode}-{label.split()[0]}"
                output = work / f"{name}-{label.split()[0]}.txt"
                outputs[label] = output
                fresh_dir(cache)

                def setup(cache=cache, output=output, mode=mode):
                    # An existing output file would pin versions for every tool: start without.
                    output.unlink(missing_ok=True)
                    if mode == "cold":
                        fresh_dir(cache)

                try:
                    results[label] = time_command(
                        label, lambda argv_of=argv_of, output=output, cache=cache: argv_of(output, cache),
                        args.runs, setup=setup, warmup=0 if mode == "cold" else 1, env=env_of(cache),
                    )
                except RunFailed as failure:
                    print(f"  {label:<28} FAILED: exit code {failure.returncode}")
                    print("    " + failure.output.strip().replace("\n", "\n    "))
                    failures.append((name, mode, label, failure))
            if BASELINE in results and len(results) > 1:
                print_ratios(results, BASELINE)
        compare_pins(outputs)

    if failures:
        print("\nfailures:")
        for name, mode, label, failure in failures:
            print(f"- {name}, {mode} cache, {label}: exit code {failure.returncode}")
            print(f"  command: {' '.join(failure.argv)}")
            print("  " + failure.output.strip().replace("\n", "\n  "))
    print(f"\n(work files in {work})")


def tool_commands(safevenv: Path, tools: Path, python: str, requirements: Path, work: Path):
    """(label, argv from output and cache, environment from cache) for each tool timed."""
    base = dict(os.environ)

    def with_env(**extra):
        return lambda cache: {**base, **{key: value.format(cache=cache) for key, value in extra.items()}}

    return [
        (
            "safevenv lock",
            lambda output, cache: [
                str(safevenv), "lock", "-q", "--python", python, "-r", str(requirements),
                "--format", "requirements.txt", "-o", str(output),
            ],
            with_env(SAFEVENV_CACHE_DIR="{cache}"),
        ),
        (
            BASELINE,
            lambda output, cache: [
                str(tools / "uv"), "pip", "compile", "-q", "--generate-hashes", "--python", python,
                "-o", str(output), str(requirements),
            ],
            with_env(UV_CACHE_DIR="{cache}"),
        ),
        (
            "pip-compile",
            lambda output, cache: [
                str(tools / "pip-compile"), "-q", "--generate-hashes", "--cache-dir", str(cache / "pip-tools"),
                "-o", str(output), str(requirements),
            ],
            # pip's own HTTP and wheel cache, which pip-compile uses too.
            with_env(PIP_CACHE_DIR="{cache}/pip"),
        ),
    ]


def compare_pins(outputs: dict[str, Path]) -> None:
    """How many distributions each tool pinned, and where they differ from the baseline."""
    found = {label: pins(path) for label, path in outputs.items()}
    print("  pinned: " + ", ".join(f"{label} {len(pinned)}" for label, pinned in found.items()))
    baseline = found.get(BASELINE, {})
    for label, pinned in found.items():
        if label == BASELINE or not pinned or not baseline:
            continue
        differ = [
            f"{project} {pinned.get(project, '-')} (uv {baseline.get(project, '-')})"
            for project in sorted(set(pinned) | set(baseline))
            if pinned.get(project) != baseline.get(project)
        ]
        if differ:
            print(f"  {label} differs from {BASELINE}: {'; '.join(differ)}")


if __name__ == "__main__":
    main()
