// SPDX-License-Identifier: Apache-2.0
// Consumer smoke test: compiles against an installed tessera found by find_package.
#include <tessera/tessera.hpp>

int main() {
  tessera::tensor<float> t = tessera::zeros<float>({2, 3});
  return t.numel() == 6 ? 0 : 1;
}
