// SPDX-License-Identifier: Apache-2.0
// Test driver of the hygiene executables (a user's build: strict warnings, the names a user may
// take, a user's own BLAS declarations). Built without the precompiled headers of the other test
// executables, which would hide tessera's headers from these files' own flags.
#define BOOST_TEST_MODULE tessera_hygiene
#include <boost/test/unit_test.hpp>
