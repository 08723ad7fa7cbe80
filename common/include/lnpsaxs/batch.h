#pragma once
// fit.batch and `lnpsaxs-fit --data A B ...`: many measured curves, one target each.
//
// A batch record lists files (globs or paths); every file becomes one target, named from its
// stem made safe for a folder name ([A-Za-z0-9._-], other characters become '_') plus the
// record's suffix, and made unique ("-2", "-3", ... in file order) against fit.targets and earlier
// members. Each member is fingerprinted on its own (the record without `files`, its name and its
// file), so adding a file to a glob leaves the other members' fits valid.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace lnpsaxs::config {
class Config;
}

namespace lnpsaxs::batch {

/// One file of a fit.batch record.
struct Member {
  std::string name;     ///< target name (folder RUN/fits/<name>/)
  std::string file;     ///< path as matched (relative to the current directory if the glob was)
  std::size_t record = 0;  ///< index into fit.batch
  std::string where;    ///< "FILE:LINE: fit.batch[i]" for messages
  std::string problem;  ///< empty, or why the file cannot be read (only filled when checked)
};

/// Expands globs (POSIX glob(3), matches sorted) and plain paths, in order, dropping repeats.
/// A pattern with glob characters that matches nothing throws InputError "<where>'<pattern>'
/// matches no file"; plain paths are kept as given (their reader reports a missing file).
std::vector<std::string> expand_files(const std::vector<std::string>& patterns, const std::string& where);

/// `stem` with every character outside [A-Za-z0-9._-] replaced by '_' ("curve" if nothing is left).
std::string safe_name(const std::string& stem);

/// `base`, or `base-2`, `base-3`, ... : the first not in `taken`; inserts it into `taken`.
std::string unique_name(const std::string& base, std::set<std::string>& taken);

/// Every member of every fit.batch record, in record and file order. With `check_files`, each file
/// is read (io::read_curve with the record's format and q_unit; at least 3 usable points) and a
/// failure is recorded in Member::problem instead of thrown. Throws InputError for a glob that
/// matches nothing.
std::vector<Member> members(const config::Config& cfg, bool check_files);

/// The members to fit: every member, or with fit.batch_skip_bad the readable ones (the others are
/// returned in `skipped`). Without fit.batch_skip_bad, an unreadable member throws InputError with
/// its one-line reason.
std::vector<Member> members_to_fit(const config::Config& cfg, std::vector<Member>* skipped = nullptr);

/// The restarts of a fit target (fit.targets record or fit.batch member) whose `restarts` is 0:
/// fit.restarts_baseline for an analytic model (`surrogate` false), else fit.restarts_synthetic for
/// a synth: target or fit.restarts_experimental for a measured one. The one rule: the fit stage
/// (fit::restarts_for) and `lnpsaxs-config --fit-targets` both ask it.
std::int64_t default_restarts(const config::Config& cfg, bool surrogate, bool synthetic);

/// Identity text of member `m`'s definition: its record without `files`, plus its name and file.
std::string member_canonical(const config::Config& cfg, const Member& m);

}  // namespace lnpsaxs::batch
