#include "lnpsaxs/mpi_env.h"

#include <string>

#include "lnpsaxs/errors.h"

namespace lnpsaxs::mpi {

Environment::Environment(int& argc, char**& argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
}

Environment::~Environment() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) MPI_Finalize();
}

Range block_range(std::int64_t n, std::int64_t parts, std::int64_t index) {
  if (parts < 1 || index < 0 || index >= parts) {
    throw InputError("part " + std::to_string(index) + " of " + std::to_string(parts) +
                     " does not exist (need 0 <= part < parts)");
  }
  const std::int64_t base = n / parts, extra = n % parts;
  const std::int64_t begin = index * base + (index < extra ? index : extra);
  return {begin, begin + base + (index < extra ? 1 : 0)};
}

Range item_range(std::int64_t n, int shard, int num_shards, int rank, int num_ranks) {
  const Range s = block_range(n, num_shards, shard);
  const Range r = block_range(s.size(), num_ranks, rank);
  return {s.begin + r.begin, s.begin + r.end};
}

}  // namespace lnpsaxs::mpi
