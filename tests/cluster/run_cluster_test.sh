#!/usr/bin/env bash
# The workflow on a REAL one-node SLURM cluster (issue 3). Run as root on a Debian machine:
#
#   bash tests/cluster/run_cluster_test.sh
#
# 1. checks that profiles/slurm-ci differs from profiles/slurm only where a one-node cluster needs it;
# 2. brings up munge + slurmctld + slurmd with two fake GPUs (tests/cluster/cluster.sh up: apt-get install
#    if missing, /etc/slurm/{slurm,gres}.conf for $(hostname), waits for the node to be idle);
# 3. runs the embedded demo in a fresh copy of the repository with `--workflow-profile profiles/slurm-ci`:
#    every job goes through sbatch (snakemake-executor-plugin-slurm), then checks from SLURM's records that
#    all planned jobs ran, that each training job asked for and got a GPU and ran with CUDA_VISIBLE_DEVICES;
# 4. edits one fine-tuning parameter (finetune.lr) and reruns: only finetune and what is downstream of it
#    may be submitted;
# 5. sets finetune.lr back and reruns up to the evaluation, killing the training job with SIGKILL
#    (scancel --signal=KILL) once its first checkpoint exists: Snakemake's `retries` resubmits it; it must
#    resume from the checkpoint and end with run 1's train log, weights and evaluation;
# 6. stops every daemon by the pid in its pid file (also on failure or interruption).
# Idempotent (a second run starts from a clean cluster and a fresh copy). Proof lines: "cluster up",
# "N jobs submitted through sbatch", "training job ...", "workflow complete", "daemons stopped".
#
# Environment: XLT_CLUSTER_WORKDIR (default /tmp/xlt-cluster-test: the copy, kept for inspection),
# XLT_VENV (default <repo>/.venv, with snakemake + snakemake-executor-plugin-slurm),
# XLT_CLUSTER_TIMEOUT (seconds per workflow run, default 1200), XLT_CLUSTER_RERUN=0 skips step 4,
# XLT_CLUSTER_RESUME=0 skips step 5. The CI scale, applied to the copy's config/config.yaml (the demo's
# data, stages and every other setting unchanged): XLT_CLUSTER_METHODS (default: the demo's first method;
# `all`: every method of the demo, ~7 training jobs and ~70 jobs in run 1), XLT_CLUSTER_LANGS (default: the
# demo's first target language, every stage still runs, 26 jobs in run 1; `all`: both, 41 jobs),
# XLT_CLUSTER_MLM_STEPS (default 60; empty: the demo's own value) for the tiny encoder's MLM pre-training.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/tests/cluster"
WORK=${XLT_CLUSTER_WORKDIR:-/tmp/xlt-cluster-test}
VENV=${XLT_VENV:-$REPO/.venv}
PROFILE=profiles/slurm-ci
RUN_TIMEOUT=${XLT_CLUSTER_TIMEOUT:-1200}
RERUN=${XLT_CLUSTER_RERUN:-1}
RESUME=${XLT_CLUSTER_RESUME:-1}
MLM_STEPS=${XLT_CLUSTER_MLM_STEPS-60}
METHODS=${XLT_CLUSTER_METHODS:-first}
LANGS=${XLT_CLUSTER_LANGS:-first}
TASK_RECORD=/var/log/xlt-slurm/task-env.log
T0=$(date +%s)
SMK_PID=""
KILLER_PID=""
PASSED=0 # checks passed, for the closing line "cluster: N passed, M failed"

say() { echo "[cluster-test +$(($(date +%s) - T0))s] $*"; }
passed() { PASSED=$((PASSED + 1)); }
fail() {
  echo "[cluster-test] FAILED: $*" >&2
  exit 1
}

leftover_processes() { # job processes still running in the copy after the daemons stopped: kill by pid
  local p pids=()
  cd /
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/cwd" 2>/dev/null) == "$WORK"* ]] && pids+=("${p#/proc/}")
  done
  if ((${#pids[@]})); then
    echo "[cluster-test] WARNING: ${#pids[@]} job processes outlived their SLURM jobs; killing pids ${pids[*]}" >&2
    kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $KILLER_PID ]] && kill -0 "$KILLER_PID" 2>/dev/null; then
    kill "$KILLER_PID" 2>/dev/null || true
  fi
  if [[ -n $SMK_PID ]] && kill -0 "$SMK_PID" 2>/dev/null; then
    say "stopping snakemake (pid $SMK_PID)"
    kill -TERM "$SMK_PID" 2>/dev/null || true
    wait "$SMK_PID" 2>/dev/null || true
  fi
  if bash "$HERE/cluster.sh" down; then passed; else rc=1; fi
  leftover_processes
  say "cluster test $([[ $rc -eq 0 ]] && echo passed || echo "FAILED (exit $rc)") in $(($(date +%s) - T0)) s"
  echo "cluster: $PASSED passed, $((rc == 0 ? 0 : 1)) failed"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $(id -u) -eq 0 ]] || fail "run as root (apt-get, /etc/slurm, daemons)"
[[ -x $VENV/bin/snakemake ]] || fail "no snakemake in $VENV (run 'make setup' first)"
PY="$VENV/bin/python"
CONFIG_TOOL="$HERE/config_tool.py"

# --- 1. the CI profile is the real one plus what a one-node cluster needs -------------------------------
"$PY" "$HERE/check_profiles.py" "$REPO/profiles/slurm/config.yaml" "$REPO/$PROFILE/config.yaml"
passed
read -r TRAINING GPU_MODEL < <("$PY" "$CONFIG_TOOL" gpu "$REPO/$PROFILE/config.yaml")

# --- 2. the cluster -------------------------------------------------------------------------------------
bash "$HERE/cluster.sh" up
passed

# --- 3. the demo through sbatch, in a fresh copy of the repository ---------------------------------------
say "fresh copy of the repository in $WORK"
rm -rf "$WORK"
mkdir -p "$WORK"
tar -C "$REPO" -cf - --exclude=./.git --exclude=./.venv --exclude=./results --exclude=./logs \
  --exclude=./.snakemake --exclude=./.cache --exclude=./.hypothesis --exclude=__pycache__ \
  --exclude=./.pytest_cache --exclude=./.ruff_cache . | tar -C "$WORK" -xf -
cd "$WORK"
export PATH="$VENV/bin:$PATH" PYTHONPATH="$WORK${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
[[ $("$PY" -c 'import os, pipeline_steps; print(os.path.dirname(pipeline_steps.__file__))') == "$WORK/pipeline_steps" ]] \
  || fail "pipeline_steps is not imported from the copy"

config_get() { "$PY" "$CONFIG_TOOL" get config/config.yaml "$1"; }
config_set() { "$PY" "$CONFIG_TOOL" set config/config.yaml "$1" "$2"; }

run_workflow() { # label [targets...]: the plan (dry run), then the real run through SLURM
  local label=$1 t rc=0 f
  shift
  snakemake -n --workflow-profile "$PROFILE" "$@" >"$WORK/$label.plan.log" 2>&1 \
    || { tail -n 40 "$WORK/$label.plan.log"; fail "$label: dry run failed"; }
  say "$label: $(grep -m1 -E '^total +[0-9]+' "$WORK/$label.plan.log" | awk '{print $2}') jobs planned;" \
    "snakemake --workflow-profile $PROFILE $*"
  t=$(date +%s)
  timeout --signal=TERM "$RUN_TIMEOUT" snakemake --workflow-profile "$PROFILE" "$@" >"$WORK/$label.log" 2>&1 &
  SMK_PID=$!
  # progress: one line per submission and per finished job
  tail -n +1 -f --pid="$SMK_PID" "$WORK/$label.log" 2>/dev/null \
    | grep --line-buffered -E 'has been submitted with SLURM jobid|steps \([0-9]+%\) done|^Error|rror in rule' \
    | sed -u -E "s/^/[$label] /; s/ \(log: .*//" || true
  wait "$SMK_PID" || rc=$?
  SMK_PID=""
  if ((rc != 0)); then
    tail -n 40 "$WORK/$label.log" >&2
    # the logs named in Snakemake's "Error in rule" blocks: the step's own log and SLURM's job log
    for f in $(sed -n '/^Error in rule/,/^$/p' "$WORK/$label.log" | grep -oE '(logs|/[^ ,]*slurm_logs)/[^ ,]+\.log' \
      | sort -u | tail -n 4); do
      echo "--- $f" >&2
      tail -n 25 "$f" >&2 || true
    done
    fail "$label: snakemake exited $rc (timeout ${RUN_TIMEOUT}s gives 124)"
  fi
  say "$label: snakemake finished in $(($(date +%s) - t)) s"
}

check_run() { # label [check_jobs.py options]: what SLURM ran, from its own records
  local label=$1
  shift
  "$PY" "$HERE/check_jobs.py" --label "$label" --log "$WORK/$label.log" --plan "$WORK/$label.plan.log" \
    --save-scontrol "$WORK/$label.scontrol.txt" --task-record "$TASK_RECORD" --training-rules "$TRAINING" ${GPU_MODEL:+--gpu-model "$GPU_MODEL"} "$@"
  passed
}

kill_after_checkpoint() { # checkpoint-root record-file: SIGKILL the running training job after a checkpoint
  local root=$1 record=$2 jid ckpt i
  for ((i = 0; i < 6000; i++)); do
    jid=$(timeout 5 squeue -h --states=RUNNING -o "%i %k" 2>/dev/null \
      | awk -v prefix="rule_${TRAINING%%,*}_" 'index($2, prefix) == 1 {print $1; exit}') || true
    ckpt=$(find "$root" -mindepth 1 -maxdepth 3 -type d -name 'step-*' 2>/dev/null | sort | head -n 1) || true
    if [[ -n $jid && -n $ckpt ]]; then
      scancel --signal=KILL "$jid"
      echo "$jid $(basename "$ckpt")" >"$record"
      echo "[resume] SIGKILL to training job $jid (scancel --signal=KILL) after its checkpoint $(basename "$ckpt")"
      return 0
    fi
    sleep 0.2
  done
  echo "[resume] no running training job with a checkpoint within 20 min" >&2
  return 1
}

# The CI scale (see the top): fewer methods, one target language, a shorter MLM pre-training; all else
# as in the demo.
case $METHODS in
  all) ;;
  first) config_set methods "[$(config_get methods)]" ;;
  *) config_set methods "[$METHODS]" ;;
esac
case $LANGS in
  all) ;;
  first) "$PY" "$CONFIG_TOOL" only-lang config/config.yaml "$(config_get target_langs)" ;;
  *) "$PY" "$CONFIG_TOOL" only-lang config/config.yaml "$LANGS" ;;
esac
if [[ -n $MLM_STEPS ]]; then
  config_set model.tiny.mlm_steps "$MLM_STEPS"
fi
experiment=$(config_get experiment)
method=$(config_get methods)
seed=$(config_get seeds)
lr=$(config_get finetune.lr)
finetune_out=results/$experiment/finetune/$method/$seed

run_workflow run1
check_run run1
[[ -s results/$experiment/report/table.md ]] || fail "no results/$experiment/report/table.md"
snakemake -n --workflow-profile "$PROFILE" 2>&1 | grep -q "Nothing to be done" || fail "a second dry run still has work"
echo "workflow complete"
passed
sed 's/^/    /' "results/$experiment/report/table.md"
mkdir -p "$WORK/reference"
cp "$finetune_out/train_log.parquet" "$finetune_out/model/model.safetensors" "$WORK/reference/"
cp "results/$experiment/eval/$method/$seed.parquet" "$WORK/reference/eval.parquet"

# --- 4. edit one fine-tuning parameter: only the downstream jobs go to SLURM ------------------------------
if [[ $RERUN == 1 ]]; then
  config_set finetune.lr "$("$PY" -c "print(2 * $lr)")"
  run_workflow rerun-lr
  check_run rerun-lr --only-rules finetune,predict,evaluate,report
  echo "rerun after editing finetune.lr complete: only finetune and the jobs downstream of it were submitted"
fi

# --- 5. kill the training job after its first checkpoint: retried, resumed, same result as run 1 ----------
if [[ $RESUME == 1 ]]; then
  resume_args=("results/$experiment/eval/$method/$seed.parquet")
  if [[ $RERUN == 1 ]]; then
    config_set finetune.lr "$lr" # back to run 1's value: finetune is outdated again
  else
    resume_args+=(--forcerun "${TRAINING%%,*}")
  fi
  rm -rf "$finetune_out/checkpoints"
  kill_after_checkpoint "$finetune_out/checkpoints" "$WORK/resume.killed" &
  KILLER_PID=$!
  run_workflow resume "${resume_args[@]}"
  wait "$KILLER_PID" || fail "resume: the training job was not killed"
  KILLER_PID=""
  read -r killed_job killed_at <"$WORK/resume.killed"
  check_run resume --only-rules finetune,predict,evaluate --killed "$killed_job"
  "$PY" "$HERE/check_resume.py" --reference "$WORK/reference" --run-dir "$WORK" --experiment "$experiment" \
    --method "$method" --seed "$seed" --killed-at "$killed_at"
  passed
  echo "resume after SIGKILL complete"
fi
