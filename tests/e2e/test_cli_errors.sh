#!/usr/bin/env bash
# Bad input → exit code 2 and one clear line naming the file, key or value (issue 2 acceptance).
. "$(dirname "$0")/lib.sh"
S="$LNPSAXS_BIN/lnpsaxs-sample"
C="$WORK/c.yaml"

expect_exit 0 "Usage: lnpsaxs-sample" "$S" --help
expect_exit 0 "lnpsaxs-sample [0-9]+\.[0-9]+" "$S" --version
expect_exit 2 "config FILE is required" "$S"
expect_exit 2 "unrecognised option|unrecognized option" "$S" --config x.yaml --bogus
expect_exit 2 "/nonexistent.yaml: cannot read" "$S" --config "$WORK/nonexistent.yaml"

printf 'sample:\n  n_train: [1, 2\n' > "$C"
expect_exit 2 "c.yaml:[0-9]+: YAML syntax error" "$S" --config "$C" --run-dir "$WORK/r"
printf 'sample:\n  n_train: 64\n  colour: blue\n' > "$C"
expect_exit 2 "c.yaml:3: sample.colour: unknown key" "$S" --config "$C" --run-dir "$WORK/r"
printf 'parameters:\n  radius: [500, 100]\n' > "$C"
expect_exit 2 "c.yaml:2: parameters.radius: lower bound 500 must be < upper bound 100" "$S" --config "$C" --run-dir "$WORK/r"
printf 'parameters:\n  radius: [100, 100]\n' > "$C"
expect_exit 2 "parameters.radius" "$S" --config "$C" --run-dir "$WORK/r"
printf 'sample:\n  n_train: -64\n' > "$C"
expect_exit 2 "c.yaml:2: sample.n_train: value -64 is out of range" "$S" --config "$C" --run-dir "$WORK/r"
printf 'sample:\n  n_test: sixteen\n' > "$C"
expect_exit 2 "sample.n_test: expected an integer" "$S" --config "$C" --run-dir "$WORK/r"

# Unwritable run directory (a path below a regular file cannot be created, even as root).
touch "$WORK/afile"
expect_exit 2 "run directory .*afile/run" "$S" --config "$LNPSAXS_SRC/configs/ci.yaml" --run-dir "$WORK/afile/run"
# Same under MPI: every rank exits 2, no hang.
expect_exit 2 "c.yaml.missing: cannot read" $LNPSAXS_MPIEXEC -n 2 "$S" --config "$C.missing"
printf 'sample:\n  n_train: -1\n' > "$C"
expect_exit 2 "sample.n_train" $LNPSAXS_MPIEXEC -n 2 "$S" --config "$C" --run-dir "$WORK/r"

# Issue 12: inputs that used to run the paper-scale defaults or be ignored.
mkdir -p "$WORK/confdir"
expect_exit 2 "confdir: is a directory, not a config file" "$S" --config "$WORK/confdir" --run-dir "$WORK/r12"
: > "$WORK/empty.yaml"
expect_exit 2 "empty.yaml: the config is empty \(0 bytes\).*run: \{\}" "$S" --config "$WORK/empty.yaml" --run-dir "$WORK/r12"
printf '# only a comment\n\n' > "$WORK/comments.yaml"
expect_exit 2 "comments.yaml: the config is empty \(only comments\)" "$S" --config "$WORK/comments.yaml" --run-dir "$WORK/r12"
[ ! -e "$WORK/r12/params.h5" ] && pass "no work done for an empty config" || fail "an empty config ran"
printf 'run: {}\n' > "$WORK/defaults.yaml"
"$LNPSAXS_BIN/lnpsaxs-config" --config "$WORK/defaults.yaml" --get sample.n_train | grep -qx 32768 \
  && pass "run: {} asks for every default explicitly" || fail "run: {} is not accepted"
expect_exit 2 "unexpected argument 'curve.dat'.*--data FILE" "$S" --config "$LNPSAXS_SRC/configs/ci.yaml" --run-dir "$WORK/r12" curve.dat
expect_exit 2 "unexpected argument 'extra'" "$LNPSAXS_BIN/lnpsaxs-status" --config "$LNPSAXS_SRC/configs/ci.yaml" extra
expect_exit 2 "unexpected argument 'extra'" "$LNPSAXS_BIN/lnpsaxs-config" --config "$LNPSAXS_SRC/configs/ci.yaml" extra
[ ! -e "$WORK/r12/params.h5" ] && pass "no work done with a stray argument" || fail "a stray argument was ignored"
finish
