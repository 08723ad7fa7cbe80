#pragma once
// doctest for test files that use LibTorch. LibTorch 1.13's c10/util/Logging.h defines a
// glog-style CHECK (fatal, not counted by doctest) that silently replaces doctest's CHECK. This
// header includes that file first (its include guard keeps later LibTorch headers from defining
// CHECK again), drops the macro and then includes doctest, so it works in any include order.
#include <c10/util/Logging.h>

#undef CHECK
#include <doctest/doctest.h>
