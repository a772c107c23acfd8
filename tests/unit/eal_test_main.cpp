// main() for test programs that use DPDK libraries (the cache's rte_hash, rings
// and RCU): every process starts the EAL once (docs/architecture.md §5.1).
#include <gtest/gtest.h>

#include <exception>
#include <iostream>

#include "heimdall/io/eal.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  try {
    heimdall::io::EalOptions options;
    options.memory_mb = 512;
    heimdall::io::start_eal(options);
  } catch (const std::exception& error) {
    std::cerr << error.what() << '\n';
    return 1;
  }
  const int result = RUN_ALL_TESTS();
  heimdall::io::stop_eal();
  return result;
}
