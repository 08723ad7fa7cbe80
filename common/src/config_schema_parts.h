#pragma once
// Internal: each stage declares its own config keys in its own file (config_schema_<stage>.cpp)
// so that stages can grow independently; config_schema.cpp calls them in pipeline order.
#include <optional>
#include <string>
#include <vector>

#include "lnpsaxs/config.h"

namespace lnpsaxs::config::schema_parts {

KeySpec range_key(const std::string& path, const std::string& def, std::optional<double> min,
                  std::optional<double> max, const std::string& unit, const std::string& doc,
                  bool min_exclusive = false);
KeySpec real_key(const std::string& path, const std::string& def, std::optional<double> min,
                 std::optional<double> max, const std::string& unit, const std::string& doc,
                 bool min_exclusive = false);
KeySpec int_key(const std::string& path, const std::string& def, std::optional<double> min,
                std::optional<double> max, const std::string& doc);
/// A list of reals (Kind::real_list), each >= `min` when given.
KeySpec list_key(const std::string& path, const std::string& def, std::optional<double> min,
                 const std::string& unit, const std::string& doc);
KeySpec choice_key(const std::string& path, const std::string& def, std::vector<std::string> choices,
                   const std::string& doc);
KeySpec string_key(const std::string& path, const std::string& def, const std::string& doc);
KeySpec bool_key(const std::string& path, const std::string& def, const std::string& doc);
/// Throws ConfigError "<where(path)><what>".
[[noreturn]] void fail(const Config& c, const std::string& path, const std::string& what);

void add_synth_keys(Schema& s);    // config_schema_synth.cpp
void add_train_keys(Schema& s);    // config_schema_train.cpp
void add_fit_keys(Schema& s);      // config_schema_fit.cpp
void add_analyze_keys(Schema& s);  // config_schema_analyze.cpp
void add_posterior_keys(Schema& s);  // config_schema_analyze.cpp

}  // namespace lnpsaxs::config::schema_parts
