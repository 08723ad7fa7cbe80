// Config keys of the `train` stage (section `train`). See config_schema_parts.h.
#include "config_schema_parts.h"

namespace lnpsaxs::config::schema_parts {

void add_train_keys(Schema& s) {
  (void)s;  // the train stage declares its keys here
}

}  // namespace lnpsaxs::config::schema_parts
