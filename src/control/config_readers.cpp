#include "config_readers.hpp"

#include <cstring>

#include "heimdall/dns/name.hpp"
#include "heimdall/dns/record_parser.hpp"
#include "heimdall/dns/wire.hpp"
#include "heimdall/filter/local_data.hpp"
#include "heimdall/net/address.hpp"

namespace heimdall::control {
namespace {

// Equal networks: same family and length, same bits up to the length.
bool same_network(const filter::Prefix& a, const filter::Prefix& b) {
  if (a.address.family != b.address.family || a.length != b.length) return false;
  for (unsigned bit = 0; bit < a.length; ++bit) {
    const auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
    if ((a.address.address[bit / 8] & mask) != (b.address.address[bit / 8] & mask)) return false;
  }
  return true;
}

bool has_network(const ClientGroupConfig& group, const filter::Prefix& prefix,
                 std::size_t before = SIZE_MAX) {
  for (std::size_t i = 0; i < group.clients.size() && i < before; ++i) {
    if (same_network(group.clients[i], prefix)) return true;
  }
  return false;
}

}  // namespace

filter::Prefix read_interface_address(const ConfigReader& reader, const ConfigValue& value,
                                      int family) {
  const std::string text = reader.get_string(value);
  filter::Prefix prefix;
  const char* example = family == AF_INET ? "198.18.0.1/24" : "2001:db8::1/64";
  if (!filter::Prefix::parse(text, prefix) || prefix.address.family != family ||
      text.find('/') == std::string::npos) {
    reader.fail(value, std::string("expected an address with its subnet such as ") + example +
                           ", got '" + text + "'");
  }
  return prefix;
}

net::Endpoint read_gateway(const ConfigReader& reader, const ConfigValue& value, int family) {
  const std::string text = reader.get_string(value);
  filter::Prefix host;
  if (text.find('/') != std::string::npos || !filter::Prefix::parse(text, host) ||
      host.address.family != family) {
    reader.fail(value, std::string("expected an ") + (family == AF_INET ? "IPv4" : "IPv6") +
                           " address (no port, no subnet), got '" + text + "'");
  }
  return host.address;
}

std::string read_mac(const ConfigReader& reader, const ConfigValue& value) {
  const std::string text = reader.get_string(value);
  const auto mac = net::MacAddress::parse(text);
  if (!mac || mac->is_multicast()) {
    reader.fail(value,
                "expected a unicast MAC address such as 02:00:00:00:00:01, got '" + text + "'");
  }
  return text;
}

std::vector<filter::Prefix> read_networks(const ConfigReader& reader, const ConfigValue& list,
                                          const std::string& example) {
  reader.expect_list(list, "networks");
  std::vector<filter::Prefix> result;
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    const ConfigValue entry = reader.item(list, i);
    const std::string text = reader.get_string(entry);
    filter::Prefix prefix;
    if (!filter::Prefix::parse(text, prefix)) {
      reader.fail(entry, "expected a network such as " + example + ", got '" + text + "'");
    }
    result.push_back(prefix);
  }
  return result;
}

std::vector<std::string> read_strings(const ConfigReader& reader, const ConfigValue& list,
                                      const std::string& noun) {
  reader.expect_list(list, noun);
  std::vector<std::string> result;
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    result.push_back(reader.get_string(reader.item(list, i)));
  }
  return result;
}

filter::BlockResponse read_response(const ConfigReader& reader, const ConfigValue& value,
                                    filter::BlockResponse response) {
  if (value.node.IsMap()) {
    static constexpr std::string_view kKeys[] = {"addresses"};
    const auto fields = reader.fields(value, kKeys);
    const auto addresses = fields.find("addresses");
    if (addresses == fields.end()) reader.fail(value, "missing key 'addresses'");
    reader.expect_list(addresses->second, "addresses");
    response.mode = filter::BlockMode::Addresses;
    response.ipv4_count = response.ipv6_count = 0;
    for (std::size_t i = 0; i < addresses->second.node.size(); ++i) {
      const ConfigValue entry = reader.item(addresses->second, i);
      const std::string text = reader.get_string(entry);
      const auto address = net::parse_ip(text);
      if (address && address->family == AF_INET &&
          response.ipv4_count < filter::BlockResponse::kMaxAddresses) {
        std::memcpy(response.ipv4[response.ipv4_count++].data(), address->address, 4);
      } else if (address && address->family == AF_INET6 &&
                 response.ipv6_count < filter::BlockResponse::kMaxAddresses) {
        std::memcpy(response.ipv6[response.ipv6_count++].data(), address->address, 16);
      } else {
        reader.fail(entry, "expected an IPv4 or IPv6 address (at most " +
                               std::to_string(filter::BlockResponse::kMaxAddresses) +
                               " of each), got '" + text + "'");
      }
    }
    if (response.ipv4_count + response.ipv6_count == 0) {
      reader.fail(addresses->second, "expected at least one address");
    }
    return response;
  }
  // YAML reads a bare `null` as the null value, not as a word: that is this mode.
  if (value.node.IsNull()) {
    response.mode = filter::BlockMode::Null;
    return response;
  }
  static constexpr std::string_view kModes[] = {"nxdomain", "nodata", "null", "refused"};
  static constexpr filter::BlockMode kModeValues[] = {
      filter::BlockMode::NxDomain, filter::BlockMode::NoData, filter::BlockMode::Null,
      filter::BlockMode::Refused};
  response.mode = kModeValues[reader.get_choice(value, kModes)];
  return response;
}

void read_list_format(const ConfigReader& reader, const ConfigValue& value,
                      FilterListConfig& list) {
  static constexpr std::string_view kFormats[] = {"auto",     "hosts", "domains", "adblock",
                                                  "wildcard", "regex", "dnsmasq", "rpz"};
  static constexpr filter::ListFormat kFormatValues[] = {
      filter::ListFormat::Auto,    filter::ListFormat::Hosts,    filter::ListFormat::Domains,
      filter::ListFormat::Adblock, filter::ListFormat::Wildcard, filter::ListFormat::Regex,
      filter::ListFormat::Dnsmasq, filter::ListFormat::Auto};
  const std::size_t index = reader.get_choice(value, kFormats);
  if (kFormats[index] == "rpz") {
    list.kind = ListKind::Rpz;
  } else {
    list.format = kFormatValues[index];
  }
}

void rebase_response(const filter::BlockResponse& filter_response, FilterListConfig& list) {
  if (!list.response) return;
  const filter::BlockResponse own = *list.response;
  filter::BlockResponse response = filter_response;
  response.mode = own.mode;
  if (own.mode == filter::BlockMode::Addresses) {
    response.ipv4_count = own.ipv4_count;
    response.ipv6_count = own.ipv6_count;
    std::copy_n(own.ipv4.begin(), own.ipv4_count, response.ipv4.begin());
    std::copy_n(own.ipv6.begin(), own.ipv6_count, response.ipv6.begin());
  }
  list.response = response;
}

unsigned policies_of(const FilterListConfig& list) { return list.kind == ListKind::Rpz ? 4 : 1; }

void check_group(const ConfigReader& reader, const ConfigFields& fields, const FilterConfig& filter,
                 const ClientGroupConfig& group) {
  const ConfigValue& name = fields.at("name");
  for (const auto& seen : filter.groups) {
    if (seen.name == group.name) reader.fail(name, "group name given twice");
  }
  // One network in two groups would silently belong to the first.
  const ConfigValue& clients = fields.at("clients");
  for (std::size_t i = 0; i < group.clients.size(); ++i) {
    const filter::Prefix& prefix = group.clients[i];
    const ConfigValue client = reader.item(clients, i);
    const std::string text = client.node.Scalar();
    for (const ClientGroupConfig& seen : filter.groups) {
      if (has_network(seen, prefix)) {
        reader.fail(client, "network " + text + " is already in group '" + seen.name + "'");
      }
    }
    if (has_network(group, prefix, i)) {
      reader.fail(client, "network " + text + " is already in group '" + group.name + "'");
    }
  }
  const ConfigValue& lists = fields.at("lists");
  for (std::size_t i = 0; i < group.lists.size(); ++i) {
    bool known = false;
    for (const auto& candidate : filter.lists) known |= candidate.name == group.lists[i];
    if (!known) {
      reader.fail(reader.item(lists, i), "no list named '" + group.lists[i] + "' in filter.lists");
    }
  }
}

void read_local_records(const ConfigReader& reader, const ConfigValue& value,
                        std::vector<std::string>& out) {
  reader.expect_list(value, "records");
  filter::LocalDataBuilder trial;
  for (std::size_t i = 0; i < value.node.size(); ++i) {
    const ConfigValue entry = reader.item(value, i);
    const std::string text = reader.get_string(entry);
    dns::RecordLine record;
    std::string error;
    if (!dns::parse_record(text, "", 3600, record, error)) reader.fail(entry, error);
    if (record.type == dns::rrtype::SOA || record.type == dns::rrtype::NS) {
      reader.fail(entry, "SOA and NS records are not local records");
    }
    const bool wildcard = filter::is_wildcard_owner(record.owner_wire());
    if (wildcard && record.owner_wire().size() <= 3) {
      reader.fail(entry, "a wildcard at the root would answer every name");
    }
    const std::uint16_t added =
        wildcard ? trial.add_wildcard(record, &error) : trial.add(record, &error);
    if (added == filter::kNoIndex) reader.fail(entry, error);
    out.push_back(text);
  }
}

bool same_name(const std::string& a, const std::string& b) {
  std::uint8_t wire_a[dns::kMaxNameWire], wire_b[dns::kMaxNameWire];
  const std::size_t length = dns::name_from_text(a.c_str(), wire_a);
  if (length == 0 || length != dns::name_from_text(b.c_str(), wire_b)) return false;
  for (std::size_t i = 0; i < length; ++i) {
    if (dns::fold(wire_a[i]) != dns::fold(wire_b[i])) return false;
  }
  return true;
}

bool is_zone_name(const std::string& text) {
  std::uint8_t wire[dns::kMaxNameWire];
  return dns::name_from_text(text.c_str(), wire) > 1;
}

}  // namespace heimdall::control
