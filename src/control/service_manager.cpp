#include "heimdall/control/service_manager.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <string>

namespace heimdall::control::service_manager {
namespace {

void notify(const std::string& state) { sd_notify(0, state.c_str()); }

}  // namespace

void ready(std::string_view status) { notify("READY=1\nSTATUS=" + std::string(status)); }

void reloading() {
  // systemd 253 and later want the monotonic time of the reload with it; older ones
  // ignore the field.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long usec = now.tv_sec * 1'000'000LL + now.tv_nsec / 1000;
  notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading");
}

void stopping() { notify("STOPPING=1\nSTATUS=draining in-flight queries"); }

void status(std::string_view status) { notify("STATUS=" + std::string(status)); }

}  // namespace heimdall::control::service_manager
