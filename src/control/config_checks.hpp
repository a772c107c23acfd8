// The checks that span sections of the configuration (the backend against listen,
// the upstreams against the DPDK port), and the resolv.conf fallback for upstreams.
// They run once every section is read; each names the key it is about.
#pragma once

#include <string>

#include "heimdall/control/config.hpp"
#include "located_yaml.hpp"

namespace heimdall::control {

// `resolv_conf`: where servers come from when the file names none; empty: nowhere.
void check_across_sections(const ConfigReader& reader, const std::string& resolv_conf,
                           Config& config);

}  // namespace heimdall::control
