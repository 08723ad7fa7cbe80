#!/usr/bin/env bash
# Two copies of the same job on one run directory (issue 12: a job submitted twice, a requeue racing
# the original). Each round starts lnpsaxs-simulate twice at once (the second after a random delay
# of 0-0.6 s, so that it meets the first at start-up, mid-shard, at commit or at the join) on a
# run directory holding only params.h5, and asserts after every round:
#   - one copy completed (exit 0) and the other exited 2 saying the output "is being written by
#     another process (pid ..., host ...)", or both completed (they serialised);
#   - the shard and curves.h5 equal an uninterrupted run, bit for bit, dataset by dataset;
#   - no NAME.partial or NAME.lock is left, and lnpsaxs-status --check calls simulate complete.
# No round may end with a complete-flagged output that differs.
. "$(dirname "$0")/lib.sh"
SAMPLE="$LNPSAXS_BIN/lnpsaxs-sample"
SIM="$LNPSAXS_BIN/lnpsaxs-simulate"
STATUS="$LNPSAXS_BIN/lnpsaxs-status"
ROUNDS=${LNPSAXS_TWO_COPIES_ROUNDS:-20}
export OMP_NUM_THREADS=1

# A tiny config: 32 + 8 curves in batches of 2, so that a copy runs long enough to be met.
sed -e 's/n_train: 64/n_train: 32/' -e 's/n_test: 16/n_test: 8/' -e 's/checkpoint_items: 4/checkpoint_items: 2/' \
  "$LNPSAXS_SRC/configs/ci.yaml" > "$WORK/tiny.yaml"
"$SAMPLE" --config "$WORK/tiny.yaml" --run-dir "$WORK/ref" > /dev/null 2>&1 || fail "sample"
"$SIM" --config "$WORK/tiny.yaml" --run-dir "$WORK/ref" > "$WORK/ref.log" 2>&1 || fail "reference run: $(cat "$WORK/ref.log")"
SHARD=curves/shard-0000-of-0001.h5

serialised=0 raced=0
for round in $(seq 1 "$ROUNDS"); do
  R="$WORK/r$round"
  mkdir -p "$R" && cp "$WORK/ref/params.h5" "$R/"
  "$SIM" --config "$WORK/tiny.yaml" --run-dir "$R" > "$R/a.log" 2>&1 &
  pa=$!
  sleep "0.$((RANDOM % 7))"
  "$SIM" --config "$WORK/tiny.yaml" --run-dir "$R" > "$R/b.log" 2>&1 &
  pb=$!
  wait $pa; ra=$?
  wait $pb; rb=$?
  bad=""
  case "$ra/$rb" in
    0/0) serialised=$((serialised + 1)) ;;
    0/2|2/0)
      raced=$((raced + 1))
      loser=$([ "$ra" = 2 ] && echo a || echo b)
      grep -qE "is being written by another process \(pid [0-9]+, host [^)]+\)" "$R/$loser.log" \
        || bad+=" loser's message: $(cat "$R/$loser.log")"
      [ "$(grep -c 'error:' "$R/$loser.log")" = 1 ] || bad+=" loser printed more than one error line"
      ;;
    *) bad+=" exit codes $ra/$rb (want 0/2, 2/0 or 0/0): $(tail -2 "$R/a.log") | $(tail -2 "$R/b.log")" ;;
  esac
  for f in "$SHARD" curves.h5; do
    if [ -f "$R/$f" ]; then
      out=$("${H5COMPARE[@]}" "$WORK/ref/$f" "$R/$f" 2>&1) || bad+=" $f differs from the uninterrupted run: $out"
    else
      bad+=" $f missing"
    fi
  done
  left=$(find "$R" -name '*.partial' -o -name '*.lock' -o -name '*.tmp.*' | tr '\n' ' ')
  [ -z "$left" ] || bad+=" left behind: $left"
  "$STATUS" --config "$WORK/tiny.yaml" --run-dir "$R" --stage simulate --check || bad+=" status does not call simulate complete"
  if [ -n "$bad" ]; then fail "round $round:$bad"; else rm -rf "$R"; fi
done
[ "$FAILS" = 0 ] && pass "$ROUNDS rounds of two concurrent copies ($raced raced: one exited 2; $serialised serialised: both completed), every output equal to an uninterrupted run"
finish
