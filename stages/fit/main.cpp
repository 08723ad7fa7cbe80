// lnpsaxs-fit: multi-start polydisperse fits → RUN/fits/<target>/ shards + fits.h5.
#include "fit_stage.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

int main(int argc, char** argv) {
#ifdef __GLIBC__
  // Every optimiser step allocates and frees the same few-MB tensors; with glibc's default
  // thresholds each one is an mmap/munmap pair (half the run time in the kernel). Keep them on
  // the heap instead.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
#endif
  return lnpsaxs::cli::run_stage(argc, argv, lnpsaxs::fit::stage_info(), lnpsaxs::fit::stage_options(),
                                 lnpsaxs::fit::run);
}
