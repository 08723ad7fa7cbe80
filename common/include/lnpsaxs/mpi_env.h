#pragma once
// MPI helpers: RAII initialisation and the split of a global item range by (shard, rank)
// (docs/architecture.md §7: array task first, then MPI rank, contiguous blocks).
#include <mpi.h>

#include <cstdint>

namespace lnpsaxs::mpi {

/// Initialises MPI (MPI_THREAD_FUNNELED) on construction and finalises on destruction. One per
/// process, in main(). Works without mpiexec (singleton start).
class Environment {
 public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm comm() const { return MPI_COMM_WORLD; }
  /// Local rank on this node (for one GPU per rank: device = local_rank()).
  int local_rank() const { return local_rank_; }
  /// Number of ranks on this node.
  int local_size() const { return local_size_; }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

/// Half-open item range [begin, end).
struct Range {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
};

/// Part `index` of `n` items split into `parts` contiguous blocks whose sizes differ by at most
/// one (the first n % parts blocks are one longer). Throws InputError if index ∉ [0, parts).
Range block_range(std::int64_t n, std::int64_t parts, std::int64_t index);

/// Items of (shard, rank): the shard's block of [0, n) split again across the shard's ranks.
Range item_range(std::int64_t n, int shard, int num_shards, int rank, int num_ranks);

}  // namespace lnpsaxs::mpi
