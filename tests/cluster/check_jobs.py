"""Check what a Snakemake run did on the test SLURM cluster, from SLURM's own records; print the proof lines.

    python tests/cluster/check_jobs.py --log run.log --plan plan.log --task-record task-env.log \
        --training-rules finetune [--gpu-model fake] [--only-rules finetune,predict,evaluate,report]

- ``--log``: Snakemake's output of the run (stderr); gives the run ID (the SLURM job name of every job)
  and the SLURM job id of each submitted job.
- ``--plan``: ``snakemake -n`` output before the run; its job stats are the jobs that must be submitted
  (all but the local target rule ``all``).
- ``--task-record``: lines ``job=ID step=S gpus=G CUDA_VISIBLE_DEVICES=V ...`` written by the cluster's
  TaskProlog (tests/cluster/task_prolog.sh) in each task's environment.

Fails (exit 1, reasons on stderr) unless: every planned job was submitted through sbatch exactly once per
rule count, SLURM lists each (``scontrol show job``) under the run's name and COMPLETED; each job of a
training rule asked for a GPU (TresPerJob ``gres:gpu[:MODEL]:N``), was allocated one (JOB_GRES)
and every task of it ran with CUDA_VISIBLE_DEVICES set; no other job asked for or saw a GPU.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

LOCAL_RULES = {"all"}
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")
RUN_ID = re.compile(r"SLURM run ID: (\S+)")
UNSET = "<unset>"


def parse_plan(text: str) -> Counter:
    """Job counts per rule from the 'Job stats' table of ``snakemake -n``."""
    counts: Counter = Counter()
    in_table = False
    for line in text.splitlines():
        if line.startswith("Job stats:"):
            in_table, counts = True, Counter()
            continue
        if not in_table:
            continue
        fields = line.split()
        if len(fields) != 2 or fields[0] in {"job"} or set(fields[0]) == {"-"}:
            continue
        if fields[0] == "total":
            in_table = False
            continue
        counts[fields[0]] = int(fields[1])
    return counts


def parse_log(text: str) -> tuple[str, list[str]]:
    """The SLURM run ID and the SLURM job ids submitted, from Snakemake's log."""
    run_ids = set(RUN_ID.findall(text))
    if len(run_ids) != 1:
        raise ValueError(f"expected one 'SLURM run ID' in the Snakemake log, found {sorted(run_ids)}")
    return run_ids.pop(), [slurm_id for _, slurm_id in SUBMITTED.findall(text)]


def parse_scontrol(text: str) -> dict[str, dict[str, str]]:
    """``scontrol show job -d -o`` output: one record per job, keyed by JobId."""
    jobs = {}
    for line in text.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if "JobId" in fields:
            jobs[fields["JobId"]] = fields
    return jobs


def parse_task_records(text: str) -> dict[str, list[dict[str, str]]]:
    """TaskProlog lines grouped by SLURM job id."""
    records: dict[str, list[dict[str, str]]] = {}
    for line in text.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if "job" in fields:
            records.setdefault(fields["job"], []).append(fields)
    return records


def rule_of(comment: str) -> tuple[str, str]:
    """(rule, wildcards) from the executor's job comment ``rule_{rule}[_wildcards_{wildcards}]``."""
    if not comment.startswith("rule_"):
        raise ValueError(f"unexpected job comment {comment!r}")
    rule, _, wildcards = comment[len("rule_") :].partition("_wildcards_")
    return rule, wildcards


def gpu_request(tres_per_job: str) -> str | None:
    """The GPU part of TresPerJob (``gres:gpu:fake:1``), or None."""
    for item in tres_per_job.split(","):
        if item.startswith("gres:gpu"):
            return item
    return None


def gpu_allocation(job_gres: str) -> int:
    """Number of GPUs SLURM allocated to a job: JOB_GRES of ``scontrol show job -d`` (``gpu:fake:1``)."""
    match = re.search(r"(?:^|,)gpu(?::[A-Za-z0-9_.]+)?:(\d+)", job_gres)
    return int(match.group(1)) if match else 0


def timing(jobs: list[dict[str, str]]) -> str:
    """Queue wait, run time and span of jobs from their SubmitTime/StartTime/EndTime ('' if unknown)."""
    try:
        times = [
            [datetime.fromisoformat(job[key]) for key in ("SubmitTime", "StartTime", "EndTime")]
            for job in jobs
        ]
    except (KeyError, ValueError):
        return ""
    if not times:
        return ""
    wait = sum((start - submit).total_seconds() for submit, start, _ in times) / len(times)
    run = sum((end - start).total_seconds() for _, start, end in times) / len(times)
    span = (max(end for *_, end in times) - min(submit for submit, *_ in times)).total_seconds()
    return f"SLURM timing: mean queue wait {wait:.1f} s, mean run {run:.1f} s, submit to end {span:.0f} s"


def check(
    log_text: str,
    plan_text: str,
    scontrol_text: str,
    records_text: str,
    training_rules: set[str],
    gpu_model: str | None = None,
    only_rules: set[str] | None = None,
    killed: set[str] | None = None,
) -> tuple[list[str], list[str]]:
    """(proof lines, errors) for one run. ``killed``: SLURM ids of jobs the test killed; each must have
    ended unsuccessfully and been resubmitted (one more job of its rule than planned)."""
    killed = killed or set()
    errors: list[str] = []
    proof: list[str] = []
    run_id, submitted = parse_log(log_text)
    plan = parse_plan(plan_text)
    expected = Counter({rule: n for rule, n in plan.items() if rule not in LOCAL_RULES})
    jobs = parse_scontrol(scontrol_text)
    records = parse_task_records(records_text)

    if not submitted:
        errors.append("no job was submitted through sbatch")
    if len(set(submitted)) != len(submitted):
        errors.append(f"a SLURM job id was reported twice: {submitted}")
    ours = {jid for jid, job in jobs.items() if job.get("JobName") == run_id}
    if ours != set(submitted):
        errors.append(
            f"SLURM lists jobs {sorted(ours, key=int)} under run {run_id}, the log submitted {submitted}"
        )

    by_rule: Counter = Counter()
    training, others = [], []
    for jid in submitted:
        job = jobs.get(jid)
        if job is None:
            errors.append(f"SLURM job {jid} is unknown to scontrol")
            continue
        rule, wildcards = rule_of(job.get("Comment", ""))
        by_rule[rule] += 1
        if jid in killed:
            if job.get("JobState") not in {"CANCELLED", "FAILED"}:
                errors.append(f"killed job {jid} ({rule}) is {job.get('JobState')}, not CANCELLED/FAILED")
            expected[rule] += 1
        elif job.get("JobState") != "COMPLETED":
            errors.append(f"SLURM job {jid} ({rule} {wildcards}) is {job.get('JobState')}")
        request = gpu_request(job.get("TresPerJob", ""))
        job_gres = job.get("JOB_GRES", "")
        allocated = gpu_allocation(job_gres)
        tasks = records.get(jid, [])
        visible = sorted({t.get("CUDA_VISIBLE_DEVICES", UNSET) for t in tasks})
        if not tasks:
            errors.append(f"SLURM job {jid} ({rule}) left no TaskProlog record")
        if rule in training_rules:
            want = f"gres:gpu:{gpu_model}:" if gpu_model else "gres:gpu"
            if request is None or not request.startswith(want):
                errors.append(f"training job {jid} ({rule} {wildcards}) requested {request!r}, not {want}N")
            if allocated < 1:
                errors.append(f"training job {jid} ({rule}) was allocated no GPU: JOB_GRES={job_gres}")
            if not visible or any(v in {UNSET, ""} for v in visible):
                errors.append(f"training job {jid} ({rule}): a task without CUDA_VISIBLE_DEVICES: {visible}")
            steps = ",".join("batch" if t.get("step") == "?" else f"step {t.get('step')}" for t in tasks)
            what = f"{rule} {wildcards}" + (", killed by the test" if jid in killed else "")
            training.append(
                f"training job {jid} ({what}): requested {request}, "
                f"allocated {job_gres}, ran with CUDA_VISIBLE_DEVICES={'/'.join(visible)} ({steps})"
            )
        else:
            if request is not None or allocated:
                errors.append(f"job {jid} ({rule}) is no training job but got a GPU: {request} / {allocated}")
            if any(v != UNSET for v in visible):
                errors.append(f"job {jid} ({rule}) is no training job but saw CUDA_VISIBLE_DEVICES={visible}")
            others.append(jid)

    if by_rule != expected:
        errors.append(
            f"submitted per rule {dict(sorted(by_rule.items()))}, planned {dict(sorted(expected.items()))}"
        )
    if only_rules is not None and set(by_rule) - only_rules:
        extra = sorted(set(by_rule) - only_rules)
        errors.append(f"rules {extra} were submitted; only {sorted(only_rules)} may be")
    if not training and (only_rules is None or only_rules & training_rules):
        errors.append(f"no job of the training rules {sorted(training_rules)} ran")
    if killed - set(submitted):
        errors.append(f"killed jobs {sorted(killed - set(submitted))} are not jobs of this run")

    ids = sorted(map(int, submitted)) or [0]
    per_rule = ", ".join(f"{n} {rule}" for rule, n in sorted(by_rule.items()))
    states = "all COMPLETED" if not killed else f"{len(killed)} killed by the test, the others COMPLETED"
    proof.append(
        f"{len(submitted)} jobs submitted through sbatch (SLURM run {run_id}, job ids {ids[0]}..{ids[-1]}, "
        f"{states if not errors else 'see FAIL'}): {per_rule}"
    )
    proof += training
    proof.append(f"{len(others)} other jobs requested no GPU and ran without CUDA_VISIBLE_DEVICES")
    summary = timing([jobs[jid] for jid in submitted if jid in jobs])
    if summary:
        proof.append(summary)
    return proof, errors


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--plan", required=True, type=Path)
    parser.add_argument("--task-record", required=True, type=Path)
    parser.add_argument("--training-rules", required=True, help="comma-separated")
    parser.add_argument("--gpu-model")
    parser.add_argument("--only-rules", help="comma-separated: the only rules this run may submit")
    parser.add_argument("--killed", default="", help="comma-separated SLURM ids of jobs the test killed")
    parser.add_argument("--save-scontrol", type=Path, help="write scontrol's records here (for debugging)")
    parser.add_argument("--label", default="run")
    args = parser.parse_args(argv)

    command = ["scontrol", "show", "job", "--details", "--oneliner"]
    scontrol = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout
    if args.save_scontrol:
        args.save_scontrol.write_text(scontrol, encoding="utf-8")
    proof, errors = check(
        args.log.read_text(encoding="utf-8", errors="replace"),
        args.plan.read_text(encoding="utf-8", errors="replace"),
        scontrol,
        args.task_record.read_text(encoding="utf-8", errors="replace"),
        training_rules=set(args.training_rules.split(",")),
        gpu_model=args.gpu_model,
        only_rules=set(args.only_rules.split(",")) if args.only_rules else None,
        killed={k for k in args.killed.split(",") if k},
    )
    for line in proof:
        print(f"[{args.label}] {line}")
    for error in errors:
        print(f"[{args.label}] FAIL: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
