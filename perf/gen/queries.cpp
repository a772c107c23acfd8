#include "queries.hpp"

#include <sys/socket.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "heimdall/dns/build.hpp"
#include "heimdall/dns/name.hpp"

namespace heimdall::gen {
namespace {

// Sum of 16-bit words for the start-up self-check, folded to 16 bits.
std::uint32_t word_sum(const std::uint8_t* bytes, std::size_t length, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < length; i += 2) sum += dns::load_u16(bytes + i);
  if (length % 2 != 0) sum += std::uint32_t{bytes[length - 1]} << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

// Whether a stamped frame's IPv4 and UDP checksums verify (the sums come out as all
// ones). Run once at start-up on a few frames: it guards the incremental update
// against a change in how the template is built.
bool checksums_verify(const std::uint8_t* frame, std::size_t length) {
  using namespace frame_offset;
  if (word_sum(frame + kIpv4, 20) != 0xffff) return false;
  const std::size_t udp_length = length - kUdp;
  std::uint32_t pseudo = word_sum(frame + kSourceIp, 8);
  pseudo += 17 + static_cast<std::uint32_t>(udp_length);
  return word_sum(frame + kUdp, udp_length, pseudo) == 0xffff;
}

}  // namespace

QueryFrames::QueryFrames(const Options& options, const net::MacAddress& source_mac,
                         const net::MacAddress& destination_mac) {
  net::UdpFlow flow;
  flow.source_mac = source_mac;
  flow.destination_mac = destination_mac;
  flow.source.family = AF_INET;
  flow.source.port = 0;  // stamped per query, with the address
  flow.destination.family = AF_INET;
  flow.destination.port = options.dst_port;
  std::memcpy(flow.destination.address, options.dst.data(), 4);
  if (net::udp_headers_length(flow) != frame_offset::kDns) {
    throw std::runtime_error("unexpected UDP header length for an untagged IPv4 frame");
  }

  const std::size_t longest_payload =
      dns::kHeaderSize + dns::kMaxNameWire + 4 + (options.edns ? dns::kOptRecordSize : 0);
  // Size the stride from the longest name actually in the set, not the protocol limit.
  std::uint8_t wire[dns::kMaxNameWire];
  const std::size_t longest_name =
      dns::name_from_text(query_name(options.names - 1, options.zone).c_str(), wire);
  stride_ = (frame_offset::kDns + longest_payload - dns::kMaxNameWire + longest_name + 15) & ~15u;
  bytes_.assign(std::size_t{options.names} * stride_, 0);
  lengths_.assign(options.names, 0);

  for (std::uint32_t i = 0; i < options.names; ++i) {
    std::uint8_t* frame = bytes_.data() + std::size_t{i} * stride_;
    std::uint8_t* dns = frame + frame_offset::kDns;
    const std::size_t room = stride_ - frame_offset::kDns;
    dns::Header header;
    header.flags = options.recursion_desired ? dns::flag::RD : 0;
    header.qdcount = 1;
    header.arcount = options.edns ? 1 : 0;
    header.write(dns);
    std::size_t length = dns::kHeaderSize;
    const std::size_t name_length = dns::name_from_text(query_name(i, options.zone).c_str(),
                                                        std::span(dns + length, room - length));
    if (name_length == 0 || length + name_length + 4 > room) {
      throw std::runtime_error("cannot build the query for name " + std::to_string(i));
    }
    length += name_length;
    dns::store_u16(dns + length, options.qtype);
    dns::store_u16(dns + length + 2, dns::rrclass::IN);
    length += 4;
    if (options.edns) {
      const std::size_t opt = dns::write_opt(std::span(dns + length, room - length),
                                             dns::OptSpec{.udp_size = options.edns_size});
      if (opt == 0) throw std::runtime_error("cannot write the OPT record");
      length += opt;
    }
    const std::size_t frame_length =
        net::write_udp_headers(std::span(frame, stride_), flow, length, net::UdpChecksum::Full);
    if (frame_length != frame_offset::kDns + length) {
      throw std::runtime_error("write_udp_headers returned an unexpected length");
    }
    lengths_[i] = static_cast<std::uint16_t>(frame_length);
  }

  // Self-check of the incremental checksum update on a few stamps.
  std::uint8_t copy[512];
  const std::uint32_t samples[][3] = {{options.src_net + 1, options.src_port, 0},
                                      {0xfffffffeu, 65535, 65535},
                                      {0x0a630a0b, 1024, 4660}};
  for (const auto& sample : samples) {
    std::memcpy(copy, frame(0), length(0));
    stamp(copy, sample[0], static_cast<std::uint16_t>(sample[1]),
          static_cast<std::uint16_t>(sample[2]));
    if (!checksums_verify(copy, length(0))) {
      throw std::runtime_error("self-check failed: stamped query frame has bad checksums");
    }
  }
}

}  // namespace heimdall::gen
