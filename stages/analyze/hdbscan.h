#pragma once
// HDBSCAN (Campello, Moulavi & Sander 2013; McInnes & Healy 2017) with scikit-learn's semantics
// (sklearn.cluster.HDBSCAN, Euclidean metric, alpha = 1, cluster_selection_method = "eom",
// cluster_selection_epsilon = 0), written for the ensemble analysis (docs/method.md §6):
//   1. core distance of a point = distance to its min_samples-th nearest neighbour, the point
//      itself counted (so min_samples = 1 gives 0);
//   2. mutual reachability d_mr(a, b) = max(core a, core b, |a − b|);
//   3. its minimum spanning tree by Prim's algorithm on the implicit complete graph: O(n²·d) time,
//      O(n) memory (8,000 × 10 points take about a second);
//   4. single-linkage hierarchy from the MST edges sorted by weight;
//   5. condensed tree: walking down from the root, a split in which a side has fewer than
//      min_cluster_size points lets those points "fall out" at λ = 1/distance; a split into two
//      sides of ≥ min_cluster_size points births two clusters;
//   6. stability S(C) = Σ_rows with parent C (λ_row − λ_birth(C))·size_row; excess-of-mass
//      selection bottom-up (a cluster is kept unless its children's summed stability exceeds its
//      own); the root takes part only with allow_single_cluster;
//   7. labels 0..k−1 in order of cluster id (the condensed tree's breadth-first order), noise −1
//      for the points that leave the tree before reaching a selected cluster.
// One deliberate difference from scikit-learn: when the root is the only selected cluster
// (allow_single_cluster, a unimodal ensemble such as the gold sphere fit), every point is a member,
// as in Campello et al.'s definition (points outside every selected cluster are noise, and the root
// contains them all). scikit-learn instead keeps only the points that leave the root at its largest
// λ, which labels all but the densest ~min_cluster_size points noise.
// Distances below 1e-12 are raised to 1e-12 so that duplicated points give finite λ.
#include <cstdint>
#include <vector>

#include "statistics.h"

namespace lnpsaxs::analysis {

struct HdbscanParams {
  std::int64_t min_cluster_size = 100;
  std::int64_t min_samples = 30;  ///< clamped to the number of points
  bool allow_single_cluster = false;
};

/// One row of the condensed tree: `child` is a point (< n) or a cluster (≥ n; the root is n).
struct CondensedRow {
  std::int64_t parent;
  std::int64_t child;
  double lambda;
  std::int64_t size;
};

/// One MST edge (a, b) with its mutual-reachability weight.
struct MstEdge {
  std::int64_t a;
  std::int64_t b;
  double weight;
};

struct HdbscanResult {
  std::vector<std::int64_t> labels;       ///< [n] cluster 0..k−1 or −1 (noise)
  std::int64_t n_clusters = 0;
  std::vector<double> core_distance;      ///< [n]
  std::vector<MstEdge> mst;               ///< n − 1 edges in Prim's order
  std::vector<CondensedRow> condensed;    ///< the condensed tree
  std::vector<std::int64_t> cluster_ids;  ///< condensed-tree id of label 0, 1, …
  std::vector<double> stability;          ///< [k] stability of each selected cluster
};

/// Core distances of the rows of `x` [n, d] for `min_samples` (itself counted).
std::vector<double> core_distances(const Matrix& x, std::int64_t min_samples);

/// Minimum spanning tree of the mutual-reachability graph (Prim, dense). Requires n ≥ 1.
std::vector<MstEdge> mutual_reachability_mst(const Matrix& x, const std::vector<double>& core);

/// Full HDBSCAN. Throws std::invalid_argument when min_cluster_size < 2 or min_samples < 1.
/// With fewer than 2 points every point is noise.
HdbscanResult hdbscan(const Matrix& x, const HdbscanParams& params);

}  // namespace lnpsaxs::analysis
