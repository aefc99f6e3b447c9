// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// libFuzzer target: the side channel as a hostile peer writes it.
//
// The peer of a multipath connection writes the side channel's bytes, so
// both the framing (SideChannel::Poll()) and every message decoder must
// survive any input: reject what is invalid with a Status, never read
// outside their input, never return a frame with a body over kMaxSideBody
// or more than kMaxSideFramesPerPoll frames at once.  A decoded message
// encodes again to bytes that decode again (the encoders accept whatever
// the decoders return).
//
// The first input byte chooses the target (modulo 8): 0..5 and 7 one
// message decoder (HELLO, ENDPOINTS, ACTIVE, REPICK, PATH_RESET, BYE;
// DATA) on the rest, 6 the framing: the rest is written into a socketpair
// that a SideChannel reads.
//
// Build and run: "make check-fuzz" (rdma-bond/fuzz/automake.mk).

#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "conn/side_messages.h"
#include "rdma_bond/side_channel.h"

namespace rdma_bond {
namespace {

// Decodes 'body' with 'decode'; if it is accepted, encoding the result and
// decoding that must succeed too.
template <typename Decode, typename Encode>
void RoundTrip(std::span<const uint8_t> body, Decode decode, Encode encode) {
  auto first = decode(body);
  if (!first.ok()) return;
  const std::vector<uint8_t> again = encode(*first);
  if (!decode(again).ok()) std::abort();
}

void Framing(std::span<const uint8_t> bytes) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return;
  // Small inputs fit the socket buffer: write all, then end the stream.
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fds[1], bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fds[1]);
  Result<std::unique_ptr<SideChannel>> channel = SideChannel::Adopt(fds[0]);
  if (!channel.ok()) return;
  for (int round = 0; round < 100000; round++) {
    Result<std::vector<SideMessage>> got = (*channel)->Poll();
    if (!got.ok()) return;  // Corruption, or the end of the stream.
    if (got->size() > kMaxSideFramesPerPoll) std::abort();
    for (const SideMessage& m : *got) {
      if (m.body.size() > kMaxSideBody) std::abort();
    }
  }
  std::abort();  // The stream ended, so Poll() must have failed by now.
}

}  // namespace
}  // namespace rdma_bond

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rdma_bond;
  if (size == 0) return 0;
  const std::span<const uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 8) {
    case 0: RoundTrip(rest, DecodeHello, EncodeHello); break;
    case 1: RoundTrip(rest, DecodeEndpoints, EncodeEndpoints); break;
    case 2: RoundTrip(rest, DecodeActive, EncodeActive); break;
    case 3: RoundTrip(rest, DecodeRepick, EncodeRepick); break;
    case 4: RoundTrip(rest, DecodePathReset, EncodePathReset); break;
    case 5: RoundTrip(rest, DecodeBye, EncodeBye); break;
    case 6: Framing(rest); break;
    case 7: RoundTrip(rest, DecodeData, EncodeData); break;
  }
  return 0;
}
