#pragma once
// Strict YAML configuration with a declared schema (docs/architecture.md §4).
//
// Every key the pipeline understands is declared once in pipeline_schema() (config_schema.cpp)
// with its kind, default, bounds and a one-line description. Loading a file:
//   - an unknown key, a wrong type, a missing required key or an out-of-range value throws
//     ConfigError "FILE:LINE: key.path: what is wrong" (the CLI turns it into exit code 2);
//   - every key not given takes its declared default, so the resolved config is complete;
//   - the resolved config has one canonical YAML text (keys in schema order); the SHA-256 of
//     its values (descriptions aside) identifies the run, and fingerprint() hashes only the sections a stage depends on, so a
//     stage can tell whether an existing output was made under a compatible config.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace lnpsaxs::config {

class Config;

/// What a key holds.
enum class Kind {
  integer,      ///< whole number (int64)
  real,         ///< floating-point number
  boolean,      ///< true / false
  string,       ///< free text (paths, names)
  choice,       ///< one of a declared set of strings
  range,        ///< [lo, hi] with lo < hi (parameter boxes)
  real_list,    ///< list of numbers
  string_list,  ///< list of strings
  records,      ///< list of mappings, each validated against `fields` (e.g. fit targets)
  mapping,      ///< one mapping validated against `fields` (a field of a record, e.g. a target's size_prior)
};

/// Declaration of one key. `path` is dotted ("sample.n_train"); `default_yaml` is the YAML text of
/// the default value, or empty for a required key; `min`/`max` bound numbers (inclusive, applied to
/// each element of ranges and lists); `min_exclusive` turns `min` into a strict bound.
struct KeySpec {
  std::string path;
  Kind kind = Kind::real;
  std::string default_yaml;
  std::optional<double> min;
  std::optional<double> max;
  bool min_exclusive = false;
  std::vector<std::string> choices;
  std::string unit;
  std::string doc;
  std::vector<KeySpec> fields;  ///< Kind::records / mapping: the fields of each element (path = field name)
};

/// One element of a Kind::records key, with its fields validated and defaults filled in.
class Record {
 public:
  Record(std::string path, const KeySpec* spec, YAML::Node node, std::map<std::string, int> lines,
         std::string source)
      : path_(std::move(path)), spec_(spec), node_(std::move(node)), lines_(std::move(lines)), source_(std::move(source)) {}
  std::int64_t integer(const std::string& field) const;
  double real(const std::string& field) const;
  bool boolean(const std::string& field) const;
  std::string string(const std::string& field) const;
  std::pair<double, double> range(const std::string& field) const;
  std::vector<double> reals(const std::string& field) const;
  std::vector<std::string> strings(const std::string& field) const;  ///< string_list fields
  /// A Kind::mapping field as a record of its own (path "fit.targets[1].size_prior"; its fields
  /// report the line of `field` in messages).
  Record mapping(const std::string& field) const;
  /// True if the field was given (not defaulted).
  bool given(const std::string& field) const { return lines_.count(field) > 0; }
  /// "FILE:LINE: fit.targets[1].file: " prefix for messages about a field.
  std::string where(const std::string& field) const;
  const std::string& path() const { return path_; }  ///< "fit.targets[1]"
  /// Canonical YAML text of this record (fields in declaration order, defaults filled in).
  std::string canonical() const;
  /// Same without `field` (a batch member's identity must not depend on the other members' files).
  std::string canonical_except(const std::string& field) const;

 private:
  const KeySpec& field_spec(const std::string& field) const;
  std::string path_;
  const KeySpec* spec_;
  YAML::Node node_;
  std::map<std::string, int> lines_;
  std::string source_;
};

/// An ordered set of key declarations. Keys of one section must be declared contiguously (the
/// canonical YAML text nests them in declaration order).
class Schema {
 public:
  /// Adds a key. Throws std::logic_error on a duplicate path (a programming error).
  Schema& add(KeySpec spec);
  const KeySpec* find(const std::string& path) const;
  /// True if some key lives below `prefix` ("sample" for "sample.n_train").
  bool is_section(const std::string& prefix) const;
  const std::vector<KeySpec>& keys() const { return keys_; }
  /// Closest declared name to an unknown `path`, for "did you mean" hints (empty if none close).
  std::string suggest(const std::string& path) const;

  /// Registers a check across several keys, run after defaults are filled in; it throws
  /// ConfigError (use Config::where() for the message prefix).
  Schema& add_check(std::function<void(const Config&)> check);
  const std::vector<std::function<void(const Config&)>>& checks() const { return checks_; }

 private:
  std::vector<KeySpec> keys_;
  std::vector<std::function<void(const Config&)>> checks_;
  std::map<std::string, std::size_t> index_;
};

/// The schema of every key of every stage (config_schema.cpp).
const Schema& pipeline_schema();

/// A validated, fully resolved configuration. Cheap to copy.
class Config {
 public:
  /// Loads and validates FILE. Throws ConfigError naming the file, line and key at fault; a file
  /// that cannot be read or is not valid YAML also throws ConfigError.
  static Config load(const std::string& file, const Schema& schema = pipeline_schema());
  /// Same from YAML text; `source_name` stands for the file name in messages.
  static Config from_string(const std::string& yaml_text, const std::string& source_name,
                            const Schema& schema = pipeline_schema());

  std::int64_t integer(const std::string& path) const;
  double real(const std::string& path) const;
  bool boolean(const std::string& path) const;
  std::string string(const std::string& path) const;  ///< string and choice keys
  std::pair<double, double> range(const std::string& path) const;
  std::vector<double> reals(const std::string& path) const;
  std::vector<std::string> strings(const std::string& path) const;
  std::vector<Record> records(const std::string& path) const;
  /// Line (1-based) where the key was given in the file, or 0 if it took its default.
  int line(const std::string& path) const;
  /// True if the key was given in the file (not defaulted).
  bool given(const std::string& path) const;

  /// "FILE:LINE: path: " prefix for a message about this key (for cross-key checks in stages).
  std::string where(const std::string& path) const;

  /// Canonical YAML text of the resolved config (schema order, defaults filled in, each key's
  /// description and unit as a comment).
  const std::string& resolved_yaml() const { return resolved_yaml_; }
  /// Lower-case hex SHA-256 of the canonical text of the values alone (resolved_yaml() without
  /// its comments): rewording a key's description leaves a run's identity unchanged.
  const std::string& sha256() const { return sha256_; }
  /// SHA-256 of the canonical text of only the keys under the given prefixes ("sample",
  /// "run.seed"): what a stage's output depends on. Two configs that differ elsewhere give the
  /// same fingerprint.
  std::string fingerprint(const std::vector<std::string>& prefixes) const;
  const std::string& source() const { return source_; }
  const Schema& schema() const { return *schema_; }

 private:
  Config() = default;
  const KeySpec& spec(const std::string& path, Kind expected) const;
  /// The canonical text of the keys under `prefixes` (all keys when null), in schema order;
  /// with `docs`, each key carries its description as a YAML comment.
  std::string canonical_yaml(const std::vector<std::string>* prefixes, bool docs) const;

  const Schema* schema_ = nullptr;
  std::string source_;
  std::map<std::string, YAML::Node> values_;
  std::map<std::string, int> lines_;
  std::map<std::string, std::vector<std::map<std::string, int>>> record_lines_;
  std::string resolved_yaml_;
  std::string sha256_;
};

}  // namespace lnpsaxs::config
