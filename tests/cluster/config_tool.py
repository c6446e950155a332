"""Small YAML helpers for tests/cluster/run_cluster_test.sh.

python config_tool.py get config/config.yaml finetune.lr        # prints 0.001 (a list: its first item)
python config_tool.py set config/config.yaml finetune.lr 0.002  # edits the file, prints old -> new
python config_tool.py gpu profiles/slurm-ci/config.yaml         # prints "finetune fake": the rules
                                                                # with a GPU, and their gpu_model
python config_tool.py only-lang config/config.yaml de           # one target language: the others'
                                                                # data, translations and methods go
"""

from __future__ import annotations

import sys
from typing import Any

import yaml


def get(data: dict, key: str) -> Any:
    """The value at a dotted key."""
    for part in key.split("."):
        data = data[part]
    return data


def set_value(data: dict, key: str, value: Any) -> Any:
    """Set the value at a dotted key; return the old one."""
    *parents, last = key.split(".")
    node = get(data, ".".join(parents)) if parents else data
    old, node[last] = node[last], value
    return old


def only_lang(config: dict, lang: str) -> list[str]:
    """Narrow ``config`` to the target language ``lang``: the other target languages leave
    ``target_langs``, their entries leave ``data.*`` and ``translate.file``, and the methods of their own
    (``to-es``, ``to-es@word2word``) leave ``methods``. Returns what it removed, as dotted keys."""
    others = [x for x in config["target_langs"] if x != lang]
    if len(others) == len(config["target_langs"]):
        raise ValueError(f"{lang!r} is not one of target_langs {config['target_langs']}")
    config["target_langs"] = [lang]
    removed = []
    sections = [("data", config["data"]), ("translate.file", config.get("translate", {}).get("file") or {})]
    for where, node in sections:
        for key, value in list(node.items()):
            for x in others:
                if key == x:
                    del node[key]
                    removed.append(f"{where}.{key}")
                elif isinstance(value, dict) and x in value and where == "data":
                    del value[x]
                    removed.append(f"data.{key}.{x}")
    for method in list(config["methods"]):
        if any(f"-{x}" in method.split("@")[0] for x in others):
            config["methods"].remove(method)
            removed.append(f"methods: {method}")
    return removed


def gpu_rules(profile: dict) -> tuple[list[str], str]:
    """The rules a profile gives a GPU, and their common gpu_model ('' if none or several)."""
    resources = profile.get("set-resources") or {}
    rules = sorted(rule for rule, res in resources.items() if int(res.get("gpu", 0)) >= 1)
    models = {str(resources[rule].get("gpu_model", "")) for rule in rules}
    return rules, models.pop() if len(models) == 1 else ""


def main(argv: list[str]) -> int:
    command, path, *rest = argv
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if command == "get":
        value = get(data, rest[0])
        print(value[0] if isinstance(value, list) else value)
    elif command == "set":
        value = yaml.safe_load(rest[1])
        old = set_value(data, rest[0], value)
        if old == value:
            return 0
        with open(path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(data, fh, sort_keys=False)
        print(f"[cluster-test] edited {path}: {rest[0]} {old} -> {value}")
    elif command == "only-lang":
        removed = only_lang(data, rest[0])
        with open(path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(data, fh, sort_keys=False)
        print(f"[cluster-test] edited {path}: target_langs [{rest[0]}]; removed {', '.join(removed)}")
    elif command == "gpu":
        rules, model = gpu_rules(data)
        print(",".join(rules), model)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
