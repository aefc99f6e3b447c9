// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "common/trusted_file.h"

#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

namespace rdma_bond {
namespace {

std::string Mode(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::string_view KindName(FileKind kind) {
  switch (kind) {
    case FileKind::kRegular:
      return "a regular file";
    case FileKind::kSocket:
      return "a socket";
    case FileKind::kDirectory:
      return "a directory";
  }
  return "?";
}

bool IsKind(const struct stat& st, FileKind kind) {
  switch (kind) {
    case FileKind::kRegular:
      return S_ISREG(st.st_mode);
    case FileKind::kSocket:
      return S_ISSOCK(st.st_mode);
    case FileKind::kDirectory:
      return S_ISDIR(st.st_mode);
  }
  return false;
}

bool GroupOrOthersMayWrite(mode_t mode) { return (mode & 022) != 0; }

std::string Prefix(std::string_view what, const std::string& path) {
  std::string prefix(what);
  prefix += ' ';
  prefix += path;
  return prefix;
}

}  // namespace

std::string DescribeUid(uid_t uid) {
  std::string text = "uid " + std::to_string(uid);
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  struct passwd pw;
  struct passwd* result = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &result) == 0 &&
      result != nullptr && result->pw_name != nullptr) {
    text += " (";
    text += result->pw_name;
    text += ')';
  }
  return text;
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status CheckTrustedFile(std::string_view what, const std::string& path,
                        const struct stat& st, FileKind kind) {
  const std::string prefix = Prefix(what, path);
  if (S_ISLNK(st.st_mode)) {
    return Status::InvalidArgument(prefix +
                                   ": is a symbolic link; refusing it");
  }
  if (!IsKind(st, kind)) {
    return Status::InvalidArgument(prefix + ": not " +
                                   std::string(KindName(kind)) +
                                   "; refusing it");
  }

  const std::string dir = DirectoryOf(path);
  struct stat dir_st;
  if (stat(dir.c_str(), &dir_st) < 0) {
    return Status::FromErrno(prefix + ": stat " + dir, errno);
  }
  const uid_t self = geteuid();
  if (st.st_uid != 0 && st.st_uid != self && st.st_uid != dir_st.st_uid) {
    return Status::InvalidArgument(
        prefix + ": owned by " + DescribeUid(st.st_uid) +
        ", not by root, by this program's " + DescribeUid(self) +
        " or by the directory's owner " + DescribeUid(dir_st.st_uid) +
        "; refusing it");
  }
  if (kind != FileKind::kSocket && GroupOrOthersMayWrite(st.st_mode)) {
    return Status::InvalidArgument(prefix + ": writable by group or others "
                                   "(mode " + Mode(st.st_mode) + ", owner " +
                                   DescribeUid(st.st_uid) +
                                   "); refusing it");
  }

  // Every directory up to "/" must keep others from replacing the file:
  // not writable by group or others, or sticky.  realpath() resolves
  // symbolic links on the way (/var/run -> /run), so that the directories
  // checked are the ones the kernel walks.
  std::unique_ptr<char, decltype(&free)> real(realpath(dir.c_str(), nullptr),
                                              &free);
  if (!real) {
    return Status::FromErrno(prefix + ": realpath " + dir, errno);
  }
  std::string walk(real.get());
  for (;;) {
    struct stat walk_st;
    if (stat(walk.c_str(), &walk_st) < 0) {
      return Status::FromErrno(prefix + ": stat " + walk, errno);
    }
    if (GroupOrOthersMayWrite(walk_st.st_mode) &&
        !(walk_st.st_mode & S_ISVTX)) {
      return Status::InvalidArgument(
          prefix + ": directory " + walk +
          " is writable by group or others without the sticky bit (mode " +
          Mode(walk_st.st_mode) + ", owner " + DescribeUid(walk_st.st_uid) +
          "), so others could replace the file; refusing it");
    }
    if (walk == "/") break;
    walk = DirectoryOf(walk);
  }
  return Status::OK();
}

Status CheckTrustedPath(std::string_view what, const std::string& path,
                        FileKind kind) {
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) {
    return Status::FromErrno(Prefix(what, path), errno);
  }
  return CheckTrustedFile(what, path, st, kind);
}

Result<std::string> ReadPrivateFile(const std::string& path,
                                    const std::string& what,
                                    size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  if (fd < 0) return Status::FromErrno(what, errno);
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Status::InvalidArgument(what + ": not a regular file");
  }
  if (st.st_mode & 077) {
    close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o",
                  static_cast<unsigned>(st.st_mode & 07777));
    return Status::InvalidArgument(what + ": group or others may read or "
                                   "write it (mode " + mode +
                                   "): chmod 600 it");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return Status::FromErrno(what, error);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > max_bytes) {
      close(fd);
      return Status::InvalidArgument(what + ": longer than " +
                                     std::to_string(max_bytes) + " bytes");
    }
  }
  close(fd);
  return text;
}

Status WriteAtomically(const std::string& path, const std::string& text,
                       mode_t mode, bool durable) {
  // mkostemp() creates with O_CREAT|O_EXCL, which never follows a link.
  std::string tmp = DirectoryOf(path) + "/." +
                    path.substr(path.rfind('/') + 1) + ".XXXXXX";
  int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    return Status::FromErrno("create a file in " + DirectoryOf(path), errno);
  }
  auto fail = [&](const std::string& what) {
    int error = errno;
    close(fd);
    unlink(tmp.c_str());
    return Status::FromErrno(what + " " + tmp, error);
  };
  if (fchmod(fd, mode) < 0) return fail("fchmod");
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    done += n;
  }
  if (durable && fsync(fd) < 0) return fail("fsync");
  if (close(fd) < 0) {
    int error = errno;
    unlink(tmp.c_str());
    return Status::FromErrno("close " + tmp, error);
  }
  if (rename(tmp.c_str(), path.c_str()) < 0) {
    int error = errno;
    unlink(tmp.c_str());
    return Status::FromErrno("rename " + tmp + " to " + path, error);
  }
  return Status::OK();
}

}  // namespace rdma_bond
