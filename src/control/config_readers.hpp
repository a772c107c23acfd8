// The readers and checks of the keys too irregular for a typed row: what they accept
// is written in the schema row's doc; the rows in config_schema.cpp call these.
#pragma once

#include <string>
#include <vector>

#include "heimdall/control/config.hpp"
#include "located_yaml.hpp"

namespace heimdall::control {

// An interface address with its subnet: "198.18.0.1/24", "2001:db8::1/64".
filter::Prefix read_interface_address(const ConfigReader& reader, const ConfigValue& value,
                                      int family);
// A next hop: an address of `family`, no port, no subnet.
net::Endpoint read_gateway(const ConfigReader& reader, const ConfigValue& value, int family);
// A unicast MAC address, kept as written.
std::string read_mac(const ConfigReader& reader, const ConfigValue& value);

// A list of networks ("10.0.0.0/8"); `example` names two in the error.
std::vector<filter::Prefix> read_networks(const ConfigReader& reader, const ConfigValue& list,
                                          const std::string& example);
// A list of non-empty strings.
std::vector<std::string> read_strings(const ConfigReader& reader, const ConfigValue& list,
                                      const std::string& noun);

// `nxdomain`, `nodata`, `null`, `refused`, or {addresses: [192.0.2.1, 2001:db8::1]},
// on top of `response` (which keeps its TTL).
filter::BlockResponse read_response(const ConfigReader& reader, const ConfigValue& value,
                                    filter::BlockResponse response);
// filter.lists[].format: a rule format, or `rpz`, which makes the list a zone.
void read_list_format(const ConfigReader& reader, const ConfigValue& value, FilterListConfig& list);
// A list's own response is read before the filter's is known to it: this puts it
// on top of the filter's (its TTL, and whatever its own form leaves unwritten).
void rebase_response(const filter::BlockResponse& filter_response, FilterListConfig& list);
// How many trie lists (policies) a list takes: an RPZ zone has four actions.
unsigned policies_of(const FilterListConfig& list);

// A group's networks against every group's, and its list names against filter.lists.
void check_group(const ConfigReader& reader, const ConfigFields& fields, const FilterConfig& filter,
                 const ClientGroupConfig& group);

// local_records: zone-file lines, each tried in a trial set so that a CNAME beside
// other data (RFC 1034 §3.6.2) is refused here with its line, not at the first reload.
void read_local_records(const ConfigReader& reader, const ConfigValue& value,
                        std::vector<std::string>& out);

// Dotted names compared as DNS does: letter case and a trailing dot do not count.
bool same_name(const std::string& a, const std::string& b);
// A domain name below the root.
bool is_zone_name(const std::string& text);

}  // namespace heimdall::control
