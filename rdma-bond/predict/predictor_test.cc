// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The predictor: its checks of the published self-test vectors (with the
// hashes OVS's own code computed, golden_vectors.h), its answers against
// OVS's hashes for every regime, choose_output_member()'s rules, and the
// source-port choice.

#include "rdma_bond/predictor.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "predict/golden_vectors.h"
#include "testing/predictor_test_util.h"

namespace rdma_bond {
namespace {

using testing::BondSpec;
using testing::ComputeVector;
using testing::FillVectors;
using testing::GoldenFile;
using testing::GoldenTuple;
using testing::LoadGolden;
using testing::MakeBond;
using testing::PublisherTuples;

std::string Hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

IpAddress Ip(const char* text) { return *ParseIpAddress(text); }

FlowKey UdpKey(const char* src, const char* dst, uint16_t sport) {
  return FlowKey(*MakeUdpTuple(Ip(src), Ip(dst), sport));
}

// A bond of 'spec' with vectors hashed by this reader (mhash).
Bond HashedBond(const BondSpec& spec) {
  Bond bond = MakeBond(spec);
  FillVectors(HashImpl::kMhash, &bond);
  return bond;
}

Predictor MustCreate(const Bond& bond, bool accept_canonical = false) {
  Predictor::Options options;
  options.accept_canonical_hash = accept_canonical;
  Result<Predictor> p = Predictor::Create(bond, RDMA_BOND_HASH_MHASH,
                                          options);
  if (!p.ok()) {
    ADD_FAILURE() << p.status().ToString();
    std::abort();
  }
  return *p;
}

// The table's hash_impl value of 'impl'.
uint32_t Raw(HashImpl impl) { return static_cast<uint32_t>(impl); }

// The bucket hash OVS computed for golden tuple 't' under 'regime'.
uint32_t GoldenRegimeHash(const GoldenTuple& t, HashRegime regime) {
  switch (regime) {
    case HashRegime::kRecirc: return t.hash_int;
    case HashRegime::kXlate: return t.hash_basis;
    default: return t.hash_basis0;
  }
}

// The vectors ofproto/bond-publish.c would publish for 'bond', with the
// hashes OVS's own code computed: the golden files hold the publisher's
// tuples hashed with bases 0, 1, 7 and 0xffffffff.
std::vector<HashVector> GoldenVectors(const GoldenFile& golden,
                                      const Bond& bond) {
  std::vector<HashVector> vectors;
  for (const FiveTuple& tuple : PublisherTuples()) {
    const GoldenTuple* match = nullptr;
    for (const GoldenTuple& t : golden.tuples) {
      if (t.tuple == tuple && t.basis == bond.basis) {
        match = &t;
        break;
      }
    }
    if (match == nullptr) {
      ADD_FAILURE() << golden.path << " lacks " << ToString(tuple)
                    << " with basis " << bond.basis;
      return {};
    }
    HashVector v = ComputeVector(HashImpl::kMhash, bond, tuple);
    v.hash_basis0 = match->hash_basis0;
    v.hash_basis = match->hash_basis;
    const bool published = bond.regime == HashRegime::kRecirc ||
                           bond.regime == HashRegime::kLbOutput ||
                           bond.regime == HashRegime::kXlate;
    v.hash_regime = published ? GoldenRegimeHash(*match, bond.regime) : 0;
    vectors.push_back(v);
  }
  return vectors;
}

// Golden file of each variant this machine can run.
std::vector<GoldenFile> RunnableGoldens() {
  std::vector<GoldenFile> files;
  for (std::string_view variant : testing::kGoldenVariants) {
    Result<GoldenFile> file = LoadGolden(variant);
    if (!file.ok()) {
      ADD_FAILURE() << file.status().ToString();
      continue;
    }
    if (file->unavailable.empty() && HashImplAvailable(file->impl).ok()) {
      files.push_back(std::move(*file));
    }
  }
  return files;
}

constexpr HashRegime kTupleRegimes[] = {
    HashRegime::kRecirc, HashRegime::kLbOutput, HashRegime::kXlate};
constexpr uint32_t kPublisherBases[] = {0, 1, 7, 0xffffffff};

// ---------------------------------------------------------------------------
// Self-test vectors and OVS's own hashes.

TEST(PredictorTest, AcceptsTheVectorsOvsComputedForEveryRegime) {
  for (const GoldenFile& golden : RunnableGoldens()) {
    for (HashRegime regime : kTupleRegimes) {
      for (uint32_t basis : kPublisherBases) {
        BondSpec spec;
        spec.regime = regime;
        spec.basis = basis;
        Bond bond = MakeBond(spec);
        bond.vectors = GoldenVectors(golden, bond);
        ASSERT_EQ(bond.vectors.size(), 8u);
        Result<Predictor> p = Predictor::Create(bond, Raw(golden.impl));
        EXPECT_TRUE(p.ok()) << golden.path << ": " << p.status().ToString();
      }
    }
  }
}

TEST(PredictorTest, PredictsEveryGoldenTupleAsOvsHashesIt) {
  std::vector<GoldenFile> goldens = RunnableGoldens();
  ASSERT_FALSE(goldens.empty());
  size_t checked = 0;
  for (const GoldenFile& golden : goldens) {
    for (HashRegime regime : kTupleRegimes) {
      std::map<uint32_t, Predictor> by_basis;
      for (const GoldenTuple& t : golden.tuples) {
        auto it = by_basis.find(t.basis);
        if (it == by_basis.end()) {
          BondSpec spec;
          spec.regime = regime;
          spec.basis = t.basis;
          spec.n_members = 3;
          Bond bond = MakeBond(spec);
          // Scatter the buckets so that the member depends on every bit.
          for (size_t i = 0; i < bond.buckets.size(); i++) {
            bond.buckets[i] = static_cast<uint8_t>((i * 7 + i / 16) % 3);
          }
          FillVectors(golden.impl, &bond);
          Result<Predictor> p = Predictor::Create(bond, Raw(golden.impl));
          ASSERT_TRUE(p.ok()) << p.status().ToString();
          it = by_basis.emplace(t.basis, std::move(*p)).first;
        }
        const Predictor& predictor = it->second;
        const Prediction p = predictor.Predict(FlowKey(t.tuple));
        const uint32_t expected = GoldenRegimeHash(t, regime);
        ASSERT_TRUE(p.hashed);
        ASSERT_EQ(Hex(p.hash), Hex(expected))
            << golden.path << ":" << t.line << " regime "
            << ToString(regime);
        ASSERT_EQ(p.bucket, expected & kBucketMask);
        ASSERT_EQ(p.outcome, Outcome::kMember);
        ASSERT_EQ(p.member, predictor.bond().buckets[p.bucket]);
        checked++;
      }
    }
  }
  EXPECT_GE(checked, 3 * 2 * testing::kMinGoldenTuples);
}

TEST(PredictorTest, RefusesOnVectorMismatch) {
  const Bond good = HashedBond(BondSpec());
  ASSERT_TRUE(Predictor::Create(good, RDMA_BOND_HASH_MHASH).ok());

  struct Case {
    uint32_t HashVector::*field;
    const char* name;
    const char* function;
  };
  for (const Case& c : {Case{&HashVector::hash_basis0, "hash_basis0",
                             "flow_hash_5tuple(t, 0)"},
                        Case{&HashVector::hash_basis, "hash_basis",
                             "flow_hash_5tuple(t, basis)"},
                        Case{&HashVector::hash_regime, "hash_regime",
                             "the regime hash"}}) {
    Bond bad = good;
    const uint32_t computed = bad.vectors[3].*c.field;
    bad.vectors[3].*c.field ^= 0x100;
    Result<Predictor> p = Predictor::Create(bad, RDMA_BOND_HASH_MHASH);
    ASSERT_FALSE(p.ok()) << c.name;
    EXPECT_TRUE(p.status().IsCorruption());
    EXPECT_EQ(p.status().ToString(),
              "bond \"bond0\": self-test vector 3 (udp 172.16.255.254:65535 "
              "-> 172.16.0.1:4791, basis 7, regime recirc): " +
                  std::string(c.name) + " is " + Hex(computed ^ 0x100) +
                  " in the table but mhash " + c.function + " gives " +
                  Hex(computed) +
                  ": this reader does not hash as the ovs-vswitchd that "
                  "wrote the table (refusing to predict)");
  }
}

TEST(PredictorTest, RefusesVectorsOfAnotherImplementation) {
  // A table whose header names one implementation but whose vectors were
  // hashed by another: what a reader with the wrong implementation sees.
  std::vector<GoldenFile> goldens = RunnableGoldens();
  size_t pairs = 0;
  for (const GoldenFile& writer : goldens) {
    for (const GoldenFile& reader : goldens) {
      if (writer.impl == reader.impl) {
        continue;
      }
      Bond bond = MakeBond(BondSpec());
      bond.vectors = GoldenVectors(writer, bond);
      Result<Predictor> p = Predictor::Create(bond, Raw(reader.impl));
      ASSERT_FALSE(p.ok()) << writer.path << " read as "
                           << ToString(reader.impl);
      EXPECT_NE(p.status().message().find("self-test vector 0"),
                std::string::npos)
          << p.status().ToString();
      pairs++;
    }
  }
  if (pairs == 0) {
    GTEST_SKIP() << "only one hash implementation runs here";
  }
}

TEST(PredictorTest, RefusesAnUnknownHashImplementation) {
  Result<Predictor> p = Predictor::Create(HashedBond(BondSpec()), 7);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().ToString(),
            "the table names hash implementation unknown-7, which this "
            "reader does not know: upgrade ovs-rdma-bond");
}

TEST(PredictorTest, RefusesAnImplementationThisCpuCannotRun) {
  for (HashImpl impl : {HashImpl::kX86Crc32, HashImpl::kArm64Crc32}) {
    const Status available = HashImplAvailable(impl);
    if (available.ok()) {
      continue;
    }
    Result<Predictor> p =
        Predictor::Create(HashedBond(BondSpec()), Raw(impl));
    ASSERT_FALSE(p.ok());
    EXPECT_TRUE(p.status().IsNotSupported());
    EXPECT_EQ(p.status().ToString(),
              "table was written by an " + std::string(ToString(impl)) +
                  " ovs-vswitchd, but " + available.message() +
                  ": cannot predict its hashes");
  }
}

TEST(PredictorTest, RefusesAHashingBondWithoutVectors) {
  Result<Predictor> p =
      Predictor::Create(MakeBond(BondSpec()), RDMA_BOND_HASH_MHASH);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().ToString(),
            "bond \"bond0\" publishes no hash self-test vectors: cannot "
            "check that this reader hashes as ovs-vswitchd does (refusing "
            "to predict)");
  // Active-backup needs no hash.
  BondSpec ab;
  ab.mode = BondMode::kActiveBackup;
  ab.lacp = LacpStatus::kOff;
  ab.regime = HashRegime::kNone;
  EXPECT_TRUE(Predictor::Create(MakeBond(ab), RDMA_BOND_HASH_MHASH).ok());
}

TEST(PredictorTest, RefusesARegimeThatContradictsTheMode) {
  BondSpec spec;
  spec.regime = HashRegime::kNone;
  Result<Predictor> p =
      Predictor::Create(HashedBond(spec), RDMA_BOND_HASH_MHASH);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().ToString(),
            "bond \"bond0\" is balance-tcp with LACP negotiated but its hash "
            "regime is none: the table contradicts itself (refusing to "
            "predict)");
  spec.mode = BondMode::kActiveBackup;
  spec.regime = HashRegime::kRecirc;
  EXPECT_FALSE(Predictor::Create(HashedBond(spec), RDMA_BOND_HASH_MHASH).ok());
}

TEST(PredictorTest, RefusesTheKernelRegimeUnlessAccepted) {
  BondSpec spec;
  spec.regime = HashRegime::kKernel;
  const Bond bond = HashedBond(spec);
  Result<Predictor> p = Predictor::Create(bond, RDMA_BOND_HASH_MHASH);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.status().IsNotSupported());
  EXPECT_EQ(p.status().message().find("bond \"bond0\" (hash regime kernel): "
                                      "the kernel datapath hashes the skb "
                                      "hash"),
            0u)
      << p.status().ToString();

  const Predictor accepted = MustCreate(bond, /*accept_canonical=*/true);
  const FlowKey key = UdpKey("10.0.0.1", "10.0.0.2", 0xc000);
  const Prediction prediction = accepted.Predict(key);
  EXPECT_FALSE(prediction.verified);
  EXPECT_TRUE(prediction.has_member());
  EXPECT_EQ(prediction.hash, FlowHash5Tuple(HashImpl::kMhash, key, 0));
}

// ---------------------------------------------------------------------------
// choose_output_member().

TEST(PredictorTest, LacpFailedWithoutFallbackDropsEveryFlow) {
  BondSpec spec;
  spec.lacp = LacpStatus::kFailed;
  spec.regime = HashRegime::kNone;
  const Predictor p = MustCreate(HashedBond(spec));
  const Prediction drop = p.Predict(UdpKey("10.0.0.1", "10.0.0.2", 0xc000));
  EXPECT_EQ(drop.outcome, Outcome::kDropLacpFailed);
  EXPECT_FALSE(drop.has_member());
  EXPECT_FALSE(drop.hashed);
  EXPECT_EQ(drop.member, Prediction::kNoMember);
  EXPECT_EQ(p.Reason(drop),
            "LACP negotiation failed and lacp-fallback-ab is false: OVS "
            "drops every flow");
  EXPECT_EQ(ToString(drop.outcome), "drop");
}

TEST(PredictorTest, LacpFailedWithFallbackUsesTheActiveMember) {
  for (BondMode mode : {BondMode::kBalanceTcp, BondMode::kBalanceSlb}) {
    BondSpec spec;
    spec.mode = mode;
    spec.lacp = LacpStatus::kFailed;
    spec.lacp_fallback_ab = true;
    spec.regime = HashRegime::kNone;
    spec.active_member = 1;
    const Predictor p = MustCreate(HashedBond(spec));
    const Prediction prediction =
        p.Predict(UdpKey("10.0.0.1", "10.0.0.2", 0xc000));
    EXPECT_EQ(prediction.outcome, Outcome::kMember);
    EXPECT_EQ(prediction.member, 1);
    EXPECT_FALSE(prediction.hashed);
  }
}

TEST(PredictorTest, ActiveBackupUsesTheActiveMemberOrDrops) {
  BondSpec spec;
  spec.mode = BondMode::kActiveBackup;
  spec.lacp = LacpStatus::kOff;
  spec.regime = HashRegime::kNone;
  spec.active_member = 1;
  const FlowKey key = UdpKey("fd00::1", "fd00::2", 0xd000);
  EXPECT_EQ(MustCreate(HashedBond(spec)).Predict(key).member, 1);

  spec.active_member = std::nullopt;
  const Predictor none = MustCreate(HashedBond(spec));
  const Prediction drop = none.Predict(key);
  EXPECT_EQ(drop.outcome, Outcome::kDropNoActiveMember);
  EXPECT_EQ(none.Reason(drop), "no active member: OVS drops every flow");
}

TEST(PredictorTest, BalanceTcpWithoutNegotiatedLacpDrops) {
  BondSpec spec;
  spec.lacp = LacpStatus::kOff;
  spec.regime = HashRegime::kNone;
  const Predictor p = MustCreate(HashedBond(spec));
  const Prediction drop = p.Predict(UdpKey("10.0.0.1", "10.0.0.2", 0xc000));
  EXPECT_EQ(drop.outcome, Outcome::kDropLacpNotNegotiated);
  EXPECT_EQ(p.Reason(drop),
            "balance-tcp without negotiated LACP: OVS drops every flow");
}

TEST(PredictorTest, UnassignedBucketIsReportedNotGuessed) {
  Bond bond = HashedBond(BondSpec());
  const FlowKey key = UdpKey("10.0.0.1", "10.0.0.2", 0xc123);
  const uint8_t bucket = MustCreate(bond).Predict(key).bucket;
  bond.buckets[bucket] = RDMA_BOND_NO_MEMBER;
  const Predictor p = MustCreate(bond);
  const Prediction prediction = p.Predict(key);
  EXPECT_EQ(prediction.outcome, Outcome::kBucketUnassigned);
  EXPECT_TRUE(prediction.hashed);
  EXPECT_EQ(prediction.bucket, bucket);
  EXPECT_EQ(p.Reason(prediction),
            "bucket " + std::to_string(bucket) +
                " is unassigned: OVS assigns an enabled member on first use "
                "(not predictable)");
}

TEST(PredictorTest, BucketOfADisabledMemberIsReportedNotGuessed) {
  Bond bond = HashedBond(BondSpec());
  const FlowKey key = UdpKey("10.0.0.1", "10.0.0.2", 0xc123);
  const Prediction before = MustCreate(bond).Predict(key);
  ASSERT_TRUE(before.has_member());
  bond.members[before.member].flags &= ~RDMA_BOND_M_ENABLED;
  const Predictor p = MustCreate(bond);
  const Prediction prediction = p.Predict(key);
  EXPECT_EQ(prediction.outcome, Outcome::kMemberDisabled);
  EXPECT_EQ(prediction.member, before.member);
  EXPECT_EQ(p.Reason(prediction),
            "bucket " + std::to_string(before.bucket) + " belongs to \"" +
                bond.members[before.member].name +
                "\", which is disabled: OVS reassigns the bucket to an "
                "enabled member on first use (not predictable)");
}

TEST(PredictorTest, BalanceSlbHashesTheSourceMacAsOvsDoes) {
  BondSpec spec;
  spec.mode = BondMode::kBalanceSlb;
  spec.lacp = LacpStatus::kOff;
  spec.regime = HashRegime::kSlb;
  const FlowKey key = UdpKey("10.0.0.1", "10.0.0.2", 0xc000);
  EXPECT_EQ(MustCreate(HashedBond(spec)).Predict(key).outcome,
            Outcome::kNeedsSourceMac);

  size_t checked = 0;
  for (const GoldenFile& golden : RunnableGoldens()) {
    for (const auto& m : golden.macs) {
      spec.basis = m.basis;
      Bond bond = MakeBond(spec);
      FillVectors(golden.impl, &bond);
      Result<Predictor> p = Predictor::Create(bond, Raw(golden.impl));
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      SlbSource slb;
      slb.mac = m.mac;
      slb.vlan = m.vlan;
      const Prediction prediction = p->Predict(key, &slb);
      ASSERT_EQ(Hex(prediction.hash), Hex(m.result)) << FormatMac(m.mac);
      ASSERT_EQ(prediction.bucket, m.result & kBucketMask);
      ASSERT_EQ(prediction.member, bond.buckets[prediction.bucket]);
      checked++;
    }
  }
  EXPECT_GE(checked, 1000u);
}

TEST(PredictorTest, PredictBatchAgreesWithPredict) {
  std::vector<FlowKey> keys;
  for (uint32_t sport = 0xc000; sport < 0xc000 + 1000; sport++) {
    keys.push_back(UdpKey("10.0.0.1", "10.0.0.2", sport));
    keys.push_back(UdpKey("fd00::1", "fd00::2", sport));
  }
  for (HashRegime regime : kTupleRegimes) {
    BondSpec spec;
    spec.regime = regime;
    spec.n_members = 4;
    Bond bond = HashedBond(spec);
    bond.buckets[3] = RDMA_BOND_NO_MEMBER;
    bond.members[2].flags = 0;
    const Predictor p = MustCreate(bond);
    std::vector<Prediction> batch(keys.size());
    p.PredictBatch(keys, batch);
    for (size_t i = 0; i < keys.size(); i++) {
      const Prediction one = p.Predict(keys[i]);
      ASSERT_EQ(batch[i].outcome, one.outcome) << i;
      ASSERT_EQ(batch[i].hash, one.hash) << i;
      ASSERT_EQ(batch[i].member, one.member) << i;
    }
  }
}

TEST(PredictorTest, FindsMembersByName) {
  const Predictor p = MustCreate(HashedBond(BondSpec()));
  EXPECT_EQ(p.FindMember("p2"), 1u);
  EXPECT_EQ(p.FindMember("p3"), std::nullopt);
}

}  // namespace
}  // namespace rdma_bond
