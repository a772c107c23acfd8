#include "logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <string_view>

#include "heimdall/control/json_string.hpp"

namespace heimdall::app {
namespace {

spdlog::level::level_enum to_spdlog(control::LogLevel level) {
  switch (level) {
    case control::LogLevel::Trace:
      return spdlog::level::trace;
    case control::LogLevel::Debug:
      return spdlog::level::debug;
    case control::LogLevel::Info:
      return spdlog::level::info;
    case control::LogLevel::Warn:
      return spdlog::level::warn;
    case control::LogLevel::Error:
      return spdlog::level::err;
    case control::LogLevel::Critical:
      return spdlog::level::critical;
    case control::LogLevel::Off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

// The names logging.level accepts.
std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// %* : the level as logging.level names it.
class LevelFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&,
              spdlog::memory_buf_t& out) override {
    const std::string_view name = level_name(message.level);
    out.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelFlag>();
  }
};

// %& : the message as the inside of a JSON string; UTF-8 bytes as logged.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&,
              spdlog::memory_buf_t& out) override {
    control::append_json_escaped(out,
                                 std::string_view(message.payload.data(), message.payload.size()),
                                 control::HighBytes::Keep);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

LogThread start_logging(const control::LoggingConfig& config) {
  auto pool = std::make_shared<spdlog::details::thread_pool>(8192, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>(
      "heimdall", sink, pool, spdlog::async_overflow_policy::overrun_oldest);
  logger->set_level(to_spdlog(config.level));
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<LevelFlag>('*').add_flag<JsonMessageFlag>('&');
  if (config.format == control::LogFormat::Json) {
    sink->set_color_mode(spdlog::color_mode::never);
    formatter->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%*","message":"%&"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%*%$ %v");
  }
  logger->set_formatter(std::move(formatter));
  spdlog::set_default_logger(logger);
  return pool;
}

void stop_logging(LogThread thread) {
  // spdlog::shutdown alone destroys the formatter before the thread is done with
  // it (ThreadSanitizer reported it).
  thread.reset();
  spdlog::shutdown();
}

}  // namespace heimdall::app
