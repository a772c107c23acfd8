// What operators see of a running Heimdall: the Prometheus metrics and the
// control socket's commands (heimdallctl). Served by the control thread; every
// counter is read with a relaxed load, so a scrape never waits for a worker.
#pragma once

#include <string>
#include <vector>

#include "heimdall/control/counter_report.hpp"
#include "heimdall/control/management_server.hpp"
#include "serving.hpp"

namespace heimdall::app {

// Every counter table of what is serving (stats/counter_table.hpp), read now.
control::CounterReport counter_report(const Serving& serving);

std::string render_metrics(const Serving& serving);

// Logs, once per server, that a worker stopped sending it 0x20 queries because
// it did not echo the question's case (the workers cannot log on their path).
// `logged` remembers which servers were said; called on the control loop's tick.
void log_case_fallbacks(const Serving& serving, std::vector<bool>& logged);

// Why the node should take no traffic now, for /ready: "" when it may. The
// management server opens only once the listeners are up and the first filter is
// built, so what is left is an operator's `heimdallctl drain`.
std::string unready_reason(const Serving& serving);
// Why the node is not healthy, for /health (and the anycast announcement that
// follows it, packaging/bird): not ready, or upstream queries sent over the last
// five ticks and not one answered. Evidence, not the selectors' down marks: a
// withdrawn node gets no queries that could clear them. "" when healthy.
std::string unhealthy_reason(const Serving& serving);
// Samples the upstream attempts and answers for unhealthy_reason; once per tick.
void note_upstream_progress(Serving& serving);

// stats, workers, upstreams, lists, reload, cache flush [NAME], cache dump,
// drain, undrain.
// `config_path`: the file `reload` checks again ("" for the embedded config).
void add_commands(control::ManagementServer& server, Serving& serving,
                  const std::string& config_path);

}  // namespace heimdall::app
