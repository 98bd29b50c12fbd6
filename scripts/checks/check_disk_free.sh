#!/bin/sh
# Disk usage of a mount point by the Nagios plugin convention: 0 ok, 1 warning, 2 critical,
# 3 unknown; the first line is the detail. Usage: check_disk_free.sh PATH WARN% CRIT%
path=${1:-/}; warn=${2:-90}; crit=${3:-95}
used=$(df -P "$path" 2>/dev/null | awk 'NR==2 { sub("%", "", $5); print $5 }')
case $used in
  ''|*[!0-9]*) echo "UNKNOWN: cannot read the usage of $path"; exit 3 ;;
esac
if [ "$used" -ge "$crit" ]; then echo "CRITICAL: $path ${used}% used"; exit 2; fi
if [ "$used" -ge "$warn" ]; then echo "WARNING: $path ${used}% used"; exit 1; fi
echo "OK: $path ${used}% used"
exit 0
