#include "lnpsaxs/config.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/sha256.h"

namespace lnpsaxs::config {
namespace {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::integer: return "an integer";
    case Kind::real: return "a number";
    case Kind::boolean: return "true or false";
    case Kind::string: return "a string";
    case Kind::choice: return "one of the listed choices";
    case Kind::range: return "a range [lo, hi]";
    case Kind::real_list: return "a list of numbers";
    case Kind::string_list: return "a list of strings";
    case Kind::records: return "a list of mappings";
    case Kind::mapping: return "a mapping";
  }
  return "?";
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string fmt_num(double v) {
  // Shortest text that reads back to the same double ("0.05", "100", "1e-07").
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

/// Everything needed to format one error message.
struct Ctx {
  const std::string& file;
  std::string path;
  int line;
  [[noreturn]] void fail(const std::string& what) const {
    std::ostringstream os;
    os << file;
    if (line > 0) os << ":" << line;
    os << ": " << (path.empty() ? std::string("(top level)") : path) << ": " << what;
    throw ConfigError(os.str());
  }
};

int line_of(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

double parse_number(const YAML::Node& n, const Ctx& c, bool want_integer) {
  if (!n.IsScalar()) c.fail(std::string("expected ") + (want_integer ? "an integer" : "a number") + ", got a " +
                            (n.IsSequence() ? "list" : n.IsMap() ? "mapping" : "null value"));
  const std::string& s = n.Scalar();
  std::size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  // A quoted scalar is a string even if it looks like a number.
  if (pos != s.size() || s.empty() || n.Tag() == "!") {
    c.fail(std::string("expected ") + (want_integer ? "an integer" : "a number") + ", got '" + s + "'");
  }
  if (!std::isfinite(v)) c.fail("expected a finite number, got '" + s + "'");
  if (want_integer && (v != std::floor(v) || std::fabs(v) > 9.007199254740992e15)) {
    c.fail("expected an integer, got '" + s + "'");
  }
  return v;
}

void check_bounds(double v, const KeySpec& k, const Ctx& c, const std::string& what = "value") {
  if (k.min) {
    if (k.min_exclusive ? !(v > *k.min) : !(v >= *k.min)) {
      c.fail(what + " " + fmt_num(v) + " is out of range: must be " + (k.min_exclusive ? "> " : ">= ") +
             fmt_num(*k.min));
    }
  }
  if (k.max && !(v <= *k.max)) {
    c.fail(what + " " + fmt_num(v) + " is out of range: must be <= " + fmt_num(*k.max));
  }
}

YAML::Node validate(const YAML::Node& n, const KeySpec& k, const Ctx& c,
                    std::vector<std::map<std::string, int>>* record_lines = nullptr);

/// One mapping `e` validated field by field against `k.fields` (defaults filled in, required
/// fields enforced); `lines` receives the line of every field given. The elements of a records key
/// and a mapping field both go through here. `ce.path` is the mapping's own path.
YAML::Node validate_fields(const YAML::Node& e, const KeySpec& k, const Ctx& ce, std::map<std::string, int>& lines) {
  if (!e.IsMap()) ce.fail("expected a mapping of fields");
  std::map<std::string, YAML::Node> given;
  for (const auto& kv : e) {
    const std::string name = kv.first.as<std::string>();
    Ctx cf{ce.file, ce.path + "." + name, line_of(kv.second) ? line_of(kv.second) : line_of(kv.first)};
    const KeySpec* f = nullptr;
    for (const auto& cand : k.fields) {
      if (cand.path == name) f = &cand;
    }
    if (!f) {
      std::string hint;
      std::size_t best = 3;
      for (const auto& cand : k.fields) {
        std::size_t d = edit_distance(name, cand.path);
        if (d < best) {
          best = d;
          hint = cand.path;
        }
      }
      cf.fail("unknown field" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
    }
    if (given.count(name)) cf.fail("field given twice");
    given[name] = validate(kv.second, *f, cf);
    lines[name] = cf.line;
  }
  YAML::Node rec(YAML::NodeType::Map);
  for (const auto& f : k.fields) {
    if (given.count(f.path)) {
      rec[f.path] = given[f.path];
    } else if (f.default_yaml.empty()) {
      ce.fail("missing required field '" + f.path + "' (" + f.doc + ")");
    } else {
      rec[f.path] = validate(YAML::Load(f.default_yaml), f, Ctx{ce.file, ce.path + "." + f.path, 0});
    }
  }
  return rec;
}

/// Validates `n` against `k` and returns the normalised value node (numbers re-emitted
/// canonically so the resolved text and its hash do not depend on how a number was written).
YAML::Node validate(const YAML::Node& n, const KeySpec& k, const Ctx& c,
                    std::vector<std::map<std::string, int>>* record_lines) {
  switch (k.kind) {
    case Kind::integer: {
      double v = parse_number(n, c, true);
      check_bounds(v, k, c);
      return YAML::Node(static_cast<long long>(v));
    }
    case Kind::real: {
      double v = parse_number(n, c, false);
      check_bounds(v, k, c);
      return YAML::Node(fmt_num(v));
    }
    case Kind::boolean: {
      bool b = false;
      if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) {
        c.fail("expected true or false, got '" + (n.IsScalar() ? n.Scalar() : std::string("non-scalar")) + "'");
      }
      return YAML::Node(b);
    }
    case Kind::string: {
      if (!n.IsScalar()) c.fail("expected a string");
      return YAML::Node(n.Scalar());
    }
    case Kind::choice: {
      if (!n.IsScalar()) c.fail("expected one of the choices");
      if (std::find(k.choices.begin(), k.choices.end(), n.Scalar()) == k.choices.end()) {
        std::string list;
        for (const auto& ch : k.choices) list += (list.empty() ? "" : ", ") + ch;
        c.fail("'" + n.Scalar() + "' is not one of: " + list);
      }
      return YAML::Node(n.Scalar());
    }
    case Kind::range: {
      if (!n.IsSequence() || n.size() != 2) c.fail("expected a range [lo, hi] of two numbers");
      double lo = parse_number(n[0], c, false), hi = parse_number(n[1], c, false);
      check_bounds(lo, k, c, "lower bound");
      check_bounds(hi, k, c, "upper bound");
      if (!(lo < hi)) c.fail("lower bound " + fmt_num(lo) + " must be < upper bound " + fmt_num(hi));
      YAML::Node out(YAML::NodeType::Sequence);
      out.push_back(fmt_num(lo));
      out.push_back(fmt_num(hi));
      return out;
    }
    case Kind::real_list: {
      if (!n.IsSequence()) c.fail("expected a list of numbers");
      YAML::Node out(YAML::NodeType::Sequence);
      for (const auto& e : n) {
        double v = parse_number(e, c, false);
        check_bounds(v, k, c, "element");
        out.push_back(fmt_num(v));
      }
      return out;
    }
    case Kind::string_list: {
      YAML::Node out(YAML::NodeType::Sequence);
      if (n.IsScalar()) {  // a single string is a list of one
        out.push_back(n.Scalar());
        return out;
      }
      if (!n.IsSequence()) c.fail("expected a list of strings");
      for (const auto& e : n) {
        if (!e.IsScalar()) c.fail("expected a list of strings");
        out.push_back(e.Scalar());
      }
      return out;
    }
    case Kind::records: {
      YAML::Node out(YAML::NodeType::Sequence);
      if (n.IsNull()) return out;
      if (!n.IsSequence()) c.fail("expected a list of mappings");
      std::size_t idx = 0;
      for (const auto& e : n) {
        std::map<std::string, int> lines;
        out.push_back(validate_fields(e, k, Ctx{c.file, c.path + "[" + std::to_string(idx++) + "]", line_of(e)}, lines));
        if (record_lines) record_lines->push_back(lines);
      }
      return out;
    }
    case Kind::mapping: {
      std::map<std::string, int> lines;
      return validate_fields(n.IsNull() ? YAML::Node(YAML::NodeType::Map) : n, k, c, lines);
    }
  }
  c.fail("unsupported key kind");
}

void emit_value(YAML::Emitter& out, const YAML::Node& v, const KeySpec& k) {
  const Kind kind = k.kind;
  if (kind == Kind::mapping) {
    out << YAML::Flow << YAML::BeginMap;
    for (const auto& f : k.fields) {
      out << YAML::Key << f.path << YAML::Value;
      emit_value(out, v[f.path], f);
    }
    out << YAML::EndMap;
  } else if (kind == Kind::records) {
    out << YAML::BeginSeq;
    for (const auto& e : v) {
      out << YAML::Flow << YAML::BeginMap;
      for (const auto& f : k.fields) {
        out << YAML::Key << f.path << YAML::Value;
        emit_value(out, e[f.path], f);
      }
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  } else if (kind == Kind::range || kind == Kind::real_list || kind == Kind::string_list) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& e : v) out << e.Scalar();
    out << YAML::EndSeq;
  } else if (kind == Kind::boolean) {
    out << v.as<bool>();
  } else {
    out << v.Scalar();
  }
}

std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> parts;
  std::string cur;
  for (char ch : p) {
    if (ch == '.') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(ch);
    }
  }
  parts.push_back(cur);
  return parts;
}

bool under_prefix(const std::string& path, const std::string& prefix) {
  return path == prefix || (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
                            path[prefix.size()] == '.');
}

}  // namespace

// ---------------------------------------------------------------------------------------------
Schema& Schema::add(KeySpec spec) {
  if (index_.count(spec.path)) throw std::logic_error("duplicate config key " + spec.path);
  index_[spec.path] = keys_.size();
  keys_.push_back(std::move(spec));
  return *this;
}

const KeySpec* Schema::find(const std::string& path) const {
  auto it = index_.find(path);
  return it == index_.end() ? nullptr : &keys_[it->second];
}

Schema& Schema::add_check(std::function<void(const Config&)> check) {
  checks_.push_back(std::move(check));
  return *this;
}

bool Schema::is_section(const std::string& prefix) const {
  auto it = index_.lower_bound(prefix + ".");
  return it != index_.end() && it->first.compare(0, prefix.size() + 1, prefix + ".") == 0;
}

std::string Schema::suggest(const std::string& path) const {
  std::string best;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  const std::string leaf = split_path(path).back();
  for (const auto& k : keys_) {
    std::size_t d = std::min(edit_distance(path, k.path), edit_distance(leaf, split_path(k.path).back()) + 1);
    if (d < best_d) {
      best_d = d;
      best = k.path;
    }
  }
  return best_d <= std::max<std::size_t>(2, leaf.size() / 3) ? best : std::string();
}

// ---------------------------------------------------------------------------------------------
namespace {
/// Whether `text` holds anything but blank lines and # comments (a YAML document at all).
bool has_content(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t k = line.find_first_not_of(" \t\r");
    if (k != std::string::npos && line[k] != '#') return true;
  }
  return false;
}
}  // namespace

Config Config::load(const std::string& file, const Schema& schema) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    throw ConfigError(file + ": is a directory, not a config file (give --config FILE.yaml, e.g. configs/quick.yaml)");
  }
  std::ifstream in(file);
  if (!in) throw ConfigError(file + ": cannot read config file (does it exist?)");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError(file + ": cannot read config file (" + std::strerror(errno) + ")");
  const std::string text = ss.str();
  if (!has_content(text)) {
    // Most likely a truncated copy or the wrong file; an empty config would silently run the
    // paper-scale defaults (32,768 curves).
    throw ConfigError(file + ": the config is empty" + (text.empty() ? " (0 bytes)" : " (only comments)") +
                      "; to run with every default, say so explicitly with a config holding `run: {}`");
  }
  return from_string(text, file, schema);
}

Config Config::from_string(const std::string& text, const std::string& source, const Schema& schema) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::ostringstream os;
    os << source << ":" << (e.mark.line >= 0 ? e.mark.line + 1 : 0) << ": YAML syntax error: " << e.msg;
    throw ConfigError(os.str());
  }
  Config cfg;
  cfg.schema_ = &schema;
  cfg.source_ = source;
  if (root && !root.IsNull() && !root.IsMap()) {
    Ctx{source, "", line_of(root)}.fail("the config must be a mapping of sections");
  }

  // Walk the document: every key must be declared, or be a section holding declared keys.
  struct Frame {
    YAML::Node node;
    std::string prefix;
  };
  std::vector<Frame> stack;
  if (root && root.IsMap()) stack.push_back({root, ""});
  while (!stack.empty()) {
    Frame f = stack.back();
    stack.pop_back();
    for (const auto& kv : f.node) {
      const std::string key = kv.first.as<std::string>();
      const std::string path = f.prefix.empty() ? key : f.prefix + "." + key;
      Ctx c{source, path, line_of(kv.first)};
      if (const KeySpec* k = schema.find(path)) {
        Ctx cv{source, path, line_of(kv.second) ? line_of(kv.second) : c.line};
        if (cfg.values_.count(path)) cv.fail("key given twice");
        std::vector<std::map<std::string, int>> rl;
        cfg.values_[path] = validate(kv.second, *k, cv, &rl);
        if (k->kind == Kind::records) cfg.record_lines_[path] = rl;
        cfg.lines_[path] = cv.line;
      } else if (schema.is_section(path)) {
        if (kv.second.IsNull()) continue;  // an empty section: all defaults
        if (!kv.second.IsMap()) c.fail("expected a section (a mapping of keys)");
        stack.push_back({kv.second, path});
      } else {
        std::string hint = schema.suggest(path);
        c.fail("unknown key" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
      }
    }
  }

  // Defaults and required keys.
  for (const auto& k : schema.keys()) {
    if (cfg.values_.count(k.path)) continue;
    Ctx c{source, k.path, 0};
    if (k.default_yaml.empty()) c.fail("missing required key (" + k.doc + ")");
    cfg.values_[k.path] = validate(YAML::Load(k.default_yaml), k, c);
    cfg.lines_[k.path] = 0;
  }
  for (const auto& check : schema.checks()) check(cfg);
  cfg.resolved_yaml_ = cfg.canonical_yaml(nullptr, true);
  // The identity hashes values only: rewording a key's description does not change it.
  cfg.sha256_ = sha256_hex(cfg.canonical_yaml(nullptr, false));
  return cfg;
}

std::string Config::canonical_yaml(const std::vector<std::string>* prefixes, bool docs) const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::vector<std::string> open;  // currently open section names
  for (const auto& k : schema_->keys()) {
    if (prefixes) {
      bool keep = false;
      for (const auto& p : *prefixes) keep = keep || under_prefix(k.path, p);
      if (!keep) continue;
    }
    std::vector<std::string> parts = split_path(k.path);
    std::size_t common = 0;
    while (common < open.size() && common + 1 < parts.size() && open[common] == parts[common]) ++common;
    while (open.size() > common) {
      out << YAML::EndMap;
      open.pop_back();
    }
    for (std::size_t i = common; i + 1 < parts.size(); ++i) {
      out << YAML::Key << parts[i] << YAML::Value << YAML::BeginMap;
      open.push_back(parts[i]);
    }
    out << YAML::Key << parts.back() << YAML::Value;
    emit_value(out, values_.at(k.path), k);
    if (docs && !k.doc.empty()) out << YAML::Comment(k.doc + (k.unit.empty() ? "" : " [" + k.unit + "]"));
  }
  while (!open.empty()) {
    out << YAML::EndMap;
    open.pop_back();
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string Config::fingerprint(const std::vector<std::string>& prefixes) const {
  return sha256_hex(canonical_yaml(&prefixes, false));
}

const KeySpec& Config::spec(const std::string& path, Kind expected) const {
  const KeySpec* k = schema_->find(path);
  if (!k) throw std::logic_error("config key not in schema: " + path);
  bool ok = k->kind == expected || (expected == Kind::string && k->kind == Kind::choice);
  if (!ok) throw std::logic_error("config key " + path + " is not " + kind_name(expected));
  return *k;
}

std::int64_t Config::integer(const std::string& p) const {
  spec(p, Kind::integer);
  return values_.at(p).as<long long>();
}
double Config::real(const std::string& p) const {
  spec(p, Kind::real);
  return std::stod(values_.at(p).Scalar());
}
bool Config::boolean(const std::string& p) const {
  spec(p, Kind::boolean);
  return values_.at(p).as<bool>();
}
std::string Config::string(const std::string& p) const {
  spec(p, Kind::string);
  return values_.at(p).Scalar();
}
std::pair<double, double> Config::range(const std::string& p) const {
  spec(p, Kind::range);
  const YAML::Node& v = values_.at(p);
  return {std::stod(v[0].Scalar()), std::stod(v[1].Scalar())};
}
std::vector<double> Config::reals(const std::string& p) const {
  spec(p, Kind::real_list);
  std::vector<double> out;
  for (const auto& e : values_.at(p)) out.push_back(std::stod(e.Scalar()));
  return out;
}
std::vector<std::string> Config::strings(const std::string& p) const {
  spec(p, Kind::string_list);
  std::vector<std::string> out;
  for (const auto& e : values_.at(p)) out.push_back(e.Scalar());
  return out;
}
std::vector<Record> Config::records(const std::string& p) const {
  const KeySpec& k = spec(p, Kind::records);
  std::vector<Record> out;
  const YAML::Node& v = values_.at(p);
  auto lines = record_lines_.count(p) ? record_lines_.at(p) : std::vector<std::map<std::string, int>>{};
  for (std::size_t i = 0; i < v.size(); ++i) {
    out.emplace_back(p + "[" + std::to_string(i) + "]", &k, v[i], i < lines.size() ? lines[i] : std::map<std::string, int>{},
                     source_);
  }
  return out;
}

const KeySpec& Record::field_spec(const std::string& field) const {
  for (const auto& f : spec_->fields) {
    if (f.path == field) return f;
  }
  throw std::logic_error("config record " + path_ + " has no field " + field);
}
std::int64_t Record::integer(const std::string& f) const {
  field_spec(f);
  return node_[f].as<long long>();
}
double Record::real(const std::string& f) const {
  field_spec(f);
  return std::stod(node_[f].Scalar());
}
bool Record::boolean(const std::string& f) const {
  field_spec(f);
  return node_[f].as<bool>();
}
std::string Record::string(const std::string& f) const {
  field_spec(f);
  return node_[f].Scalar();
}
std::pair<double, double> Record::range(const std::string& f) const {
  field_spec(f);
  return {std::stod(node_[f][0].Scalar()), std::stod(node_[f][1].Scalar())};
}
std::vector<double> Record::reals(const std::string& f) const {
  field_spec(f);
  std::vector<double> out;
  for (const auto& e : node_[f]) out.push_back(std::stod(e.Scalar()));
  return out;
}
std::vector<std::string> Record::strings(const std::string& f) const {
  field_spec(f);
  std::vector<std::string> out;
  for (const auto& e : node_[f]) out.push_back(e.Scalar());
  return out;
}
Record Record::mapping(const std::string& f) const {
  const KeySpec& k = field_spec(f);
  if (k.kind != Kind::mapping) throw std::logic_error("config record field " + path_ + "." + f + " is not a mapping");
  std::map<std::string, int> lines;
  auto it = lines_.find(f);
  if (it != lines_.end()) {
    for (const auto& sub : k.fields) lines[sub.path] = it->second;
  }
  return Record(path_ + "." + f, &k, node_[f], lines, source_);
}
std::string Record::canonical() const { return canonical_except(""); }
std::string Record::canonical_except(const std::string& skip) const {
  YAML::Emitter out;
  out << YAML::Flow << YAML::BeginMap;
  for (const auto& f : spec_->fields) {
    if (f.path == skip) continue;
    out << YAML::Key << f.path << YAML::Value;
    emit_value(out, node_[f.path], f);
  }
  out << YAML::EndMap;
  return out.c_str();
}

std::string Record::where(const std::string& f) const {
  std::ostringstream os;
  os << source_;
  auto it = lines_.find(f);
  if (it != lines_.end() && it->second > 0) os << ":" << it->second;
  os << ": " << path_ << "." << f << ": ";
  return os.str();
}

int Config::line(const std::string& p) const {
  auto it = lines_.find(p);
  return it == lines_.end() ? 0 : it->second;
}
bool Config::given(const std::string& p) const { return line(p) > 0; }

std::string Config::where(const std::string& p) const {
  std::ostringstream os;
  os << source_;
  if (line(p) > 0) os << ":" << line(p);
  os << ": " << p << ": ";
  return os.str();
}

}  // namespace lnpsaxs::config
