// Config keys of the `synth` stage: synthetic polydisperse targets of paper Table S2 (docs/method.md §3.9).
#include <cmath>

#include "config_schema_parts.h"

namespace lnpsaxs::config::schema_parts {

void add_synth_keys(Schema& s) {
  KeySpec cases = real_key("synth.cases", "", 1.0, 4.0, "", "Table S2 cases to build (1..4)");
  cases.kind = Kind::real_list;
  cases.default_yaml = "[1, 2, 3, 4]";
  s.add(cases);
  s.add(int_key("synth.particles", "5000", 1, 1e8, "particles N per target, one fresh GRF realisation each"));
  s.add(choice_key("synth.distribution", "lognormal", {"lognormal", "normal"},
                   "radius distribution: truncated log-normal (paper) or truncated normal (reference code)"));
  s.add(range_key("synth.truncation", "[100, 500]", 0.0, std::nullopt, "Å", "support [A, B] of the radius distribution", true));
  s.add_check([](const Config& c) {
    const auto list = c.reals("synth.cases");
    if (list.empty()) fail(c, "synth.cases", "needs at least one case");
    for (double v : list) {
      if (v != std::floor(v)) fail(c, "synth.cases", "cases are whole numbers 1..4, got " + std::to_string(v));
    }
  });
}

}  // namespace lnpsaxs::config::schema_parts
