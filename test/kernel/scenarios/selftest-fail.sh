#!/bin/sh
# Harness self-test: a failing check must reach the host as FAIL, with this script's output as its log.
. /scenarios/lib.sh

echo "this line belongs to the log of selftest-fail"
fail selftest-deliberate-failure "deliberate failure, expected by smoke.test.ts"
