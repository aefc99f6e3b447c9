// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The rollback point of a migration on disk, and the configuration that
// makes a migration survive a reboot.
//
// StateFile: DIR/BOND.migration holds the Linux bond as it was (its
// Serialize() form), the bridge that replaced it and how far the
// migration got ("applying", "applied").  `apply` writes it before it
// changes anything, `revert` reads it, and a completed rollback or revert
// removes it.  It is written whole to a new file, synced, and renamed
// over the old one (WriteAtomically(), common/trusted_file.h), in a directory only root can
// write (0700), never through a link.
//
// Ifupdown: the stanzas for Debian's ifupdown with openvswitch-switch's
// integration (ovs_type OVSBridge / OVSBond, README.Debian of
// openvswitch-switch) in DIR/interfaces.d/ovs-rdma-bond-BOND.
//
// Thread-safety: none needed; one command runs at a time per bond.

#ifndef RDMA_BOND_TOOLS_MIGRATE_MIGRATION_STATE_H_
#define RDMA_BOND_TOOLS_MIGRATE_MIGRATION_STATE_H_

#include <string>

#include "rdma_bond/status.h"
#include "tools/migrate/linux_bond.h"
#include "tools/migrate/migration_plan.h"

namespace rdma_bond::migrate {

struct SavedMigration {
  std::string status;             // "applying" or "applied".
  std::string bridge;
  LinuxBond bond;
};

class StateFile {
 public:
  StateFile(std::string dir, const std::string& bond);

  const std::string& path() const { return path_; }
  bool Exists() const;
  // Writes the whole file anew (creating DIR, mode 0700, if needed).
  Status Save(const std::string& status, const std::string& bridge,
              const LinuxBond& bond) const;
  // NotFound ("no migration of BOND is recorded in PATH") or what is
  // wrong with the file.
  Result<SavedMigration> Load() const;
  Status Remove() const;

 private:
  std::string dir_;
  std::string path_;
};

// The text of the state file, and back (for tests and Load()).
std::string FormatState(const std::string& status, const std::string& bridge,
                        const LinuxBond& bond);
Result<SavedMigration> ParseState(const std::string& text);

// The ifupdown stanzas of the OVS bridge and bond that replace 'bond'.
std::string IfupdownStanzas(const LinuxBond& bond, const MigrationPlan& plan);

// Writes the stanzas into IFDIR/interfaces.d/ovs-rdma-bond-BOND (IFDIR is
// /etc/network) and returns what the operator must know: the file
// written, and any stanza of the Linux bond still in IFDIR/interfaces or
// interfaces.d that would make it again at boot (never edited here), or
// an interfaces file that does not read interfaces.d.
Result<std::string> WriteIfupdown(const std::string& ifdir,
                                  const LinuxBond& bond,
                                  const MigrationPlan& plan);

// Removes what WriteIfupdown() wrote for 'bond', if anything; says so.
Result<std::string> RemoveIfupdown(const std::string& ifdir,
                                   const std::string& bond);

}  // namespace rdma_bond::migrate

#endif  // RDMA_BOND_TOOLS_MIGRATE_MIGRATION_STATE_H_
