#include "heimdall/control/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

namespace heimdall::control {
namespace {

using Type = MetricsText::Type;

// The fields of /proc/self/stat after the command name, which may hold blanks
// and parentheses itself: field 3 (state) is the first after the last ')'.
struct ProcStat {
  bool ok = false;
  unsigned long long utime_ticks = 0, stime_ticks = 0, start_ticks = 0;
  unsigned long long virtual_bytes = 0;
  long long resident_pages = 0;
};

ProcStat read_stat() {
  ProcStat stat;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return stat;
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos) return stat;
  std::istringstream fields(line.substr(close + 2));
  std::string skip;
  // state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt(13)
  for (int field = 3; field <= 13; ++field) fields >> skip;
  fields >> stat.utime_ticks >> stat.stime_ticks;  // 14, 15
  // cutime cstime priority nice num_threads itrealvalue (16-21)
  for (int field = 16; field <= 21; ++field) fields >> skip;
  fields >> stat.start_ticks >> stat.virtual_bytes >> stat.resident_pages;  // 22, 23, 24
  stat.ok = !fields.fail();
  return stat;
}

// Seconds since the epoch at which the machine booted (/proc/stat's btime).
long long boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  long long value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

long open_descriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  long count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir itself holds
}

}  // namespace

void write_process_metrics(MetricsText& metrics) {
  const ProcStat stat = read_stat();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (stat.ok && ticks > 0) {
    metrics.family("process_cpu_seconds_total", "User and system CPU time spent, in seconds.",
                   Type::Counter);
    metrics.sample({}, static_cast<double>(stat.utime_ticks + stat.stime_ticks) / ticks);
    metrics.family("process_resident_memory_bytes", "Resident memory size in bytes.", Type::Gauge);
    metrics.sample({}, stat.resident_pages * sysconf(_SC_PAGESIZE));
    metrics.family("process_virtual_memory_bytes", "Virtual memory size in bytes.", Type::Gauge);
    metrics.sample({}, stat.virtual_bytes);
    if (const long long boot = boot_time(); boot > 0) {
      metrics.family("process_start_time_seconds",
                     "Start time of the process since the epoch, in seconds.", Type::Gauge);
      metrics.sample({}, static_cast<double>(boot) + static_cast<double>(stat.start_ticks) / ticks);
    }
  }
  if (const long open = open_descriptors(); open >= 0) {
    metrics.family("process_open_fds", "Open file descriptors.", Type::Gauge);
    metrics.sample({}, open);
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    metrics.family("process_max_fds", "The descriptor limit (RLIMIT_NOFILE, soft).", Type::Gauge);
    metrics.sample({}, static_cast<std::uint64_t>(limit.rlim_cur));
  }
}

}  // namespace heimdall::control
