#!/usr/bin/env python3
"""Validates airlock.facts/v1 documents against docs/facts.schema.json (JSON Schema 2020-12).

usage: validate_facts.py SCHEMA AIRLOCK_NODE SYNTHETIC_DIR HWLOC_DIR

Checks (a) `airlock-node probe` of this very machine, (b) `probe --root` of every synthetic and
hwloc fixture tree, and (c) that deliberately broken documents are rejected, so the test can
fail. Exit status 0 only when all of that holds; needs python3-jsonschema (scripts/setup.sh).
"""
import copy
import json
import os
import subprocess
import sys

try:
    import jsonschema
except ImportError:
    print("validate_facts: python3-jsonschema is not installed (scripts/setup.sh installs it)")
    sys.exit(1)


def probe(binary, root=None):
    cmd = [binary, "probe", "--timeout", "60"] + (["--root", root] if root else [])
    out = subprocess.run(cmd, check=True, capture_output=True, timeout=120).stdout
    return json.loads(out)


def main():
    schema_path, binary, synthetic, hwloc = sys.argv[1:5]
    with open(schema_path) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)
    failures = 0

    def check(name, doc):
        nonlocal failures
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if errors:
            failures += 1
            print(f"FAIL {name}: {len(errors)} schema error(s)")
            for e in errors[:10]:
                path = "/".join(str(p) for p in e.absolute_path)
                print(f"  at /{path}: {e.message[:300]}")
        else:
            print(f"ok   {name}")

    this = probe(binary)
    check("this machine", this)
    trees = [os.path.join(synthetic, d) for d in sorted(os.listdir(synthetic))]
    trees += [os.path.join(hwloc, d) for d in sorted(os.listdir(hwloc))]
    trees = [t for t in trees if os.path.isdir(t)]
    if len(trees) < 12:
        print(f"FAIL expected the 7 synthetic and 5 hwloc trees, found {len(trees)}")
        failures += 1
    for t in trees:
        check(os.path.relpath(t, os.path.dirname(os.path.dirname(t))), probe(binary, t))

    # Broken documents must be rejected (the schema is not vacuous).
    h100 = probe(binary, os.path.join(synthetic, "h100-8x-ndr"))
    breakers = {
        "wrong schema string": lambda d: d.__setitem__("schema", "airlock.facts/v2"),
        "missing host": lambda d: d.pop("host"),
        "pci bdf not normalised": lambda d: d["pci"][0].__setitem__("bdf", "00000000:18:00.0"),
        "width as a string": lambda d: d["pci"][0]["link"].__setitem__("current_width", "16"),
        "error without reason": lambda d: d.__setitem__("rdma", {"error": 5}),
        "undocumented field": lambda d: d["gpus"][0].__setitem__("surprise", 1),
        "bad hop kind": lambda d: d["pci"][-1]["upstream_links"][0].__setitem__("kind", "pcie"),
        "nvidia-smi temperature as text": lambda d: d["gpus"][0]["nvidia_smi"].__setitem__("temperature_c", "31 C"),
    }
    for name, brk in breakers.items():
        doc = copy.deepcopy(h100)
        brk(doc)
        if validator.is_valid(doc):
            print(f"FAIL broken document accepted: {name}")
            failures += 1
        else:
            print(f"ok   rejected: {name}")
    if failures:
        print(f"validate_facts: {failures} failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
