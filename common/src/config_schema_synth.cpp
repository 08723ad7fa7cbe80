// Config keys of the `synth` stage (section `synth`). See config_schema_parts.h.
#include "config_schema_parts.h"

namespace lnpsaxs::config::schema_parts {

void add_synth_keys(Schema& s) {
  (void)s;  // the synth stage declares its keys here
}

}  // namespace lnpsaxs::config::schema_parts
