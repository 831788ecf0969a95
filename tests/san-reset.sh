#!/bin/sh
# Sanitizer builds: start the run with no sanitizer reports on file.
rm -rf "${SAN_LOG_DIR:?}"
mkdir -p "$SAN_LOG_DIR"
echo "sanitizer reports go to $SAN_LOG_DIR"
