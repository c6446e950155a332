"""One source of truth for the config: schema <-> docs <-> rules <-> the keys the steps read (issue 8)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from pipeline_steps import config_schema
from pipeline_steps.errors import ConfigError
from pipeline_steps.runner import step_params

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "pipeline_steps"


def test_configuration_doc_is_generated_from_the_schema():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc == config_schema.render_markdown(), (
        "run: python -m pipeline_steps.config_schema > docs/configuration.md"
    )


def test_every_key_has_a_description_and_every_optional_scalar_a_default():
    required = config_schema._required_paths()
    for path, node in config_schema.config_keys():
        assert node.get("description"), f"{path}: no description in config/schema.yaml"
        scalar = node.get("type") not in ("object", "array") and "properties" not in node
        optional = path not in required
        # provider/backend options without a sensible default (a model name, a URL) are checked by
        # workflow_config.check when their provider/backend is chosen; method_params fall back to Table 6
        exempt = path.endswith((".name_or_path", ".url")) or path.startswith("method_params.mtl_ws.")
        if scalar and optional and not exempt:
            assert "default" in node, f"{path}: optional key without a default in config/schema.yaml"


def test_defaults_of_a_section():
    assert config_schema.defaults("finetune")["eval_steps"] == 0
    assert config_schema.defaults("translate.http")["timeout"] == 60
    with pytest.raises(KeyError, match="no key 'finetune.nope'"):
        config_schema.defaults("finetune.nope")


def test_validation_lists_every_problem_with_its_key():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["finetune"]["lr"] = 0
    config["seeds"] = ["x"]
    with pytest.raises(ConfigError) as err:
        config_schema.validate(config)
    assert "finetune.lr:" in str(err.value) and "seeds.0:" in str(err.value)


# -------------------------------------------------------------------------- the keys the steps read

CONFIG_CHAIN = re.compile(r"""config((?:\[["'][A-Za-z_]+["']\])+)""")


def test_every_config_key_the_rules_and_workflow_config_read_is_in_the_schema():
    defined = {path for path, _ in config_schema.config_keys()}
    sources = [
        *sorted((ROOT / "workflow" / "rules").glob("*.smk")),
        ROOT / "Snakefile",
        PKG / "workflow_config.py",
    ]
    for source in sources:
        for m in CONFIG_CHAIN.finditer(source.read_text(encoding="utf-8")):
            path = ".".join(re.findall(r"""["']([A-Za-z_]+)["']""", m.group(1)))
            assert path in defined, f"{source.name}: config[...] key {path!r} is not in config/schema.yaml"


def _keys_read(files: list[Path]) -> set[str]:
    """String keys read as ``<x>.params[...]``/``.get(...)``, ``p[...]``/``params.get(...)``."""
    keys: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            target, key = None, None
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                target, key = node.value, node.slice.value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                target, key = node.func.value, node.args[0].value
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
            if name in ("params", "p") and isinstance(key, str):
                keys.add(key)
    return keys


def _files_of(step: str) -> list[Path]:
    module = step.partition(":")[0]
    base = PKG / Path(*module.split("."))
    files = [base / "__init__.py"] if base.is_dir() else [base.with_suffix(".py")]
    if module == "finetune":  # the methods read the finetune params too (MethodData.params)
        files += sorted((PKG / "methods").glob("*.py"))
    return files


@pytest.fixture(scope="module")
def demo_jobs():
    """Every job of the demo DAG with the params its step receives (Snakemake's own evaluation)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
        StorageSettings,
    )

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(),
            storage_settings=StorageSettings(),
            snakefile=ROOT / "Snakefile",
            workdir=ROOT,
        )
        wf_api.dag(dag_settings=DAGSettings())
        workflow = wf_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
        workflow._build_dag()
        return [
            (job.rule.name, dict(job.params.items())) for job in workflow.dag.jobs if job.rule.name != "all"
        ]


def test_every_param_a_step_reads_is_passed_by_its_rule(demo_jobs):
    assert {name for name, _ in demo_jobs} >= {"ingest", "align", "finetune", "predict", "report"}
    for rule, params in demo_jobs:
        passed = set(step_params(params))
        missing = sorted(_keys_read(_files_of(params["step"])) - passed)
        assert not missing, f"rule {rule}: step {params['step']} reads params {missing} the rule never passes"


def test_every_step_param_comes_from_a_schema_section_or_the_rule(demo_jobs):
    """finetune passes the ``finetune`` section whole: every key of it is a schema key and vice versa."""
    finetune = next(p for name, p in demo_jobs if name == "finetune")
    section = set(config_schema.section("finetune")["properties"])
    assert section <= set(finetune), f"finetune section keys not passed: {sorted(section - set(finetune))}"
