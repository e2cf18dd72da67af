#!/usr/bin/env bash
# A single-node SLURM cluster for tests: this host is the controller and the one compute
# node, everything runs as the current user, every file lives under DIR.
#
#   tests/slurm/start_cluster.sh DIR     # prints the environment to use it, e.g.
#   export SLURM_CONF=DIR/slurm.conf     # then sbatch, squeue, scancel talk to it
#   tests/slurm/stop_cluster.sh DIR      # stops its daemons
#
# Needs Debian's slurm-wlm and munge (`apt-get install slurm-wlm munge`): slurmctld,
# slurmd, munged on PATH or in /usr/sbin. No accounting storage (no slurmdbd, so no
# sacct): jaxdl's launcher watches jobs with squeue. Ports: SLURM_TEST_PORT (default
# 16817) and the next one.
set -euo pipefail

dir=$(mkdir -p "$1" && cd "$1" && pwd)
port=${SLURM_TEST_PORT:-16817}
user=$(id -un)
host=$(hostname -s)
export PATH="$PATH:/usr/sbin:/sbin"
for tool in slurmctld slurmd munged; do
  command -v "$tool" >/dev/null || { echo "start_cluster.sh: $tool not found (apt-get install slurm-wlm munge)" >&2; exit 3; }
done
mkdir -p "$dir"/{state,spool,log,munge}
chmod 755 "$dir/munge"  # munged wants its socket reachable; the key itself is 400

# munge: a fresh key and a daemon of our own (its socket in DIR), so nothing system-wide
# is touched; slurm finds it through AuthInfo.
dd if=/dev/urandom bs=1 count=1024 of="$dir/munge/munge.key" status=none
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
  --seed-file="$dir/munge/munged.seed"

cpus=$(nproc)
memory=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)  # half, in MB
cat > "$dir/slurm.conf" <<EOF
ClusterName=jaxdltest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=5
MinJobAge=30
SchedulerType=sched/backfill
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF

export SLURM_CONF="$dir/slurm.conf"
slurmctld -c -f "$SLURM_CONF"   # -c: a clean start, no state from a previous cluster
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do  # the node registers within seconds
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 1
done
echo "start_cluster.sh: the node did not come up; see $dir/log/" >&2
exit 4
