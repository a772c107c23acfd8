#include "heimdall/io/eal.hpp"

#include <pthread.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

#include "eal_diagnostics.hpp"

namespace heimdall::io {
namespace {

std::atomic<bool> eal_started{false};

// Whether `args` set one of `names` ("-m 512", "--file-prefix=x", "--log-level x").
bool has_option(const std::vector<std::string>& args,
                std::initializer_list<std::string_view> names) {
  for (const std::string& arg : args) {
    for (const std::string_view name : names) {
      if (arg == name ||
          (arg.starts_with(name) && arg.size() > name.size() && arg[name.size()] == '=')) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

void start_eal(const EalOptions& options) {
  if (eal_started.exchange(true)) throw std::runtime_error("the EAL is already started");

  // Each process gets its own file prefix so that tests and several instances can
  // run side by side; --no-shconf keeps them from sharing runtime state anyway.
  std::vector<std::string> args = {"heimdall"};
  if (!options.drives_ports) {
    args.insert(args.end(), {"--no-huge", "--no-pci", "--no-shconf", "--no-telemetry"});
  }
  if (!options.drives_ports || !has_option(options.extra_args, {"-m", "--socket-mem"})) {
    args.insert(args.end(), {"-m", std::to_string(options.memory_mb)});
  }
  // Tests and tools get a prefix of their own so several run side by side. The
  // appliance keeps one name, so a restart after a crash reclaims the hugepage
  // files the previous run left behind.
  if (!has_option(options.extra_args, {"--file-prefix"})) {
    args.push_back(options.drives_ports ? std::string("--file-prefix=heimdall")
                                        : "--file-prefix=heimdall-" + std::to_string(getpid()));
  }
  if (options.quiet && !has_option(options.extra_args, {"--log-level"})) {
    args.push_back("--log-level=lib.*:warning");
  }
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  cpu_set_t previous;
  CPU_ZERO(&previous);
  const bool have_previous =
      pthread_getaffinity_np(pthread_self(), sizeof(previous), &previous) == 0;

  if (options.drives_ports) {
    // What the EAL would fail on with a page of usage text, said plainly first.
    if (const std::string problem = check_eal_host(options.extra_args); !problem.empty()) {
      eal_started = false;
      throw std::runtime_error(problem);
    }
  }
  // The EAL prints its whole usage text after any argument it does not like; the
  // operator needs only its own error lines, kept below.
  CapturedOutput output;
  const int result = rte_eal_init(static_cast<int>(args.size()), argv.data());
  const int error = rte_errno;
  std::string captured = output.finish();
  if (result < 0) {
    eal_started = false;
    const std::string reasons = eal_error_lines(captured);
    throw std::runtime_error("DPDK EAL start failed: " + std::string(rte_strerror(error)) +
                             (reasons.empty() ? "" : "\n" + reasons) +
                             "\n(check dataplane.eal_args; the DPDK EAL options are in "
                             "conf/reference.yaml and DPDK's EAL parameters guide)");
  }
  if (!captured.empty()) std::fputs(captured.c_str(), stderr);  // warnings of a good start
  if (have_previous) pthread_setaffinity_np(pthread_self(), sizeof(previous), &previous);
}

bool register_thread_with_eal() { return eal_started.load() && rte_thread_register() == 0; }

void unregister_thread_from_eal() { rte_thread_unregister(); }

void stop_eal() {
  if (!eal_started.exchange(false)) return;
  // With --no-shconf the runtime directory stays empty, but rte_eal_cleanup
  // leaves it behind: one per process would pile up under /var/run/dpdk.
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  rmdir(runtime_dir.c_str());
}

}  // namespace heimdall::io
