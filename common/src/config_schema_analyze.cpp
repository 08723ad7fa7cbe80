// Config keys of the `analyze` stage (section `analyze`). See config_schema_parts.h.
#include "config_schema_parts.h"

namespace lnpsaxs::config::schema_parts {

void add_analyze_keys(Schema& s) {
  (void)s;  // the analyze stage declares its keys here
}

}  // namespace lnpsaxs::config::schema_parts
