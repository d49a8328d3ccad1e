// The byte stream under a remote session: endpoints ("HOST:PORT" for TCP, "unix:PATH" for a unix
// socket), and whole-frame reads and writes that give up after a bounded silence instead of
// hanging on a cut link.
//
// Thread-safety: free functions on a descriptor; callers serialise writes to one descriptor.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "remote/wire.h"

namespace xpool::remote {

// Connects, waiting at most timeout_ms. TCP links get TCP_NODELAY; every link gets a send
// timeout of timeout_ms, so a write to a peer that stopped reading fails instead of blocking.
Result<int> Dial(std::string_view endpoint, int timeout_ms);
// A listening socket; "HOST:0" picks a free port (BoundEndpoint says which).
Result<int> Listen(std::string_view endpoint);
std::string BoundEndpoint(int listen_fd);
// Whether the peer of a connected socket is this machine (a unix socket, or TCP from loopback).
bool PeerIsLocal(int fd);
std::string PeerName(int fd);
void SetSendTimeout(int fd, int timeout_ms);
// Sends small writes at once (TCP; harmless on a unix socket).
void SetNoDelay(int fd);
// A TCP connection whose sent data stays unacknowledged this long is aborted by the kernel, so a
// peer behind a cut link is noticed by the next write (or the read waiting beside it).
void SetUnacknowledgedTimeout(int fd, int timeout_ms);

Status WriteAll(int fd, const void* data, size_t n);
// Reads exactly n bytes; fails when nothing arrives for idle_timeout_ms (< 0: wait forever) or
// the peer closes.
Status ReadAll(int fd, void* data, size_t n, int idle_timeout_ms);

Status WriteFrame(int fd, Op op, uint16_t flags, uint64_t sequence, const void* payload, size_t n);
struct Frame {
  FrameHeader header;
  std::vector<uint8_t> payload;
};
Status ReadFrame(int fd, Frame* frame, int idle_timeout_ms);

}  // namespace xpool::remote
