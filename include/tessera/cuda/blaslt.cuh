// SPDX-License-Identifier: Apache-2.0
// Column-major (strided batched) GEMMs through cuBLASLt: descriptors and candidate algorithms
// from cublasLtMatmulAlgoGetHeuristic, kept per host thread for each problem; optionally the
// candidates timed once with CUDA events (cuda_rt::set_gemm_autotune). matmul.cuh calls it.
#pragma once

#include <cublasLt.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tessera/cuda/runtime.cuh"

namespace tessera {

namespace cuda_rt {

/// Counters of this host thread's GEMMs on the cuBLASLt path (for tests and benchmarks).
struct gemm_lt_stats {
  std::uint64_t lt_calls = 0;           ///< GEMMs run by cublasLtMatmul
  std::uint64_t gemmex_fallbacks = 0;   ///< GEMMs sent to cublasGemmEx: Lt had no algorithm
  std::uint64_t heuristic_queries = 0;  ///< cublasLtMatmulAlgoGetHeuristic calls (new problems)
  std::uint64_t autotuned = 0;          ///< problems whose candidates were timed
  std::uint64_t tune_skipped_capturing = 0;  ///< GEMMs that could not tune: stream capturing
  std::uint64_t rejected_algos = 0;  ///< candidates cublasLtMatmul refused (the next one ran)
  std::size_t cached_problems = 0;   ///< problems in this thread's cache now
  int last_candidates = 0;           ///< candidates the heuristic returned for the last problem
  cublasStatus_t last_lt_status = CUBLAS_STATUS_SUCCESS;  ///< last cuBLASLt failure seen
  /// The algorithm of the last cublasLtMatmul (-1 before one ran): CUBLASLT_ALGO_CONFIG_ID,
  /// _TILE_ID, _STAGES_ID and _SPLITK_NUM, to compare with CUBLASLT_LOG_LEVEL=2 elsewhere.
  int last_algo_id = -1, last_tile_id = -1, last_stages_id = -1, last_splitk = -1;
};

}  // namespace cuda_rt

namespace cuda_detail {

/// One column-major GEMM in cuBLASLt's terms: D = C (m×n, ldc) = α·op(A)·op(B) + β·C, with
/// op(A) m×k and op(B) k×n, for `batch` matrices `stride_*` elements apart (0: shared).
struct lt_problem {
  cudaDataType_t data = CUDA_R_32F;  // A, B and C
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  cudaDataType_t scale = CUDA_R_32F;  // α and β
  cublasOperation_t opa = CUBLAS_OP_N, opb = CUBLAS_OP_N;
  std::int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  std::int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
  std::size_t elem_bytes = 4;
  const void* a = nullptr;
  const void* b = nullptr;
  void* c = nullptr;            // D (and C unless c_in is set)
  const void* c_in = nullptr;   // C when it is not D (read with β, never written)
  const void* alpha = nullptr;  // host pointers, of type `scale`
  const void* beta = nullptr;
  bool beta_zero = true;
};

/// The problem in words, for error messages.
inline std::string describe(const lt_problem& p) {
  auto op = [](cublasOperation_t o) { return o == CUBLAS_OP_N ? "N" : "T"; };
  return "column-major GEMM m=" + std::to_string(p.m) + " n=" + std::to_string(p.n) +
         " k=" + std::to_string(p.k) + " op(A)=" + op(p.opa) + " op(B)=" + op(p.opb) +
         " lda=" + std::to_string(p.lda) + " ldb=" + std::to_string(p.ldb) +
         " ldc=" + std::to_string(p.ldc) + " batch=" + std::to_string(p.batch) + " strides " +
         std::to_string(p.stride_a) + "/" + std::to_string(p.stride_b) + "/" +
         std::to_string(p.stride_c) + " data type " + std::to_string(static_cast<int>(p.data)) +
         " compute type " + std::to_string(static_cast<int>(p.compute));
}

/// Largest power of two (at most 256) dividing the address: what the heuristic may assume.
inline std::uint32_t lt_alignment(const void* p) {
  const auto v = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t a = 256;
  while (a > 1 && v % a != 0) a /= 2;
  return a;
}

using lt_key = std::array<std::int64_t, 22>;

struct lt_key_hash {
  std::size_t operator()(const lt_key& k) const noexcept {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the fields
    for (const std::int64_t v : k) {
      h ^= static_cast<std::uint64_t>(v);
      h *= 1099511628211ull;
    }
    return static_cast<std::size_t>(h);
  }
};

inline lt_key make_lt_key(const lt_problem& p, int device) {
  return {device,
          static_cast<std::int64_t>(p.data),
          static_cast<std::int64_t>(p.compute),
          static_cast<std::int64_t>(p.scale),
          static_cast<std::int64_t>(p.opa),
          static_cast<std::int64_t>(p.opb),
          p.m,
          p.n,
          p.k,
          p.lda,
          p.ldb,
          p.ldc,
          p.batch,
          p.stride_a,
          p.stride_b,
          p.stride_c,
          static_cast<std::int64_t>(p.elem_bytes),
          lt_alignment(p.a),
          lt_alignment(p.b),
          lt_alignment(p.c),
          p.beta_zero ? 1 : 0,
          p.c_in != nullptr ? 1000 + lt_alignment(p.c_in) : 0};
}

/// A named wrapper: cublasLtMatmulAlgo_t is a typedef of an unnamed struct, and nvcc 13's
/// front end fails an internal assertion on std::vector of it (its destructor call).
struct lt_algo {
  cublasLtMatmulAlgo_t algo;
};

/// Descriptors and candidate algorithms (best first) of one problem; owns the descriptors.
class lt_plan {
 public:
  lt_plan() = default;
  lt_plan(const lt_plan&) = delete;
  lt_plan& operator=(const lt_plan&) = delete;
  ~lt_plan() {
    if (pref != nullptr) cublasLtMatmulPreferenceDestroy(pref);
    if (lc != nullptr) cublasLtMatrixLayoutDestroy(lc);
    if (lb != nullptr) cublasLtMatrixLayoutDestroy(lb);
    if (la != nullptr) cublasLtMatrixLayoutDestroy(la);
    if (desc != nullptr) cublasLtMatmulDescDestroy(desc);
  }

  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  std::vector<lt_algo> algos;
  bool tuned = false;
};

/// How many heuristic candidates are asked for (and timed, with autotune), and the bound on
/// the problems a thread keeps (the cache is emptied when it is full).
inline constexpr int lt_candidates = 8;
inline constexpr std::size_t lt_cache_capacity = 512;

struct lt_thread_state {
  std::unordered_map<lt_key, lt_plan, lt_key_hash> plans;
  cuda_rt::gemm_lt_stats stats;
  lt_algo last{};  // the algorithm of the last cublasLtMatmul
  bool ran = false;
};

inline lt_thread_state& lt_state() {
  thread_local lt_thread_state s;
  return s;
}

/// Builds p's descriptors and asks the heuristic for candidates (none: plan.algos empty).
inline void lt_build_plan(lt_plan& plan, const lt_problem& p,
                          const cuda_rt::cublaslt_context& ctx) {
  lt_thread_state& st = lt_state();
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan.desc, p.compute, p.scale));
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                                      &p.opa, sizeof(p.opa)));
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                                      &p.opb, sizeof(p.opb)));
  // Stored extents: op(A) is m×k, so A is m×k (N) or k×m (T); likewise B.
  const bool ta = p.opa != CUBLAS_OP_N, tb = p.opb != CUBLAS_OP_N;
  TESSERA_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&plan.la, p.data, static_cast<std::uint64_t>(ta ? p.k : p.m),
                                 static_cast<std::uint64_t>(ta ? p.m : p.k), p.lda));
  TESSERA_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&plan.lb, p.data, static_cast<std::uint64_t>(tb ? p.n : p.k),
                                 static_cast<std::uint64_t>(tb ? p.k : p.n), p.ldb));
  TESSERA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.lc, p.data, static_cast<std::uint64_t>(p.m),
                                                  static_cast<std::uint64_t>(p.n), p.ldc));
  if (p.batch > 1) {
    const std::int32_t count = static_cast<std::int32_t>(p.batch);
    const cublasLtMatrixLayout_t layouts[3] = {plan.la, plan.lb, plan.lc};
    const std::int64_t strides[3] = {p.stride_a, p.stride_b, p.stride_c};
    for (int i = 0; i < 3; ++i) {
      TESSERA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
          layouts[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
      TESSERA_CUBLAS_CHECK(
          cublasLtMatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                           &strides[i], sizeof(strides[i])));
    }
  }
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&plan.pref));
  const std::uint64_t ws = ctx.workspace_bytes;
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      plan.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  // Without these the heuristic assumes 256-byte aligned pointers (views may start anywhere).
  const std::uint32_t al_a = lt_alignment(p.a), al_b = lt_alignment(p.b),
                      al_c = lt_alignment(p.c_in != nullptr ? p.c_in : p.c),
                      al_d = lt_alignment(p.c);
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      plan.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof(al_a)));
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      plan.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof(al_b)));
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      plan.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof(al_c)));
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      plan.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof(al_d)));

  cublasLtMatmulHeuristicResult_t res[lt_candidates] = {};
  int returned = 0;
  ++st.stats.heuristic_queries;
  const cublasStatus_t hs =
      cublasLtMatmulAlgoGetHeuristic(ctx.handle, plan.desc, plan.la, plan.lb, plan.lc, plan.lc,
                                     plan.pref, lt_candidates, res, &returned);
  st.stats.last_candidates = hs == CUBLAS_STATUS_SUCCESS ? returned : 0;
  if (hs != CUBLAS_STATUS_SUCCESS) {  // NOT_SUPPORTED: no algorithm; the caller uses GemmEx
    st.stats.last_lt_status = hs;
    return;
  }
  for (int i = 0; i < returned; ++i)
    if (res[i].state == CUBLAS_STATUS_SUCCESS && res[i].workspaceSize <= ctx.workspace_bytes)
      plan.algos.push_back(lt_algo{res[i].algo});
}

/// One cublasLtMatmul of p with `algo` into `d` (p.c or a scratch); C is p.c_in when set,
/// else d itself.
inline cublasStatus_t lt_run(const lt_plan& plan, const lt_algo& algo, const lt_problem& p, void* d,
                             const cuda_rt::cublaslt_context& ctx, cudaStream_t s) {
  const void* c = p.c_in != nullptr ? p.c_in : d;
  return cublasLtMatmul(ctx.handle, plan.desc, p.alpha, p.a, plan.la, p.b, plan.lb, p.beta, c,
                        plan.lc, d, plan.lc, &algo.algo, ctx.workspace, ctx.workspace_bytes, s);
}

/// The events and the scratch output of one tuning, released on every exit.
class lt_tune_resources {
 public:
  lt_tune_resources(void* scratch, cudaStream_t s) : scratch_(scratch), s_(s) {
    try {
      TESSERA_CUDA_CHECK(cudaEventCreate(&start));
      TESSERA_CUDA_CHECK(cudaEventCreate(&stop));
    } catch (...) {
      release();
      throw;
    }
  }
  lt_tune_resources(const lt_tune_resources&) = delete;
  lt_tune_resources& operator=(const lt_tune_resources&) = delete;
  ~lt_tune_resources() { release(); }

  cudaEvent_t start = nullptr, stop = nullptr;

 private:
  void release() noexcept {
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
    cuda_rt::free_bytes(scratch_, s_);
  }
  void* scratch_;
  cudaStream_t s_;
};

/// Times the plan's candidates on stream s (not capturing) and orders them fastest first;
/// those cublasLtMatmul refuses are dropped. With β ≠ 0 the runs write a scratch output.
inline void lt_autotune(lt_plan& plan, const lt_problem& p, const cuda_rt::cublaslt_context& ctx,
                        cudaStream_t s) {
  lt_thread_state& st = lt_state();
  plan.tuned = true;
  ++st.stats.autotuned;
  const std::size_t c_elems =
      static_cast<std::size_t>((p.batch - 1) * p.stride_c + p.ldc * (p.n - 1) + p.m);
  const std::size_t bytes = c_elems * p.elem_bytes;
  void* scratch = p.beta_zero ? nullptr : cuda_rt::allocate_bytes(bytes, s);
  void* d = p.beta_zero ? p.c : scratch;
  // 256-byte pool blocks keep the alignment the plan assumed for C.
  const lt_tune_resources res(scratch, s);
  cudaEvent_t start = res.start, stop = res.stop;
  auto elapsed_ms = [&] {
    TESSERA_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    TESSERA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    return static_cast<double>(ms);
  };

  std::vector<std::pair<double, std::size_t>> timed;  // (ms per run, candidate)
  int reps = 0;
  for (std::size_t i = 0; i < plan.algos.size(); ++i) {
    // One untimed run (first-use costs; refusals show here), then `reps` timed ones.
    const cublasStatus_t rs = lt_run(plan, plan.algos[i], p, d, ctx, s);
    if (rs != CUBLAS_STATUS_SUCCESS) {
      ++st.stats.rejected_algos;
      st.stats.last_lt_status = rs;
      continue;
    }
    if (reps == 0) {  // the first working candidate sets the repetitions: about 2 ms each
      TESSERA_CUDA_CHECK(cudaEventRecord(start, s));
      TESSERA_CUBLAS_CHECK(lt_run(plan, plan.algos[i], p, d, ctx, s));
      TESSERA_CUDA_CHECK(cudaEventRecord(stop, s));
      const double t0 = elapsed_ms();
      if (t0 > 50.0) {  // a GEMM this long gains little, and tuning would take seconds
        timed.clear();
        timed.emplace_back(t0, i);
        for (std::size_t j = i + 1; j < plan.algos.size(); ++j) timed.emplace_back(1e300, j);
        break;
      }
      reps = std::clamp(static_cast<int>(2.0 / std::max(t0, 1e-3)), 2, 20);
    }
    TESSERA_CUDA_CHECK(cudaEventRecord(start, s));
    for (int r = 0; r < reps; ++r) TESSERA_CUBLAS_CHECK(lt_run(plan, plan.algos[i], p, d, ctx, s));
    TESSERA_CUDA_CHECK(cudaEventRecord(stop, s));
    timed.emplace_back(elapsed_ms() / reps, i);
  }
  std::stable_sort(timed.begin(), timed.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<lt_algo> ordered;
  ordered.reserve(timed.size());
  for (const auto& t : timed) ordered.push_back(plan.algos[t.second]);
  plan.algos = std::move(ordered);
}

/// Runs p through cuBLASLt on the current stream with the thread's cached plan for it (built
/// and, with cuda_rt::gemm_autotune(), tuned on first use). False when cuBLASLt has no
/// algorithm for p: nothing was enqueued and the caller uses cublasGemmEx.
inline bool lt_matmul(const lt_problem& p) {
  const cuda_rt::cublaslt_context ctx = cuda_rt::cublaslt();
  const cudaStream_t s = cuda_rt::current_stream();
  lt_thread_state& st = lt_state();
  const lt_key key = make_lt_key(p, cuda_rt::current_device());
  auto it = st.plans.find(key);
  if (it == st.plans.end()) {
    if (st.plans.size() >= lt_cache_capacity) st.plans.clear();
    it = st.plans.try_emplace(key).first;
    try {
      lt_build_plan(it->second, p, ctx);
    } catch (...) {
      st.plans.erase(it);
      throw;
    }
  }
  lt_plan& plan = it->second;
  if (!plan.tuned && plan.algos.size() > 1 && cuda_rt::gemm_autotune()) {
    if (cuda_rt::is_capturing(s))
      ++st.stats.tune_skipped_capturing;
    else
      lt_autotune(plan, p, ctx, s);
  }
  while (!plan.algos.empty()) {
    const cublasStatus_t rs = lt_run(plan, plan.algos.front(), p, p.c, ctx, s);
    if (rs == CUBLAS_STATUS_SUCCESS) {
      ++st.stats.lt_calls;
      st.last = plan.algos.front();
      st.ran = true;
      return true;
    }
    if (rs != CUBLAS_STATUS_NOT_SUPPORTED && rs != CUBLAS_STATUS_INVALID_VALUE)
      throw cuda_error(std::string("tessera: cublasLtMatmul failed: ") + cublasGetStatusName(rs) +
                       " (" + cublasGetStatusString(rs) + ") for " + describe(p));
    ++st.stats.rejected_algos;  // refused before launch: try the next candidate
    st.stats.last_lt_status = rs;
    plan.algos.erase(plan.algos.begin());
  }
  ++st.stats.gemmex_fallbacks;
  return false;
}

}  // namespace cuda_detail

namespace cuda_rt {

/// This thread's counters of the cuBLASLt GEMM path (see gemm_lt_stats).
inline gemm_lt_stats gemm_stats() {
  const cuda_detail::lt_thread_state& st = cuda_detail::lt_state();
  gemm_lt_stats s = st.stats;
  s.cached_problems = st.plans.size();
  if (st.ran) {
    auto get = [&](cublasLtMatmulAlgoConfigAttributes_t attr, int& to) {
      std::int32_t v = 0;  // the four attributes are 32-bit (ID int32, the others uint32)
      std::size_t written = 0;
      if (cublasLtMatmulAlgoConfigGetAttribute(&st.last.algo, attr, &v, sizeof(v), &written) ==
          CUBLAS_STATUS_SUCCESS)
        to = v;
    };
    get(CUBLASLT_ALGO_CONFIG_ID, s.last_algo_id);
    get(CUBLASLT_ALGO_CONFIG_TILE_ID, s.last_tile_id);
    get(CUBLASLT_ALGO_CONFIG_STAGES_ID, s.last_stages_id);
    get(CUBLASLT_ALGO_CONFIG_SPLITK_NUM, s.last_splitk);
  }
  return s;
}

/// Forgets this thread's cached GEMM plans (algorithms are chosen, and tuned, again) and
/// zeroes its counters.
inline void clear_gemm_cache() {
  cuda_detail::lt_state().plans.clear();
  cuda_detail::lt_state().stats = gemm_lt_stats{};
  cuda_detail::lt_state().ran = false;
}

}  // namespace cuda_rt

}  // namespace tessera
