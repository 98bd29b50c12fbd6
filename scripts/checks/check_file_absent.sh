#!/bin/sh
# A check by the Nagios plugin convention (exit 0 ok, 2 critical; first line is the detail),
# used by the local farm's demo: `touch <file>` makes the service fail, `rm <file>` restores it.
file=${1:?usage: check_file_absent.sh FILE}
if [ -e "$file" ]; then
  echo "CRITICAL: $file exists (simulated failure)"
  exit 2
fi
echo "OK: no $file"
exit 0
