#include "lnpsaxs/saxs_data.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/log.h"

namespace lnpsaxs::io {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// One data row as read, before validation.
struct Row {
  double q = kNaN, i = kNaN, sigma = kNaN, dq = kNaN;  ///< dq: pinhole resolution σ_q (4th column / Qdev)
  std::string where;  ///< "FILE:LINE"
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw InputError(where + ": " + what);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

/// Parses a whole token as a number (nan and inf included). False for text.
bool parse_number(const std::string& token, double& out) {
  if (token.empty()) return false;
  const char* b = token.c_str();
  char* e = nullptr;
  out = std::strtod(b, &e);
  return e == b + token.size();
}

std::vector<std::string> split_ws(const std::string& line) {
  std::istringstream is(line);
  std::vector<std::string> out;
  std::string t;
  while (is >> t) out.push_back(t);
  return out;
}

std::vector<std::string> split_on(const std::string& line, char delim) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == delim) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(trim(cur));
  return out;
}

/// `key: value` with a non-numeric key (beamline trailers: "creator: datop").
bool key_value(const std::string& line, std::pair<std::string, std::string>& kv) {
  const std::size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  const std::string key = trim(line.substr(0, colon));
  double dummy = 0;
  if (key.empty() || parse_number(key, dummy)) return false;
  kv = {key, trim(line.substr(colon + 1))};
  return true;
}

/// The q unit a piece of header text names: +1 nm⁻¹, −1 Å⁻¹, 0 neither or both.
int unit_hint(const std::string& text) {
  const std::string t = lower(text);
  static const char* nm[] = {"1/nm",       "nm^-1",  "nm-1", "nm**-1", "nm\xe2\x81\xbb\xc2\xb9",
                             "inverse nm", "nm^{-1}"};
  static const char* aa[] = {"1/a)",
                             "1/a]",
                             "1/a ",
                             "1/\xc3\xa5",
                             "1/\xc3\x85",
                             "a^-1",
                             "\xc3\xa5^-1",
                             "\xc3\x85^-1",
                             "\xc3\xa5\xe2\x81\xbb\xc2\xb9",
                             "\xc3\x85\xe2\x81\xbb\xc2\xb9",
                             "1/angstrom",
                             "angstrom^-1",
                             "a-1)",
                             "1/\xe2\x84\xab",
                             "\xe2\x84\xab^-1"};
  bool has_nm = false, has_a = false;
  for (const char* p : nm) has_nm = has_nm || t.find(p) != std::string::npos;
  for (const char* p : aa) has_a = has_a || t.find(p) != std::string::npos;
  if (!has_nm && (t == "1/a" || (t.size() >= 4 && t.compare(t.size() - 4, 4, " 1/a") == 0))) has_a = true;
  if (has_nm == has_a) return 0;
  return has_nm ? 1 : -1;
}

/// Appends one point's pinhole resolution σ_q [Å⁻¹] (NaN, and counted, when ≤ 0 or not finite).
void add_q_width(Curve& c, double dq) {
  const bool ok = std::isfinite(dq) && dq > 0;
  if (!ok) ++c.q_width_unusable;
  c.q_width.push_back(ok ? dq : kNaN);
}

/// Whether a CSV column name denotes the q resolution (dQ, Qdev, sigma_q) rather than σ_I.
bool is_q_width_name(const std::string& key) {
  return key == "dq" || key == "qdev" || key == "q_dev" || key == "sigma_q" || key == "sigmaq" ||
         key == "dq_" || key == "q_width" || key == "qwidth" || key == "q_resolution";
}

/// Checks the rows, masks I ≤ 0 / non-finite, converts q and assembles the Curve.
Curve assemble(const std::string& path, const std::string& format, std::vector<Row> rows, bool has_sigma,
               bool q_in_nm, bool has_dq = false) {
  Curve c;
  c.source = path;
  c.format = format;
  c.rows_read = rows.size();
  c.q_from_inverse_nm = q_in_nm;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const Row& r = rows[k];
    if (!std::isfinite(r.q)) fail(r.where, "q is not a finite number");
    if (r.q < 0) fail(r.where, "q = " + std::to_string(r.q) + " is negative");
    if (k > 0 && !(r.q > rows[k - 1].q)) {
      fail(r.where, std::string(r.q == rows[k - 1].q ? "duplicate" : "unsorted") +
                        " q: " + std::to_string(r.q) +
                        " does not exceed the previous row's q = " + std::to_string(rows[k - 1].q) + " (" +
                        rows[k - 1].where + "); q must be strictly increasing");
    }
  }
  const double scale = q_in_nm ? 0.1 : 1.0;  // 1 nm⁻¹ = 0.1 Å⁻¹
  for (const Row& r : rows) {
    if (!std::isfinite(r.i) || !(r.i > 0)) {
      ++c.rows_masked;
      continue;
    }
    c.q.push_back(r.q * scale);
    c.intensity.push_back(r.i);
    c.where.push_back(r.where);
    if (has_sigma) {
      const bool ok = std::isfinite(r.sigma) && r.sigma > 0;
      if (!ok) ++c.sigma_unusable;
      c.sigma.push_back(ok ? r.sigma : kNaN);
    }
    if (has_dq) add_q_width(c, r.dq * scale);
  }
  if (c.q.empty()) {
    fail(rows.front().where, "all " + std::to_string(rows.size()) + " intensities (through " +
                                 rows.back().where + ") are <= 0 or not finite: nothing to fit");
  }
  log::info(
      "{}: {} {} rows, {} masked (I <= 0 or not finite), {} kept; q {:.6g} to {:.6g} 1/A{}{}{}", path,
      c.rows_read, format, c.rows_masked, c.q.size(), c.q.front(), c.q.back(),
      q_in_nm ? " (converted from 1/nm)" : "",
      c.sigma_unusable ? ", " + std::to_string(c.sigma_unusable) + " kept rows without a usable sigma" : "",
      has_dq ? ", dQ column (pinhole resolution) present" : "");
  return c;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open the file (" + std::strerror(errno) + ")");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

bool blank_or_comment(const std::string& t) { return t.empty() || t[0] == '#'; }

bool resolve_nm(QUnit u, int hint) {
  if (u == QUnit::inverse_nm) return true;
  if (u == QUnit::inverse_angstrom) return false;
  return hint > 0;
}

std::string at(const std::string& path, std::size_t line) { return path + ":" + std::to_string(line); }

bool is_hdf5(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char sig[8] = {};
  in.read(sig, 8);
  return in.gcount() == 8 && std::memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0;
}

}  // namespace

CurveFormat parse_curve_format(const std::string& s) {
  if (s == "auto") return CurveFormat::automatic;
  if (s == "ascii") return CurveFormat::ascii;
  if (s == "csv") return CurveFormat::csv;
  if (s == "nxcansas") return CurveFormat::nxcansas;
  throw InputError("unknown curve format '" + s + "' (auto, ascii, csv, nxcansas)");
}

QUnit parse_q_unit(const std::string& s) {
  if (s == "auto") return QUnit::automatic;
  if (s == "1/A") return QUnit::inverse_angstrom;
  if (s == "1/nm") return QUnit::inverse_nm;
  throw InputError("unknown q unit '" + s + "' (auto, 1/A, 1/nm)");
}

Curve read_ascii(const std::string& path, QUnit q_unit) {
  const std::vector<std::string> lines = read_lines(path);
  enum class State { header, data, trailer } state = State::header;
  std::vector<Row> rows;
  std::vector<std::string> header;
  std::vector<std::pair<std::string, std::string>> meta;
  std::size_t ncols = 0, first_data_line = 0, last_text_line = 0;
  bool any_text = false;
  int hint = 0;
  for (std::size_t ln = 1; ln <= lines.size(); ++ln) {
    const std::string t = trim(lines[ln - 1]);
    if (t.empty()) continue;
    any_text = true;
    last_text_line = ln;
    if (t[0] == '#') {
      if (state == State::header) {
        header.push_back(t);
        if (int h = unit_hint(t)) hint = h;
      }
      continue;
    }
    const std::vector<std::string> tok = split_ws(t);
    std::vector<double> v(tok.size());
    std::size_t numeric = 0;
    for (std::size_t k = 0; k < tok.size(); ++k) numeric += parse_number(tok[k], v[k]) ? 1 : 0;
    const bool first_numeric = parse_number(tok[0], v[0]);
    std::pair<std::string, std::string> kv;
    if (state == State::header) {
      if (numeric != tok.size()) {  // a header line (any text before the first row of numbers)
        header.push_back(t);
        if (key_value(t, kv)) meta.push_back(kv);
        if (int h = unit_hint(t)) hint = h;
        continue;
      }
      state = State::data;
      first_data_line = ln;
    } else if (state == State::data && !first_numeric) {
      if (!key_value(t, kv)) {
        fail(at(path, ln), "unexpected text '" + t.substr(0, 40) +
                               "' inside the data block (rows from line " + std::to_string(first_data_line) +
                               ")");
      }
      state = State::trailer;
    }
    if (state == State::trailer) {
      if (first_numeric) {
        fail(at(path, ln), "a data row after the trailing metadata lines: rows must form one block");
      }
      if (key_value(t, kv)) meta.push_back(kv);
      continue;
    }
    // A data row.
    if (numeric != tok.size()) {
      for (std::size_t k = 0; k < tok.size(); ++k) {
        if (!parse_number(tok[k], v[k])) {
          fail(at(path, ln), "text '" + tok[k] + "' in numeric column " + std::to_string(k + 1) + " (" +
                                 (k == 0   ? "q"
                                  : k == 1 ? "I"
                                  : k == 2 ? "sigma"
                                           : "dQ") +
                                 ")");
        }
      }
    }
    if (tok.size() < 2)
      fail(at(path, ln), "only one column: a data row needs q and I (and optionally sigma)");
    if (tok.size() > 4) {
      fail(at(path, ln),
           std::to_string(tok.size()) + " columns: expected q, I and optionally sigma and dQ (2 to 4 columns)");
    }
    if (ncols == 0) ncols = tok.size();
    if (tok.size() != ncols) {
      fail(at(path, ln), std::to_string(tok.size()) + " columns, but the first data row (line " +
                             std::to_string(first_data_line) + ") has " + std::to_string(ncols));
    }
    Row r;
    r.q = v[0];
    r.i = v[1];
    if (ncols >= 3) r.sigma = v[2];
    if (ncols >= 4) r.dq = v[3];
    r.where = at(path, ln);
    rows.push_back(r);
  }
  if (!any_text) fail(at(path, 1), "the file is empty (no data rows)");
  if (rows.empty()) {
    fail(at(path, last_text_line), "no data rows: " + std::to_string(header.size()) +
                                       " line(s) of text and no line of 2 to 4 numbers (q, I, sigma)");
  }
  for (const auto& kv : meta) {
    if (int h = unit_hint(kv.first + " " + kv.second)) hint = h;
  }
  Curve c = assemble(path, "ascii", std::move(rows), ncols >= 3, resolve_nm(q_unit, hint), ncols >= 4);
  c.header = std::move(header);
  c.metadata = std::move(meta);
  return c;
}

Curve read_csv(const std::string& path, QUnit q_unit) {
  const std::vector<std::string> lines = read_lines(path);
  std::size_t ln = 0;
  std::string head;
  while (ln < lines.size()) {
    head = trim(lines[ln++]);
    if (!blank_or_comment(head)) break;
    head.clear();
  }
  if (head.empty())
    fail(at(path, std::max<std::size_t>(ln, 1)), "the file is empty (no header row, no data rows)");
  const std::size_t head_line = ln;
  const char delim = head.find(',') != std::string::npos   ? ','
                     : head.find(';') != std::string::npos ? ';'
                                                           : '\t';
  std::vector<std::string> names = split_on(head, delim);
  for (auto& n : names) {
    if (n.size() >= 2 && (n.front() == '"' || n.front() == '\'') && n.back() == n.front())
      n = n.substr(1, n.size() - 2);
  }
  {
    double dummy = 0;
    if (parse_number(names[0], dummy)) {
      fail(at(path, head_line), "expected a header row of column names (q, I, sigma), found numbers");
    }
  }
  if (names.size() < 2) fail(at(path, head_line), "only one column: need q and I (and optionally sigma)");
  // Columns by name; positional (q, I, sigma) when the names say nothing.
  auto key_of = [](const std::string& n) {
    std::string k = lower(n);
    const std::size_t cut = k.find_first_of("([");
    if (cut != std::string::npos) k = k.substr(0, cut);
    k.erase(std::remove_if(k.begin(), k.end(), [](unsigned char ch) { return std::isspace(ch); }), k.end());
    return k;
  };
  int iq = -1, ii = -1, is = -1, idq = -1;
  for (std::size_t k = 0; k < names.size(); ++k) {
    const std::string key = key_of(names[k]);
    if (is_q_width_name(key)) {
      if (idq < 0) idq = static_cast<int>(k);
      continue;
    }
    const bool err = key.find("err") != std::string::npos || key.find("sig") != std::string::npos ||
                     key.find("dev") != std::string::npos || key.find("unc") != std::string::npos ||
                     key.find("std") != std::string::npos || key == "di" || key == "si" || key == "e";
    if (err) {
      if (is < 0) is = static_cast<int>(k);
    } else if (key == "q" || key.rfind("q_", 0) == 0 || key.rfind("q/", 0) == 0) {
      if (iq < 0) iq = static_cast<int>(k);
    } else if (key == "i" || key == "iq" || key == "i_q" || key.rfind("intens", 0) == 0 ||
               key.rfind("i_", 0) == 0) {
      if (ii < 0) ii = static_cast<int>(k);
    }
  }
  if (iq < 0 || ii < 0) {
    if (names.size() > 3) {
      fail(at(path, head_line),
           "cannot tell which columns hold q and I from the header '" + head + "' (name them q, I, sigma)");
    }
    iq = 0;
    ii = 1;
    is = names.size() >= 3 ? 2 : -1;
  }
  const int hint = unit_hint(names[static_cast<std::size_t>(iq)]);
  std::vector<Row> rows;
  for (; ln < lines.size(); ++ln) {
    const std::string t = trim(lines[ln]);
    if (blank_or_comment(t)) continue;
    const std::vector<std::string> f = split_on(t, delim);
    const std::string w = at(path, ln + 1);
    if (f.size() == 1) fail(w, "only one column: a data row needs q and I (and optionally sigma)");
    if (f.size() != names.size()) {
      fail(w, std::to_string(f.size()) + " fields, but the header (line " + std::to_string(head_line) +
                  ") names " + std::to_string(names.size()) + " columns");
    }
    Row r;
    r.where = w;
    auto num = [&](int col, double& out, bool required) {
      const std::string& s = f[static_cast<std::size_t>(col)];
      if (s.empty() && !required) return;
      if (!parse_number(s, out)) {
        fail(w, "text '" + s + "' in numeric column " + std::to_string(col + 1) + " ('" +
                    names[static_cast<std::size_t>(col)] + "')");
      }
    };
    num(iq, r.q, true);
    num(ii, r.i, true);
    if (is >= 0) num(is, r.sigma, false);
    if (idq >= 0) num(idq, r.dq, false);
    rows.push_back(r);
  }
  if (rows.empty()) fail(at(path, head_line), "no data rows after the header row");
  Curve c = assemble(path, "csv", std::move(rows), is >= 0, resolve_nm(q_unit, hint), idq >= 0);
  c.header = {head};
  return c;
}

namespace {

/// Names of the child groups of `loc`, in name order.
std::vector<std::string> child_groups(hid_t loc) {
  H5G_info_t info{};
  check(H5Gget_info(loc, &info), "H5Gget_info");
  std::vector<std::string> out;
  for (hsize_t k = 0; k < info.nlinks; ++k) {
    const ssize_t len = H5Lget_name_by_idx(loc, ".", H5_INDEX_NAME, H5_ITER_INC, k, nullptr, 0, H5P_DEFAULT);
    if (len < 0) continue;
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(loc, ".", H5_INDEX_NAME, H5_ITER_INC, k, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(len));
    H5O_info_t oi{};
    if (H5Oget_info_by_name(loc, name.c_str(), &oi, H5P_DEFAULT) >= 0 && oi.type == H5O_TYPE_GROUP)
      out.push_back(name);
  }
  return out;
}

/// A string attribute (scalar, or the first element of a string array); empty if absent.
std::string string_attr(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) return "";
  try {
    return attr_string(obj, name);
  } catch (const std::exception&) {
  }
  try {
    const auto v = attr_strings(obj, name);
    return v.empty() ? "" : v.front();
  } catch (const std::exception&) {
    return "";
  }
}

bool group_is(hid_t g, const char* cansas_class, const char* nx_class) {
  return string_attr(g, "canSAS_class") == cansas_class || string_attr(g, "NX_class") == nx_class;
}

}  // namespace

Curve read_nxcansas(const std::string& path, QUnit q_unit) {
  File f = [&] {
    try {
      return File::open(path, File::Mode::read);
    } catch (const RuntimeFailure& e) {
      throw InputError(path + ": cannot open as HDF5 (NXcanSAS): " + e.what());
    }
  }();
  std::string entry_name, data_name;
  for (const std::string& e : child_groups(f.id())) {
    H5Id g(check(H5Gopen2(f.id(), e.c_str(), H5P_DEFAULT), "H5Gopen " + e), H5Gclose);
    if (!group_is(g, "SASentry", "NXentry")) continue;
    for (const std::string& d : child_groups(g)) {
      H5Id dg(check(H5Gopen2(g, d.c_str(), H5P_DEFAULT), "H5Gopen " + d), H5Gclose);
      if (group_is(dg, "SASdata", "NXdata")) {
        entry_name = e;
        data_name = d;
        break;
      }
    }
    if (!entry_name.empty()) break;
  }
  if (entry_name.empty()) {
    fail(path, "no SASentry group holding a SASdata group (NXcanSAS: canSAS_class or NX_class attributes)");
  }
  const std::string gpath = "/" + entry_name + "/" + data_name;
  H5Id g(check(H5Gopen2(f.id(), gpath.c_str(), H5P_DEFAULT), "H5Gopen " + gpath), H5Gclose);
  std::string signal = string_attr(g, "signal");
  if (signal.empty()) signal = "I";
  std::string qname = string_attr(g, "I_axes");
  if (qname.empty() || qname == ".") qname = "Q";
  if (const std::size_t comma = qname.find(','); comma != std::string::npos)
    qname = trim(qname.substr(0, comma));
  auto need = [&](const std::string& n) {
    if (!exists(g, n)) fail(path + ":" + gpath, "no dataset '" + n + "' (NXcanSAS SASdata needs Q and I)");
    return open_dataset(g, n);
  };
  H5Id qd = need(qname), id = need(signal);
  std::string sname = string_attr(id, "uncertainties");
  if (sname.empty() && exists(g, "Idev")) sname = "Idev";
  auto read1d = [&](hid_t ds, const std::string& n) {
    const auto d = dims(ds);
    std::size_t count = 1;
    for (auto x : d) count *= static_cast<std::size_t>(x);
    if (d.empty() || count != static_cast<std::size_t>(d.back())) {
      fail(path + ":" + gpath + "/" + n, "expected a 1-D dataset (one curve)");
    }
    return read_all<double>(ds);
  };
  const std::vector<double> q = read1d(qd, qname), in = read1d(id, signal);
  std::vector<double> s;
  if (!sname.empty() && exists(g, sname)) {
    H5Id sd = open_dataset(g, sname);
    s = read1d(sd, sname);
  }
  std::vector<double> dqv;  // NXcanSAS resolution: Q@resolutions names it, else a dataset Qdev
  {
    std::string rname = string_attr(qd, "resolutions");
    if (rname.empty() && exists(g, "Qdev")) rname = "Qdev";
    if (!rname.empty() && exists(g, rname)) {
      H5Id rd = open_dataset(g, rname);
      dqv = read1d(rd, rname);
      if (dqv.size() != q.size()) fail(path + ":" + gpath, qname + " and " + rname + " have different lengths");
    }
  }
  if (q.empty()) fail(path + ":" + gpath + "/" + qname, "the dataset is empty (no data rows)");
  if (in.size() != q.size() || (!s.empty() && s.size() != q.size())) {
    fail(path + ":" + gpath,
         qname + ", " + signal + (s.empty() ? "" : ", " + sname) + " have different lengths");
  }
  bool nm = false;
  const std::string units = lower(string_attr(qd, "units"));
  if (q_unit == QUnit::automatic) {
    nm = units == "1/nm" || units == "nm^-1" || units == "nm-1";
    if (units.empty()) log::warn("{}: {}/{} has no units attribute: q taken as 1/A", path, gpath, qname);
  } else {
    nm = q_unit == QUnit::inverse_nm;
  }
  std::vector<Row> rows(q.size());
  for (std::size_t k = 0; k < q.size(); ++k) {
    rows[k].q = q[k];
    rows[k].i = in[k];
    rows[k].sigma = s.empty() ? kNaN : s[k];
    rows[k].dq = dqv.empty() ? kNaN : dqv[k];
    rows[k].where = path + ":" + gpath + "/" + qname + "[" + std::to_string(k) + "]";
  }
  Curve c = assemble(path, "nxcansas", std::move(rows), !s.empty(), nm, !dqv.empty());
  const std::string title = string_attr(f.id(), "title");
  if (!title.empty()) c.metadata.emplace_back("title", title);
  c.metadata.emplace_back("sasentry", "/" + entry_name);
  return c;
}

Curve read_curve(const std::string& path, CurveFormat format, QUnit q_unit) {
  if (format == CurveFormat::automatic) {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw InputError(path + ": cannot open the file (" + std::strerror(errno) + ")");
    const std::string ext = lower(path.size() >= 4 ? path.substr(path.size() - 4) : path);
    format = is_hdf5(path) ? CurveFormat::nxcansas : ext == ".csv" ? CurveFormat::csv : CurveFormat::ascii;
  }
  switch (format) {
    case CurveFormat::csv:
      return read_csv(path, q_unit);
    case CurveFormat::nxcansas:
      return read_nxcansas(path, q_unit);
    default:
      return read_ascii(path, q_unit);
  }
}

}  // namespace lnpsaxs::io
