// SPDX-License-Identifier: Apache-2.0
// Entry point of the tessera_optim test executable (Boost.Test; the other .cpp files add cases).
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#define BOOST_TEST_MODULE tessera_optim
#include <boost/test/unit_test.hpp>
