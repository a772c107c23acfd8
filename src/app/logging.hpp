// The process log: spdlog on a thread of its own (a worker that logs never
// waits for stderr; a full queue overwrites its oldest line), as text lines or
// one JSON object per line (logging.format), levels named as the configuration
// names them (`warn`, not spdlog's `warning`).
#pragma once

#include <spdlog/async.h>

#include <memory>

#include "heimdall/control/config.hpp"

namespace heimdall::app {

using LogThread = std::shared_ptr<spdlog::details::thread_pool>;

LogThread start_logging(const control::LoggingConfig& config);
// Joins the logging thread (after it writes what is queued) before the logger is
// destroyed.
void stop_logging(LogThread thread);

}  // namespace heimdall::app
