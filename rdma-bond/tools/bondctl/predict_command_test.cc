// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// "rdma-bondctl predict" and "pick-sport" on a table file written with the
// writer's own code: argument checks with their exact messages, and the
// text and JSON outputs (interfaces, rdma-bondctl(8)).

#include "tools/bondctl/predict_command.h"

#include <arpa/inet.h>

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "testing/predictor_test_util.h"
#include "testing/table_test_util.h"

namespace rdma_bond {
namespace {

using testing::MakeRecord;

// The publisher's first self-test flow, udp 10.0.0.1:49152 ->
// 10.0.0.2:4791, hashed by OVS's compiled mhash code (golden files) with
// basis 7: hash_int(flow_hash_5tuple(t, 0), 7) = 0x60a6c604 (bucket 4).
constexpr uint32_t kBasis = 7;
constexpr uint32_t kRecircHash = 0x60a6c604;

std::vector<std::string> Args(std::initializer_list<const char*> words) {
  return std::vector<std::string>(words.begin(), words.end());
}

// A balance-tcp record: LACP negotiated, recirc regime, basis 7, bucket i
// on member i % 2, and the publisher's vectors.
rdma_bond_record TcpRecord(const char* name) {
  rdma_bond_record record = MakeRecord(name);
  record.mode = RDMA_BOND_MODE_BALANCE_TCP;
  record.lacp_status = RDMA_BOND_LACP_NEGOTIATED;
  record.regime = RDMA_BOND_REGIME_RECIRC;
  record.basis = kBasis;
  record.flags = RDMA_BOND_F_MAY_RECIRC | RDMA_BOND_F_DP_RECIRC |
                 RDMA_BOND_F_USERSPACE_DP;
  for (size_t i = 0; i < RDMA_BOND_BUCKETS; i++) {
    record.buckets[i] = i % 2;
  }
  testing::BondSpec spec;
  spec.basis = kBasis;
  const Bond bond = testing::MakeBond(spec);
  const std::vector<FiveTuple> tuples = testing::PublisherTuples();
  record.n_vectors = static_cast<uint8_t>(tuples.size());
  for (size_t i = 0; i < tuples.size(); i++) {
    const HashVector v =
        testing::ComputeVector(HashImpl::kMhash, bond, tuples[i]);
    rdma_bond_hash_vector& raw = record.vectors[i];
    raw.ip_version = v.ip_version;
    std::memcpy(raw.src, v.src.data(), sizeof raw.src);
    std::memcpy(raw.dst, v.dst.data(), sizeof raw.dst);
    raw.sport_be = htons(v.sport);
    raw.dport_be = htons(v.dport);
    raw.nw_proto = v.nw_proto;
    raw.hash_basis0 = v.hash_basis0;
    raw.hash_basis = v.hash_basis;
    raw.hash_regime = v.hash_regime;
  }
  return record;
}

class PredictCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File(RDMA_BOND_TABLE_NAME);
    table_ = testing::WritableTable::Create(path_);
    ASSERT_NE(table_, nullptr);
    table_->Store(0, TcpRecord("bond0"));
    rdma_bond_record ab = MakeRecord("ab0");
    ab.active_member = 1;
    table_->Store(1, ab);
  }

  Result<CommandOutput> Run(std::vector<std::string> args,
                            const PredictOptions& options = {},
                            bool json = false) {
    Result<PredictRequest> request =
        ParsePredictRequest(args, options, json);
    if (!request.ok()) {
      return request.status();
    }
    return RunPredictRequest(*request, path_);
  }

  // Parses 'args' as rdma-bondctl's argv would hold them.
  static Result<PredictOptions> Options(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (std::string& arg : args) {
      argv.push_back(arg.data());
    }
    PredictOptions options;
    for (int i = 0; i < static_cast<int>(argv.size()); i++) {
      if (!IsPredictOption(argv[i])) {
        return Status::InvalidArgument("not an option: " +
                                       std::string(argv[i]));
      }
      Status s = ParsePredictOption(static_cast<int>(argv.size()),
                                    argv.data(), &i, &options);
      if (!s.ok()) {
        return s;
      }
    }
    return options;
  }

  testing::TempDir dir_;
  std::string path_;
  std::unique_ptr<testing::WritableTable> table_;
};

TEST_F(PredictCommandTest, PredictPrintsAlignedText) {
  Result<CommandOutput> out =
      Run(Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "49152"}));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->warnings.empty());
  EXPECT_EQ(out->text,
            "bond:   bond0\n"
            "flow:   udp 10.0.0.1:49152 -> 10.0.0.2:4791\n"
            "regime: recirc\n"
            "hash:   0x60a6c604\n"
            "bucket: 4\n"
            "member: p1\n");
}

TEST_F(PredictCommandTest, PredictPrintsDocumentedJson) {
  Result<CommandOutput> out = Run(
      Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "0xc000"}), {}, true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->text,
            "{\"bond\": \"bond0\", \"src\": \"10.0.0.1\", \"dst\": "
            "\"10.0.0.2\", \"sport\": 49152, \"dport\": 4791, \"regime\": "
            "\"recirc\", \"hash\": " + std::to_string(kRecircHash) +
            ", \"bucket\": 4, \"member\": \"p1\", \"reason\": null, "
            "\"outcome\": \"member\", \"verified\": true}\n");
}

TEST_F(PredictCommandTest, PredictExplainsAFlowWithoutMember) {
  rdma_bond_record record = TcpRecord("bond0");
  record.buckets[kRecircHash & kBucketMask] = RDMA_BOND_NO_MEMBER;
  table_->Store(0, record);
  Result<CommandOutput> text =
      Run(Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "49152"}));
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_NE(text->text.find("member: none (bucket 4 is unassigned: OVS "
                            "assigns an enabled member on first use (not "
                            "predictable))\n"),
            std::string::npos)
      << text->text;
  Result<CommandOutput> json = Run(
      Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "49152"}), {}, true);
  ASSERT_TRUE(json.ok());
  EXPECT_NE(json->text.find("\"bucket\": 4, \"member\": null, \"reason\": "
                            "\"bucket 4 is unassigned: OVS assigns an "
                            "enabled member on first use (not "
                            "predictable)\", \"outcome\": \"unassigned\""),
            std::string::npos)
      << json->text;
}

TEST_F(PredictCommandTest, PredictOnActiveBackupHasNoHash) {
  Result<CommandOutput> out = Run(
      Args({"predict", "ab0", "fd00::1", "fd00::2", "65535"}), {}, true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->text,
            "{\"bond\": \"ab0\", \"src\": \"fd00::1\", \"dst\": \"fd00::2\", "
            "\"sport\": 65535, \"dport\": 4791, \"regime\": \"none\", "
            "\"hash\": null, \"bucket\": null, \"member\": \"p2\", "
            "\"reason\": null, \"outcome\": \"member\", \"verified\": "
            "true}\n");
}

TEST_F(PredictCommandTest, PickSportPrintsPortsThatReachTheMember) {
  Result<PredictOptions> options = Options({"--count", "3"});
  ASSERT_TRUE(options.ok());
  Result<CommandOutput> out =
      Run(Args({"pick-sport", "bond0", "10.0.0.1", "10.0.0.2", "p2"}),
          *options);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  std::istringstream lines(out->text);
  std::string line;
  const char* head[] = {"bond:   bond0", "member: p2",
                        "flow:   udp 10.0.0.1 -> 10.0.0.2:4791",
                        "regime: recirc", "sports:",
                        "  sport  flow-label  bucket        hash"};
  for (const char* expected : head) {
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_EQ(line, expected);
  }
  int rows = 0;
  for (; std::getline(lines, line); rows++) {
    unsigned sport, label, bucket, hash;
    ASSERT_EQ(std::sscanf(line.c_str(), " %u 0x%x %u 0x%x", &sport, &label,
                          &bucket, &hash),
              4)
        << line;
    EXPECT_EQ(FlowLabelToUdpSport(label), sport);
    EXPECT_EQ(bucket % 2, 1u) << "p2 owns the odd buckets";
    EXPECT_EQ(hash & kBucketMask, bucket);
  }
  EXPECT_EQ(rows, 3);
}

TEST_F(PredictCommandTest, PickSportPrintsDocumentedJson) {
  Result<PredictOptions> options =
      Options({"--count=2", "--spread-key", "0x1234", "--dport=4791"});
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  Result<CommandOutput> out = Run(
      Args({"pick-sport", "ab0", "10.0.0.1", "10.0.0.2", "p2"}), *options,
      true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const std::string prefix =
      "{\n"
      "  \"bond\": \"ab0\",\n"
      "  \"member\": \"p2\",\n"
      "  \"src\": \"10.0.0.1\",\n"
      "  \"dst\": \"10.0.0.2\",\n"
      "  \"dport\": 4791,\n"
      "  \"regime\": \"none\",\n"
      "  \"verified\": true,\n"
      "  \"sports\": [\n"
      "    {\"sport\": ";
  EXPECT_EQ(out->text.substr(0, prefix.size()), prefix) << out->text;
  EXPECT_NE(out->text.find("\"bucket\": null, \"hash\": null},\n"
                           "    {\"sport\": "),
            std::string::npos)
      << out->text;
  EXPECT_TRUE(out->text.ends_with("}\n  ]\n}\n")) << out->text;
}

TEST_F(PredictCommandTest, PickSportFailsForAnUnknownMember) {
  Result<CommandOutput> out =
      Run(Args({"pick-sport", "bond0", "10.0.0.1", "10.0.0.2", "p9"}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().ToString(),
            "bond \"bond0\" has no member \"p9\" (members: p1, p2)");
}

TEST_F(PredictCommandTest, PickSportOnActiveBackupRefusesTheBackup) {
  Result<CommandOutput> out =
      Run(Args({"pick-sport", "ab0", "10.0.0.1", "10.0.0.2", "p1"}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().ToString(),
            "active-backup: every source port reaches the active member "
            "\"p2\"; \"p1\" is not the active member of bond \"ab0\"");
}

TEST_F(PredictCommandTest, FailsForABondThatIsNotPublished) {
  Result<CommandOutput> out =
      Run(Args({"predict", "bond9", "10.0.0.1", "10.0.0.2", "1"}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().ToString(),
            "bond \"bond9\" is not published in " + path_ +
                " (set other_config:rdma-bond=true on its port)");
}

TEST_F(PredictCommandTest, FailsOnAVectorMismatch) {
  rdma_bond_record record = TcpRecord("bond0");
  record.vectors[5].hash_basis0 ^= 1;
  table_->Store(0, record);
  Result<CommandOutput> out =
      Run(Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "49152"}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message().find(
                "bond \"bond0\": self-test vector 5 (udp [fd00::2]:57635 -> "
                "[fd00::1]:4791, basis 7, regime recirc): hash_basis0 is "),
            0u)
      << out.status().ToString();
}

TEST_F(PredictCommandTest, KernelRegimeNeedsCanonicalHash) {
  rdma_bond_record record = TcpRecord("bond0");
  record.regime = RDMA_BOND_REGIME_KERNEL;
  for (rdma_bond_hash_vector& v : record.vectors) {
    v.hash_regime = 0;
  }
  table_->Store(0, record);
  const auto args = Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "1"});
  Result<CommandOutput> refused = Run(args);
  ASSERT_FALSE(refused.ok());
  const std::string hint =
      "must be accepted explicitly (--canonical-hash accepts it; "
      "predictions are then unverified)";
  EXPECT_TRUE(refused.status().ToString().ends_with(hint))
      << refused.status().ToString();
  Result<CommandOutput> accepted = Run(args, *Options({"--canonical-hash"}));
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  EXPECT_NE(accepted->text.find("\nnote:   unverified: the kernel datapath "
                                "hashes the skb hash"),
            std::string::npos)
      << accepted->text;
}

TEST_F(PredictCommandTest, WarnsThatTheSourceMacIsIgnoredOffSlb) {
  Result<CommandOutput> out =
      Run(Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "49152"}),
          *Options({"--src-mac", "02:00:00:00:00:01"}));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->warnings.size(), 1u);
  EXPECT_EQ(out->warnings[0],
            "--src-mac is ignored: bond \"bond0\" is balance-tcp, not "
            "balance-slb");
}

TEST_F(PredictCommandTest, BalanceSlbNeedsTheSourceMac) {
  rdma_bond_record record = TcpRecord("slb0");
  record.mode = RDMA_BOND_MODE_BALANCE_SLB;
  record.lacp_status = RDMA_BOND_LACP_OFF;
  record.regime = RDMA_BOND_REGIME_SLB;
  for (rdma_bond_hash_vector& v : record.vectors) {
    v.hash_regime = 0;
  }
  table_->Store(2, record);
  const auto args = Args({"predict", "slb0", "10.0.0.1", "10.0.0.2", "1"});
  Result<CommandOutput> refused = Run(args);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().ToString(),
            "bond \"slb0\" is balance-slb: OVS hashes the source MAC and "
            "VLAN, not the 5-tuple: give --src-mac (and --vlan)");
  Result<CommandOutput> answered =
      Run(args, *Options({"--src-mac", "aa:55:aa:55:00:01", "--vlan", "10"}));
  ASSERT_TRUE(answered.ok()) << answered.status().ToString();
  EXPECT_NE(answered->text.find("regime: slb\nhash:   0x"), std::string::npos)
      << answered->text;
}

TEST(PredictArgsTest, RefusesBadCommandLines) {
  struct Case {
    std::vector<std::string> args;
    PredictOptions options;
    const char* message;
  };
  PredictOptions count;
  count.count = "2";
  PredictOptions vlan;
  vlan.vlan = "5";
  PredictOptions big_count;
  big_count.count = "16385";
  PredictOptions mac;
  mac.src_mac = "02:00:00:00:00";
  PredictOptions dport;
  dport.dport = "-1";
  const Case cases[] = {
      {Args({"predict", "bond0", "10.0.0.1", "10.0.0.2"}), {},
       "predict takes BOND SRC DST SPORT (use --help)"},
      {Args({"pick-sport", "bond0", "10.0.0.1", "10.0.0.2", "p1", "x"}), {},
       "pick-sport takes BOND SRC DST MEMBER (use --help)"},
      {Args({"predict", "bond0", "10.0.0.256", "10.0.0.2", "1"}), {},
       "source: bad IP address \"10.0.0.256\" (expected IPv4 like 10.0.0.1 "
       "or IPv6 like fd00::1)"},
      {Args({"predict", "bond0", "10.0.0.1", "fd00::1", "1"}), {},
       "source 10.0.0.1 is IPv4 but destination fd00::1 is IPv6: a flow has "
       "one IP version"},
      {Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "70000"}), {},
       "bad source port \"70000\" (expected 0 to 65535)"},
      {Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "12ab"}), {},
       "bad source port \"12ab\" (expected 0 to 65535)"},
      {Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "1"}), dport,
       "bad destination port \"-1\" (expected 0 to 65535)"},
      {Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "1"}), count,
       "--count and --spread-key are options of pick-sport, not predict"},
      {Args({"predict", "bond0", "10.0.0.1", "10.0.0.2", "1"}), vlan,
       "--vlan needs --src-mac"},
      {Args({"pick-sport", "bond0", "10.0.0.1", "10.0.0.2", "p1"}),
       big_count, "bad count \"16385\" (expected 1 to 16384)"},
      {Args({"pick-sport", "bond0", "10.0.0.1", "10.0.0.2", "p1"}), mac,
       "bad MAC address \"02:00:00:00:00\" (expected xx:xx:xx:xx:xx:xx)"},
  };
  for (const Case& c : cases) {
    Result<PredictRequest> r = ParsePredictRequest(c.args, c.options, false);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(r.status().ToString(), c.message);
  }
}

TEST(PredictArgsTest, ParsesAFullPickSportCommand) {
  PredictOptions options;
  options.count = "8";
  options.spread_key = "0xffffffffffffffff";
  options.dport = "010";  // Decimal, not octal.
  options.src_mac = "02:AB:00:00:00:01";
  options.vlan = "4095";
  options.canonical_hash = true;
  Result<PredictRequest> r = ParsePredictRequest(
      Args({"pick-sport", "b", "::ffff:10.0.0.1", "10.0.0.2", "p1"}), options,
      true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, PredictRequest::Kind::kPickSport);
  EXPECT_TRUE(r->json);
  EXPECT_EQ(r->src.version, 4);
  EXPECT_EQ(r->member, "p1");
  EXPECT_EQ(r->count, 8u);
  EXPECT_EQ(r->spread_key, UINT64_MAX);
  EXPECT_EQ(r->dport, 10);
  ASSERT_TRUE(r->slb.has_value());
  EXPECT_EQ(r->slb->mac[1], 0xab);
  EXPECT_EQ(r->slb->vlan, 4095);
  EXPECT_TRUE(r->canonical_hash);
}

TEST(PredictArgsTest, RecognizesOnlyItsOptions) {
  EXPECT_TRUE(IsPredictOption("--dport"));
  EXPECT_TRUE(IsPredictOption("--dport=1"));
  EXPECT_TRUE(IsPredictOption("--canonical-hash"));
  EXPECT_FALSE(IsPredictOption("--canonical-hash=1"));
  EXPECT_FALSE(IsPredictOption("--dportx"));
  EXPECT_FALSE(IsPredictOption("--json"));
  EXPECT_TRUE(IsPredictCommand("pick-sport"));
  EXPECT_FALSE(IsPredictCommand("dump"));

  std::string name = "--count";
  char* argv[] = {name.data()};
  int i = 0;
  PredictOptions options;
  EXPECT_EQ(ParsePredictOption(1, argv, &i, &options).ToString(),
            "option --count needs a value");
}

}  // namespace
}  // namespace rdma_bond
