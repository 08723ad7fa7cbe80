#pragma once
// Clean stop on SIGTERM / SIGUSR1 / SIGINT (SLURM's --signal before the time limit, scancel,
// Ctrl-C): the handler only sets a flag; long loops poll it at their checkpoint boundaries, agree
// across ranks, flush, and throw StopRequested, which the stage's main turns into exit code 3
// ("interrupted, rerun to resume") without losing the last batch. A second signal kills at once.
#include <stdexcept>

#include <mpi.h>

namespace lnpsaxs {

/// Thrown at a checkpoint boundary after a stop signal; every rank throws it together.
class StopRequested : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Exit code of a stage stopped cleanly by a signal.
constexpr int kExitInterrupted = 3;

/// Installs the handlers (idempotent).
void install_stop_handlers();
/// Collective over `comm`: true on every rank if any rank got a stop signal.
bool stop_requested(MPI_Comm comm);

}  // namespace lnpsaxs
