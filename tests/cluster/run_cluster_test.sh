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
# 5. stops every daemon by its pid file (also on failure or interruption).
# Idempotent (a second run starts from a clean cluster and a fresh copy). Proof lines: "cluster up",
# "N jobs submitted through sbatch", "training job ...", "workflow complete", "daemons stopped".
#
# Environment: XLT_CLUSTER_WORKDIR (default /tmp/xlt-cluster-test, the copy; kept for inspection),
# XLT_VENV (default <repo>/.venv, must have snakemake + snakemake-executor-plugin-slurm),
# XLT_CLUSTER_TIMEOUT (seconds per workflow run, default 1200), XLT_CLUSTER_RERUN=0 skips step 4.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/tests/cluster"
WORK=${XLT_CLUSTER_WORKDIR:-/tmp/xlt-cluster-test}
VENV=${XLT_VENV:-$REPO/.venv}
PROFILE=profiles/slurm-ci
RUN_TIMEOUT=${XLT_CLUSTER_TIMEOUT:-1200}
RERUN=${XLT_CLUSTER_RERUN:-1}
TASK_RECORD=/var/log/xlt-slurm/task-env.log
T0=$(date +%s)
SMK_PID=""

say() { echo "[cluster-test +$(($(date +%s) - T0))s] $*"; }
fail() {
  echo "[cluster-test] FAILED: $*" >&2
  exit 1
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $SMK_PID ]] && kill -0 "$SMK_PID" 2>/dev/null; then
    say "stopping snakemake (pid $SMK_PID)"
    kill -TERM "$SMK_PID" 2>/dev/null || true
    wait "$SMK_PID" 2>/dev/null || true
  fi
  bash "$HERE/cluster.sh" down || rc=1
  say "cluster test $([[ $rc -eq 0 ]] && echo passed || echo "FAILED (exit $rc)") in $(($(date +%s) - T0)) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $(id -u) -eq 0 ]] || fail "run as root (apt-get, /etc/slurm, daemons)"
[[ -x $VENV/bin/snakemake ]] || fail "no snakemake in $VENV (run 'make setup' first)"
PY="$VENV/bin/python"

# --- 1. the CI profile is the real one plus what a one-node cluster needs ---------------------------
"$PY" "$HERE/check_profiles.py" "$REPO/profiles/slurm/config.yaml" "$REPO/$PROFILE/config.yaml"
read -r TRAINING GPU_MODEL < <("$PY" - "$REPO/$PROFILE/config.yaml" <<'EOF'
import sys
import yaml
res = yaml.safe_load(open(sys.argv[1]))["set-resources"]
rules = sorted(r for r, v in res.items() if int(v.get("gpu", 0)) >= 1)
models = {res[r].get("gpu_model", "") for r in rules}
print(",".join(rules), models.pop() if len(models) == 1 else "")
EOF
)

# --- 2. the cluster ------------------------------------------------------------------------------------
bash "$HERE/cluster.sh" up

# --- 3. the demo through sbatch -----------------------------------------------------------------------
say "fresh copy of the repository in $WORK"
rm -rf "$WORK"
mkdir -p "$WORK"
tar -C "$REPO" -cf - --exclude=./.git --exclude=./.venv --exclude=./results --exclude=./logs \
  --exclude=./.snakemake --exclude=./.cache --exclude=./.hypothesis --exclude=__pycache__ \
  --exclude=./.pytest_cache --exclude=./.ruff_cache . | tar -C "$WORK" -xf -
cd "$WORK"
export PATH="$VENV/bin:$PATH" PYTHONPATH="$WORK${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
[[ $("$PY" -c 'import pipeline_steps, os; print(os.path.dirname(pipeline_steps.__file__))') == "$WORK/pipeline_steps" ]] \
  || fail "pipeline_steps is not imported from the copy"

run_workflow() { # label
  local label=$1
  snakemake -n --workflow-profile "$PROFILE" >"$WORK/$label.plan.log" 2>&1 \
    || { tail -n 40 "$WORK/$label.plan.log"; fail "$label: dry run failed"; }
  say "$label: $(grep -E '^total +[0-9]+' "$WORK/$label.plan.log" | awk '{print $2}') jobs planned; snakemake --workflow-profile $PROFILE"
  local t=$(date +%s) rc=0
  timeout --signal=TERM "$RUN_TIMEOUT" snakemake --workflow-profile "$PROFILE" >"$WORK/$label.log" 2>&1 &
  SMK_PID=$!
  # progress: one line per submission and per finished step
  tail -n +1 -f --pid="$SMK_PID" "$WORK/$label.log" 2>/dev/null \
    | grep --line-buffered -E 'has been submitted with SLURM jobid|steps \([0-9]+%\) done|^Error|rror in rule' \
    | sed -u "s/^/[$label] /" || true
  wait "$SMK_PID" || rc=$?
  SMK_PID=""
  if ((rc != 0)); then
    tail -n 60 "$WORK/$label.log" >&2
    for f in $(grep -ohE '\.snakemake/slurm_logs/[^ )]+\.log' "$WORK/$label.log" | sort -u | tail -n 3); do
      echo "--- $f" >&2
      tail -n 30 "$WORK/$f" >&2 || true
    done
    fail "$label: snakemake exited $rc (timeout ${RUN_TIMEOUT}s gives 124)"
  fi
  say "$label: snakemake finished in $(($(date +%s) - t)) s"
  "$PY" "$HERE/check_jobs.py" --label "$label" --log "$WORK/$label.log" --plan "$WORK/$label.plan.log" \
    --task-record "$TASK_RECORD" --training-rules "$TRAINING" ${GPU_MODEL:+--gpu-model "$GPU_MODEL"} "${@:2}"
}

run_workflow run1
experiment=$("$PY" -c 'import yaml; print(yaml.safe_load(open("config/config.yaml"))["experiment"])')
[[ -s results/$experiment/report/table.md ]] || fail "no results/$experiment/report/table.md"
snakemake -n --workflow-profile "$PROFILE" 2>&1 | grep -q "Nothing to be done" || fail "a second dry run still has work"
echo "workflow complete"
sed 's/^/    /' "results/$experiment/report/table.md"

# --- 4. edit one fine-tuning parameter: only the downstream jobs go to SLURM ----------------------------
if [[ $RERUN == 1 ]]; then
  "$PY" - <<'EOF'
import yaml
path = "config/config.yaml"
config = yaml.safe_load(open(path))
old = config["finetune"]["lr"]
config["finetune"]["lr"] = old * 2
yaml.safe_dump(config, open(path, "w"), sort_keys=False)
print(f"edited config/config.yaml: finetune.lr {old} -> {old * 2}")
EOF
  run_workflow rerun-lr --only-rules finetune,predict,evaluate,report
  echo "rerun after editing finetune.lr complete"
fi
