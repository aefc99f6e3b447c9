// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// VerbsRnic: the RDMA device behind a bond member, over libibverbs (its
// opening, CQ, memory regions and events).  Its queue pairs, VerbsQp, are
// in verbs_qp.cc.

#include "rnic/verbs/verbs_rnic.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#ifdef RDMA_BOND_HAVE_MLX5DV
#include <infiniband/mlx5dv.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <random>
#include <string>
#include <utility>

#include "common/fd_util.h"
#include "rdma_bond/roce.h"
#include "rnic/verbs/verbs_internal.h"

namespace rdma_bond {

static_assert(IBV_MTU_256 == kIbMtuCodeMin && IBV_MTU_4096 == kIbMtuCodeMax,
              "the MTU codes are enum ibv_mtu");
static_assert(IBV_MTU_1024 == IbMtuCodeFromBytes(1024) &&
                  IBV_MTU_2048 == IbMtuCodeFromBytes(2048),
              "the MTU codes are enum ibv_mtu");

using namespace verbs_detail;  // NOLINT(build/namespaces)

namespace {

// Completions taken from the CQ per ibv_poll_cq() call.
constexpr int kPollBatch = 32;

// Verbs retry counts are 3 bits.
constexpr uint8_t kMaxRetryCount = 7;
// rxe's ibv_device_attr vendor_id (RXE_VENDOR_ID, Linux rxe_param.h).
constexpr uint32_t kRxeVendorId = 0xffffff;

// CAP_IPC_LOCK (linux/capability.h): RLIMIT_MEMLOCK does not apply.
constexpr int kCapIpcLock = 14;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// "64 MiB" or "12345 bytes", for memory sizes in messages.
std::string Bytes(uint64_t n) {
  if (n >= kMiB && n % kMiB == 0) return std::to_string(n / kMiB) + " MiB";
  return std::to_string(n) + " bytes";
}

// True if this process has CAP_IPC_LOCK (from /proc/self/status CapEff).
bool HasCapIpcLock() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("CapEff:")) {
      const uint64_t caps = std::strtoull(line.c_str() + 7, nullptr, 16);
      return (caps >> kCapIpcLock) & 1;
    }
  }
  return false;
}

// Bytes of the pages covering [addr, addr + length): what the kernel pins.
uint64_t PinnedSpan(const void* addr, size_t length) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = reinterpret_cast<uintptr_t>(addr) & ~(page - 1);
  const uint64_t end =
      (reinterpret_cast<uintptr_t>(addr) + length + page - 1) & ~(page - 1);
  return end - start;
}

Gid ToGid(const ibv_gid& gid) {
  Gid out;
  std::memcpy(out.data(), gid.raw, out.size());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------
// Free functions.

Status CheckMemlockLimit(uint64_t length, uint64_t pinned_bytes,
                         uint64_t limit_bytes, bool unlimited,
                         bool cap_ipc_lock) {
  if (unlimited || cap_ipc_lock || pinned_bytes + length <= limit_bytes) {
    return Status::OK();
  }
  return Status::Unavailable(
      "registering " + Bytes(length) + " of RDMA memory with " +
      Bytes(pinned_bytes) + " already registered exceeds RLIMIT_MEMLOCK (" +
      Bytes(limit_bytes) +
      "): raise it (ulimit -l unlimited, or LimitMEMLOCK=infinity in the "
      "systemd unit)");
}

WcStatus WcStatusFromIbv(int ibv_wc_status) {
  switch (ibv_wc_status) {
    case IBV_WC_SUCCESS: return WcStatus::kSuccess;
    case IBV_WC_RETRY_EXC_ERR: return WcStatus::kRetryExceeded;
    case IBV_WC_RNR_RETRY_EXC_ERR: return WcStatus::kRnrRetryExceeded;
    case IBV_WC_WR_FLUSH_ERR: return WcStatus::kFlushed;
    case IBV_WC_REM_INV_REQ_ERR:
    case IBV_WC_REM_ACCESS_ERR:
    case IBV_WC_REM_OP_ERR:
    case IBV_WC_REM_ABORT_ERR:
    case IBV_WC_REM_INV_RD_REQ_ERR:
      return WcStatus::kRemoteError;
    default:
      return WcStatus::kLocalError;
  }
}

namespace {

// The device list of libibverbs, freed on scope exit.
class DeviceList {
 public:
  DeviceList() {
    errno = 0;
    list_ = ibv_get_device_list(&count_);
    errno_ = list_ == nullptr && errno == 0 ? EIO : errno;
  }
  ~DeviceList() {
    if (list_ != nullptr) ibv_free_device_list(list_);
  }
  DeviceList(const DeviceList&) = delete;
  DeviceList& operator=(const DeviceList&) = delete;

  // OK, or why the list could not be read or is empty.
  Status status() const {
    if (list_ == nullptr && errno_ == ENOSYS) {
      // No /sys/class/infiniband_verbs: the kernel has no RDMA userspace
      // support loaded, so there is no device either.
      return Status::NotFound(
          "no RDMA devices (ibv_get_device_list: ib_uverbs is not loaded): "
          "load rdma_rxe or use --backend emulated");
    }
    if (list_ == nullptr) {
      return Status::FromErrno("ibv_get_device_list", errno_);
    }
    if (count_ == 0) {
      return Status::NotFound(
          "no RDMA devices (ibv_get_device_list found none): load rdma_rxe "
          "or use --backend emulated");
    }
    return Status::OK();
  }
  std::span<ibv_device*> devices() const {
    return list_ == nullptr
               ? std::span<ibv_device*>()
               : std::span<ibv_device*>(list_, static_cast<size_t>(count_));
  }

 private:
  ibv_device** list_ = nullptr;
  int count_ = 0;
  int errno_ = 0;                   // Of a failed ibv_get_device_list().
};

// Checks the options of VerbsRnic::Open().
Status CheckOpenOptions(const VerbsRnicOptions& options) {
  if (options.member.empty()) {
    return Status::InvalidArgument("no bond member given for the verbs RNIC");
  }
  if (options.local_ip.version != 4 && options.local_ip.version != 6) {
    return Status::InvalidArgument("local IP of member \"" + options.member +
                                   "\" is not set");
  }
  if (options.max_mtu < kIbMtuBytesMin || options.cq_size == 0) {
    return Status::InvalidArgument(
        "VerbsRnicOptions: max_mtu " + std::to_string(options.max_mtu) +
        " (at least 256) or cq_size " + std::to_string(options.cq_size) +
        " (at least 1) out of range");
  }
  return Status::OK();
}

// What sysfs says of the RDMA port behind a bond member.
struct SysfsPort {
  RdmaPortRef port;
  RoceGid gid;                      // The RoCEv2 GID of the local IP.
  MacAddress mac{};                 // The member's.
};

// Finds the device, port and GID behind options.member in sysfs.
Status FindSysfsPort(const VerbsRnicOptions& options, SysfsPort* out) {
  const RdmaSysfs sysfs(options.sysfs_root);
  // The netdev of the member's traffic: its own name unless the table
  // said otherwise (a DPDK port).
  const std::string& netdev =
      options.netdev.empty() && options.pci.empty() ? options.member
                                                    : options.netdev;
  if (options.device.empty()) {
    Result<RdmaPortRef> found =
        sysfs.FindMemberRdmaPort(options.member, netdev, options.pci);
    if (!found.ok()) return found.status();
    out->port = *found;
  } else {
    out->port.device = options.device;
    out->port.port = 1;
  }
  if (options.port != 0) out->port.port = options.port;
  if (netdev.empty()) {
    return Status::NotFound(
        "member \"" + options.member + "\" (" + ToString(out->port) +
        ") has no kernel netdev: RoCE takes its GID from the netdev that "
        "holds the address (for a DPDK port, keep the NIC's netdev: "
        "mlx5's bifurcated driver does, see docs/dpdk.md)");
  }
  Result<RoceGid> gid =
      sysfs.FindRoceV2Gid(out->port, netdev, options.local_ip);
  if (!gid.ok()) return gid.status();
  out->gid = *gid;
  Result<MacAddress> mac = sysfs.ReadNetdevMac(netdev);
  if (!mac.ok()) return mac.status();
  out->mac = *mac;
  return Status::OK();
}

// Opens port.device with libibverbs into '*context'; sets '*is_mlx5' when
// built with mlx5dv.
Status OpenVerbsDevice(const RdmaPortRef& port, const std::string& member,
                       bool* is_mlx5, ibv_context** context) {
  DeviceList list;
  if (Status status = list.status(); !status.ok()) return status;
  ibv_device* device = nullptr;
  std::string seen;
  for (ibv_device* d : list.devices()) {
    if (port.device == ibv_get_device_name(d)) device = d;
    seen += (seen.empty() ? "" : ", ") + std::string(ibv_get_device_name(d));
  }
  if (device == nullptr) {
    return Status::NotFound(
        "RDMA device " + port.device + " (behind member \"" + member +
        "\" in sysfs) is not among the devices libibverbs sees (" + seen +
        "): is its provider installed (ibverbs-providers) and "
        "/dev/infiniband readable?");
  }
#ifdef RDMA_BOND_HAVE_MLX5DV
  *is_mlx5 = mlx5dv_is_supported(device);
#else
  (void)is_mlx5;
#endif
  *context = ibv_open_device(device);
  if (*context == nullptr) {
    return Status::FromErrno("ibv_open_device " + port.device, errno);
  }
  return Status::OK();
}

// Checks that the port is up and Ethernet; returns the path MTU to use.
Result<uint32_t> CheckPort(ibv_context* context, const RdmaPortRef& port,
                           const std::string& name, const std::string& member,
                           uint32_t max_mtu) {
  ibv_port_attr port_attr{};
  if (int err = ibv_query_port(context, static_cast<uint8_t>(port.port),
                               &port_attr);
      err != 0) {
    return Status::FromErrno("ibv_query_port " + name, err);
  }
  if (port_attr.link_layer != IBV_LINK_LAYER_ETHERNET) {
    return Status::NotSupported("port " + name +
                                " is not Ethernet (link layer " +
                                std::to_string(port_attr.link_layer) +
                                "): RoCEv2 needs an Ethernet port");
  }
  if (port_attr.state != IBV_PORT_ACTIVE) {
    return Status::Unavailable(
        "port " + name + " is " + ibv_port_state_str(port_attr.state) +
        ", not ACTIVE (bring up member " + member + ": ip link set " +
        member + " up)");
  }
  return std::min(IbMtuBytes(port_attr.active_mtu),
                  IbMtuBytes(IbMtuCodeFromBytes(max_mtu)));
}

// Cross-checks the GID sysfs gave with the device's table.
Status CrossCheckGid(ibv_context* context, const RdmaPortRef& port,
                     uint32_t gid_index, const Gid& gid,
                     const std::string& name) {
  ibv_gid_entry entry{};
  if (ibv_query_gid_ex(context, port.port, gid_index, &entry, 0) == 0) {
    if (entry.gid_type != IBV_GID_TYPE_ROCE_V2 || ToGid(entry.gid) != gid) {
      return Status::Unavailable(
          "GID index " + std::to_string(gid_index) + " of " + name +
          " changed while opening (now " + FormatSysfsGid(ToGid(entry.gid)) +
          "): retry");
    }
    return Status::OK();
  }
  ibv_gid raw{};
  if (int err = ibv_query_gid(context, static_cast<uint8_t>(port.port),
                              static_cast<int>(gid_index), &raw);
      err != 0) {
    return Status::FromErrno("ibv_query_gid " + name + " index " +
                                 std::to_string(gid_index),
                             errno != 0 ? errno : EIO);
  }
  if (ToGid(raw) != gid) {
    return Status::Unavailable("GID index " + std::to_string(gid_index) +
                               " of " + name +
                               " changed while opening: retry");
  }
  return Status::OK();
}

// The protection domain, completion channel and CQ of a device, as
// created (the caller owns each that is not null).
struct CompletionObjects {
  ibv_pd* pd = nullptr;
  ibv_comp_channel* channel = nullptr;
  ibv_cq* cq = nullptr;
};

// Creates the PD, the non-blocking completion channel and the armed CQ of
// 'context' into '*out', and makes its async event descriptor
// non-blocking.
Status CreateCompletionObjects(ibv_context* context, uint32_t cq_size,
                               const std::string& name,
                               CompletionObjects* out) {
  out->pd = ibv_alloc_pd(context);
  if (out->pd == nullptr) {
    return Status::FromErrno("ibv_alloc_pd on " + name, errno);
  }
  out->channel = ibv_create_comp_channel(context);
  if (out->channel == nullptr) {
    return Status::FromErrno("ibv_create_comp_channel on " + name, errno);
  }
  if (Status status = SetNonBlocking(out->channel->fd, "completion channel");
      !status.ok()) {
    return status;
  }
  out->cq = ibv_create_cq(context, static_cast<int>(cq_size), nullptr,
                          out->channel, 0);
  if (out->cq == nullptr) {
    return Status::FromErrno("ibv_create_cq of " + std::to_string(cq_size) +
                                 " entries on " + name,
                             errno);
  }
  if (int err = ibv_req_notify_cq(out->cq, 0); err != 0) {
    return Status::FromErrno("ibv_req_notify_cq on " + name, err);
  }
  return SetNonBlocking(context->async_fd, "async event descriptor");
}

// Adds 'fds' to 'epoll_fd', readable.
Status WatchDescriptors(int epoll_fd, std::initializer_list<int> fds) {
  for (int fd : fds) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0) {
      return Status::FromErrno("epoll_ctl ADD", errno);
    }
  }
  return Status::OK();
}

}  // namespace

Status CheckVerbsAvailable() { return DeviceList().status(); }

Result<std::vector<std::string>> ListVerbsDevices() {
  DeviceList list;
  if (!list.status().ok()) return list.status();
  std::vector<std::string> names;
  for (ibv_device* device : list.devices()) {
    names.push_back(ibv_get_device_name(device));
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------------
// VerbsRnic.

void VerbsRnic::ContextCloser::operator()(ibv_context* p) const {
  ibv_close_device(p);
}
void VerbsRnic::PdDeallocator::operator()(ibv_pd* p) const {
  ibv_dealloc_pd(p);
}
void VerbsRnic::ChannelDestroyer::operator()(ibv_comp_channel* p) const {
  ibv_destroy_comp_channel(p);
}
void VerbsRnic::CqDestroyer::operator()(ibv_cq* p) const {
  ibv_destroy_cq(p);
}
void VerbsRnic::MrDeregisterer::operator()(ibv_mr* p) const {
  ibv_dereg_mr(p);
}

Result<std::unique_ptr<VerbsRnic>> VerbsRnic::Open(
    const VerbsRnicOptions& options) {
  std::unique_ptr<VerbsRnic> rnic(new VerbsRnic());
  Status status = rnic->OpenDevice(options);
  if (!status.ok()) return status;
  return rnic;
}

VerbsRnic::~VerbsRnic() {
  // QPs still alive lose their verbs QP now: the CQ cannot be destroyed
  // while a QP uses it.
  for (auto& [qpn, qp] : qps_) qp->Detach();
  qps_.clear();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

Status VerbsRnic::OpenDevice(const VerbsRnicOptions& options) {
  if (Status status = CheckOpenOptions(options); !status.ok()) return status;
  member_ = options.member;
  local_ip_ = options.local_ip;

  SysfsPort sysfs;
  if (Status status = FindSysfsPort(options, &sysfs); !status.ok()) {
    return status;
  }
  port_ = sysfs.port;
  name_ = ToString(port_);
  gid_index_ = sysfs.gid.index;
  gid_ = sysfs.gid.gid;
  mac_ = sysfs.mac;

  ibv_context* context = nullptr;
  Status status = OpenVerbsDevice(port_, member_, &is_mlx5_, &context);
  context_.reset(context);
  if (!status.ok()) return status;
  can_move_sport_ = is_mlx5_;
  ibv_device_attr device_attr{};
  retry_7_is_forever_ = ibv_query_device(context_.get(), &device_attr) == 0 &&
                        device_attr.vendor_id == kRxeVendorId;

  Result<uint32_t> mtu =
      CheckPort(context_.get(), port_, name_, member_, options.max_mtu);
  if (!mtu.ok()) return mtu.status();
  mtu_ = *mtu;
  status = CrossCheckGid(context_.get(), port_, gid_index_, gid_, name_);
  if (!status.ok()) return status;

  CompletionObjects made;
  status = CreateCompletionObjects(context_.get(), options.cq_size, name_,
                                   &made);
  pd_.reset(made.pd);
  channel_.reset(made.channel);
  cq_.reset(made.cq);
  if (!status.ok()) return status;
  cq_capacity_ = static_cast<uint32_t>(cq_->cqe);

  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return Status::FromErrno("epoll_create1", errno);
  status = WatchDescriptors(epoll_fd_, {channel_->fd, context_->async_fd});
  if (!status.ok()) return status;
  async_fd_watched_ = true;
  return Status::OK();
}

Result<std::unique_ptr<QueuePair>> VerbsRnic::CreateQp(
    const QpOptions& options) {
  if (Status health_status = health(); !health_status.ok()) {
    return health_status.WithPrefix("cannot create a QP");
  }
  if (options.max_send_wr == 0 || options.retry_count > kMaxRetryCount ||
      options.rnr_retry > kMaxRetryCount) {
    return Status::InvalidArgument(
        "QpOptions: max_send_wr " + std::to_string(options.max_send_wr) +
        " (at least 1), retry_count " + std::to_string(options.retry_count) +
        " and rnr_retry " + std::to_string(options.rnr_retry) +
        " (0..7) out of range");
  }
  const uint64_t depth =
      uint64_t{options.max_send_wr} + uint64_t{options.max_recv_wr};
  if (cq_reserved_ + depth > cq_capacity_) {
    return Status::InvalidArgument(
        "a QP with " + std::to_string(options.max_send_wr) + " send + " +
        std::to_string(options.max_recv_wr) +
        " receive entries could overflow the completion queue of " + name_ +
        " (" + std::to_string(cq_capacity_) + " entries, " +
        std::to_string(cq_reserved_) + " used by " +
        std::to_string(qps_.size()) +
        " QPs): raise VerbsRnicOptions::cq_size or use shallower queues");
  }
  ibv_qp_init_attr init{};
  init.send_cq = cq_.get();
  init.recv_cq = cq_.get();
  init.cap.max_send_wr = options.max_send_wr;
  init.cap.max_recv_wr = options.max_recv_wr;
  init.cap.max_send_sge = 1;
  init.cap.max_recv_sge = 1;
  init.cap.max_inline_data = options.max_inline;
  init.qp_type = IBV_QPT_RC;
  init.sq_sig_all = 1;
  ibv_qp* qp = ibv_create_qp(pd_.get(), &init);
  if (qp == nullptr) {
    return Status::FromErrno("ibv_create_qp on " + name_ + " (" +
                                 std::to_string(options.max_send_wr) +
                                 " send, " +
                                 std::to_string(options.max_recv_wr) +
                                 " receive entries)",
                             errno);
  }
  std::random_device random;
  const uint32_t psn = random() & kPsnMask;
  QpOptions used = options;
  if (retry_7_is_forever_ && used.retry_count == 7) used.retry_count = 6;
  auto verbs_qp = std::make_unique<VerbsQp>(this, qp, used, psn);
  qps_[verbs_qp->qpn_] = verbs_qp.get();
  cq_reserved_ += static_cast<uint32_t>(depth);
  return std::unique_ptr<QueuePair>(std::move(verbs_qp));
}

Result<MemoryRegion> VerbsRnic::Register(void* addr, size_t length,
                                         MemoryAccess access) {
  if (addr == nullptr || length == 0) {
    return Status::InvalidArgument("cannot register an empty memory region");
  }
  if (fatal_) return fatal_status_;
  const uint64_t span = PinnedSpan(addr, length);
  rlimit limit{};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) < 0) {
    return Status::FromErrno("getrlimit RLIMIT_MEMLOCK", errno);
  }
  if (Status status = CheckMemlockLimit(
          span, pinned_bytes_, limit.rlim_cur,
          limit.rlim_cur == RLIM_INFINITY, HasCapIpcLock());
      !status.ok()) {
    return status.WithPrefix(name_);
  }
  const int flags = IBV_ACCESS_LOCAL_WRITE |
                    (access == MemoryAccess::kRemoteWrite
                         ? IBV_ACCESS_REMOTE_WRITE
                         : 0);
  ibv_mr* mr = ibv_reg_mr(pd_.get(), addr, length, flags);
  if (mr == nullptr) {
    Status status = Status::FromErrno(
        "ibv_reg_mr of " + Bytes(length) + " on " + name_, errno);
    if (status.errno_value() == ENOMEM) {
      status = status.WithHint(
          "(memory locked by others in this process counts too: raise "
          "RLIMIT_MEMLOCK)");
    }
    return status;
  }
  MemoryRegion region;
  region.addr = static_cast<uint8_t*>(addr);
  region.length = length;
  region.lkey = mr->lkey;
  region.rkey = mr->rkey;
  mrs_[mr->lkey].reset(mr);
  pinned_bytes_ += span;
  return region;
}

Status VerbsRnic::Deregister(const MemoryRegion& mr) {
  auto it = mrs_.find(mr.lkey);
  if (it == mrs_.end() || it->second->addr != mr.addr) {
    return Status::NotFound("memory region lkey " + Hex(mr.lkey) +
                            " is not registered with " + name_);
  }
  ibv_mr* raw = it->second.release();
  mrs_.erase(it);
  pinned_bytes_ -= PinnedSpan(mr.addr, mr.length);
  if (int err = ibv_dereg_mr(raw); err != 0) {
    return Status::FromErrno("ibv_dereg_mr on " + name_, err);
  }
  return Status::OK();
}

Status VerbsRnic::health() const {
  if (fatal_) return fatal_status_;
  if (!port_status_.ok()) return port_status_;
  return gid_status_;
}

int64_t VerbsRnic::NextDeadlineUs() const {
  return cq_maybe_nonempty_ || !flushed_.empty() ? 0 : -1;
}

void VerbsRnic::FlushPending(VerbsQp* qp) {
  for (auto* queue : {&qp->send_pending_, &qp->recv_pending_}) {
    for (const Pending& pending : *queue) {
      Completion c;
      c.wr_id = pending.wr_id;
      c.qpn = qp->qpn_;
      c.status = WcStatus::kFlushed;
      c.opcode = pending.opcode;
      flushed_.push_back(c);
    }
    queue->clear();
  }
}

void VerbsRnic::ErrorAllQps() {
  for (auto& [qpn, qp] : qps_) {
    if (qp->state_ != QpState::kReset) qp->SetError();
  }
}

void VerbsRnic::SetFatal(Status status) {
  if (fatal_) return;
  fatal_ = true;
  fatal_status_ = std::move(status);
  for (auto& [qpn, qp] : qps_) {
    qp->SetError();
    FlushPending(qp);
  }
  // The descriptors of a dead device may stay readable: stop watching
  // them, or an event loop would spin.  NextDeadlineUs() covers the
  // flushed completions still to report.
  if (async_fd_watched_) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, context_->async_fd, nullptr);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, channel_->fd, nullptr);
    async_fd_watched_ = false;
  }
}

void VerbsRnic::ReadAsyncEvents() {
  while (async_fd_watched_) {
    ibv_async_event event{};
    if (ibv_get_async_event(context_.get(), &event) != 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        SetFatal(Status::FromErrno("RDMA device " + port_.device +
                                       " was removed or failed (reading its "
                                       "events)",
                                   errno));
      }
      return;
    }
    switch (event.event_type) {
      case IBV_EVENT_DEVICE_FATAL:
        SetFatal(Status::Unavailable(
            "RDMA device " + port_.device + " (member " + member_ +
            ") was removed or failed (IBV_EVENT_DEVICE_FATAL): destroy its "
            "QPs and this RNIC, reopen when it is back"));
        break;
      case IBV_EVENT_PORT_ERR:
        if (event.element.port_num == static_cast<int>(port_.port)) {
          port_status_ = Status::Unavailable(
              "port " + name_ + " (member " + member_ +
              ") went down (IBV_EVENT_PORT_ERR): its QPs were flushed");
          ErrorAllQps();
        }
        break;
      case IBV_EVENT_PORT_ACTIVE:
        if (event.element.port_num == static_cast<int>(port_.port)) {
          port_status_ = Status::OK();
        }
        break;
      case IBV_EVENT_GID_CHANGE:
        if (event.element.port_num == static_cast<int>(port_.port)) {
          ibv_gid raw{};
          const bool same =
              ibv_query_gid(context_.get(), static_cast<uint8_t>(port_.port),
                            static_cast<int>(gid_index_), &raw) == 0 &&
              ToGid(raw) == gid_;
          gid_status_ =
              same ? Status::OK()
                   : Status::Unavailable(
                         "GID index " + std::to_string(gid_index_) + " of " +
                         name_ + " no longer holds " + ToString(local_ip_) +
                         " (was the address removed from " + member_ + "?)");
        }
        break;
      case IBV_EVENT_CQ_ERR:
        SetFatal(Status::Unavailable(
            "the completion queue of " + name_ +
            " overflowed (IBV_EVENT_CQ_ERR): raise VerbsRnicOptions::"
            "cq_size"));
        break;
      case IBV_EVENT_QP_FATAL:
      case IBV_EVENT_QP_REQ_ERR:
      case IBV_EVENT_QP_ACCESS_ERR:
        if (auto it = qps_.find(event.element.qp->qp_num); it != qps_.end()) {
          it->second->state_ = QpState::kError;
        }
        break;
      default:
        break;
    }
    ibv_ack_async_event(&event);
  }
}

bool VerbsRnic::TranslateCompletion(const ibv_wc& wc, Completion* out) {
  auto qp_it = qps_.find(wc.qp_num);
  if (qp_it == qps_.end()) return false;
  VerbsQp* qp = qp_it->second;
  const bool recv = (wc.wr_id & kRecvWrBit) != 0;
  const uint64_t seq = wc.wr_id & ~kRecvWrBit;
  std::deque<Pending>& queue = recv ? qp->recv_pending_ : qp->send_pending_;
  auto it = queue.begin();
  if (it == queue.end() || it->seq != seq) {
    it = std::find_if(queue.begin(), queue.end(),
                      [seq](const Pending& p) { return p.seq == seq; });
    if (it == queue.end()) return false;
  }
  Completion c;
  c.wr_id = it->wr_id;
  c.qpn = qp->qpn_;
  c.status = WcStatusFromIbv(wc.status);
  c.opcode = it->opcode;
  queue.erase(it);
  if (recv && c.status == WcStatus::kSuccess) {
    if (wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
      c.opcode = WcOpcode::kRecvWriteImm;
    }
    c.byte_len = wc.byte_len;
    if (wc.wc_flags & IBV_WC_WITH_IMM) {
      c.has_imm = true;
      c.imm = ntohl(wc.imm_data);
    }
  }
  // RC: a failed completion means the QP is in the error state.
  if (c.status != WcStatus::kSuccess) qp->state_ = QpState::kError;
  *out = c;
  return true;
}

size_t VerbsRnic::PollCompletions(std::span<Completion> out) {
  ReadAsyncEvents();
  if (!fatal_) {
    // Consume and acknowledge completion events, then re-arm before
    // polling so that a completion arriving after the poll raises a new
    // event.
    unsigned events = 0;
    ibv_cq* event_cq = nullptr;
    void* event_context = nullptr;
    while (ibv_get_cq_event(channel_.get(), &event_cq, &event_context) == 0) {
      events++;
    }
    if (events > 0) {
      ibv_ack_cq_events(cq_.get(), events);
      ibv_req_notify_cq(cq_.get(), 0);
    }
  }

  size_t n = 0;
  while (n < out.size() && !flushed_.empty()) {
    out[n++] = flushed_.front();
    flushed_.pop_front();
  }
  bool cq_drained = true;
  if (!fatal_) {
    ibv_wc wcs[kPollBatch];
    while (n < out.size()) {
      const int want =
          static_cast<int>(std::min<size_t>(kPollBatch, out.size() - n));
      const int got = ibv_poll_cq(cq_.get(), want, wcs);
      if (got < 0) {
        SetFatal(Status::Unavailable("ibv_poll_cq on " + name_ +
                                     " failed (" + std::to_string(got) +
                                     "): the RDMA device is unusable"));
        break;
      }
      for (int i = 0; i < got && n < out.size(); i++) {
        if (TranslateCompletion(wcs[i], &out[n])) n++;
      }
      if (got < want) break;
    }
    cq_drained = n < out.size();
  }
  // Flushes from SetFatal() above go out on the next call.
  cq_maybe_nonempty_ = !cq_drained || !flushed_.empty();
  return n;
}

Result<std::unique_ptr<Rnic>> OpenVerbsRnic(const VerbsRnicOptions& options) {
  Result<std::unique_ptr<VerbsRnic>> rnic = VerbsRnic::Open(options);
  if (!rnic.ok()) return rnic.status();
  return std::unique_ptr<Rnic>(std::move(*rnic));
}

}  // namespace rdma_bond
