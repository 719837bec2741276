// SPDX-License-Identifier: Apache-2.0
// The names a user's program may take for itself after including tessera, whatever GEMM
// backend is configured: blis.h defines TRUE, FALSE, VOID, typeof and bit_set as macros and
// dim_t, inc_t and obj_t as global types, so tessera's headers must not include it (the BLIS
// call is compiled in src/blis_gemm.cpp). With blis.h reachable, none of this compiles. The
// configured backend (TESSERA_HYGIENE_GEMM, from CMake) is the one this file's matmul runs.
#include <boost/test/unit_test.hpp>

#include <string>

#include <tessera/ad.hpp>
#include <tessera/causal.hpp>
#include <tessera/implicit.hpp>
#include <tessera/io.hpp>
#include <tessera/optim.hpp>
#include <tessera/spectral.hpp>
#include <tessera/tessera.hpp>

#include "matmul_check.hpp"

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

BOOST_AUTO_TEST_SUITE(foreign_names)

BOOST_AUTO_TEST_CASE(a_users_names_coexist_with_the_gemm_backend) {
  const obj_t o{static_cast<int>(bit_set(0u, 2u))};
  BOOST_TEST(o.id == 4);
  const dim_t half = 0.5f;  // BLIS's dim_t, an integer, would make it 0
  BOOST_TEST(half == 0.5f);
  BOOST_TEST((hygiene_tristate::TRUE != hygiene_tristate::VOID));
  const inc_t name = tessera::detail::gemm_backend();
  BOOST_TEST(std::string(name) == TESSERA_HYGIENE_GEMM);
  // (3×5)·(5×4) through that backend against the sum over k.
  tessera::generator gen(6);
  const tessera::tensor<float> a = tessera::randn<float>({3, 5}, gen);
  const tessera::tensor<float> b = tessera::randn<float>({5, 4}, gen);
  hygiene::check_matmul_against_loops(a, b, tessera::matmul(a, b), 1e-5);
}

BOOST_AUTO_TEST_SUITE_END()
