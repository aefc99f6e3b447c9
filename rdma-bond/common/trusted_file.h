// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Whether a file that another program wrote may be believed: the table
// (written by ovs-vswitchd), the agent's registry socket and its summary.
// docs/security.md ("Files in the run directory") gives the rules; in
// short, a trusted file
//   - is what it should be (a regular file or a socket, never a symbolic
//     link: callers open with O_NOFOLLOW or lstat());
//   - is owned by root, by the reader's own effective uid, or by the owner
//     of the directory that holds it (the OVS user for the run directory,
//     the agent's user for the agent's directory);
//   - if a regular file, is not writable by group or others;
//   - sits in directories, up to "/", that group and others cannot write,
//     or that have the sticky bit (so nobody could have put the file there
//     or replaced it but its owner).
// A socket's own mode is not checked: its write bit is permission to
// connect, which the registry grants and checks by SO_PEERCRED.
//
// Errors are one line that names the file, what was found and who owns it.
//
// The writer's side is here too: WriteAtomically() writes a file that
// these checks accept, without ever opening a name someone planted.

#ifndef RDMA_BOND_COMMON_TRUSTED_FILE_H_
#define RDMA_BOND_COMMON_TRUSTED_FILE_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include "rdma_bond/status.h"

namespace rdma_bond {

enum class FileKind { kRegular, kSocket, kDirectory };

// Checks the file at 'path' whose status is 'st' (from fstat() of a
// descriptor opened with O_NOFOLLOW, or from lstat()).  'what' names the
// file in errors ("rdma-bond table", "agent socket").
Status CheckTrustedFile(std::string_view what, const std::string& path,
                        const struct stat& st, FileKind kind);

// lstat()s 'path' and checks it as CheckTrustedFile() does.
Status CheckTrustedPath(std::string_view what, const std::string& path,
                        FileKind kind);

// Reads a secret (a key file): at most 'max_bytes' of a regular file, not
// a symbolic link, that group and others can neither read nor write.
// Errors are one line starting with 'what' ("probe key file /etc/k").
Result<std::string> ReadPrivateFile(const std::string& path,
                                    const std::string& what,
                                    size_t max_bytes);

// "uid 1001 (mallory)", or "uid 1001" when the uid has no name.
std::string DescribeUid(uid_t uid);

// The directory part of 'path': "." for a bare name, "/" for "/x".
std::string DirectoryOf(const std::string& path);

// Writes 'text' to 'path' (mode 'mode') through a new temporary file in
// the same directory, created O_EXCL with an unpredictable name, and
// rename(): readers see the old or the new content, and nothing planted
// at a predictable name is ever opened.  With 'durable', the file's data
// reaches the disk before the rename (fsync): for a file that must
// survive a crash (ovs-rdma-bond-migrate's rollback point), not for ones
// rewritten every second.
Status WriteAtomically(const std::string& path, const std::string& text,
                       mode_t mode = 0644, bool durable = false);

}  // namespace rdma_bond

#endif  // RDMA_BOND_COMMON_TRUSTED_FILE_H_
