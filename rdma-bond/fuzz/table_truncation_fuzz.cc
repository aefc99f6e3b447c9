// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// libFuzzer target: a table file that its writer truncates, extends and
// scribbles on while a reader uses it (issue 15, finding 2).
//
// Reading a page of a MAP_SHARED mapping past the end of its file raises
// SIGBUS.  TableReader checks the file's size before a snapshot and reads
// under a fault guard (table/fault_guard.h), so whatever the writer does
// to the file, every call must return a Status or a value, never crash.
//
// Each input is a program of operations on one real file (in a fresh
// temporary directory) that an open TableReader maps, two bytes each:
//
//   op % 10  0  truncate to (arg * RDMA_BOND_TABLE_SIZE / 256) bytes
//            1  extend back to RDMA_BOND_TABLE_SIZE (zeros where it was cut)
//            2  write a valid header again
//            3  pwrite 8 bytes of arg at offset arg * 997
//            4  Snapshot()
//            5  Health()
//            6  ChangeWord() and WaitForChange(0 ms)
//            7  Reattach() (maps the file again if it was replaced)
//            8  Snapshot() while another thread truncates and restores
//               the file (arg % 16 + 1 times): the truncation lands
//               between the reader's size check and its reads
//            9  replace the file (a new inode, as a restarted writer)
//
// A snapshot that succeeds must hold only bonds that bond.h allows.
//
// Build and run: "make check-fuzz" (rdma-bond/fuzz/automake.mk).

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "rdma-bond-table.h"
#include "rdma_bond/bond.h"
#include "rdma_bond/table_reader.h"

namespace rdma_bond {
namespace {

struct Workspace {
  std::string dir;
  std::string path;

  Workspace() {
    char templ[] = "/tmp/rdma-bond-truncation-fuzz.XXXXXX";
    if (mkdtemp(templ) == nullptr) std::abort();
    dir = templ;
    path = dir + "/rdma-bond.shm";
  }
  ~Workspace() {
    unlink(path.c_str());
    unlink((path + ".new").c_str());
    rmdir(dir.c_str());
  }
};

Workspace& Space() {
  static Workspace* space = new Workspace();  // Lives for the process.
  return *space;
}

void WriteHeader(int fd) {
  rdma_bond_table_header h;
  std::memset(&h, 0, sizeof h);
  h.magic = RDMA_BOND_TABLE_MAGIC;
  h.abi_version = RDMA_BOND_ABI_VERSION;
  h.header_size = sizeof h;
  h.record_size = sizeof(rdma_bond_record);
  h.n_slots = RDMA_BOND_MAX_BONDS;
  h.max_members = RDMA_BOND_MAX_MEMBERS;
  h.n_buckets = RDMA_BOND_BUCKETS;
  h.instance_id = 0x1234;
  h.writer_pid = static_cast<uint32_t>(getpid());
  h.hash_impl = RDMA_BOND_HASH_MHASH;
  std::snprintf(h.ovs_version, sizeof h.ovs_version, "3.1.0");
  if (pwrite(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) {
    std::abort();
  }
}

// A fresh, valid, empty table at 'path' (mode 0640, as the writer makes).
void CreateTable(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0 || fchmod(fd, 0640) < 0 ||
      ftruncate(fd, RDMA_BOND_TABLE_SIZE) < 0) {
    std::abort();
  }
  WriteHeader(fd);
  close(fd);
}

void CheckSnapshot(const Result<TableSnapshot>& snapshot) {
  if (!snapshot.ok()) return;
  if (snapshot->bonds.size() > RDMA_BOND_MAX_BONDS) std::abort();
  for (const Bond& bond : snapshot->bonds) {
    if (bond.members.size() > RDMA_BOND_MAX_MEMBERS) std::abort();
    for (uint8_t owner : bond.buckets) {
      if (owner != RDMA_BOND_NO_MEMBER && owner >= bond.members.size()) {
        std::abort();
      }
    }
  }
}

}  // namespace
}  // namespace rdma_bond

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rdma_bond;
  Workspace& space = Space();
  CreateTable(space.path);
  Result<std::unique_ptr<TableReader>> opened = TableReader::Open(space.path);
  if (!opened.ok()) std::abort();  // A valid table must open.
  std::unique_ptr<TableReader> reader = std::move(*opened);
  int fd = open(space.path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) std::abort();

  for (size_t i = 0; i + 1 < size; i += 2) {
    const uint8_t op = data[i] % 10;
    const uint8_t arg = data[i + 1];
    switch (op) {
      case 0:
        (void)!ftruncate(fd, static_cast<off_t>(
                                 uint64_t{arg} * RDMA_BOND_TABLE_SIZE / 256));
        break;
      case 1:
        (void)!ftruncate(fd, RDMA_BOND_TABLE_SIZE);
        break;
      case 2:
        WriteHeader(fd);
        break;
      case 3: {
        uint8_t bytes[8];
        std::memset(bytes, arg, sizeof bytes);
        (void)!pwrite(fd, bytes, sizeof bytes, off_t{arg} * 997);
        break;
      }
      case 4:
        CheckSnapshot(reader->Snapshot());
        break;
      case 5:
        (void)reader->Health();
        break;
      case 6: {
        const uint32_t seen = reader->ChangeWord();
        (void)reader->WaitForChange(seen, std::chrono::milliseconds(0));
        break;
      }
      case 7:
        (void)reader->Reattach();
        break;
      case 8: {
        const int times = arg % 16 + 1;
        std::thread writer([fd, times] {
          for (int t = 0; t < times; t++) {
            (void)!ftruncate(fd, 4096);
            (void)!ftruncate(fd, RDMA_BOND_TABLE_SIZE);
          }
        });
        for (int t = 0; t < times; t++) CheckSnapshot(reader->Snapshot());
        writer.join();
        break;
      }
      case 9: {
        const std::string fresh = space.path + ".new";
        CreateTable(fresh);
        if (rename(fresh.c_str(), space.path.c_str()) == 0) {
          close(fd);
          fd = open(space.path.c_str(), O_RDWR | O_CLOEXEC);
          if (fd < 0) std::abort();
        }
        break;
      }
    }
  }
  close(fd);
  return 0;
}
