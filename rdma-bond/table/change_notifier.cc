// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/change_notifier.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <utility>

namespace rdma_bond {

namespace {

// While stopping, the destructor repeats its wake-up this often until the
// thread has returned.  Only a wake that lands between the thread's check
// of 'stopping_' and its sleep is lost, so the first repeat nearly always
// suffices.
constexpr std::chrono::milliseconds kStopRetryInterval{1};
static_assert(kStopRetryInterval < kDefaultCheckInterval,
              "stopping must not wait for a whole slice");

// Thread names are at most 15 characters (TASK_COMM_LEN - 1).
constexpr char kThreadName[] = "rdma-bond-notif";
static_assert(sizeof kThreadName <= 16, "thread names have 15 characters");

using Clock = std::chrono::steady_clock;

}  // namespace

Result<std::unique_ptr<ChangeNotifier>> ChangeNotifier::Start(
    const std::string& path, const ChangeNotifierOptions& options) {
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path);
  if (!reader.ok()) {
    return reader.status();
  }
  return Start(std::move(*reader), options);
}

Result<std::unique_ptr<ChangeNotifier>> ChangeNotifier::Start(
    std::unique_ptr<TableReader> reader, const ChangeNotifierOptions& options) {
  if (reader == nullptr) {
    return Status::InvalidArgument("change notifier: no table reader given");
  }
  if (options.check_interval <= std::chrono::nanoseconds::zero()) {
    return Status::InvalidArgument(
        reader->path() + ": change notifier: check interval " +
        std::to_string(options.check_interval.count()) + " ns is not positive");
  }
  if (options.restart_check_interval <= std::chrono::nanoseconds::zero()) {
    return Status::InvalidArgument(
        reader->path() + ": change notifier: restart check interval " +
        std::to_string(options.restart_check_interval.count()) +
        " ns is not positive");
  }
  const int priority = options.realtime_priority;
  if (priority != 0 && (priority < sched_get_priority_min(SCHED_FIFO) ||
                        priority > sched_get_priority_max(SCHED_FIFO))) {
    return Status::InvalidArgument(
        reader->path() + ": change notifier: real-time priority " +
        std::to_string(priority) + " is out of range (1 to 99)");
  }
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    return Status::FromErrno("eventfd for " + reader->path(), errno);
  }
  std::unique_ptr<ChangeNotifier> notifier(
      new ChangeNotifier(std::move(reader), fd, options));

  // The thread runs with every signal blocked, so that the process's
  // signal handlers run in the process's own threads, not in this one.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  Status started;
  try {
    notifier->thread_ = std::thread(&ChangeNotifier::Run, notifier.get());
  } catch (const std::system_error& e) {
    started = Status::FromErrno(
        "start the change notifier thread for " + notifier->reader_->path(),
        e.code().value() != 0 ? e.code().value() : EAGAIN);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!started.ok()) {
    return started;  // The destructor closes the eventfd.
  }
  pthread_setname_np(notifier->thread_.native_handle(), kThreadName);
  if (priority != 0) {
    struct sched_param param = {};
    param.sched_priority = priority;
    const int error = pthread_setschedparam(notifier->thread_.native_handle(),
                                            SCHED_FIFO, &param);
    if (error != 0) {
      // The destructor stops the thread.
      return Status::FromErrno("run the change notifier thread for " +
                                   notifier->reader_->path() +
                                   " at SCHED_FIFO priority " +
                                   std::to_string(priority),
                               error)
          .WithHint("(needs root or CAP_SYS_NICE)");
    }
  }
  return notifier;
}

ChangeNotifier::ChangeNotifier(std::unique_ptr<TableReader> reader,
                               int event_fd,
                               const ChangeNotifierOptions& options)
    : options_(options),
      event_fd_(event_fd),
      start_change_word_(reader->ChangeWord()),
      reader_(std::move(reader)) {
  const WriterHealth health = reader_->Health();
  last_stale_ = health.stale;
  last_exited_ = health.exited;
  pending_.change_word = start_change_word_;
  pending_.instance_id = reader_->instance_id();
  pending_.heartbeat_age_ms = health.heartbeat_age_ms;
}

ChangeNotifier::~ChangeNotifier() {
  if (thread_.joinable()) {
    // Release: synchronizes with the acquire load of the flag in
    // WaitForChange(), which the thread makes after every wake-up.
    stopping_.store(true, std::memory_order_release);
    std::unique_lock<std::mutex> lock(mutex_);
    while (!done_) {
      lock.unlock();
      {
        std::lock_guard<std::mutex> reader_lock(reader_mutex_);
        // Cannot fail on a mapped table; a failure would only mean more
        // repeats until the thread's slice ends.
        (void)reader_->WakeWaiters();
      }
      lock.lock();
      done_cv_.wait_for(lock, kStopRetryInterval, [this] { return done_; });
    }
    lock.unlock();
    thread_.join();
  }
  close(event_fd_);
}

TableEvents ChangeNotifier::Consume() {
  std::lock_guard<std::mutex> lock(mutex_);
  // Reading resets the eventfd's counter.  It fails with EAGAIN when no
  // event is pending; the counter is then 0.
  uint64_t count = 0;
  if (read(event_fd_, &count, sizeof count) != sizeof count) {
    count = 0;
  }
  TableEvents events = std::move(pending_);
  events.signals = count;
  pending_ = TableEvents();
  pending_.change_word = events.change_word;
  pending_.instance_id = events.instance_id;
  pending_.heartbeat_age_ms = events.heartbeat_age_ms;
  return events;
}

void ChangeNotifier::Run() {
  uint32_t seen = start_change_word_;
  Clock::time_point next_check = Clock::now() + Slice();

  for (;;) {
    const std::chrono::nanoseconds slice = next_check - Clock::now();
    Result<ChangeWait> wait = reader_->WaitForChange(seen, slice, &stopping_);
    if (!wait.ok()) {
      TableEvents events;
      events.stopped = true;
      events.error = wait.status();
      events.change_word = seen;
      events.instance_id = reader_->instance_id();
      Publish(events);
      break;
    }
    if (wait->outcome == ChangeWait::Outcome::kCancelled) {
      break;
    }

    TableEvents events;
    bool any = false;
    if (wait->changed()) {
      events.change_wake_ns.push_back(MonotonicNowNs());
      events.changed = true;
      seen = wait->change_word;
      any = true;
    }
    // A change is also the moment to look at the flags: a clean exit
    // moves the change word.
    if (wait->changed() || Clock::now() >= next_check) {
      any |= CheckWriter(&events, &seen);
      next_check = Clock::now() + Slice();
    }
    if (any) {
      events.change_word = seen;
      events.instance_id = reader_->instance_id();
      Publish(events);
    }
  }

  std::lock_guard<std::mutex> lock(mutex_);
  done_ = true;
  done_cv_.notify_all();
}

std::chrono::nanoseconds ChangeNotifier::Slice() const {
  const bool gone = last_exited_ || last_removed_ || last_stale_;
  return gone ? std::min(options_.restart_check_interval,
                         options_.check_interval)
              : options_.check_interval;
}

bool ChangeNotifier::CheckWriter(TableEvents* events, uint32_t* seen) {
  bool any = false;
  WriterHealth health = reader_->Health();
  if (health.replaced) {
    Result<Reattachment> reattached = Status::Unavailable("not reattached");
    {
      std::lock_guard<std::mutex> reader_lock(reader_mutex_);
      reattached = reader_->Reattach();
    }
    if (reattached.ok() && reattached->restarted) {
      events->restarted = true;
      events->old_instance_id = reattached->old_instance_id;
      // Changes of the new table count from here; the caller takes a new
      // snapshot after a restart anyway.
      *seen = reader_->ChangeWord();
      health = reader_->Health();
      last_stale_ = false;  // Health of the new writer, from scratch.
      last_exited_ = false;
      last_removed_ = false;
      last_error_.clear();
      any = true;
    } else if (!reattached.ok()) {
      if (reattached.status().IsNotFound()) {
        if (!last_removed_) {
          events->removed = true;
          last_removed_ = true;
          any = true;
        }
      } else if (reattached.status().message() != last_error_) {
        // Reported once per distinct problem, not once per slice.
        last_error_ = reattached.status().message();
        events->error = reattached.status();
        any = true;
      }
    }
  }
  if (health.stale != last_stale_) {
    (health.stale ? events->stale : events->fresh) = true;
    last_stale_ = health.stale;
    any = true;
  }
  if (health.exited && !last_exited_) {
    events->exited = true;
    any = true;
  }
  last_exited_ = health.exited;
  events->heartbeat_age_ms = health.heartbeat_age_ms;
  return any;
}

void ChangeNotifier::Publish(const TableEvents& events) {
  std::lock_guard<std::mutex> lock(mutex_);
  TableEvents& p = pending_;
  if (events.restarted && !p.restarted) {
    p.old_instance_id = events.old_instance_id;  // The first old one.
  }
  p.changed |= events.changed;
  p.restarted |= events.restarted;
  p.removed |= events.removed;
  p.stale |= events.stale;
  p.fresh |= events.fresh;
  p.exited |= events.exited;
  p.stopped |= events.stopped;
  if (!events.error.ok()) {
    p.error = events.error;
  }
  p.change_word = events.change_word;
  p.instance_id = events.instance_id;
  p.heartbeat_age_ms = events.heartbeat_age_ms;
  p.change_wake_ns.insert(p.change_wake_ns.end(), events.change_wake_ns.begin(),
                          events.change_wake_ns.end());
  if (p.change_wake_ns.size() > kMaxChangeWakeTimes) {
    p.change_wake_ns.erase(p.change_wake_ns.begin(),
                           p.change_wake_ns.end() - kMaxChangeWakeTimes);
  }
  // Adds 1 to the eventfd's counter, which makes it readable.  Fails only
  // if the counter would pass 2^64 - 2, which 1 per event never reaches.
  const uint64_t one = 1;
  if (write(event_fd_, &one, sizeof one) != sizeof one) {
    p.error = Status::FromErrno("eventfd write", errno);
  }
}

}  // namespace rdma_bond
