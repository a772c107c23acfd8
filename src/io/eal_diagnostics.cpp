#include "eal_diagnostics.hpp"

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

namespace heimdall::io {
namespace {

constexpr std::size_t kMaxErrorLines = 20;

// The value of option `names` in `args` ("-l 0-3", "-l0-3", "--lcores=0-3").
std::optional<std::string> option_value(const std::vector<std::string>& args,
                                        std::initializer_list<std::string_view> names) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    for (const std::string_view name : names) {
      const std::string& arg = args[i];
      if (arg == name) {
        if (i + 1 < args.size()) return args[i + 1];
      } else if (arg.starts_with(name)) {
        std::string_view rest = std::string_view(arg).substr(name.size());
        if (name.starts_with("--")) {
          if (!rest.starts_with('=')) continue;
          rest.remove_prefix(1);
        }
        return std::string(rest);
      }
    }
  }
  return std::nullopt;
}

// The CPUs of an lcore list ("0-3,6"), or nothing for syntax this check does not
// read (--lcores groups such as "(0-3)@1"); the EAL judges those itself.
std::optional<std::vector<unsigned>> parse_cpu_list(const std::string& text) {
  std::vector<unsigned> cpus;
  std::stringstream items(text);
  for (std::string item; std::getline(items, item, ',');) {
    unsigned first = 0, last = 0;
    char dash = 0;
    std::stringstream range(item);
    if (!(range >> first)) return std::nullopt;
    last = first;
    if (range >> dash) {
      if (dash != '-' || !(range >> last) || last < first || last - first > 4096) {
        return std::nullopt;
      }
    }
    if (!range.eof() && range.peek() != EOF) return std::nullopt;
    for (unsigned cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
  }
  return cpus;
}

// The CPUs of a hexadecimal core mask ("-c 0x3").
std::optional<std::vector<unsigned>> parse_core_mask(std::string text) {
  if (text.starts_with("0x") || text.starts_with("0X")) text = text.substr(2);
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::vector<unsigned> cpus;
  unsigned bit = 0;
  for (auto digit = text.rbegin(); digit != text.rend(); ++digit, bit += 4) {
    unsigned value = 0;
    if (std::sscanf(std::string(1, *digit).c_str(), "%1x", &value) != 1) return std::nullopt;
    for (unsigned i = 0; i < 4; ++i) {
      if (value & (1u << i)) cpus.push_back(bit + i);
    }
  }
  return cpus;
}

std::string describe(const std::vector<unsigned>& cpus) {
  std::string text;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    text += (text.empty() ? "" : ",") + std::to_string(cpus[i]);
    if (j > i) text += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return text;
}

std::string check_lcores(const std::vector<std::string>& args) {
  std::optional<std::vector<unsigned>> wanted;
  std::string option;
  if (auto list = option_value(args, {"-l", "--lcores"})) {
    wanted = parse_cpu_list(*list);
    option = "-l " + *list;
  } else if (auto mask = option_value(args, {"-c"})) {
    wanted = parse_core_mask(*mask);
    option = "-c " + *mask;
  }
  if (!wanted) return {};
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return {};
  std::vector<unsigned> usable, missing;
  for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) usable.push_back(cpu);
  }
  for (const unsigned cpu : *wanted) {
    if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)) missing.push_back(cpu);
  }
  if (missing.empty()) return {};
  return "dataplane.eal_args: " + option + " asks for CPU(s) " + describe(missing) +
         ", which this process cannot run on (it may use " + describe(usable) +
         "): list lcores from those, one for the main lcore and one per worker "
         "(dataplane.workers)";
}

std::uint64_t free_hugepages() {
  std::uint64_t pages = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/kernel/mm/hugepages", error)) {
    std::ifstream file(entry.path() / "free_hugepages");
    std::uint64_t free = 0;
    if (file >> free) pages += free;
  }
  return pages;
}

bool hugetlbfs_mounted() {
  std::ifstream mounts("/proc/mounts");
  for (std::string line; std::getline(mounts, line);) {
    std::stringstream fields(line);
    std::string device, point, type;
    if (fields >> device >> point >> type && type == "hugetlbfs") return true;
  }
  return false;
}

std::string check_hugepages(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--no-huge") return {};
  }
  if (free_hugepages() == 0) {
    return "dataplane.eal_args: without --no-huge the EAL needs hugepages, and this host has "
           "none free: reserve them with scripts/hugepages.sh (see docs/deployment.md), or, for "
           "a test set-up, add --no-huge and -m <MiB> to dataplane.eal_args";
  }
  if (!hugetlbfs_mounted()) {
    return "dataplane.eal_args: hugepages are reserved but no hugetlbfs is mounted: mount one "
           "(scripts/hugepages.sh does) or add --no-huge to dataplane.eal_args";
  }
  return {};
}

}  // namespace

std::string check_eal_host(const std::vector<std::string>& eal_args) {
  if (std::string problem = check_lcores(eal_args); !problem.empty()) return problem;
  return check_hugepages(eal_args);
}

std::string eal_error_lines(const std::string& printed) {
  std::stringstream lines(printed);
  std::string kept;
  std::size_t count = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("Usage:")) break;
    // The EAL reads its arguments twice (log options first), so errors come twice.
    if (line.empty() || kept.find(line) != std::string::npos) continue;
    if (++count > kMaxErrorLines) break;
    kept += (kept.empty() ? "" : "\n") + line;
  }
  return kept;
}

CapturedOutput::CapturedOutput() {
  memory_fd_ = memfd_create("heimdall-eal-output", MFD_CLOEXEC);
  if (memory_fd_ < 0) return;  // nothing captured: the EAL prints as it would
  std::fflush(stdout);
  std::fflush(stderr);
  saved_stdout_ = dup(STDOUT_FILENO);
  saved_stderr_ = dup(STDERR_FILENO);
  dup2(memory_fd_, STDOUT_FILENO);
  dup2(memory_fd_, STDERR_FILENO);
}

CapturedOutput::~CapturedOutput() { finish(); }

std::string CapturedOutput::finish() {
  if (memory_fd_ < 0) return {};
  std::fflush(stdout);
  std::fflush(stderr);
  if (saved_stdout_ >= 0) dup2(saved_stdout_, STDOUT_FILENO);
  if (saved_stderr_ >= 0) dup2(saved_stderr_, STDERR_FILENO);
  for (const int fd : {saved_stdout_, saved_stderr_}) {
    if (fd >= 0) close(fd);
  }
  saved_stdout_ = saved_stderr_ = -1;
  std::string text;
  char buffer[4096];
  for (off_t offset = 0;;) {
    const ssize_t n = pread(memory_fd_, buffer, sizeof(buffer), offset);
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    offset += n;
  }
  close(memory_fd_);
  memory_fd_ = -1;
  return text;
}

}  // namespace heimdall::io
