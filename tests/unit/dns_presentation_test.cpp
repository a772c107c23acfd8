// Names, types and classes in presentation format (RFC 1035 §5.1, RFC 3597 §5).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "heimdall/dns/name.hpp"
#include "heimdall/dns/presentation.hpp"

namespace heimdall::dns {
namespace {

using Wire = std::vector<std::uint8_t>;

// Wire form from labels given as raw octets, so that a label may hold a dot, a
// zero or a byte over 127.
Wire wire_of(std::initializer_list<std::string> labels) {
  Wire wire;
  for (const std::string& label : labels) {
    wire.push_back(static_cast<std::uint8_t>(label.size()));
    wire.insert(wire.end(), label.begin(), label.end());
  }
  wire.push_back(0);
  return wire;
}

std::string text_of(const Wire& wire) { return name_to_presentation(wire); }

TEST(NamePresentation, OrdinaryNamesEndInADot) {
  EXPECT_EQ(text_of(wire_of({"www", "example", "com"})), "www.example.com.");
  EXPECT_EQ(text_of(wire_of({"_443", "_tcp", "xn--bcher-kva", "example"})),
            "_443._tcp.xn--bcher-kva.example.");
  EXPECT_EQ(text_of(wire_of({})), ".");
  EXPECT_EQ(text_of({}), ".");  // nothing at all prints as the root too
}

TEST(NamePresentation, CaseIsKept) {
  EXPECT_EQ(text_of(wire_of({"WwW", "Example"})), "WwW.Example.");
}

TEST(NamePresentation, DotsAndMasterFileSpecialsInALabelAreEscaped) {
  EXPECT_EQ(text_of(wire_of({"a.b", "example"})), "a\\.b.example.");
  EXPECT_EQ(text_of(wire_of({"back\\slash"})), "back\\\\slash.");
  EXPECT_EQ(text_of(wire_of({"q\"(x);@$"})), "q\\\"\\(x\\)\\;\\@\\$.");
  // Other printable characters are written as they are.
  EXPECT_EQ(text_of(wire_of({"a-b_c*+!#%&'~"})), "a-b_c*+!#%&'~.");
}

TEST(NamePresentation, UnprintableOctetsAreDecimalEscapes) {
  EXPECT_EQ(text_of(wire_of({std::string("a\0b", 3)})), "a\\000b.");
  EXPECT_EQ(text_of(wire_of({"two words"})), "two\\032words.");
  EXPECT_EQ(text_of(wire_of({"\x7f\x80\xff", "x"})), "\\127\\128\\255.x.");
  EXPECT_EQ(text_of(wire_of({"tab\there\n"})), "tab\\009here\\010.");
}

TEST(NamePresentation, EscapedTextReadsBackAsTheSameName) {
  // name_from_text does not read escapes: a plain name makes the round trip.
  const Wire wire = wire_of({"mail", "example", "org"});
  std::uint8_t back[kMaxNameWire];
  const std::size_t length = name_from_text(text_of(wire).c_str(), back);
  EXPECT_EQ(Wire(back, back + length), wire);
}

TEST(NamePresentation, LongestNameFitsTheBufferSize) {
  // 3 labels of 63 octets of 0xff and one of 61: 255 octets in wire form, every
  // label octet written \255.
  const std::string long_label(63, '\xff');
  const Wire wire = wire_of({long_label, long_label, long_label, std::string(61, '\xff')});
  ASSERT_EQ(wire.size(), kMaxNameWire);
  char text[kMaxNameText];
  const std::size_t length = name_to_presentation(wire, text);
  EXPECT_EQ(length, 250 * 4 + 4u);
  EXPECT_EQ(std::string(text).size(), length);
  EXPECT_EQ(std::string(text).substr(0, 8), "\\255\\255");
}

TEST(NamePresentation, SmallBufferTruncatesBetweenEscapes) {
  const Wire wire = wire_of({"ab\x01", "example"});
  char text[6];
  const std::size_t length = name_to_presentation(wire, text);
  EXPECT_EQ(length, 2u);  // "ab", then \001 does not fit whole
  EXPECT_STREQ(text, "ab");
  char none[1];
  EXPECT_EQ(name_to_presentation(wire, none), 0u);
  EXPECT_STREQ(none, "");
}

TEST(NamePresentation, LabelRunningPastTheBufferStopsThere) {
  const Wire cut = {7, 'e', 'x', 'a'};
  EXPECT_EQ(text_of(cut), "exa.");
}

TEST(TypePresentation, MnemonicsOfCommonTypes) {
  const std::pair<std::uint16_t, const char*> expected[] = {
      {1, "A"},       {2, "NS"},        {5, "CNAME"},   {6, "SOA"},   {12, "PTR"},   {15, "MX"},
      {16, "TXT"},    {28, "AAAA"},     {33, "SRV"},    {43, "DS"},   {46, "RRSIG"}, {47, "NSEC"},
      {48, "DNSKEY"}, {50, "NSEC3"},    {52, "TLSA"},   {64, "SVCB"}, {65, "HTTPS"}, {255, "ANY"},
      {257, "CAA"},   {23, "NSAP-PTR"}, {32769, "DLV"},
  };
  for (const auto& [type, text] : expected) {
    EXPECT_EQ(type_to_presentation(type), text) << type;
    EXPECT_EQ(type_mnemonic(type), text) << type;
    EXPECT_EQ(type_from_presentation(text), type) << text;
  }
}

TEST(TypePresentation, UnknownTypesUseTheGenericForm) {
  EXPECT_EQ(type_to_presentation(12345), "TYPE12345");
  EXPECT_EQ(type_to_presentation(0), "TYPE0");
  EXPECT_EQ(type_to_presentation(54), "TYPE54");
  EXPECT_EQ(type_to_presentation(65535), "TYPE65535");
  EXPECT_EQ(type_mnemonic(12345), "");
  char small[5];
  EXPECT_EQ(type_to_presentation(12345, small), 4u);
  EXPECT_STREQ(small, "TYPE");
}

TEST(TypePresentation, ReadsMnemonicsAndGenericFormsIgnoringCase) {
  EXPECT_EQ(type_from_presentation("aaaa"), 28);
  EXPECT_EQ(type_from_presentation("Https"), 65);
  EXPECT_EQ(type_from_presentation("TYPE1"), 1);
  EXPECT_EQ(type_from_presentation("type12345"), 12345);
  EXPECT_EQ(type_from_presentation("TYPE65535"), 65535);
  for (const char* bad :
       {"", "TYPE", "TYPE65536", "TYPE-1", "TYPE+1", "TYPE1x", "AAA", "A ", "CLASS1", "IN"}) {
    EXPECT_FALSE(type_from_presentation(bad).has_value()) << bad;
  }
}

TEST(ClassPresentation, MnemonicsAndGenericForm) {
  EXPECT_EQ(class_to_presentation(1), "IN");
  EXPECT_EQ(class_to_presentation(3), "CH");
  EXPECT_EQ(class_to_presentation(4), "HS");
  EXPECT_EQ(class_to_presentation(254), "NONE");
  EXPECT_EQ(class_to_presentation(255), "ANY");
  EXPECT_EQ(class_to_presentation(2), "CLASS2");
  EXPECT_EQ(class_to_presentation(65280), "CLASS65280");
  EXPECT_EQ(class_from_presentation("in"), 1);
  EXPECT_EQ(class_from_presentation("CLASS42"), 42);
  EXPECT_EQ(class_from_presentation("ch"), 3);
  EXPECT_FALSE(class_from_presentation("A").has_value());
  EXPECT_FALSE(class_from_presentation("CLASS").has_value());
  EXPECT_FALSE(class_from_presentation("TYPE1").has_value());
}

}  // namespace
}  // namespace heimdall::dns
