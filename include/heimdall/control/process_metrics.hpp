// The process_* metrics every Prometheus exporter gives (CPU time, memory, open
// descriptors, start time), read from /proc/self on each scrape, so that the
// usual dashboards and alerts work on Heimdall unchanged.
#pragma once

#include "heimdall/control/metrics_text.hpp"

namespace heimdall::control {

// Appends process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds. A value /proc does not give is left out.
void write_process_metrics(MetricsText& metrics);

}  // namespace heimdall::control
