// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The probe key file (probe_keys.h).

#include "probe/probe_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace rdma_bond {
namespace {

constexpr char kKeyA[] = "c2VjcmV0LWtleS1hLWZvci10ZXN0cw==";
constexpr char kKeyB[] = "another-secret-key-for-tests-0123";

TEST(ProbeKeysTest, OneOrTwoKeysTheFirstSigns) {
  Result<std::vector<ProbeKey>> one =
      ParseProbeKeys(std::string(kKeyA) + "\n", "f");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(std::string(one->front().secret.begin(), one->front().secret.end()),
            kKeyA);
  Result<std::vector<ProbeKey>> two = ParseProbeKeys(
      std::string("# rotated in on 2026-12-05\n") + kKeyB + "\r\n\n" + kKeyA,
      "f");
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[0].id, ProbeKeyId(std::span<const uint8_t>(
                              reinterpret_cast<const uint8_t*>(kKeyB),
                              sizeof kKeyB - 1)));
  EXPECT_EQ((*two)[1].id, one->front().id);
  EXPECT_EQ(DescribeProbeKeys(*two).size(), 22u);  // "0x........, 0x........"
  EXPECT_EQ(DescribeProbeKeys({}), "none");
}

TEST(ProbeKeysTest, BadContentIsRefusedWithItsLine) {
  for (const auto& [text, says] : std::vector<std::pair<std::string, std::string>>{
           {"", "no key"},
           {"# only a comment\n", "no key"},
           {"short\n", "line 1: a key of 5 bytes"},
           {std::string(kKeyA) + "\n" + kKeyB + "\n" + kKeyA + "x\n",
            "line 3: more than 2 keys"},
           {std::string(kKeyA) + "\n" + kKeyA + "\n", "line 2: the same key"},
       }) {
    Result<std::vector<ProbeKey>> keys = ParseProbeKeys(text, "probe key file K");
    ASSERT_FALSE(keys.ok()) << text;
    EXPECT_NE(keys.status().message().find("probe key file K"),
              std::string::npos);
    EXPECT_NE(keys.status().message().find(says), std::string::npos)
        << keys.status().message();
  }
}

TEST(ProbeKeysTest, TheFileMustBePrivate) {
  char dir[] = "/tmp/probe-keys-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/keys";
  {
    std::ofstream out(path);
    out << kKeyA << "\n";
  }
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  Result<std::vector<ProbeKey>> keys = ReadProbeKeyFile(path);
  ASSERT_FALSE(keys.ok());
  EXPECT_NE(keys.status().message().find("chmod 600"), std::string::npos);
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  keys = ReadProbeKeyFile(path);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->size(), 1u);
  // A symbolic link to it, a directory, a missing file.
  const std::string link = std::string(dir) + "/link";
  ASSERT_EQ(symlink(path.c_str(), link.c_str()), 0);
  EXPECT_FALSE(ReadProbeKeyFile(link).ok());
  EXPECT_FALSE(ReadProbeKeyFile(dir).ok());
  EXPECT_FALSE(ReadProbeKeyFile(std::string(dir) + "/missing").ok());
  unlink(link.c_str());
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace rdma_bond
