// What a valid configuration still needs from this host before it can start:
// the directories it writes into. parse_config judges the file alone (the same
// file is checked on one machine and deployed on another); these checks run in
// --check-config and again at start, on the host that will serve.
#pragma once

#include <string>
#include <vector>

#include "heimdall/control/config.hpp"

namespace heimdall::control {

// One message per problem, naming the key and what to change; empty when none.
std::vector<std::string> host_problems(const Config& config);

}  // namespace heimdall::control
