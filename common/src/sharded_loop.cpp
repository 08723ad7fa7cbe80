#include "lnpsaxs/sharded_loop.h"

#include <cstdio>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/stop.h"

namespace lnpsaxs::io {
namespace {
std::int64_t allreduce(std::int64_t v, MPI_Op op, MPI_Comm comm) {
  std::int64_t out = 0;
  MPI_Allreduce(&v, &out, 1, MPI_INT64_T, op, comm);
  return out;
}
}  // namespace

std::string shard_file_name(int shard, int num_shards) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "shard-%04d-of-%04d.h5", shard, num_shards);
  return buf;
}

void run_item_loop(CheckpointWriter& writer, const mpi::Environment& env, const ItemLoop& loop, const ItemBatchFn& fn) {
  const MPI_Comm comm = env.comm();
  const bool root = env.rank() == 0;
  const mpi::Range shard = mpi::block_range(loop.n_total, loop.num_shards, loop.shard);
  const mpi::Range mine = mpi::item_range(loop.n_total, loop.shard, loop.num_shards, env.rank(), env.size());

  H5Id group = ensure_group(writer.id(), loop.group);
  set_attr(group, "item_begin", shard.begin);
  set_attr(group, "item_end", shard.end);
  set_attr(group, "n_total", loop.n_total);
  std::vector<H5Id> datasets;
  for (const auto& o : loop.outputs) {
    const std::string path = loop.group + "/" + o.name;
    std::vector<hsize_t> dims{static_cast<hsize_t>(shard.size())};
    if (o.row_len > 1) dims.push_back(static_cast<hsize_t>(o.row_len));
    datasets.push_back(exists(writer.id(), path)
                           ? open_dataset(writer.id(), path)
                           : create_dataset(writer.id(), path, o.float32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE, dims));
  }
  DoneMask mask(writer.id(), loop.group + "/done", shard.size());
  // What commit() checks on the file as written before flagging it complete.
  writer.expect_done(loop.group + "/done", shard.size());
  for (const auto& o : loop.outputs) writer.expect_rows(loop.group + "/" + o.name, shard.size());

  std::vector<std::int64_t> todo;
  for (std::int64_t i = mine.begin; i < mine.end; ++i) {
    if (!mask.done(i - shard.begin)) todo.push_back(i);
  }
  const std::int64_t batch = std::max<std::int64_t>(1, loop.batch);
  const std::int64_t rounds = allreduce((static_cast<std::int64_t>(todo.size()) + batch - 1) / batch, MPI_MAX, comm);
  const std::int64_t already = allreduce(mine.size() - static_cast<std::int64_t>(todo.size()), MPI_SUM, comm);
  if (root && already > 0 && already < shard.size()) {
    log::info("{}: resuming shard {}: {} of {} items already done (rank 0 continues at item {})", loop.what, loop.shard,
              already, shard.size(), todo.empty() ? mine.end : todo.front());
  }
  if (rounds == 0) return;

  log::Progress progress(loop.what + " (shard " + std::to_string(loop.shard) + ")", shard.size(), already, 10.0, root);
  std::int64_t done_here = 0;
  const std::vector<float> none_f(1);
  const std::vector<double> none_d(1);
  for (std::int64_t round = 0; round < rounds; ++round) {
    const std::size_t lo = static_cast<std::size_t>(std::min<std::int64_t>(round * batch, static_cast<std::int64_t>(todo.size())));
    const std::size_t hi = static_cast<std::size_t>(std::min<std::int64_t>((round + 1) * batch, static_cast<std::int64_t>(todo.size())));
    const std::vector<std::int64_t> items(todo.begin() + static_cast<std::ptrdiff_t>(lo), todo.begin() + static_cast<std::ptrdiff_t>(hi));
    std::vector<std::vector<double>> rows;
    if (!items.empty()) {
      rows = fn(items);
      if (rows.size() != loop.outputs.size()) throw std::logic_error("run_item_loop: wrong number of outputs");
      for (std::size_t o = 0; o < rows.size(); ++o) {
        if (rows[o].size() != items.size() * static_cast<std::size_t>(loop.outputs[o].row_len)) {
          throw std::logic_error("run_item_loop: wrong row length for output " + loop.outputs[o].name);
        }
      }
    }
    // Lock-step collective writes: `batch` calls per output on every rank, empty where idle.
    for (std::size_t o = 0; o < loop.outputs.size(); ++o) {
      const ItemOutput& out = loop.outputs[o];
      for (std::int64_t slot = 0; slot < batch; ++slot) {
        const bool has = slot < static_cast<std::int64_t>(items.size());
        const std::int64_t row = has ? items[static_cast<std::size_t>(slot)] - shard.begin : 0;
        const double* src = has ? rows[o].data() + slot * out.row_len : none_d.data();
        if (out.float32) {
          std::vector<float> f(src, src + (has ? out.row_len : 0));
          write_rows<float>(datasets[o], row, has ? 1 : 0, has ? f.data() : none_f.data(), true);
        } else {
          write_rows<double>(datasets[o], row, has ? 1 : 0, src, true);
        }
      }
    }
    for (std::int64_t slot = 0; slot < batch; ++slot) {
      const bool has = slot < static_cast<std::int64_t>(items.size());
      const std::int64_t row = has ? items[static_cast<std::size_t>(slot)] - shard.begin : 0;
      mask.mark({row, row + (has ? 1 : 0)}, true);
    }
    writer.file().flush();  // this batch is on disk: a kill from here on loses nothing before it
    done_here += static_cast<std::int64_t>(items.size());
    progress.set_done(already + allreduce(done_here, MPI_SUM, comm));
    if (round + 1 < rounds && stop_requested(comm)) {
      throw StopRequested(loop.what + ": stopped by a signal after " + std::to_string(already + allreduce(done_here, MPI_SUM, comm)) +
                          " of " + std::to_string(shard.size()) + " items (checkpoint flushed); rerun the same command to resume");
    }
  }
  progress.finish();
}

}  // namespace lnpsaxs::io
