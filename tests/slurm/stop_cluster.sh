#!/usr/bin/env bash
# Stop the daemons that tests/slurm/start_cluster.sh DIR started (by their pid files).
dir=$1
for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
  if [ -s "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
  fi
done
exit 0
