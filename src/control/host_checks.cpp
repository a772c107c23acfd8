#include "heimdall/control/host_checks.hpp"

#include <unistd.h>

#include <filesystem>

namespace heimdall::control {
namespace {

// The directory `path` will be created in must exist and be writable by us.
void check_directory_of(const std::string& path, const std::string& key,
                        std::vector<std::string>& problems) {
  const std::filesystem::path parent =
      std::filesystem::absolute(std::filesystem::path(path)).parent_path();
  std::error_code error;
  if (!std::filesystem::is_directory(parent, error)) {
    problems.push_back(key + ": directory " + parent.string() + " does not exist (create it; " +
                       "under systemd, packaging/heimdall.service's RuntimeDirectory= and " +
                       "LogsDirectory= create /run/heimdall and /var/log/heimdall)");
  } else if (access(parent.c_str(), W_OK | X_OK) != 0) {
    problems.push_back(key + ": directory " + parent.string() + " is not writable by this user");
  }
}

}  // namespace

std::vector<std::string> host_problems(const Config& config) {
  std::vector<std::string> problems;
  if (config.query_log.enabled)
    check_directory_of(config.query_log.path, "query_log.path", problems);
  if (!config.management.control_socket.empty()) {
    check_directory_of(config.management.control_socket, "management.control_socket", problems);
  }
  for (std::string& problem : problems) problem = config.source + ": " + problem;
  return problems;
}

}  // namespace heimdall::control
