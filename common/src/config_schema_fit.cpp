// Config keys of the `fit` stage (section `fit`). See config_schema_parts.h.
#include "config_schema_parts.h"

namespace lnpsaxs::config::schema_parts {

void add_fit_keys(Schema& s) {
  (void)s;  // the fit stage declares its keys here
}

}  // namespace lnpsaxs::config::schema_parts
