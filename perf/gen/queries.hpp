// The generator's query frames: one complete Ethernet/IPv4/UDP/DNS frame per name,
// built once at start-up with a zero source address, source port and DNS ID. Sending
// copies a frame into the mbuf and stamps the client's address, port and the ID in,
// updating both checksums incrementally (RFC 1624) instead of summing the payload
// again, so the per-query cost does not grow with the name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "heimdall/dns/wire.hpp"
#include "heimdall/net/frame.hpp"
#include "options.hpp"

namespace heimdall::gen {

// Offsets in an untagged IPv4 frame without IP options (all the generator sends).
namespace frame_offset {
inline constexpr std::size_t kEthertype = 12, kIpv4 = 14, kIpChecksum = 24, kSourceIp = 26,
                             kDestinationIp = 30, kUdp = 34, kSourcePort = 34,
                             kDestinationPort = 36, kUdpChecksum = 40, kDns = 42;
}

class QueryFrames {
 public:
  // Builds the frames for options.names names; throws std::runtime_error when a
  // frame cannot be built (the options were checked before, so that is a bug).
  QueryFrames(const Options& options, const net::MacAddress& source_mac,
              const net::MacAddress& destination_mac);

  const std::uint8_t* frame(std::uint32_t name) const { return bytes_.data() + name * stride_; }
  std::uint16_t length(std::uint32_t name) const { return lengths_[name]; }
  std::size_t count() const { return lengths_.size(); }

  // Writes the client's source address (host byte order) and port and the DNS ID
  // into a copy of a frame, fixing the IPv4 header and UDP checksums.
  static void stamp(std::uint8_t* frame, std::uint32_t source_ip, std::uint16_t source_port,
                    std::uint16_t id) {
    using namespace frame_offset;
    const auto ip_high = static_cast<std::uint16_t>(source_ip >> 16);
    const auto ip_low = static_cast<std::uint16_t>(source_ip);
    dns::store_u16(frame + kSourceIp, ip_high);
    dns::store_u16(frame + kSourceIp + 2, ip_low);
    dns::store_u16(frame + kSourcePort, source_port);
    dns::store_u16(frame + kDns, id);
    // The template holds zeros in these words, so each new word is simply added.
    const std::uint32_t address_sum = std::uint32_t{ip_high} + ip_low;
    dns::store_u16(frame + kIpChecksum,
                   add_to_checksum(dns::load_u16(frame + kIpChecksum), address_sum));
    std::uint16_t udp =
        add_to_checksum(dns::load_u16(frame + kUdpChecksum), address_sum + source_port + id);
    dns::store_u16(frame + kUdpChecksum, udp == 0 ? 0xffff : udp);  // RFC 768: 0 means none
  }

 private:
  static std::uint16_t add_to_checksum(std::uint16_t checksum, std::uint32_t addend) {
    std::uint32_t sum = static_cast<std::uint16_t>(~checksum) + addend;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
  }

  std::size_t stride_ = 0;
  std::vector<std::uint8_t> bytes_;
  std::vector<std::uint16_t> lengths_;
};

}  // namespace heimdall::gen
