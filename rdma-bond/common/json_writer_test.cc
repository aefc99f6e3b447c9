// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "common/json_writer.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>

namespace rdma_bond {
namespace {

std::string Quoted(std::string_view text) {
  std::string out;
  JsonWriter::AppendQuoted(text, &out);
  return out;
}

TEST(JsonWriterTest, WritesScalarOnlyContainersOnOneLine) {
  JsonWriter json;
  json.BeginObject();
  json.Key("a");
  json.Uint(1);
  json.Key("flat");
  json.BeginArray();
  json.Int(-2);
  json.Bool(true);
  json.Null();
  json.String("s");
  json.EndArray();
  json.Key("member");
  json.BeginObject();
  json.Key("k");
  json.Bool(false);
  json.Key("j");
  json.Uint(2);
  json.EndObject();
  json.EndObject();
  EXPECT_EQ(json.Finish(),
            "{\n"
            "  \"a\": 1,\n"
            "  \"flat\": [-2, true, null, \"s\"],\n"
            "  \"member\": {\"k\": false, \"j\": 2}\n"
            "}\n");
  JsonWriter flat;
  flat.BeginObject();
  flat.Key("k");
  flat.String("v");
  flat.Key("n");
  flat.Uint(3);
  flat.EndObject();
  EXPECT_EQ(flat.Finish(), "{\"k\": \"v\", \"n\": 3}\n");
}

TEST(JsonWriterTest, IndentsNestedContainersByTwoSpaces) {
  JsonWriter json;
  json.BeginObject();
  json.Key("a");
  json.Uint(1);
  json.Key("list");
  json.BeginArray();
  json.Int(-2);
  json.BeginObject();
  json.EndObject();
  json.BeginArray();
  json.EndArray();
  json.BeginArray();
  json.BeginObject();
  json.Key("x");
  json.Null();
  json.EndObject();
  json.EndArray();
  json.EndArray();
  json.Key("s");
  json.String("x");
  json.EndObject();
  EXPECT_EQ(json.Finish(),
            "{\n"
            "  \"a\": 1,\n"
            "  \"list\": [\n"
            "    -2,\n"
            "    {},\n"
            "    [],\n"
            "    [\n"
            "      {\"x\": null}\n"
            "    ]\n"
            "  ],\n"
            "  \"s\": \"x\"\n"
            "}\n");
}

TEST(JsonWriterTest, WritesScalarDocument) {
  JsonWriter json;
  json.Uint(18446744073709551615u);
  EXPECT_EQ(json.Finish(), "18446744073709551615\n");
}

TEST(JsonWriterTest, WritesDoublesWithFixedDecimalsAndNullForNan) {
  JsonWriter json;
  json.BeginArray();
  json.Double(1.23456, 2);
  json.Double(-0.5, 0);
  json.Double(std::nan(""), 3);
  json.EndArray();
  EXPECT_EQ(json.Finish(), "[1.23, -0, null]\n");
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Quoted("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
  EXPECT_EQ(Quoted(std::string("\x01\x1f\x00", 3)),
            "\"\\u0001\\u001f\\u0000\"");
  EXPECT_EQ(Quoted("/\x7f"), "\"/\x7f\"");  // Legal as they are.
}

TEST(JsonWriterTest, KeepsValidUtf8) {
  EXPECT_EQ(Quoted("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST(JsonWriterTest, ReplacesInvalidUtf8) {
  EXPECT_EQ(Quoted("a\xff" "b"), "\"a\\ufffdb\"");        // Not a lead byte.
  EXPECT_EQ(Quoted("\xc3"), "\"\\ufffd\"");               // Truncated.
  EXPECT_EQ(Quoted("\xc0\xaf"), "\"\\ufffd\\ufffd\"");    // Overlong.
  EXPECT_EQ(Quoted("\xed\xa0\x80"),                       // Surrogate.
            "\"\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(Quoted("\xf4\x90\x80\x80"),                   // > U+10FFFF.
            "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

}  // namespace
}  // namespace rdma_bond
