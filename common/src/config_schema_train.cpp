// Config keys of the `train` stage (section `train`). See config_schema_parts.h.
// Defaults: docs/method.md §4.3–4.5 (surrogate, its loss and training).
#include "config_schema_parts.h"

namespace lnpsaxs::config::schema_parts {

void add_train_keys(Schema& s) {
  s.add(int_key("train.width", "1024", 1, 65536, "hidden width H of the surrogate (paper 1024; the reference checkpoint 1025)"));
  s.add(int_key("train.blocks", "9", 0, 1000, "residual blocks between the input and output layers (paper 9)"));
  s.add(int_key("train.epochs", "10000", 1, 1e9, "training epochs (passes over the training set)"));
  s.add(int_key("train.batch_size", "1024", 1, 1e9,
                "GLOBAL mini-batch size, split across the MPI ranks (the last partial batch is kept)"));
  s.add(real_key("train.lr", "1e-3", 0.0, 10.0, "", "AdamW learning rate at epoch 0", true));
  s.add(real_key("train.lr_min", "1e-7", 0.0, 10.0, "", "cosine schedule floor (reached after the last epoch)"));
  s.add(real_key("train.weight_decay", "0.01", 0.0, 10.0, "", "AdamW decoupled weight decay"));
  s.add(real_key("train.beta1", "0.9", 0.0, 0.999999, "", "AdamW β1"));
  s.add(real_key("train.beta2", "0.999", 0.0, 0.999999999, "", "AdamW β2"));
  s.add(real_key("train.eps", "1e-8", 0.0, 1.0, "", "AdamW ε", true));
  s.add(choice_key("train.loss", "code", {"code", "paper"},
                   "code: 10·mean(d_y)·mean SmoothL1((ŷ−y)/d_y); paper: mean SmoothL1((ŷ−y)/d_y) "
                   "(docs/method.md §4.4)"));
  s.add(real_key("train.smooth_l1_beta", "1.0", 0.0, 1e6, "", "transition point β of SmoothL1", true));
  s.add(int_key("train.checkpoint_every", "100", 1, 1e9,
                "epochs between checkpoints of model + optimiser (a killed run loses at most this many)"));
  s.add_check([](const Config& c) {
    if (c.real("train.lr_min") > c.real("train.lr")) {
      fail(c, "train.lr_min", "must not exceed train.lr (" + std::to_string(c.real("train.lr")) + ")");
    }
  });
}

}  // namespace lnpsaxs::config::schema_parts
