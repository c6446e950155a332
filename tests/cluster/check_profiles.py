"""Check that profiles/slurm-ci is profiles/slurm with only the changes a one-node test cluster needs.

    python tests/cluster/check_profiles.py profiles/slurm/config.yaml profiles/slurm-ci/config.yaml

Allowed differences (anything else fails, so the CI run exercises the profile users run):
- executor settings a cluster without slurmdbd needs: ``slurm-status-command``,
  ``slurm-init-seconds-before-status-checks``, ``slurm-keep-successful-logs``;
- ``mem_mb`` (smaller), threads (at most the test node's CPUs, never more than in profiles/slurm);
- ``gpu_model`` on a rule that asks for a GPU (the test cluster's GPU type).
Every GPU request (``gpu``) and partition must be the same. Prints the training rules (rules with a GPU).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

CI_ONLY_KEYS = {"slurm-status-command", "slurm-init-seconds-before-status-checks"}
CI_CHANGEABLE_KEYS = {"slurm-keep-successful-logs"}
CI_CHANGEABLE_RESOURCES = {"mem_mb"}
CI_ADDABLE_RESOURCES = {"gpu_model"}


def load(path: str | Path) -> dict[str, Any]:
    """The profile as a mapping."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return data


def training_rules(profile: dict[str, Any]) -> list[str]:
    """Rules the profile gives a GPU (``gpu`` >= 1 in set-resources)."""
    resources = profile.get("set-resources") or {}
    return sorted(rule for rule, res in resources.items() if int(res.get("gpu", 0)) >= 1)


def _compare_resources(where: str, ref: dict, ci: dict, gpu_rule: bool) -> list[str]:
    errors = []
    for key in sorted(set(ref) | set(ci)):
        if key in CI_CHANGEABLE_RESOURCES:
            if key not in ref or key not in ci:
                errors.append(f"{where}: {key} must be set in both profiles")
            continue
        if key in CI_ADDABLE_RESOURCES and key not in ref:
            if not gpu_rule:
                errors.append(f"{where}: {key} on a rule without a GPU")
            continue
        if ref.get(key) != ci.get(key):
            errors.append(f"{where}: {key} is {ci.get(key)!r} here, {ref.get(key)!r} in profiles/slurm")
    return errors


def compare(ref: dict[str, Any], ci: dict[str, Any], max_threads: int = 2) -> list[str]:
    """Every difference between the two profiles that is not allowed (empty: fine)."""
    errors = [f"{key}: missing in the CI profile" for key in sorted(CI_ONLY_KEYS - set(ci))]
    for key in sorted(set(ref) | set(ci)):
        if key in {"default-resources", "set-resources", "set-threads"} or key in CI_ONLY_KEYS:
            continue
        if key in CI_CHANGEABLE_KEYS:
            continue
        if ref.get(key) != ci.get(key):
            errors.append(f"{key}: {ci.get(key)!r} in the CI profile, {ref.get(key)!r} in profiles/slurm")

    ref_default, ci_default = ref.get("default-resources") or {}, ci.get("default-resources") or {}
    errors += _compare_resources("default-resources", ref_default, ci_default, gpu_rule=False)

    ref_threads, ci_threads = ref.get("set-threads") or {}, ci.get("set-threads") or {}
    if set(ref_threads) != set(ci_threads):
        errors.append(f"set-threads: rules {sorted(ref_threads)} vs {sorted(ci_threads)} in the CI profile")
    for rule in sorted(set(ref_threads) & set(ci_threads)):
        if not 1 <= ci_threads[rule] <= min(max_threads, ref_threads[rule]):
            limit = min(max_threads, ref_threads[rule])
            errors.append(f"set-threads {rule}: {ci_threads[rule]}, not in 1..{limit}")

    ref_res, ci_res = ref.get("set-resources") or {}, ci.get("set-resources") or {}
    if set(ref_res) != set(ci_res):
        errors.append(f"set-resources: rules {sorted(ref_res)} vs {sorted(ci_res)} in the CI profile")
    for rule in sorted(set(ref_res) & set(ci_res)):
        gpu_rule = int(ref_res[rule].get("gpu", 0)) >= 1
        errors += _compare_resources(f"set-resources {rule}", ref_res[rule], ci_res[rule], gpu_rule)
    if not training_rules(ref):
        errors.append("profiles/slurm gives no rule a GPU")
    return errors


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    ref, ci = load(argv[0]), load(argv[1])
    errors = compare(ref, ci)
    for error in errors:
        print(f"profile mismatch: {error}", file=sys.stderr)
    if errors:
        return 1
    rules = " ".join(training_rules(ref))
    print(f"profiles agree: {argv[1]} = {argv[0]} + CI settings; training rules: {rules}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
