// SPDX-License-Identifier: Apache-2.0
// The names a user's program may take for itself after including tessera, whatever GEMM
// backend is configured: blis.h defines TRUE, FALSE, VOID, typeof and bit_set as macros and
// dim_t, inc_t and obj_t as global types, so tessera's headers must not include it (the BLIS
// call is compiled in src/blis_gemm.cpp). With blis.h reachable, none of this compiles.
// Compiled, never linked.
#include <tessera/ad.hpp>
#include <tessera/causal.hpp>
#include <tessera/implicit.hpp>
#include <tessera/io.hpp>
#include <tessera/optim.hpp>
#include <tessera/spectral.hpp>
#include <tessera/tessera.hpp>

#if defined(TRUE) || defined(FALSE) || defined(VOID) || defined(typeof) || defined(bit_set)
#error "a tessera header defines a macro of a library behind it (TRUE, FALSE, VOID, typeof, ...)"
#endif

enum class hygiene_tristate { TRUE, FALSE, VOID };
using dim_t = float;  // blis.h: typedef int64_t dim_t
struct obj_t {        // blis.h: typedef struct obj_s obj_t
  int id;
};
using inc_t = const char*;  // blis.h: typedef int64_t inc_t
inline unsigned bit_set(unsigned w, unsigned b) { return w | (1u << b); }

float hygiene_foreign_names(const tessera::tensor<float>& a, const tessera::tensor<float>& b) {
  const obj_t o{static_cast<int>(bit_set(0u, 2u))};
  const dim_t scale = hygiene_tristate::TRUE == hygiene_tristate::VOID ? 0.f : 1.f;
  return scale * tessera::matmul(a, b).item() + static_cast<float>(o.id);
}
