// heimdall-query: the project's own DNS client, for operators and tests. Sends one
// query (UDP or TCP), or N pipelined queries on one TCP connection, and prints
// each reply in a stable line format:
//   reply id=4660 rcode=0 flags=qr,rd,ra qd=1 an=1 ns=0 ar=1 tc=0 edns=1232 do=0 opt_len=11 size=61
//   rr answer www.example.test. 300 A 192.0.2.1
#include <arpa/inet.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "heimdall/dns/build.hpp"
#include "heimdall/dns/message.hpp"
#include "heimdall/dns/name.hpp"
#include "heimdall/net/endpoint.hpp"

namespace {

using namespace heimdall;
using Bytes = std::vector<std::uint8_t>;

struct Options {
  std::string server = "127.0.0.1";
  std::uint16_t port = 53;
  std::string name;
  std::uint16_t qtype = dns::rrtype::A;
  bool tcp = false;
  int pipeline = 1;
  bool edns = true;
  std::uint16_t edns_size = 1232;
  std::uint8_t edns_version = 0;
  bool dnssec_ok = false;
  bool recursion = true;
  std::uint8_t opcode = 0;
  int timeout_ms = 3000;
};

[[noreturn]] void usage(const char* problem) {
  std::fprintf(
      stderr,
      "heimdall-query: %s\n"
      "usage: heimdall-query [@SERVER] [-p PORT] NAME [TYPE] [+tcp] [+pipeline=N]\n"
      "       [+noedns] [+bufsize=N] [+ednsversion=N] [+do] [+nord] [+opcode=N] [+timeout=MS]\n"
      "TYPE: A AAAA CNAME MX NS SOA TXT PTR ANY or a number\n",
      problem);
  std::exit(2);
}

std::uint16_t type_from_text(const std::string& text) {
  static const std::pair<const char*, std::uint16_t> kTypes[] = {
      {"A", 1},   {"NS", 2},   {"CNAME", 5}, {"SOA", 6},   {"PTR", 12},
      {"MX", 15}, {"TXT", 16}, {"AAAA", 28}, {"ANY", 255}, {"AXFR", 252}};
  for (const auto& [name, value] : kTypes) {
    if (strcasecmp(text.c_str(), name) == 0) return value;
  }
  char* end = nullptr;
  const unsigned long value = std::strtoul(text.c_str(), &end, 10);
  if (*end != '\0' || value == 0 || value > 65535) usage(("unknown type " + text).c_str());
  return static_cast<std::uint16_t>(value);
}

const char* type_to_text(std::uint16_t type) {
  switch (type) {
    case 1:
      return "A";
    case 2:
      return "NS";
    case 5:
      return "CNAME";
    case 6:
      return "SOA";
    case 12:
      return "PTR";
    case 15:
      return "MX";
    case 16:
      return "TXT";
    case 28:
      return "AAAA";
    case 41:
      return "OPT";
    default:
      return "TYPE";
  }
}

Options parse(int argc, char** argv) {
  Options options;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value_of = [&](const char* prefix) { return arg.substr(std::strlen(prefix)); };
    if (arg[0] == '@') {
      options.server = arg.substr(1);
    } else if (arg == "-p" && i + 1 < argc) {
      options.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    } else if (arg == "+tcp") {
      options.tcp = true;
    } else if (arg.rfind("+pipeline=", 0) == 0) {
      options.pipeline = std::atoi(value_of("+pipeline=").c_str());
      options.tcp = true;
    } else if (arg == "+noedns") {
      options.edns = false;
    } else if (arg.rfind("+bufsize=", 0) == 0) {
      options.edns_size = static_cast<std::uint16_t>(std::atoi(value_of("+bufsize=").c_str()));
    } else if (arg.rfind("+ednsversion=", 0) == 0) {
      options.edns_version =
          static_cast<std::uint8_t>(std::atoi(value_of("+ednsversion=").c_str()));
    } else if (arg == "+do") {
      options.dnssec_ok = true;
    } else if (arg == "+nord") {
      options.recursion = false;
    } else if (arg.rfind("+opcode=", 0) == 0) {
      options.opcode = static_cast<std::uint8_t>(std::atoi(value_of("+opcode=").c_str()));
    } else if (arg.rfind("+timeout=", 0) == 0) {
      options.timeout_ms = std::atoi(value_of("+timeout=").c_str());
    } else if (arg[0] == '+' || arg[0] == '-') {
      usage(("unknown option " + arg).c_str());
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.empty() || positional.size() > 2) usage("expected NAME [TYPE]");
  options.name = positional[0];
  if (positional.size() == 2) options.qtype = type_from_text(positional[1]);
  if (options.pipeline < 1 || options.pipeline > 1000) usage("+pipeline takes 1-1000");
  return options;
}

Bytes build_query(const Options& options, std::uint16_t id) {
  Bytes wire(12, 0);
  dns::Header header;
  header.id = id;
  header.flags = static_cast<std::uint16_t>((options.opcode & 0xf) << 11);
  if (options.recursion) header.flags |= dns::flag::RD;
  header.qdcount = 1;
  header.arcount = options.edns ? 1 : 0;
  header.write(wire.data());
  std::uint8_t name[dns::kMaxNameWire];
  const std::size_t length = dns::name_from_text(options.name.c_str(), name);
  if (length == 0) usage("invalid name");
  wire.insert(wire.end(), name, name + length);
  for (std::uint16_t v : {options.qtype, dns::rrclass::IN}) {
    wire.push_back(static_cast<std::uint8_t>(v >> 8));
    wire.push_back(static_cast<std::uint8_t>(v));
  }
  if (options.edns) {
    std::uint8_t opt[dns::kOptRecordSize];
    dns::write_opt(opt, dns::OptSpec{.udp_size = options.edns_size,
                                     .extended_rcode = 0,
                                     .dnssec_ok = options.dnssec_ok});
    opt[6] = options.edns_version;  // the TTL's second byte is the EDNS version
    wire.insert(wire.end(), opt, opt + sizeof(opt));
  }
  return wire;
}

void print_rdata(std::span<const std::uint8_t> wire, const dns::Record& record) {
  const std::uint8_t* rdata = wire.data() + record.rdata_offset;
  char text[dns::kMaxNameWire * 4 + 8];
  if (record.type == dns::rrtype::A && record.rdlength == 4) {
    inet_ntop(AF_INET, rdata, text, sizeof(text));
  } else if (record.type == dns::rrtype::AAAA && record.rdlength == 16) {
    inet_ntop(AF_INET6, rdata, text, sizeof(text));
  } else if (record.type == dns::rrtype::CNAME || record.type == dns::rrtype::NS ||
             record.type == dns::rrtype::PTR || record.type == dns::rrtype::MX) {
    std::size_t offset = record.rdata_offset + (record.type == dns::rrtype::MX ? 2 : 0);
    dns::NameKey target;
    if (dns::read_name(wire, offset, &target) != dns::ParseError::Ok) {
      std::snprintf(text, sizeof(text), "<bad name>");
    } else {
      char name[dns::kMaxNameWire * 4 + 2];
      dns::name_to_text(target.bytes(), name);
      if (record.type == dns::rrtype::MX) {
        std::snprintf(text, sizeof(text), "%u %s", dns::load_u16(rdata), name);
      } else {
        std::snprintf(text, sizeof(text), "%s", name);
      }
    }
  } else {
    std::snprintf(text, sizeof(text), "<%u bytes>", record.rdlength);
  }
  std::printf(" %s", text);
}

bool print_reply(std::span<const std::uint8_t> wire) {
  dns::Message msg;
  const dns::ParseError error = dns::parse_message(wire, msg);
  if (error != dns::ParseError::Ok) {
    std::printf("malformed %s size=%zu\n", dns::to_string(error), wire.size());
    return false;
  }
  const dns::Header& h = msg.header;
  std::string flags;
  for (const auto& [bit, name] : {std::pair{dns::flag::QR, "qr"},
                                  {dns::flag::AA, "aa"},
                                  {dns::flag::TC, "tc"},
                                  {dns::flag::RD, "rd"},
                                  {dns::flag::RA, "ra"},
                                  {dns::flag::AD, "ad"},
                                  {dns::flag::CD, "cd"}}) {
    if (h.has(bit)) flags += (flags.empty() ? "" : ",") + std::string(name);
  }
  const unsigned rcode = h.rcode() | (unsigned{msg.edns.extended_rcode} << 4);
  std::printf(
      "reply id=%u rcode=%u flags=%s qd=%u an=%u ns=%u ar=%u tc=%d edns=%d do=%d "
      "opt_len=%u size=%zu",
      h.id, rcode, flags.empty() ? "-" : flags.c_str(), h.qdcount, h.ancount, h.nscount, h.arcount,
      h.has(dns::flag::TC) ? 1 : 0, msg.edns.present ? msg.edns.udp_size : 0,
      msg.edns.dnssec_ok ? 1 : 0, msg.edns.record_length, wire.size());
  if (msg.has_question) {
    const auto q = msg.question.wire(wire);
    std::string name;
    for (std::size_t i = 0; i < q.size() - 4;) {
      const std::uint8_t length = q[i];
      if (length == 0) break;
      name.append(reinterpret_cast<const char*>(q.data() + i + 1), length);
      name += '.';
      i += 1u + length;
    }
    std::printf(" question=%s", name.empty() ? "." : name.c_str());
  }
  std::printf("\n");
  static const char* const kSections[] = {"answer", "authority", "additional"};
  dns::for_each_record(wire, msg, [&](const dns::Record& record) {
    if (record.type == dns::rrtype::OPT) return true;
    std::size_t offset = record.offset;
    dns::NameKey owner;
    static_cast<void>(dns::read_name(wire, offset, &owner));  // parsed whole before
    char name[dns::kMaxNameWire * 4 + 2];
    dns::name_to_text(owner.bytes(), name);
    std::printf("rr %s %s %u %s", kSections[static_cast<int>(record.section)], name, record.ttl,
                type_to_text(record.type));
    print_rdata(wire, record);
    std::printf("\n");
    return true;
  });
  return true;
}

int open_socket(const net::Endpoint& server, int type) {
  const int fd = socket(server.family, type | SOCK_CLOEXEC, 0);
  sockaddr_storage sa{};
  const socklen_t length = server.to_sockaddr(sa);
  if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&sa), length) != 0) {
    std::perror("heimdall-query: connect");
    std::exit(1);
  }
  return fd;
}

bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

bool read_exact(int fd, std::uint8_t* out, std::size_t size, int timeout_ms) {
  std::size_t got = 0;
  while (got < size) {
    if (!wait_readable(fd, timeout_ms)) return false;
    const ssize_t n = recv(fd, out + got, size - got, 0);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  const auto server = net::Endpoint::parse(options.server, options.port);
  if (!server) usage("invalid server address");
  net::Endpoint target = *server;
  target.port = options.port;

  std::uint16_t first_id = 0;
  getrandom(&first_id, sizeof(first_id), 0);

  if (!options.tcp) {
    const int fd = open_socket(target, SOCK_DGRAM);
    const Bytes query = build_query(options, first_id);
    send(fd, query.data(), query.size(), 0);
    std::uint8_t reply[65536];
    if (!wait_readable(fd, options.timeout_ms)) {
      std::printf("timeout\n");
      return 1;
    }
    const ssize_t n = recv(fd, reply, sizeof(reply), 0);
    close(fd);
    return n > 0 && print_reply({reply, static_cast<std::size_t>(n)}) ? 0 : 1;
  }

  // All queries are written before any reply is read: the server must handle
  // several on one connection and may answer them in any order (RFC 7766 §6.2.1.1).
  const int fd = open_socket(target, SOCK_STREAM);
  Bytes stream;
  for (int i = 0; i < options.pipeline; ++i) {
    const Bytes query = build_query(options, static_cast<std::uint16_t>(first_id + i));
    stream.push_back(static_cast<std::uint8_t>(query.size() >> 8));
    stream.push_back(static_cast<std::uint8_t>(query.size()));
    stream.insert(stream.end(), query.begin(), query.end());
  }
  if (send(fd, stream.data(), stream.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(stream.size())) {
    std::perror("heimdall-query: send");
    return 1;
  }
  int status = 0;
  for (int i = 0; i < options.pipeline; ++i) {
    std::uint8_t prefix[2];
    std::uint8_t reply[65535];
    if (!read_exact(fd, prefix, 2, options.timeout_ms) ||
        !read_exact(fd, reply, dns::load_u16(prefix), options.timeout_ms)) {
      std::printf("timeout\n");
      status = 1;
      break;
    }
    if (!print_reply({reply, dns::load_u16(prefix)})) status = 1;
  }
  close(fd);
  return status;
}
