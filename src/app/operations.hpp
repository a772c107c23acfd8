// What operators see of a running Heimdall: the Prometheus metrics and the
// control socket's commands (heimdallctl). Served by the control thread; every
// counter is read with a relaxed load, so a scrape never waits for a worker.
#pragma once

#include <string>
#include <vector>

#include "backend.hpp"
#include "heimdall/control/management_server.hpp"

namespace heimdall::app {

std::string render_metrics(const Serving& serving);

// Logs, once per server, that a worker stopped sending it 0x20 queries because
// it did not echo the question's case (the workers cannot log on their path).
// `logged` remembers which servers were said; called on the control loop's tick.
void log_case_fallbacks(const Serving& serving, std::vector<bool>& logged);

// stats, workers, upstreams, lists, reload, cache flush [NAME], cache dump.
// `config_path`: the file `reload` checks again ("" for the embedded config).
void add_commands(control::ManagementServer& server, Serving& serving,
                  const std::string& config_path);

}  // namespace heimdall::app
