// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The C API following a published bond: a connection created with
// options.bond reads the table and applies its changes.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "rdma-bond-table-writer.h"
#include "rdma_bond/connection.h"
#include "rdma_bond/rdmabond.h"
#include "testing/fake_rnic.h"
#include "testing/table_test_util.h"

namespace rdma_bond {
namespace {

using testing::FakeFabric;
using testing::FakeRnic;
using testing::MakeRecord;
using testing::TempDir;
using testing::WritableTable;

const char* const kIp[2] = {"10.0.0.1", "10.0.0.2"};

void CountMessage(void* arg, const void*, size_t) {
  ++*static_cast<uint64_t*>(arg);
}

// Sends 'n' messages from the C side and pumps both until all arrived.
void SendAndDeliver(rdma_bond_conn* c, Connection* peer, uint64_t* received,
                    uint64_t n) {
  const uint64_t want = *received + n;
  uint8_t message[32] = {};
  uint64_t sent = 0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((sent < n || *received < want) &&
         std::chrono::steady_clock::now() < deadline) {
    if (sent < n) {
      const int rc = rdma_bond_conn_send(c, message, sizeof message);
      if (rc == 0) sent++;
      ASSERT_TRUE(rc == 0 || rc == -EAGAIN) << rdma_bond_last_error();
    }
    ASSERT_EQ(rdma_bond_conn_progress(c), 0) << rdma_bond_last_error();
    ASSERT_TRUE(peer->Progress().ok());
  }
  ASSERT_EQ(*received, want);
}

TEST(CApiBondTest, FollowsTheActiveMemberOfThePublishedBond) {
  TempDir dir;
  const std::string shm = dir.File("rdma-bond.shm");
  std::unique_ptr<WritableTable> table = WritableTable::Create(shm);
  ASSERT_NE(table, nullptr);
  rdma_bond_record record = MakeRecord("bond0", {"p1", "p2"});  // p1 active.
  table->Store(0, record);
  rdma_bond_table_set_n_used(table->header(), 1);
  rdma_bond_table_notify(table->header());

  FakeFabric fabric;
  std::vector<std::unique_ptr<FakeRnic>> rnics[2];
  for (int side = 0; side < 2; side++) {
    for (size_t m = 0; m < 2; m++) {
      rnics[side].push_back(fabric.CreateRnic(
          side, m, "p" + std::to_string(m + 1), *ParseIpAddress(kIp[side])));
    }
  }
  rdma_bond_rnic* handles[2] = {rdma_bond_rnic_wrap(rnics[0][0].get()),
                                rdma_bond_rnic_wrap(rnics[0][1].get())};

  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  // The peer runs without a bond (the C++ API), in a thread while the C
  // side is created.
  std::unique_ptr<Connection> peer;
  Status peer_status;
  std::thread t([&] {
    ConnectionOptions o;
    o.local = *ParseIpAddress(kIp[1]);
    o.remote = *ParseIpAddress(kIp[0]);
    o.max_message_size = 64;
    o.send_window = 32;
    o.recv_buffers = 32;
    o.write_region_size = 4096;
    Result<std::unique_ptr<Connection>> c = Connection::Establish(
        std::move(*SideChannel::Adopt(fds[1])), false,
        {rnics[1][0].get(), rnics[1][1].get()}, nullptr, 0, o);
    if (c.ok()) {
      peer = std::move(*c);
    } else {
      peer_status = c.status();
    }
  });
  rdma_bond_conn_options options;
  rdma_bond_conn_options_init(&options);
  options.local_ip = kIp[0];
  options.remote_ip = kIp[1];
  options.max_message_size = 64;
  options.send_window = 32;
  options.recv_buffers = 32;
  options.write_region_size = 4096;
  options.bond = "bond0";
  options.shm_path = shm.c_str();
  rdma_bond_conn* c = nullptr;
  const int rc = rdma_bond_conn_create(fds[0], 1, handles, 2, &options, &c);
  t.join();
  ASSERT_EQ(rc, 0) << rdma_bond_last_error();
  ASSERT_TRUE(peer_status.ok()) << peer_status.ToString();

  uint64_t received = 0;
  peer->OnMessage([&received](std::span<const uint8_t>) { received++; });
  uint64_t echoed = 0;
  rdma_bond_conn_set_message_cb(c, CountMessage, &echoed);

  SendAndDeliver(c, peer.get(), &received, 200);
  const uint64_t from_p1 = fabric.frames_from(0, 0);
  EXPECT_GT(from_p1, 0u);
  EXPECT_EQ(fabric.frames_from(0, 1), 0u) << "a frame from the standby p2";

  // ovs-vswitchd fails over to p2.
  record.active_member = 1;
  record.members[0].flags &= ~RDMA_BOND_M_ENABLED;
  record.generation++;
  table->Store(0, record);
  rdma_bond_table_notify(table->header());

  // The change reaches the connection through the notifier thread.
  rdma_bond_conn_stats stats;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    ASSERT_EQ(rdma_bond_conn_progress(c), 0) << rdma_bond_last_error();
    ASSERT_TRUE(peer->Progress().ok());
    rdma_bond_conn_wait(c, 1);
    rdma_bond_conn_get_stats(c, &stats);
  } while (stats.bond_changes == 0 &&
           std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(stats.bond_changes, 1u);

  SendAndDeliver(c, peer.get(), &received, 200);
  EXPECT_GT(fabric.frames_from(0, 1), 0u) << "nothing from the new active";
  rdma_bond_conn_get_stats(c, &stats);
  EXPECT_EQ(stats.messages_sent, 400u);
  EXPECT_EQ(stats.paths, 4u);
  EXPECT_GE(stats.paths_carrying, 1u);

  EXPECT_EQ(rdma_bond_conn_close(c, 200), 0) << rdma_bond_last_error();
  rdma_bond_conn_destroy(c);
  peer.reset();
  for (rdma_bond_rnic* h : handles) rdma_bond_rnic_close(h);
}

TEST(CApiBondTest, AnUnpublishedBondIsRefusedWithItsName) {
  TempDir dir;
  const std::string shm = dir.File("rdma-bond.shm");
  std::unique_ptr<WritableTable> table = WritableTable::Create(shm);
  ASSERT_NE(table, nullptr);
  FakeFabric fabric;
  auto rnic = fabric.CreateRnic(0, 0, "p1", *ParseIpAddress("127.0.0.1"));
  rdma_bond_rnic* handle = rdma_bond_rnic_wrap(rnic.get());
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  rdma_bond_conn_options options;
  rdma_bond_conn_options_init(&options);
  options.local_ip = "127.0.0.1";
  options.remote_ip = "127.0.0.2";
  options.bond = "bond9";
  options.shm_path = shm.c_str();
  rdma_bond_conn* c = nullptr;
  EXPECT_EQ(rdma_bond_conn_create(fds[0], 1, &handle, 1, &options, &c),
            -ENOENT);
  EXPECT_EQ(c, nullptr);
  EXPECT_NE(std::string(rdma_bond_last_error()).find("bond9"),
            std::string::npos)
      << rdma_bond_last_error();
  close(fds[1]);
  rdma_bond_rnic_close(handle);
}

}  // namespace
}  // namespace rdma_bond
