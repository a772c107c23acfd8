// Telling the service manager where the process stands (systemd's sd_notify(3)
// protocol; packaging/heimdall.service runs it as Type=notify). Each call is a
// datagram to $NOTIFY_SOCKET and nothing at all when the variable is unset, so a
// process started by hand or by a test pays nothing.
#pragma once

#include <string_view>

namespace heimdall::control::service_manager {

// Start-up is over: the filter is loaded, the listeners and workers run. systemd
// starts the units ordered after heimdall only now.
void ready(std::string_view status);
// A reload has begun; ready() ends it. systemd holds `systemctl reload` until then.
void reloading();
// The drain has begun.
void stopping();
// A line for `systemctl status`.
void status(std::string_view status);

}  // namespace heimdall::control::service_manager
