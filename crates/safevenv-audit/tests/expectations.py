"""Compute the advisory ids expected by tests/offline.rs, independently of the Rust matcher.

Run once with the machine's python3 (PyYAML, and `packaging` as vendored by pip):
    python3 crates/safevenv-audit/tests/expectations.py ../shared/vectors/advisories/pypa-advisory-database-2024-10-10.tar.gz
It prints, for each (package, version) pair, the ids of the affecting advisories after merging
records that share an id or alias, each group named by its PYSEC id, else GHSA id, else the
smallest id. Withdrawn records and GIT ranges are ignored; ECOSYSTEM ranges follow the OSV
schema's evaluation (events sorted, "0" lowest); explicit `versions` are compared as PEP 440.
"""

import sys
import tarfile

import yaml
from pip._vendor.packaging.utils import canonicalize_name
from pip._vendor.packaging.version import InvalidVersion, Version

PAIRS = [
    ("jinja2", "2.4.1"),
    ("pyyaml", "5.3"),
    ("flask", "0.5"),
    ("requests", "2.31.0"),
    ("requests", "2.19.1"),
    ("django", "3.2.0"),
    ("django", "4.2.16"),
    ("urllib3", "1.26.4"),
    ("cryptography", "3.2"),
    ("lxml", "4.6.2"),
    ("pillow", "8.0.0"),
    ("numpy", "1.21.0"),
    ("py", "1.11.0"),
    ("aiohttp", "3.8.0"),
    ("setuptools", "65.5.0"),
    ("certifi", "2022.12.7"),
    ("idna", "3.6"),
    ("paramiko", "2.4.0"),
    ("tornado", "6.3.2"),
    ("twisted", "22.4.0"),
    ("werkzeug", "2.2.2"),
    ("pip", "19.1"),
    ("ansible", "2.9.0"),
    ("mlflow", "0.4.0"),
    ("distributed", "2021.9.0"),
    ("zope", "4.5"),
    ("zope", "4.6"),
    ("zope", "5.2"),
    ("zope", "5.2.1"),
    ("parlai", "1.0.0"),
    ("Jinja2", "2.11.3"),
    ("no-such-package", "1.0"),
]


def version(text):
    try:
        return Version(text)
    except InvalidVersion:
        return None


def in_range(v, events):
    def key(event):
        (kind, text), = event.items()
        return (Version("0") if text == "0" else Version(text), kind != "introduced")

    limits = [Version(e["limit"]) for e in events if "limit" in e and e["limit"] != "*"]
    if limits and all(v >= limit for limit in limits):
        return False
    affected = False
    for event in sorted(events, key=key):
        (kind, text), = event.items()
        bound = Version("0") if text == "0" else Version(text)
        if kind == "introduced" and v >= bound:
            affected = True
        elif kind == "fixed" and v >= bound:
            affected = False
        elif kind == "last_affected" and v > bound:
            affected = False
    return affected


def affects(record, name, v):
    for affected in record.get("affected", []):
        package = affected.get("package", {})
        if package.get("ecosystem") != "PyPI" or canonicalize_name(package.get("name", "")) != name:
            continue
        if any(version(text) == v for text in affected.get("versions", []) if version(text)):
            return True
        for rng in affected.get("ranges", []):
            if rng.get("type") == "ECOSYSTEM" and in_range(v, rng["events"]):
                return True
    return False


def primary(ids):
    return min(ids, key=lambda i: (not i.startswith("PYSEC-"), not i.startswith("GHSA-"), i))


def main(path):
    records = []
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith((".yaml", ".yml")):
                records.append(yaml.safe_load(tar.extractfile(member).read().decode()))
    records = [r for r in records if not r.get("withdrawn")]
    for name, text in PAIRS:
        v = Version(text)
        hits = [r for r in records if affects(r, canonicalize_name(name), v)]
        groups = []
        for record in hits:
            ids = {record["id"], *record.get("aliases", [])}
            own = {record["id"]}
            for group in [g for g in groups if g[0] & ids]:
                groups.remove(group)
                ids |= group[0]
                own |= group[1]
            groups.append((ids, own))
        print(f'("{name}", "{text}", &{sorted(primary(own) for _, own in groups)!r}),'.replace("'", '"'))


main(sys.argv[1])
