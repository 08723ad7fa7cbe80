#include "hdbscan.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace lnpsaxs::analysis {
namespace {

constexpr double kMinDistance = 1e-12;  // duplicated points: finite λ = 1/distance

double distance(const Matrix& x, std::int64_t a, std::int64_t b) {
  const double* pa = x.row(a);
  const double* pb = x.row(b);
  double s = 0;
  for (std::int64_t c = 0; c < x.cols; ++c) {
    const double d = pa[c] - pb[c];
    s += d * d;
  }
  return std::sqrt(s);
}

/// One merge of the single-linkage hierarchy (scipy's linkage layout): node id n + row.
struct Merge {
  std::int64_t left;
  std::int64_t right;
  double distance;
  std::int64_t size;
};

/// Single-linkage hierarchy from MST edges: edges sorted by weight (stable), union-find on the
/// current top node of each component.
std::vector<Merge> single_linkage(std::int64_t n, std::vector<MstEdge> edges) {
  std::stable_sort(edges.begin(), edges.end(), [](const MstEdge& a, const MstEdge& b) { return a.weight < b.weight; });
  std::vector<std::int64_t> parent(static_cast<std::size_t>(2 * n - 1), -1);
  std::vector<std::int64_t> size(static_cast<std::size_t>(2 * n - 1), 1);
  auto find = [&](std::int64_t v) {
    std::int64_t r = v;
    while (parent[static_cast<std::size_t>(r)] != -1) r = parent[static_cast<std::size_t>(r)];
    while (parent[static_cast<std::size_t>(v)] != -1) {  // path compression
      const std::int64_t next = parent[static_cast<std::size_t>(v)];
      parent[static_cast<std::size_t>(v)] = r;
      v = next;
    }
    return r;
  };
  std::vector<Merge> merges;
  merges.reserve(edges.size());
  std::int64_t next = n;
  for (const MstEdge& e : edges) {
    const std::int64_t a = find(e.a), b = find(e.b);
    const std::int64_t s = size[static_cast<std::size_t>(a)] + size[static_cast<std::size_t>(b)];
    merges.push_back({a, b, e.weight, s});
    parent[static_cast<std::size_t>(a)] = parent[static_cast<std::size_t>(b)] = next;
    size[static_cast<std::size_t>(next)] = s;
    ++next;
  }
  return merges;
}

/// The condensed tree (module comment, step 5). Cluster ids start at n (the root) and grow in the
/// breadth-first order of the hierarchy, so a child cluster always has a larger id than its parent.
std::vector<CondensedRow> condense(std::int64_t n, const std::vector<Merge>& h, std::int64_t min_cluster_size) {
  const std::int64_t root = 2 * n - 2;
  auto node_size = [&](std::int64_t v) { return v < n ? std::int64_t{1} : h[static_cast<std::size_t>(v - n)].size; };
  // Breadth-first order of all nodes below the root.
  std::vector<std::int64_t> order{root};
  for (std::size_t i = 0; i < order.size(); ++i) {
    const std::int64_t v = order[i];
    if (v >= n) {
      order.push_back(h[static_cast<std::size_t>(v - n)].left);
      order.push_back(h[static_cast<std::size_t>(v - n)].right);
    }
  }
  std::vector<std::int64_t> relabel(static_cast<std::size_t>(root + 1), -1);
  std::vector<char> ignore(static_cast<std::size_t>(root + 1), 0);
  relabel[static_cast<std::size_t>(root)] = n;
  std::int64_t next_label = n + 1;
  std::vector<CondensedRow> rows;
  std::vector<std::int64_t> stack;
  // Every point below `sub` falls out of cluster `parent` at `lambda`; the subtree is done.
  auto fall_out = [&](std::int64_t sub, std::int64_t parent, double lambda) {
    stack.assign(1, sub);
    while (!stack.empty()) {
      const std::int64_t v = stack.back();
      stack.pop_back();
      ignore[static_cast<std::size_t>(v)] = 1;
      if (v < n) {
        rows.push_back({parent, v, lambda, 1});
      } else {
        stack.push_back(h[static_cast<std::size_t>(v - n)].right);
        stack.push_back(h[static_cast<std::size_t>(v - n)].left);
      }
    }
  };
  for (std::int64_t node : order) {
    if (node < n || ignore[static_cast<std::size_t>(node)]) continue;
    const Merge& m = h[static_cast<std::size_t>(node - n)];
    const double lambda = 1.0 / std::max(m.distance, kMinDistance);
    const std::int64_t lc = node_size(m.left), rc = node_size(m.right);
    const std::int64_t label = relabel[static_cast<std::size_t>(node)];
    if (lc >= min_cluster_size && rc >= min_cluster_size) {
      relabel[static_cast<std::size_t>(m.left)] = next_label++;
      rows.push_back({label, relabel[static_cast<std::size_t>(m.left)], lambda, lc});
      relabel[static_cast<std::size_t>(m.right)] = next_label++;
      rows.push_back({label, relabel[static_cast<std::size_t>(m.right)], lambda, rc});
    } else if (lc < min_cluster_size && rc < min_cluster_size) {
      fall_out(m.left, label, lambda);
      fall_out(m.right, label, lambda);
    } else if (lc < min_cluster_size) {
      relabel[static_cast<std::size_t>(m.right)] = label;
      fall_out(m.left, label, lambda);
    } else {
      relabel[static_cast<std::size_t>(m.left)] = label;
      fall_out(m.right, label, lambda);
    }
  }
  return rows;
}

}  // namespace

std::vector<double> core_distances(const Matrix& x, std::int64_t min_samples) {
  const std::int64_t n = x.rows;
  std::vector<double> core(static_cast<std::size_t>(n), 0.0);
  if (n == 0) return core;
  const std::int64_t k = std::clamp<std::int64_t>(min_samples, 1, n) - 1;  // 0-based, self at distance 0
#pragma omp parallel
  {
    std::vector<double> d(static_cast<std::size_t>(n));
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < n; ++j) d[static_cast<std::size_t>(j)] = i == j ? 0.0 : distance(x, i, j);
      std::nth_element(d.begin(), d.begin() + k, d.end());
      core[static_cast<std::size_t>(i)] = d[static_cast<std::size_t>(k)];
    }
  }
  return core;
}

std::vector<MstEdge> mutual_reachability_mst(const Matrix& x, const std::vector<double>& core) {
  const std::int64_t n = x.rows;
  std::vector<MstEdge> edges;
  if (n < 2) return edges;
  edges.reserve(static_cast<std::size_t>(n - 1));
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(static_cast<std::size_t>(n), inf);
  std::vector<std::int64_t> from(static_cast<std::size_t>(n), 0);
  std::vector<char> in_tree(static_cast<std::size_t>(n), 0);
  // Nodes not yet in the tree, compacted as they join (the inner loop touches only those).
  std::vector<std::int64_t> outside(static_cast<std::size_t>(n - 1));
  std::iota(outside.begin(), outside.end(), 1);
  std::int64_t current = 0;
  in_tree[0] = 1;
  while (!outside.empty()) {
    const double core_c = core[static_cast<std::size_t>(current)];
    std::size_t arg = 0;
    double arg_d = inf;
    for (std::size_t t = 0; t < outside.size(); ++t) {
      const std::int64_t j = outside[t];
      const double d = std::max({distance(x, current, j), core_c, core[static_cast<std::size_t>(j)]});
      if (d < best[static_cast<std::size_t>(j)]) {
        best[static_cast<std::size_t>(j)] = d;
        from[static_cast<std::size_t>(j)] = current;
      }
      if (best[static_cast<std::size_t>(j)] < arg_d) {
        arg_d = best[static_cast<std::size_t>(j)];
        arg = t;
      }
    }
    const std::int64_t next = outside[arg];
    edges.push_back({from[static_cast<std::size_t>(next)], next, best[static_cast<std::size_t>(next)]});
    outside[arg] = outside.back();
    outside.pop_back();
    in_tree[static_cast<std::size_t>(next)] = 1;
    current = next;
  }
  return edges;
}

HdbscanResult hdbscan(const Matrix& x, const HdbscanParams& p) {
  if (p.min_cluster_size < 2) throw std::invalid_argument("hdbscan: min_cluster_size must be >= 2");
  if (p.min_samples < 1) throw std::invalid_argument("hdbscan: min_samples must be >= 1");
  const std::int64_t n = x.rows;
  HdbscanResult r;
  r.labels.assign(static_cast<std::size_t>(n), -1);
  if (n < 2) return r;
  r.core_distance = core_distances(x, p.min_samples);
  r.mst = mutual_reachability_mst(x, r.core_distance);
  r.condensed = condense(n, single_linkage(n, r.mst), p.min_cluster_size);

  // Stability of every cluster id n .. max_id.
  std::int64_t max_id = n;
  for (const auto& row : r.condensed) max_id = std::max({max_id, row.parent, row.size > 1 ? row.child : n});
  const std::size_t n_ids = static_cast<std::size_t>(max_id - n + 1);
  std::vector<double> birth(n_ids, 0.0), stability(n_ids, 0.0);
  std::vector<std::int64_t> cluster_parent(n_ids, -1);
  std::vector<std::vector<std::int64_t>> children(n_ids);
  for (const auto& row : r.condensed) {
    if (row.child >= n) {
      birth[static_cast<std::size_t>(row.child - n)] = row.lambda;
      cluster_parent[static_cast<std::size_t>(row.child - n)] = row.parent;
      children[static_cast<std::size_t>(row.parent - n)].push_back(row.child);
    }
  }
  for (const auto& row : r.condensed) {
    const std::size_t c = static_cast<std::size_t>(row.parent - n);
    stability[c] += (row.lambda - birth[c]) * static_cast<double>(row.size);
  }

  // Excess-of-mass selection, children (larger ids) before parents.
  std::vector<char> selected(n_ids, 0);
  const std::int64_t lowest = p.allow_single_cluster ? n : n + 1;
  std::vector<double> subtree_stability = stability;
  for (std::int64_t id = max_id; id >= lowest; --id) {
    const std::size_t c = static_cast<std::size_t>(id - n);
    double sum = 0;
    for (std::int64_t ch : children[c]) sum += subtree_stability[static_cast<std::size_t>(ch - n)];
    if (sum > stability[c]) {
      subtree_stability[c] = sum;
    } else {
      selected[c] = 1;
      std::vector<std::int64_t> stack(children[c]);
      while (!stack.empty()) {
        const std::int64_t d = stack.back();
        stack.pop_back();
        selected[static_cast<std::size_t>(d - n)] = 0;
        for (std::int64_t g : children[static_cast<std::size_t>(d - n)]) stack.push_back(g);
      }
    }
  }
  std::vector<std::int64_t> label_of(n_ids, -1);
  for (std::size_t c = 0; c < n_ids; ++c) {
    if (selected[c]) {
      label_of[c] = r.n_clusters++;
      r.cluster_ids.push_back(n + static_cast<std::int64_t>(c));
      r.stability.push_back(stability[c]);
    }
  }

  // Labels: each point climbs from the cluster it fell out of to the first selected ancestor; one
  // that reaches the unselected root is noise. A selected root (the single-cluster case) holds
  // every point (Campello et al. 2013; see the header for scikit-learn's different rule).
  const bool root_selected = selected[0] != 0;
  for (const auto& row : r.condensed) {
    if (row.child >= n) continue;
    std::int64_t c = row.parent;
    while (c != n && !selected[static_cast<std::size_t>(c - n)]) c = cluster_parent[static_cast<std::size_t>(c - n)];
    std::int64_t label = -1;
    if (c != n) {
      label = label_of[static_cast<std::size_t>(c - n)];
    } else if (root_selected) {
      label = label_of[0];
    }
    r.labels[static_cast<std::size_t>(row.child)] = label;
  }
  return r;
}

}  // namespace lnpsaxs::analysis
