"""The checkers of the cluster test (tests/cluster/*.py) on hand-made inputs: they accept a correct run
and fail on each way a run can be wrong. No cluster needed: tests/cluster/run_cluster_test.sh runs one."""

from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.numpy import save_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import check_jobs  # noqa: E402
import check_profiles  # noqa: E402
import check_resume  # noqa: E402
import config_tool  # noqa: E402

REPO = HERE.parents[1]
RUN = "76aff5a4-1eea-4415-b4bb-40f02f97027b"

PLAN = """Building DAG of jobs...
Job stats:
job         count
--------  -------
all             1
finetune        1
ingest          2
total           4

[Sun Nov 22 03:43:47 2026]
rule ingest:
"""

LOG = f"""SLURM run ID: {RUN}
Job 2 has been submitted with SLURM jobid 11 (log: /w/.snakemake/slurm_logs/rule_ingest/train/11.log).
Job 3 has been submitted with SLURM jobid 12 (log: /w/.snakemake/slurm_logs/rule_ingest/dev/12.log).
Job 1 has been submitted with SLURM jobid 13 (log: /w/.snakemake/slurm_logs/rule_finetune/zs_13/13.log).
"""


def scontrol_line(jid, comment, state="COMPLETED", tres_per_job=None, job_gres="(null)", name=RUN):
    """One line of `scontrol show job -d -o`, in the field order SLURM 22.05 prints."""
    line = (
        f"JobId={jid} JobName={name} UserId=root(0) GroupId=root(0) JobState={state} Reason=None "
        f"ExitCode=0:0 Partition=cpu NodeList=vm TRES=cpu=1,mem=1000M,node=1,billing=1 "
        f"JOB_GRES={job_gres}   Nodes=vm CPU_IDs=0 Mem=1000 GRES= Comment={comment} WorkDir=/w "
    )
    return line + (f"TresPerJob={tres_per_job} " if tres_per_job else "")


def good_scontrol(dev_id=12, dev_state="COMPLETED", train_state="COMPLETED", train_gpu=True):
    """A run of two ingest jobs and one training job, plus a job of another run."""
    gpu = {"tres_per_job": "gres:gpu:fake:1", "job_gres": "gpu:fake:1"} if train_gpu else {}
    return "\n".join(
        [
            scontrol_line(11, "rule_ingest_wildcards_train"),
            scontrol_line(dev_id, "rule_ingest_wildcards_dev", state=dev_state),
            scontrol_line(13, "rule_finetune_wildcards_zero_shot_13", state=train_state, **gpu),
            scontrol_line(9, "rule_ingest_wildcards_train", name="an-earlier-run"),
        ]
    )


RECORDS = """job=11 step=? gpus= CUDA_VISIBLE_DEVICES=<unset> SLURM_JOB_GPUS=
job=11 step=0 gpus= CUDA_VISIBLE_DEVICES=<unset> SLURM_JOB_GPUS=
job=12 step=? gpus= CUDA_VISIBLE_DEVICES=<unset> SLURM_JOB_GPUS=
job=13 step=? gpus=fake:1 CUDA_VISIBLE_DEVICES=0 SLURM_JOB_GPUS=0
job=13 step=0 gpus=fake:1 CUDA_VISIBLE_DEVICES=0 SLURM_JOB_GPUS=0
"""


def run_check(log=LOG, plan=PLAN, scontrol=None, records=RECORDS, **kwargs):
    kwargs.setdefault("training_rules", {"finetune"})
    kwargs.setdefault("gpu_model", "fake")
    return check_jobs.check(log, plan, good_scontrol() if scontrol is None else scontrol, records, **kwargs)


# ------------------------------------------------------------------------------------------- check_jobs


def test_parse_plan_reads_the_job_stats_table():
    assert check_jobs.parse_plan(PLAN) == {"all": 1, "finetune": 1, "ingest": 2}


def test_rule_of_splits_rule_names_with_underscores():
    assert check_jobs.rule_of("rule_pair_parallel_wildcards_gold_de") == ("pair_parallel", "gold_de")
    assert check_jobs.rule_of("rule_projection_eval") == ("projection_eval", "")
    with pytest.raises(ValueError):
        check_jobs.rule_of("group_prep")


def test_gpu_request_and_allocation():
    assert check_jobs.gpu_request("gres:gpu:fake:1") == "gres:gpu:fake:1"
    assert check_jobs.gpu_request("") is None
    assert check_jobs.gpu_allocation("gpu:fake:2") == 2
    assert check_jobs.gpu_allocation("gpu:1") == 1
    assert check_jobs.gpu_allocation("(null)") == 0


def test_a_correct_run_passes_and_is_summarised():
    proof, errors = run_check()
    assert errors == []
    assert proof[0].startswith(
        f"3 jobs submitted through sbatch (SLURM run {RUN}, job ids 11..13, all COMPLETED)"
    )
    assert "1 finetune, 2 ingest" in proof[0]
    assert "training job 13 (finetune zero_shot_13)" in proof[1]
    assert "requested gres:gpu:fake:1, allocated gpu:fake:1, ran with CUDA_VISIBLE_DEVICES=0" in proof[1]
    assert proof[2] == "2 other jobs requested no GPU and ran without CUDA_VISIBLE_DEVICES"


def test_a_training_job_without_gpu_request_fails():
    _, errors = run_check(scontrol=good_scontrol(train_gpu=False))
    assert any("requested None" in e for e in errors)
    assert any("allocated no GPU" in e for e in errors)


def test_a_gpu_of_another_model_fails():
    _, errors = run_check(gpu_model="a100")
    assert any("not gres:gpu:a100:N" in e for e in errors)


def test_a_training_task_without_cuda_visible_devices_fails():
    records = RECORDS.replace(
        "step=0 gpus=fake:1 CUDA_VISIBLE_DEVICES=0", "step=0 gpus= CUDA_VISIBLE_DEVICES=<unset>"
    )
    _, errors = run_check(records=records)
    assert any("without CUDA_VISIBLE_DEVICES" in e for e in errors)


def test_a_cpu_job_that_sees_a_gpu_fails():
    records = RECORDS.replace(
        "job=12 step=? gpus= CUDA_VISIBLE_DEVICES=<unset>", "job=12 step=? CUDA_VISIBLE_DEVICES=1"
    )
    _, errors = run_check(records=records)
    assert any("job 12 (ingest) is no training job but saw CUDA_VISIBLE_DEVICES" in e for e in errors)


def test_a_failed_or_missing_or_unplanned_job_fails():
    _, errors = run_check(scontrol=good_scontrol(dev_id=99))
    assert any("unknown to scontrol" in e for e in errors)
    _, errors = run_check(scontrol=good_scontrol(dev_state="FAILED"))
    assert any("(ingest dev) is FAILED" in e for e in errors)
    _, errors = run_check(plan=PLAN.replace("ingest          2", "ingest          3"))
    assert any("planned" in e for e in errors)
    _, errors = run_check(log=f"SLURM run ID: {RUN}\n")
    assert "no job was submitted through sbatch" in errors


def test_only_rules_limits_what_a_rerun_may_submit():
    _, errors = run_check(only_rules={"finetune", "predict"})
    assert any("rules ['ingest'] were submitted" in e for e in errors)


def test_a_killed_training_job_must_have_failed_and_been_resubmitted():
    log = LOG + "Job 1 has been submitted with SLURM jobid 14 (log: x/14.log).\n"
    retried = scontrol_line(
        14, "rule_finetune_wildcards_zero_shot_13", tres_per_job="gres:gpu:fake:1", job_gres="gpu:fake:1"
    )
    records = RECORDS + "job=14 step=0 gpus=fake:1 CUDA_VISIBLE_DEVICES=0 SLURM_JOB_GPUS=0\n"
    killed = good_scontrol(train_state="CANCELLED")
    proof, errors = run_check(log=log, scontrol=killed + "\n" + retried, records=records, killed={"13"})
    assert errors == []
    assert "1 killed by the test, the others COMPLETED" in proof[0]
    _, errors = run_check(log=log, scontrol=good_scontrol() + "\n" + retried, records=records, killed={"13"})
    assert any("killed job 13" in e and "COMPLETED" in e for e in errors)


def test_timing_summarises_queue_wait_and_run_time():
    jobs = [
        {
            "SubmitTime": "2026-11-22T04:20:13",
            "StartTime": "2026-11-22T04:20:15",
            "EndTime": "2026-11-22T04:20:25",
        },
        {
            "SubmitTime": "2026-11-22T04:20:13",
            "StartTime": "2026-11-22T04:20:19",
            "EndTime": "2026-11-22T04:20:33",
        },
    ]
    assert check_jobs.timing(jobs) == (
        "SLURM timing: mean queue wait 4.0 s, mean run 12.0 s, submit to end 20 s"
    )
    assert check_jobs.timing([{"SubmitTime": "Unknown"}]) == ""


def test_parse_log_needs_one_run_id():
    with pytest.raises(ValueError):
        check_jobs.parse_log("Job 1 has been submitted with SLURM jobid 3")


# ----------------------------------------------------------------------------------------- check_profiles


def test_the_repository_profiles_agree_and_finetune_and_pretrain_are_the_training_rules():
    slurm = check_profiles.load(REPO / "profiles" / "slurm" / "config.yaml")
    ci = check_profiles.load(REPO / "profiles" / "slurm-ci" / "config.yaml")
    assert check_profiles.compare(slurm, ci) == []
    assert check_profiles.training_rules(slurm) == ["finetune", "pretrain"]  # pretrain: paper 000
    assert config_tool.gpu_rules(ci) == (["finetune", "pretrain"], "fake")


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda p: p["set-resources"]["finetune"].update(gpu=0), "finetune: gpu is 0"),
        (lambda p: p["set-resources"]["finetune"].update(slurm_partition="cpu"), "slurm_partition"),
        (lambda p: p["default-resources"].update(runtime=5), "default-resources: runtime"),
        (lambda p: p["set-threads"].update(finetune=4), "set-threads finetune: 4"),
        (lambda p: p.update(retries=0), "retries: 0"),
        (lambda p: p.pop("slurm-status-command"), "slurm-status-command: missing"),
        (lambda p: p["set-resources"]["align"].update(gpu_model="fake"), "gpu_model on a rule without a GPU"),
        (lambda p: p["set-resources"].pop("predict"), "set-resources: rules"),
    ],
)
def test_a_ci_profile_that_drifts_from_the_real_one_fails(mutate, expected):
    slurm = check_profiles.load(REPO / "profiles" / "slurm" / "config.yaml")
    ci = copy.deepcopy(check_profiles.load(REPO / "profiles" / "slurm-ci" / "config.yaml"))
    mutate(ci)
    errors = check_profiles.compare(slurm, ci)
    assert any(expected in e for e in errors), errors


# ------------------------------------------------------------------------------------------- check_resume


def train_log(resumed_from=None, n=6, loss_shift=0.0):
    steps = np.arange(1, n + 1)
    return pd.DataFrame(
        {
            "step": steps,
            "epoch": steps // 3,
            "loss": 1.0 / steps + loss_shift,
            "lr": np.full(n, 0.001),
            "dev_f1": [np.nan, np.nan, 0.5, np.nan, np.nan, 0.6][:n],
            "resumed": [resumed_from is not None and s > resumed_from for s in steps],
        }
    )


def test_resumed_step_reads_the_last_resume_line():
    log = "x\n2026 INFO pipeline_steps.train: resuming from step 50 (ckpt/step-00000050)\nmore"
    assert check_resume.resumed_step(log) == 50
    assert check_resume.resumed_step("no resume here") is None


def test_a_resumed_train_log_equal_to_the_reference_passes():
    assert check_resume.compare_train_logs(train_log(), train_log(resumed_from=3), 3) == []


def test_a_train_log_that_did_not_resume_or_differs_fails():
    assert any("marked resumed" in e for e in check_resume.compare_train_logs(train_log(), train_log(), 3))
    errors = check_resume.compare_train_logs(train_log(), train_log(resumed_from=3, loss_shift=1e-7), 3)
    assert any("differs from the uninterrupted run" in e for e in errors)
    gap = train_log(resumed_from=3).drop(index=3)
    assert any("without gaps" in e for e in check_resume.compare_train_logs(train_log(), gap, 3))
    errors = check_resume.compare_train_logs(train_log(), train_log(resumed_from=4), 3)
    assert any("start at step 5, not 4" in e for e in errors)


def test_weights_must_be_bit_identical(tmp_path):
    weights = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3, dtype=np.float32)}
    save_file(weights, str(tmp_path / "a.safetensors"))
    save_file(weights, str(tmp_path / "b.safetensors"))
    changed = dict(weights, b=np.array([0, 0, 1e-6], dtype=np.float32))
    save_file(changed, str(tmp_path / "c.safetensors"))
    assert check_resume.compare_weights(tmp_path / "a.safetensors", tmp_path / "b.safetensors") == []
    assert check_resume.compare_weights(tmp_path / "a.safetensors", tmp_path / "c.safetensors") == [
        "tensor b differs (max |diff| 1e-06)"
    ]


# -------------------------------------------------------------------------------------------- config_tool


def test_config_tool_edits_one_dotted_key(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("experiment: demo\nseeds: [13, 14]\nfinetune: {lr: 1.0e-3, epochs: 8}\n")
    assert config_tool.main(["set", str(path), "finetune.lr", "0.002"]) == 0
    assert "finetune.lr 0.001 -> 0.002" in capsys.readouterr().out
    config_tool.main(["get", str(path), "finetune.lr"])
    config_tool.main(["get", str(path), "seeds"])
    config_tool.main(["get", str(path), "finetune.epochs"])
    assert capsys.readouterr().out.split() == ["0.002", "13", "8"]
    before = path.read_text()
    assert config_tool.main(["set", str(path), "seeds", "[13, 14]"]) == 0
    assert path.read_text() == before and capsys.readouterr().out == ""


def test_config_tool_narrows_the_demo_to_one_target_language(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    shutil.copy(REPO / "config/config.yaml", path)
    assert config_tool.main(["only-lang", str(path), "de"]) == 0
    out = capsys.readouterr().out
    assert "removed data.test.es, data.gold_parallel.es, data.parallel.es, translate.file.es" in out
    config = yaml.safe_load(path.read_text())
    assert config["target_langs"] == ["de"] and "to-es@word2word" not in config["methods"]
    assert set(config["data"]["test"]) == {"en", "de"} and list(config["data"]["gold_parallel"]) == ["de"]
    assert {"to", "bilingual", "mtl"} <= set(config["methods"])  # per-language methods of de stay
    with pytest.raises(ValueError, match="'fr' is not one of target_langs"):
        config_tool.only_lang(config, "fr")
