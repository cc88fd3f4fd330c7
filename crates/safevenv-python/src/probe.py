# Probe an interpreter: print one JSON object describing it on stdout.
#
# safevenv runs this with `-I -B -c` (isolated: no cwd, PYTHONPATH or user site on sys.path; no .pyc).
# It must stay parseable by old interpreters (3.6, 3.7) so that they can report their version and be
# refused cleanly: no f-strings, no walrus, no positional-only parameters.
# It must stay fast: import only what is needed, and never the `pip` package's own initialisation.
import json
import os
import sys

PLACEHOLDER = "/__safevenv_base__"


def main():
    info = {
        "schema": 2,
        "version_info": [
            sys.version_info[0],
            sys.version_info[1],
            sys.version_info[2],
            sys.version_info[3],
            sys.version_info[4],
        ],
    }
    if sys.version_info < (3, 8):
        info["supported"] = False
        return info
    info["supported"] = True

    import platform
    import sysconfig

    executable = sys.executable
    is_venv = sys.prefix != sys.base_prefix
    info.update(
        {
            "executable": executable,
            "base_executable": base_executable(is_venv),
            "prefix": sys.prefix,
            "base_prefix": sys.base_prefix,
            "base_exec_prefix": sys.base_exec_prefix,
            "is_venv": is_venv,
            "implementation_name": sys.implementation.name,
            "implementation_version": format_full_version(sys.implementation.version),
            "pointer_size": 64 if sys.maxsize > 2**32 else 32,
            "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
            "debug_enabled": hasattr(sys, "gettotalrefcount"),
            "scheme": scheme_paths(sysconfig),
            "install_paths": install_paths(sysconfig),
            # Installing or upgrading pip changes one of these directories' modification time, which
            # is how a cached probe notices that its `default_index_url` may be stale.
            "sys_path_dirs": [p for p in sys.path if p and os.path.isdir(p)],
            "markers": {
                "implementation_name": sys.implementation.name,
                "implementation_version": format_full_version(sys.implementation.version),
                "os_name": os.name,
                "platform_machine": platform.machine(),
                "platform_python_implementation": platform.python_implementation(),
                "platform_release": platform.release(),
                "platform_system": platform.system(),
                "platform_version": platform.version(),
                "python_full_version": platform.python_version(),
                "python_version": ".".join(platform.python_version_tuple()[:2]),
                "sys_platform": sys.platform,
            },
            "libc": libc(),
            "macos_version": platform.mac_ver()[0] if sys.platform == "darwin" else None,
            "default_index_url": default_index_url(),
        }
    )
    return info


def format_full_version(info):
    # PEP 508's own definition of `implementation_version`.
    version = "%d.%d.%d" % (info.major, info.minor, info.micro)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version


def base_executable(is_venv):
    # The interpreter a new environment should point at. 3.11+ computes `_base_executable` from a venv's
    # `home`; older versions leave it equal to the venv's own executable, so look in the base prefix.
    base = getattr(sys, "_base_executable", None) or sys.executable
    if is_venv and (base == sys.executable or not os.path.isfile(base)):
        if os.name == "nt":
            bindir, names = sys.base_exec_prefix, ["python.exe"]
        else:
            bindir = os.path.join(sys.base_exec_prefix, "bin")
            names = [
                "python%d.%d" % sys.version_info[:2],
                "python%d" % sys.version_info[0],
                "python",
                "pypy%d" % sys.version_info[0],
            ]
        for name in names:
            candidate = os.path.join(bindir, name)
            if os.path.isfile(candidate):
                return candidate
        return None
    return base


def scheme_paths(sysconfig):
    # The layout a new environment gets, relative to its root: the `venv` scheme on 3.11+, the
    # interpreter's plain prefix scheme before. Every base variable is the placeholder so the result
    # can be re-based onto any directory.
    names = sysconfig.get_scheme_names()
    if "venv" in names:
        scheme = "venv"
    elif os.name == "nt":
        scheme = "nt"
    else:
        scheme = "posix_prefix"
    base = {
        "base": PLACEHOLDER,
        "platbase": PLACEHOLDER,
        "installed_base": PLACEHOLDER,
        "installed_platbase": PLACEHOLDER,
        "userbase": PLACEHOLDER,
    }
    paths = sysconfig.get_paths(scheme=scheme, vars=base, expand=True)
    result = {}
    for key in ("purelib", "platlib", "scripts", "include", "data"):
        path = paths[key]
        if path == PLACEHOLDER:
            result[key] = ""
        elif path.startswith(PLACEHOLDER + "/") or path.startswith(PLACEHOLDER + "\\"):
            result[key] = path[len(PLACEHOLDER) + 1 :]
        else:
            result[key] = None
    return result


def install_paths(sysconfig):
    # Where this interpreter itself installs (for `--system`), with its default scheme: Debian's
    # `posix_local` (`/usr/local/...`), `posix_prefix` elsewhere, `venv` inside an environment.
    # `stdlib` holds PEP 668's `EXTERNALLY-MANAGED` marker.
    if hasattr(sysconfig, "get_default_scheme"):
        scheme = sysconfig.get_default_scheme()
    else:
        scheme = sysconfig._get_default_scheme()
    paths = sysconfig.get_paths()
    result = {"scheme": scheme}
    for key in ("stdlib", "purelib", "platlib", "scripts", "include", "data"):
        result[key] = paths[key]
    return result


def libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, OSError, ValueError):
        value = None
    if value:
        parts = value.split()
        if len(parts) == 2 and parts[0] == "glibc":
            return {"name": "glibc", "version": parts[1]}
    return musl()


def musl():
    # Like `packaging`: the ELF interpreter of this executable tells the libc; running musl's loader
    # prints its version on stderr.
    interpreter = elf_interpreter(sys.executable)
    if not interpreter or "musl" not in os.path.basename(interpreter):
        return None
    import subprocess

    proc = subprocess.run([interpreter], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in proc.stderr.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line.startswith("Version "):
            return {"name": "musl", "version": line[len("Version ") :]}
    return None


def elf_interpreter(path):
    import struct

    try:
        with open(path, "rb") as f:
            ident = f.read(16)
            if ident[:4] != b"\x7fELF":
                return None
            is64, endian = ident[4] == 2, "<" if ident[5] == 1 else ">"
            if is64:
                header = f.read(48)
                phoff, = struct.unpack(endian + "Q", header[16:24])
                phentsize, phnum = struct.unpack(endian + "HH", header[38:42])
            else:
                header = f.read(36)
                phoff, = struct.unpack(endian + "I", header[12:16])
                phentsize, phnum = struct.unpack(endian + "HH", header[26:30])
            for i in range(phnum):
                f.seek(phoff + i * phentsize)
                entry = f.read(phentsize)
                if is64:
                    ptype, = struct.unpack(endian + "I", entry[:4])
                    offset, = struct.unpack(endian + "Q", entry[8:16])
                    size, = struct.unpack(endian + "Q", entry[32:40])
                else:
                    ptype, offset = struct.unpack(endian + "II", entry[:8])
                    size, = struct.unpack(endian + "I", entry[16:20])
                if ptype == 3:  # PT_INTERP
                    f.seek(offset)
                    return f.read(size).rstrip(b"\0").decode("utf-8", "replace")
    except (OSError, struct.error):
        return None
    return None


def default_index_url():
    # Load only pip's `models/index.py` (it imports nothing but urllib): importing it through the
    # `pip` package would run pip's package initialisation, which doubles the probe's time.
    try:
        from importlib.machinery import PathFinder
        from importlib.util import module_from_spec, spec_from_file_location

        spec = PathFinder.find_spec("pip")
        if spec is None or not spec.submodule_search_locations:
            return None
        for location in spec.submodule_search_locations:
            path = os.path.join(location, "_internal", "models", "index.py")
            if os.path.isfile(path):
                module_spec = spec_from_file_location("_safevenv_pip_index", path)
                module = module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
                return module.PyPI.simple_url
    except Exception:
        return None
    return None


sys.stdout.write(json.dumps(main()))
