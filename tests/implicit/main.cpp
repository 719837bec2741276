// SPDX-License-Identifier: Apache-2.0
// Test driver for tessera implicit.
#define BOOST_TEST_MODULE tessera_implicit
#include <boost/test/unit_test.hpp>
