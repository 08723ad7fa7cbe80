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
    return t;
  }();
  auto it = table.find(stage);
  if (it == table.end()) throw std::logic_error("no such stage: " + stage);
  return it->second;
}

}  // namespace lnpsaxs::stages
