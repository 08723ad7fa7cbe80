#include "lnpsaxs/stages.h"

#include <map>
#include <stdexcept>

namespace lnpsaxs::stages {

const std::vector<std::string>& sections(const std::string& stage) {
  static const std::map<std::string, std::vector<std::string>> table = [] {
    std::map<std::string, std::vector<std::string>> t;
    t["sample"] = {"run.seed", "parameters", "sample"};
    t["simulate"] = t["sample"];
    for (const char* s : {"q", "simulate"}) t["simulate"].push_back(s);
    t["synth"] = {"run.seed", "q", "simulate", "synth"};
    t["train"] = t["simulate"];
    t["train"].push_back("train");
    t["fit"] = t["train"];
    for (const char* s : {"size_distribution", "fit"}) t["fit"].push_back(s);
    t["analyze"] = t["fit"];
    t["analyze"].push_back("analyze");
    return t;
  }();
  auto it = table.find(stage);
  if (it == table.end()) throw std::logic_error("no such stage: " + stage);
  return it->second;
}

}  // namespace lnpsaxs::stages
