// Start-up diagnostics for the EAL: what the host lacks for the operator's EAL
// arguments, said before rte_eal_init fails on it, and the EAL's own error lines
// without the page of usage text it prints after them. Private to io.
#pragma once

#include <string>
#include <vector>

namespace heimdall::io {

// What this host cannot give the EAL command line `eal_args` (dataplane.eal_args):
// lcores (-l, -c) outside the CPUs this process may run on, or hugepages when
// --no-huge is absent and none are free. Empty when nothing is known to be missing.
std::string check_eal_host(const std::vector<std::string>& eal_args);

// The lines before the EAL's "Usage:" text in what it printed, at most a screenful.
std::string eal_error_lines(const std::string& printed);

// Sends this process's stdout and stderr into memory until finish(), which puts
// them back and returns what was written. Only while the process is starting up:
// any thread's output goes there meanwhile.
class CapturedOutput {
 public:
  CapturedOutput();
  ~CapturedOutput();
  CapturedOutput(const CapturedOutput&) = delete;
  CapturedOutput& operator=(const CapturedOutput&) = delete;
  std::string finish();

 private:
  int memory_fd_ = -1;
  int saved_stdout_ = -1;
  int saved_stderr_ = -1;
};

}  // namespace heimdall::io
