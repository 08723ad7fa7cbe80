#pragma once
// Measured SAXS curves from files (issue 5 "Data in"): whitespace ASCII as beamline software
// writes it, CSV with a header row, and NXcanSAS HDF5 (canSAS standard: SASentry/SASdata with
// Q, I, Idev). Every reader returns one Curve with q in Å⁻¹. Plain C++ (no LibTorch); NXcanSAS
// goes through the io:: HDF5 layer.
//
// Rules shared by all formats:
//   - q must be finite and strictly increasing over the file's rows (a NaN q, an unsorted or a
//     duplicate q is an error naming the line);
//   - rows with I ≤ 0 or a non-finite I are masked (dropped from the Curve), counted, and logged;
//   - σ ≤ 0 or non-finite on a kept row is stored as NaN (no error for that point; counted);
//   - an optional dQ (pinhole σ_q: ASCII 4th column, CSV dQ/Qdev, NXcanSAS Qdev) likewise;
//   - a file with no rows, one column, text in a numeric column, or no row with I > 0 is an error.
// Errors are lnpsaxs::InputError "FILE:LINE: what" (exit code 2); for HDF5 the "line" is the
// dataset path and element index.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace lnpsaxs::io {

enum class CurveFormat { automatic, ascii, csv, nxcansas };
/// Unit of q in the file. `automatic`: ASCII/CSV headers that say 1/nm, nm^-1, nm-1 or nm⁻¹ mean
/// nm⁻¹; NXcanSAS uses the Q dataset's `units` attribute; otherwise Å⁻¹.
enum class QUnit { automatic, inverse_angstrom, inverse_nm };

/// "auto" | "ascii" | "csv" | "nxcansas"; throws InputError otherwise.
CurveFormat parse_curve_format(const std::string& s);
/// "auto" | "1/A" | "1/nm"; throws InputError otherwise.
QUnit parse_q_unit(const std::string& s);

/// One measured curve, valid points only, in file order.
struct Curve {
  std::vector<double> q;            ///< scattering vector [Å⁻¹], strictly increasing
  std::vector<double> intensity;    ///< I(q) > 0, finite, in the file's unit (e.g. cm⁻¹)
  std::vector<double> sigma;        ///< σ_I per point (NaN where unusable); empty if the file has none
  std::vector<std::string> where;   ///< "FILE:LINE" of each point (HDF5: "FILE:/entry/data/I[k]")
  std::string source;               ///< the path as given
  std::string format;               ///< "ascii", "csv" or "nxcansas"
  std::size_t rows_read = 0;        ///< data rows in the file
  std::size_t rows_masked = 0;      ///< rows dropped because I ≤ 0 or I is not finite
  std::size_t sigma_unusable = 0;   ///< kept rows whose σ is ≤ 0 or not finite (stored as NaN)
  /// Pinhole resolution σ_q per point [Å⁻¹]: 1-σ width of a Gaussian in q (ASCII 4th column, CSV
  /// column dQ/Qdev/sigma_q, NXcanSAS Q@resolutions or Qdev; converted with q). NaN where ≤ 0 or
  /// not finite; empty when the file has none. Slit smearing (dQl/dQw) is not read.
  std::vector<double> q_width;
  std::size_t q_width_unusable = 0;  ///< kept rows whose dQ is ≤ 0 or not finite (stored as NaN)
  bool q_from_inverse_nm = false;   ///< q was converted from nm⁻¹ (× 0.1)
  std::vector<std::string> header;  ///< leading text lines (ASCII/CSV)
  std::vector<std::pair<std::string, std::string>> metadata;  ///< `key: value` lines / HDF5 attributes
  bool has_sigma() const { return !sigma.empty(); }
  bool has_q_width() const { return !q_width.empty(); }
};

/// Reads `path` in `format` (automatic: an HDF5 signature → NXcanSAS, *.csv → CSV, else ASCII).
/// Logs (info) the rows read and how many were masked. Throws InputError as described above.
Curve read_curve(const std::string& path, CurveFormat format = CurveFormat::automatic,
                 QUnit q_unit = QUnit::automatic);

/// The three readers behind read_curve, for a known format: whitespace ASCII (header lines,
/// 2-3 columns, trailing `key: value` lines), CSV with a header row, NXcanSAS HDF5
/// (SASentry/SASdata Q, I, Idev). Same masking, unit conversion and InputErrors as read_curve.
Curve read_ascii(const std::string& path, QUnit q_unit = QUnit::automatic);
Curve read_csv(const std::string& path, QUnit q_unit = QUnit::automatic);
Curve read_nxcansas(const std::string& path, QUnit q_unit = QUnit::automatic);

}  // namespace lnpsaxs::io
