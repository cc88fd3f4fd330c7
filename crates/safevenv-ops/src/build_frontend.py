# safevenv's PEP 517 frontend: calls one hook of a build backend, in the build environment's
# interpreter, inside the sandbox (as pyproject-hooks' in-process script does).
#
# Input (standard input, JSON): {"backend": "pkg.mod:obj", "backend_path": [...],
#   "hook": "build_wheel", "args": [...], "result": "/scratch/out/result.json"}
# Output: the file `result` with {"return": <the hook's value>} or {"missing": true} when the
# backend does not define an optional hook. Everything the backend prints goes to standard error.
import importlib
import json
import os
import sys
import traceback

OPTIONAL = {
    "get_requires_for_build_wheel": [],
    "get_requires_for_build_editable": [],
    "prepare_metadata_for_build_wheel": None,
    "prepare_metadata_for_build_editable": None,
}


def load_backend(spec, backend_path):
    # PEP 517: `backend-path` entries come first, and the backend must be loaded from them
    # when they are given.
    for entry in reversed(backend_path):
        sys.path.insert(0, os.path.abspath(entry))
    module_name, _, attributes = spec.partition(":")
    backend = importlib.import_module(module_name)
    for attribute in filter(None, attributes.split(".")):
        backend = getattr(backend, attribute)
    return backend


def main():
    request = json.load(sys.stdin)
    # The backend's output must not mix with ours: it goes to standard error.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    backend = load_backend(request["backend"], request.get("backend_path", []))
    hook = getattr(backend, request["hook"], None)
    if hook is None:
        if request["hook"] in OPTIONAL:
            result = {"missing": True, "return": OPTIONAL[request["hook"]]}
        else:
            result = {"missing": True}
    else:
        result = {"return": hook(*request.get("args", []))}
    with open(request["result"], "w", encoding="utf-8") as out:
        json.dump(result, out)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
