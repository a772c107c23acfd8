// The cache's publication points (rte_hash, rte_ring, the RCU defer queue) use the
// project's ThreadSanitizer annotations (docs/architecture.md §9.3).
#pragma once

#include "heimdall/rcu/annotations.hpp"

namespace heimdall::cache {

using rcu::observed;
using rcu::published;

}  // namespace heimdall::cache
