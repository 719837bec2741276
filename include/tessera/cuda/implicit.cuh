// SPDX-License-Identifier: Apache-2.0
// The fixed-point solver's passes over iterates on cuda tensors (implicit::detail::
// solver_kernels<cuda>, used by implicit/solve.hpp's solve_values_space and gmres): one kernel
// computes a difference r = f − x (an iterate's residual, or Broyden's Δx and Δg), optionally
// the mixed point u = x + β r, and every per-sample dot product the step needs (‖r‖², ‖f‖²,
// ⟨r, g_j⟩ over Anderson's history or Broyden's memory) in double; a batch of such passes
// copies its partial sums to the host at once (one synchronisation). One kernel forms a
// per-sample linear combination (Anderson's Σ_i α_i u_i, Broyden's low-rank sums) from the
// whole history at once. The solver thereby reads each history tensor once per pass instead
// of once per elementwise op.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "tessera/cuda/detail/fixed_point_kernels.cuh"
#include "tessera/cuda/graph.cuh"
#include "tessera/cuda/tensor.cuh"
#include "tessera/implicit/solve.hpp"

namespace tessera::implicit::detail {

/// The passes of solve_values_space on cuda tensors (see the top of this file).
template <>
struct solver_kernels<cuda> {
  /// What solve_values_space looks for: replayed_map (solver_options::graph) and resident_ops
  /// (solver_options::device_resident) exist.
  static constexpr bool has_replayed_map = true;
  static constexpr bool has_resident_ops = true;

  /// Values of T in one 16-byte pack (the passes' vector width).
  template <class T>
  static constexpr int pack_values = static_cast<int>(16 / sizeof(T));
  /// Whether p may be read in 16-byte packs (null: an operand the pass does not use).
  static bool aligned(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

  /// Launch geometry of a pass over `rows` rows of `n` elements: about eight 256-thread blocks
  /// per multiprocessor in all, split between the rows.
  struct geometry {
    unsigned x, y;
  };
  static geometry geometry_for(index_t rows, index_t n) {
    const index_t threads = cuda_rt::block_threads;
    const index_t target = static_cast<index_t>(cuda_rt::sm_count()) * 8;
    const index_t y = std::clamp<index_t>(rows, 1, 65535);  // (layout_of has refused 0 rows)
    const index_t per_row = std::max<index_t>(1, target / y);
    const index_t need = (n + 4 * threads - 1) / (4 * threads);
    return {static_cast<unsigned>(std::max<index_t>(1, std::min(need, per_row))),
            static_cast<unsigned>(y)};
  }

  /// Launches one fixed_point_residual pass on the current stream: 16-byte packs when the row
  /// length and every operand allow them, else single values.
  template <class T>
  static void launch_residual(const cuda_kernels::fixed_point_residual_args<T>& a, geometry g) {
    namespace k = cuda_kernels;
    bool vec = a.n % pack_values<T> == 0;
    for (const void* p : {static_cast<const void*>(a.f), static_cast<const void*>(a.x),
                          static_cast<const void*>(a.r), static_cast<const void*>(a.u)})
      vec = vec && aligned(p);
    for (int j = 0; j < a.ng; ++j) vec = vec && aligned(a.g[j]);
    const dim3 grid(g.x, g.y);
    if (vec)
      k::fixed_point_residual<T, pack_values<T>>
          <<<grid, cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(a);
    else
      k::fixed_point_residual<T, 1>
          <<<grid, cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(a);
    TESSERA_CUDA_CHECK_LAUNCH();
  }

  /// Launches one fixed_point_combine pass on the current stream (packs as launch_residual).
  template <class T>
  static void launch_combine(const cuda_kernels::fixed_point_combine_args<T>& a, geometry g) {
    namespace k = cuda_kernels;
    bool vec = a.n % pack_values<T> == 0 && aligned(a.out);
    for (int j = 0; j < a.nt; ++j) vec = vec && aligned(a.t[j]);
    const dim3 grid(g.x, g.y);
    if (vec)
      k::fixed_point_combine<T, pack_values<T>>
          <<<grid, cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(a);
    else
      k::fixed_point_combine<T, 1>
          <<<grid, cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(a);
    TESSERA_CUDA_CHECK_LAUNCH();
  }

  /// r = f − x, u = x + β r and the dot products of residual_pass_result, one pass over f, x
  /// and the `others` (plus one more pass over r per further fixed_point_max_others of them).
  template <class T>
  static residual_pass_result<T, cuda> residual_pass(const tensor<T, cuda>& f,
                                                     const tensor<T, cuda>& x, double beta,
                                                     const std::vector<tensor<T, cuda>>& others,
                                                     index_t rows, bool f_norm) {
    std::vector<pass_request<T, cuda>> q(1);
    q[0].f = f;
    q[0].x = x;
    q[0].beta = beta;
    q[0].with_u = true;
    q[0].f_norm = f_norm;
    q[0].others = others;
    return std::move(passes<T>(q, rows)[0]);
  }

  /// The requests in order (each one pass over its f, x and others, plus one more pass over its
  /// r per further fixed_point_max_others others), all on the current stream, so a request may
  /// read the r an earlier one writes; the block partials of every request come to the host in
  /// one copy (one synchronisation for the lot). All tensors contiguous, of one shape.
  template <class T>
  static std::vector<residual_pass_result<T, cuda>> passes(
      const std::vector<pass_request<T, cuda>>& q, index_t rows) {
    namespace k = cuda_kernels;
    std::vector<residual_pass_result<T, cuda>> out(q.size());
    if (q.empty()) return out;
    const index_t n = q.front().f.numel() / rows;
    const std::size_t R = static_cast<std::size_t>(rows);
    const geometry g = geometry_for(rows, n);
    const std::size_t per = static_cast<std::size_t>(g.x) * k::fixed_point_dots;
    const auto chunks = [](std::size_t others) {
      return std::max<std::size_t>(
          1, (others + k::fixed_point_max_others - 1) / k::fixed_point_max_others);
    };
    std::size_t total = 0;
    for (const auto& rq : q) total += chunks(rq.others.size());
    tensor<double, cuda> partial(
        shape_t{static_cast<index_t>(total), static_cast<index_t>(R * per)});
    std::size_t slab = 0;
    for (std::size_t i = 0; i < q.size(); ++i) {
      const pass_request<T, cuda>& rq = q[i];
      residual_pass_result<T, cuda>& o = out[i];
      if (rq.x.defined()) {
        o.r = rq.r.defined() ? rq.r : tensor<T, cuda>(rq.f.shape());
        if (rq.with_u) o.u = tensor<T, cuda>(rq.f.shape());
      } else {
        o.r = rq.f;
      }
      const std::size_t passes_i = chunks(rq.others.size());
      for (std::size_t p = 0; p < passes_i; ++p, ++slab) {
        k::fixed_point_residual_args<T> a{};
        const bool first_pass = p == 0 && rq.x.defined();
        a.f = p == 0 ? rq.f.data() : o.r.data();
        a.x = first_pass ? rq.x.data() : nullptr;
        a.r = first_pass ? o.r.data() : nullptr;
        a.u = first_pass && rq.with_u ? o.u.data() : nullptr;
        const std::size_t first = p * k::fixed_point_max_others;
        a.ng = static_cast<int>(std::min<std::size_t>(
            k::fixed_point_max_others, rq.others.size() - std::min(first, rq.others.size())));
        for (int j = 0; j < a.ng; ++j)
          a.g[j] = rq.others[first + static_cast<std::size_t>(j)].data();
        a.f_norm = p == 0 && rq.f_norm;
        a.beta = static_cast<T>(rq.beta);
        a.n = n;
        a.rows = rows;
        a.partial = partial.data() + slab * R * per;
        launch_residual(a, g);
      }
    }
    const std::vector<double> h = to<host>(partial).to_vector();  // the one synchronisation
    slab = 0;
    for (std::size_t i = 0; i < q.size(); ++i) {
      const std::size_t no = q[i].others.size(), passes_i = chunks(no);
      std::vector<double>& dots = out[i].dots;
      dots.assign((2 + no) * R, 0.0);
      for (std::size_t p = 0; p < passes_i; ++p, ++slab)
        for (std::size_t b = 0; b < R; ++b) {
          double s[k::fixed_point_dots] = {};
          const double* src = h.data() + slab * R * per + b * per;
          for (unsigned blk = 0; blk < g.x; ++blk)
            for (int d = 0; d < k::fixed_point_dots; ++d)
              s[d] += src[blk * k::fixed_point_dots + d];
          if (p == 0) {
            dots[b] = s[0];
            dots[R + b] = s[1];
          }
          const std::size_t first = p * k::fixed_point_max_others;
          for (std::size_t j = 0; j < k::fixed_point_max_others && first + j < no; ++j)
            dots[(2 + first + j) * R + b] = s[2 + j];
        }
    }
    return out;
  }

  /// Σ_j coef[row · terms.size() + j] · terms[j] per row (one pass per fixed_point_max_terms
  /// terms, the running sum carried as a term of the next pass).
  template <class T>
  static tensor<T, cuda> combine(const std::vector<tensor<T, cuda>>& terms,
                                 const std::vector<double>& coef, index_t rows) {
    namespace k = cuda_kernels;
    const std::size_t nt = terms.size(), R = static_cast<std::size_t>(rows);
    const index_t n = terms.front().numel() / rows;
    const geometry g = geometry_for(rows, n);
    tensor<T, cuda> acc;
    std::size_t done = 0;
    while (done < nt) {
      const bool carry = acc.defined();
      const std::size_t take =
          std::min<std::size_t>(nt - done, k::fixed_point_max_terms - (carry ? 1 : 0));
      const std::size_t width = take + (carry ? 1 : 0);
      tensor<double> c(shape_t{rows, static_cast<index_t>(width)});
      for (std::size_t b = 0; b < R; ++b) {
        double* row = c.data() + b * width;
        std::size_t j = 0;
        if (carry) row[j++] = 1.0;
        for (std::size_t i = 0; i < take; ++i) row[j++] = coef[b * nt + done + i];
      }
      const tensor<double, cuda> dc = to<cuda>(c);
      tensor<T, cuda> out(terms.front().shape());
      k::fixed_point_combine_args<T> a{};
      int j = 0;
      if (carry) a.t[j++] = acc.data();
      for (std::size_t i = 0; i < take; ++i) a.t[j++] = terms[done + i].data();
      a.nt = j;
      a.c = dc.data();
      a.out = out.data();
      a.n = n;
      a.rows = rows;
      launch_combine(a, g);
      acc = out;
      done += take;
    }
    return acc;
  }

  /// The operations of solve_values_resident (solver_options::device_resident) on cuda: the
  /// residual pass and the combination of the host-synchronised solve, with the coefficients
  /// read from the device, the step kernel and the best-iterate save; nothing waits.
  template <class T>
  struct resident_ops {
    static constexpr int ndots = cuda_kernels::fixed_point_dots;

    static int blocks(index_t rows, index_t n) { return static_cast<int>(geometry_for(rows, n).x); }

    /// The residual pass with exactly `blocks` blocks per row (the solver sized `partial` and
    /// the step kernel's sums for that count, from blocks()).
    static void pass(const tensor<T, cuda>& f, const tensor<T, cuda>& x, const tensor<T, cuda>& r,
                     const tensor<T, cuda>& u, const std::vector<const T*>& others, double beta,
                     bool f_norm, index_t rows, int blocks, double* partial) {
      namespace k = cuda_kernels;
      if (static_cast<int>(others.size()) > k::fixed_point_max_others)
        throw_invalid_argument("implicit::solve", "device-resident pass with ", others.size(),
                               " history products, more than ", k::fixed_point_max_others);
      const index_t n = f.numel() / rows;
      geometry g = geometry_for(rows, n);
      g.x = static_cast<unsigned>(blocks);
      k::fixed_point_residual_args<T> a{};
      a.f = f.data();
      a.x = x.data();
      a.r = r.data();
      a.u = u.data();
      a.ng = static_cast<int>(others.size());
      for (int j = 0; j < a.ng; ++j) a.g[j] = others[static_cast<std::size_t>(j)];
      a.f_norm = f_norm;
      a.beta = static_cast<T>(beta);
      a.n = n;
      a.rows = rows;
      a.partial = partial;
      launch_residual(a, g);
    }

    static void step(const resident_view& v, int k, bool last) {
      const index_t threads = std::min<index_t>(256, (v.rows + 31) / 32 * 32);
      cuda_kernels::fixed_point_resident_step<T>
          <<<1, static_cast<unsigned>(threads), 0, cuda_rt::current_stream()>>>(v, k, last ? 1 : 0);
      TESSERA_CUDA_CHECK_LAUNCH();
    }

    static void save(const tensor<T, cuda>& x, const tensor<T, cuda>& u,
                     const tensor<T, cuda>& best_z, const tensor<T, cuda>& best_u,
                     const double* best_iter, int evicted, index_t rows) {
      const index_t n = x.numel() / rows;
      const geometry g = geometry_for(rows, n);
      cuda_kernels::fixed_point_save_best<T>
          <<<dim3(g.x, g.y), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
              x.data(), u.data(), best_z.data(), best_u.data(), best_iter,
              static_cast<double>(evicted), n, rows);
      TESSERA_CUDA_CHECK_LAUNCH();
    }

    static tensor<T, cuda> combine(const std::vector<const T*>& terms, const double* coef,
                                   const shape_t& shape, index_t rows) {
      namespace k = cuda_kernels;
      if (static_cast<int>(terms.size()) > k::fixed_point_max_terms)
        throw_invalid_argument("implicit::solve", "device-resident combination of ", terms.size(),
                               " terms, more than ", k::fixed_point_max_terms);
      tensor<T, cuda> out(shape);
      const index_t n = out.numel() / rows;
      const geometry g = geometry_for(rows, n);
      k::fixed_point_combine_args<T> a{};
      a.nt = static_cast<int>(terms.size());
      for (int j = 0; j < a.nt; ++j) a.t[j] = terms[static_cast<std::size_t>(j)];
      a.c = coef;
      a.out = out.data();
      a.n = n;
      a.rows = rows;
      launch_combine(a, g);
      return out;
    }
  };

  /// The map f as solve_values_space evaluates it (solver_options::graph). Without `graph`,
  /// each call is f(x). With it, the first call is f(x) (which also makes what f caches on first
  /// use, such as the spectral basis matrices), the second captures f, applied to a private
  /// input tensor, into a cuda_rt::graph whose output is a private tensor, and that call and
  /// every later one copy x into the input and replay the graph: one launch for all of f's
  /// kernels, so the device is not left waiting while the host enqueues them one by one after
  /// each iteration's synchronisation. The tensor a replaying call returns is the output tensor
  /// itself, overwritten by the next call (the solver reads f(x) only within its iteration).
  /// f must keep cuda_rt::graph's rules (no host copies or synchronisation; temporaries die
  /// inside f) and read only tensors that outlive the solve.
  template <class T, class Map>
  class replayed_map {
   public:
    replayed_map(const char* fn, Map& f, const shape_t& shape, bool graph)
        : fn_(fn), f_(f), shape_(shape), graph_(graph) {}

    tensor<T, cuda> operator()(const tensor<T, cuda>& x) {
      if (!graph_ || calls_++ == 0) return f_(x);
      if (!replay_) {
        in_ = tensor<T, cuda>(shape_);
        out_ = tensor<T, cuda>(shape_);
        replay_.emplace([&] {
          const tensor<T, cuda> y = f_(in_);
          if (!y.defined() || !(y.shape() == shape_))
            throw_invalid_argument(fn_, "f returned ",
                                   y.defined() ? "shape " : "an undefined tensor",
                                   y.defined() ? y.shape().str() : std::string(),
                                   " while captured into a CUDA graph (solver_options::graph), "
                                   "for z of shape ",
                                   shape_.str(), "; f must map z to a tensor of the same shape");
          out_.copy_from(y);
        });
      }
      in_.copy_from(x);
      replay_->replay();
      return out_;
    }

   private:
    const char* fn_;
    Map& f_;
    shape_t shape_;
    bool graph_;
    int calls_ = 0;
    tensor<T, cuda> in_, out_;
    std::optional<cuda_rt::graph> replay_;
  };
};

}  // namespace tessera::implicit::detail
