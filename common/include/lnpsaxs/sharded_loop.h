#pragma once
// The resumable, sharded item loop shared by the long stages simulate and synth
// (fit keeps its own loop over restart batches):
// items [0, n) are split by (array shard, MPI rank); a rank computes its items that are not yet
// done in batches; after every batch all ranks of the shard write their rows collectively
// (lock-step rounds, empty writes where a rank has nothing left), mark them in the `done` mask
// and flush, so a kill loses at most one batch and never corrupts or duplicates an item
// (docs/architecture.md §5).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/mpi_env.h"

namespace lnpsaxs::io {

/// The file name of shard `shard` of `num_shards` ("shard-0003-of-0008.h5"): the one spelling of
/// the shard files of simulate (curves/), synth (targets/) and fit (fits/<target>/), which their
/// join steps find again. Zero-padded to 4 digits (more digits past 9999).
std::string shard_file_name(int shard, int num_shards);

/// One per-item output dataset: /<group>/<name> with `row_len` values per item (1 → a 1-D
/// dataset [items], else [items, row_len]), stored as float32 or float64.
struct ItemOutput {
  std::string name;
  std::int64_t row_len = 1;
  bool float32 = false;
};

/// Settings of one loop.
struct ItemLoop {
  std::string group;          ///< "/train", "/case-1", ... (created if missing)
  std::string what;           ///< label for progress lines ("train curves")
  std::int64_t n_total = 0;   ///< items over all shards
  int shard = 0, num_shards = 1;
  std::int64_t batch = 1;     ///< items per rank per round (checkpoint granularity)
  std::vector<ItemOutput> outputs;
};

/// Computes rows for `items` (global indices, ascending): one flat vector per output, in the
/// order of ItemLoop::outputs, each items.size() × row_len values (row-major).
using ItemBatchFn = std::function<std::vector<std::vector<double>>(const std::vector<std::int64_t>& items)>;

/// Runs the loop in `writer`'s file (collective over `env`'s communicator). Rows of the shard's
/// datasets are items − shard.begin. Attributes item_begin/item_end/n_total go on the group.
/// Logs progress (rank 0) and, when resuming, from which item. Throws what `fn` throws.
void run_item_loop(CheckpointWriter& writer, const mpi::Environment& env, const ItemLoop& loop,
                   const ItemBatchFn& fn);

}  // namespace lnpsaxs::io
