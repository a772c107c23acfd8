// Writing a schema::Section for a struct S, one call per key. Each call binds the key
// to its member (a pointer to member, or a lambda returning a reference for a member
// of a member) and fills the row's reader and comparison, so the rows themselves
// stay one line of facts: name, member, range, unit, doc.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "heimdall/control/config_schema.hpp"
#include "located_yaml.hpp"

namespace heimdall::control::schema {

// "20000-29999": LOW-HIGH with min <= LOW <= HIGH <= max. The default is the example.
// (With min 1024: ports below belong to the host's services, and a source port
// there draws no entropy the range above does not.)
std::pair<std::uint16_t, std::uint16_t> read_port_range(const ConfigReader& reader,
                                                        const ConfigValue& value, std::uint16_t min,
                                                        std::uint16_t max,
                                                        std::uint16_t example_low,
                                                        std::uint16_t example_high);

// read_section's work for one mapping, returning its entries for the checks that
// follow.
ConfigFields read_entries(const ConfigReader& reader, const Section& section,
                          const ConfigValue& map, void* out);

template <typename T>
struct Unwrapped {
  using type = T;
};
template <typename T>
struct Unwrapped<std::optional<T>> {
  using type = T;
};

template <typename S>
class Table {
 public:
  // The type of the member `Member` binds in S, an optional's value type for an optional.
  template <typename Member>
  using MemberOf =
      std::remove_cvref_t<decltype(std::invoke(std::declval<Member>(), std::declval<S&>()))>;
  template <typename Member>
  using EnumOf = typename Unwrapped<MemberOf<Member>>::type;

  // The reader of a custom key: the value and the whole struct of its section.
  using CustomReader = std::function<void(const ConfigReader&, const ConfigValue&, S&)>;
  using Check =
      std::function<void(const ConfigReader&, const ConfigValue&, const ConfigFields&, S&)>;

  // A plain number in `unit`.
  template <typename Member>
  Table& integer(std::string_view name, Member member, std::uint64_t min, std::uint64_t max,
                 std::string_view unit, std::string_view doc) {
    fits<Member>(name, max);
    return scalar(make_key(name, Type::Integer, doc, unit, min, max), member,
                  [min, max](const ConfigReader& reader, const ConfigValue& value) {
                    return reader.get_uint(value, min, max);
                  });
  }

  // Seconds, or a number with s, m, h, d; `scale` converts to the member's unit
  // (1000 for a member in milliseconds).
  template <typename Member>
  Table& seconds(std::string_view name, Member member, std::uint64_t min, std::uint64_t max,
                 std::string_view doc, std::uint64_t scale = 1) {
    fits<Member>(name, max * scale);
    return scalar(make_key(name, Type::Seconds, doc, "s", min, max), member,
                  [min, max, scale](const ConfigReader& reader, const ConfigValue& value) {
                    return reader.get_seconds(value, min, max) * scale;
                  });
  }

  template <typename Member>
  Table& bytes(std::string_view name, Member member, std::uint64_t min, std::uint64_t max,
               std::string_view doc) {
    fits<Member>(name, max);
    return scalar(make_key(name, Type::Bytes, doc, "bytes", min, max), member,
                  [min, max](const ConfigReader& reader, const ConfigValue& value) {
                    return reader.get_bytes(value, min, max);
                  });
  }

  // Strictly between `low` and `high`.
  template <typename Member>
  Table& fraction(std::string_view name, Member member, double low, double high,
                  std::string_view doc) {
    return scalar(make_key(name, Type::Fraction, doc), member,
                  [low, high](const ConfigReader& reader, const ConfigValue& value) {
                    return reader.get_fraction(value, low, high);
                  });
  }

  template <typename Member>
  Table& boolean(std::string_view name, Member member, std::string_view doc) {
    return scalar(make_key(name, Type::Boolean, doc), member,
                  [](const ConfigReader& reader, const ConfigValue& value) {
                    return reader.get_bool(value);
                  });
  }

  template <typename Member>
  Table& string(std::string_view name, Member member, std::string_view doc) {
    return scalar(make_key(name, Type::String, doc), member,
                  [](const ConfigReader& reader, const ConfigValue& value) {
                    return reader.get_string(value);
                  });
  }

  // One of the names, each standing for a value of the member's enum (or of the
  // optional enum's).
  template <typename Member>
  Table& choice(std::string_view name, Member member,
                std::initializer_list<std::pair<std::string_view, EnumOf<Member>>> choices,
                std::string_view doc) {
    Key key = make_key(name, Type::Choice, doc);
    std::vector<EnumOf<Member>> values;
    for (const auto& [text, value] : choices) {
      key.choices.push_back(text);
      values.push_back(value);
    }
    std::vector<std::string_view> names = key.choices;
    return scalar(
        std::move(key), member,
        [names = std::move(names), values](const ConfigReader& reader, const ConfigValue& value) {
          return values[reader.get_choice(value, names)];
        });
  }

  // ADDR[:PORT]; the member may be an optional.
  template <typename Member>
  Table& address(std::string_view name, Member member, std::string_view doc) {
    return scalar(make_key(name, Type::Address, doc), member,
                  [](const ConfigReader& reader, const ConfigValue& value) {
                    return reader.get_endpoint(value);
                  });
  }

  template <typename Member>
  Table& addresses(std::string_view name, Member member, std::string_view doc) {
    return custom(name, Type::Addresses, doc,
                  [member](const ConfigReader& reader, const ConfigValue& value, S& out) {
                    std::invoke(member, out) = reader.get_endpoints(value);
                  });
  }

  // "LOW-HIGH" within min..max, into two members.
  template <typename Member>
  Table& port_range(std::string_view name, Member low, Member high, std::uint16_t min,
                    std::uint16_t max, std::string_view doc) {
    custom(name, Type::PortRange, doc,
           [low, high, min, max](const ConfigReader& reader, const ConfigValue& value, S& out) {
             const auto [first, last] = read_port_range(
                 reader, value, min, max, std::invoke(low, S{}), std::invoke(high, S{}));
             std::invoke(low, out) = first;
             std::invoke(high, out) = last;
           });
    keys_.back().min = min;
    keys_.back().max = max;
    keys_.back().same = [low, high](const void* a, const void* b) {
      const S& left = *static_cast<const S*>(a);
      const S& right = *static_cast<const S*>(b);
      return std::invoke(low, left) == std::invoke(low, right) &&
             std::invoke(high, left) == std::invoke(high, right);
    };
    return *this;
  }

  // A mapping read into the member, a struct of the child section's type.
  template <typename Member>
  Table& section(std::string_view name, Member member, const Section& child, std::string_view doc) {
    custom(name, Type::Section, doc,
           [member, &child](const ConfigReader& reader, const ConfigValue& value, S& out) {
             read_section(reader, child, value, &std::invoke(member, out));
           });
    keys_.back().section = &child;
    return *this;
  }

  // A list of mappings read into a vector member. `item_check` sees each entry
  // once read, with the struct holding the entries before it: for what relates an
  // entry to its siblings or to the rest of S.
  template <typename Item>
  using ItemCheck = std::function<void(const ConfigReader&, const ConfigValue& entry,
                                       const ConfigFields&, const S&, Item&)>;
  template <typename Item>
  Table& sections(std::string_view name, std::vector<Item> S::*member, const Section& child,
                  std::string_view noun, std::string_view doc, ItemCheck<Item> item_check = {}) {
    auto options = std::make_shared<ListOptions>();
    custom(name, Type::SectionList, doc,
           [=, &child](const ConfigReader& reader, const ConfigValue& list, S& out) {
             reader.expect_list(list, std::string(noun));
             if (options->max_items != 0 && list.node.size() > options->max_items) {
               reader.fail(list, "at most " + std::to_string(options->max_items) + " " +
                                     std::string(noun) + ", got " +
                                     std::to_string(list.node.size()));
             }
             for (std::size_t i = 0; i < list.node.size(); ++i) {
               const ConfigValue entry = reader.item(list, i);
               Item item;
               ConfigFields fields;
               const std::string_view bare = options->bare_key;
               if (!bare.empty() && entry.node.IsScalar()) {
                 fields.emplace(std::string(bare), entry);
                 child.find(bare)->read(reader, entry, &item);
               } else if (!bare.empty() && !entry.node.IsMap()) {
                 reader.fail(entry, "expected " + std::string(options->bare_expected) + ", got " +
                                        describe(entry.node));
               } else {
                 fields = read_entries(reader, child, entry, &item);
               }
               if (item_check) item_check(reader, entry, fields, out, item);
               (out.*member).push_back(std::move(item));
             }
           });
    keys_.back().section = &child;
    last_list_ = options;
    return *this;
  }

  // The last list of sections takes at most `count` entries.
  Table& at_most(std::size_t count) {
    last_list_->max_items = count;
    keys_.back().max = count;
    return *this;
  }

  // In the last list of sections, a bare value is an entry with only `key`, the
  // entry's one required key; `expected` is what an error says either form is.
  Table& or_bare(std::string_view key, std::string_view expected) {
    last_list_->bare_key = key;
    last_list_->bare_expected = expected;
    return *this;
  }

  // A key read by code of its own; `type` says what it is for the documentation.
  Table& custom(std::string_view name, Type type, std::string_view doc, CustomReader reader) {
    keys_.push_back(make_key(name, type, doc));
    keys_.back().read = [reader](const ConfigReader& config_reader, const ConfigValue& value,
                                 void* out) {
      reader(config_reader, value, *static_cast<S*>(out));
    };
    return *this;
  }

  // The last key must be given.
  Table& required() {
    keys_.back().required = true;
    return *this;
  }

  // Runs after the last key is read: a check of its value that needs more than its
  // type, written beside the key.
  Table& then(CustomReader after) {
    auto read = keys_.back().read;
    keys_.back().read = [read, after](const ConfigReader& reader, const ConfigValue& value,
                                      void* out) {
      read(reader, value, out);
      after(reader, value, *static_cast<S*>(out));
    };
    return *this;
  }

  // Checks across the section's keys, after all are read.
  Table& check(Check across) {
    check_ = std::move(across);
    return *this;
  }

  Section build() {
    Section section;
    section.keys = std::move(keys_);
    for (const Key& key : section.keys) section.names.push_back(key.name);
    section.make = [] { return std::make_shared<S>(); };
    if (check_) {
      section.check = [check = check_](const ConfigReader& reader, const ConfigValue& value,
                                       const ConfigFields& fields, void* out) {
        check(reader, value, fields, *static_cast<S*>(out));
      };
    }
    return section;
  }

 private:
  // A range the member cannot hold is a mistake in the row, found at the first load
  // (every unit test of the configuration makes one).
  template <typename Member>
  static void fits(std::string_view name, std::uint64_t max) {
    if (max > std::numeric_limits<MemberOf<Member>>::max()) {
      throw std::logic_error("configuration schema: " + std::string(name) +
                             ": the range exceeds its member's type");
    }
  }

  static Key make_key(std::string_view name, Type type, std::string_view doc,
                      std::string_view unit = {}, std::uint64_t min = 0, std::uint64_t max = 0) {
    Key key;
    key.name = name;
    key.type = type;
    key.doc = doc;
    key.unit = unit;
    key.min = min;
    key.max = max;
    return key;
  }

  // A key whose value is one scalar: read with `get`, stored in the member (an
  // optional member takes the value), and compared with ==.
  template <typename Member, typename Get>
  Table& scalar(Key key, Member member, Get get) {
    key.read = [member, get](const ConfigReader& reader, const ConfigValue& value, void* out) {
      auto& target = std::invoke(member, *static_cast<S*>(out));
      using Target = std::remove_reference_t<decltype(target)>;
      if constexpr (std::is_arithmetic_v<Target> || std::is_enum_v<Target>) {
        target = static_cast<Target>(get(reader, value));
      } else {
        target = get(reader, value);
      }
    };
    key.same = [member](const void* a, const void* b) {
      return std::invoke(member, *static_cast<const S*>(a)) ==
             std::invoke(member, *static_cast<const S*>(b));
    };
    keys_.push_back(std::move(key));
    return *this;
  }

  struct ListOptions {
    std::size_t max_items = 0;  // 0: no limit
    std::string_view bare_key;
    std::string_view bare_expected;
  };

  std::vector<Key> keys_;
  Check check_;
  std::shared_ptr<ListOptions> last_list_;
};

}  // namespace heimdall::control::schema
