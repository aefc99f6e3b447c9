// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "table/table_format.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "common/hex.h"
#include "common/json_writer.h"

namespace rdma_bond {

namespace {

constexpr uint64_t kNsPerMs = 1000 * 1000;

// Columns of a member table are separated by this many spaces.
constexpr size_t kColumnGap = 2;

std::string Num(uint64_t value) { return std::to_string(value); }

const char* YesNo(bool value) { return value ? "true" : "false"; }

// Milliseconds from 'then_ns' to 'now_ns', 0 if 'then_ns' is later.
uint64_t AgeMs(uint64_t now_ns, uint64_t then_ns) {
  return now_ns > then_ns ? (now_ns - then_ns) / kNsPerMs : 0;
}

// The bonds of 'snapshot' sorted by name (slot order breaks ties, which
// only a corrupt table could need).
std::vector<const Bond*> SortedBonds(const TableSnapshot& snapshot) {
  std::vector<const Bond*> bonds;
  for (const Bond& bond : snapshot.bonds) {
    bonds.push_back(&bond);
  }
  std::stable_sort(bonds.begin(), bonds.end(),
                   [](const Bond* a, const Bond* b) {
                     return a->name < b->name;
                   });
  return bonds;
}

std::string Join(const std::vector<std::string>& words, const char* sep) {
  std::string text;
  for (const std::string& word : words) {
    if (!text.empty()) {
      text += sep;
    }
    text += word;
  }
  return text;
}

// Lines "key:<padding> value" whose values start in one column.
class KeyValueBlock {
 public:
  void Add(std::string key, std::string value) {
    rows_.emplace_back(std::move(key), std::move(value));
  }
  void AppendTo(std::string* out) const {
    size_t width = 0;
    for (const auto& row : rows_) {
      width = std::max(width, row.first.size());
    }
    for (const auto& [key, value] : rows_) {
      *out += key;
      *out += ':';
      out->append(width - key.size() + 1, ' ');
      *out += value;
      *out += '\n';
    }
  }

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
};

// A table with a heading row; columns flagged in 'right' are
// right-aligned (numbers), the others left-aligned.  The last column is
// not padded, so lines have no trailing spaces.
std::string FormatColumns(const std::vector<std::vector<std::string>>& rows,
                          const std::vector<bool>& right,
                          const std::string& indent) {
  std::vector<size_t> widths(right.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); i++) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (size_t i = 0; i < row.size(); i++) {
      const size_t pad = widths[i] - row[i].size();
      const bool last = i + 1 == row.size();
      if (right[i]) {
        line.append(pad, ' ');
      }
      line += row[i];
      if (!last) {
        if (!right[i]) {
          line.append(pad, ' ');
        }
        line.append(kColumnGap, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line;
    out += '\n';
  }
  return out;
}

// "active enabled may-enable carrier primary", or "-" for none of them.
std::string MemberState(const Bond& bond, size_t index) {
  const Member& member = bond.members[index];
  std::vector<std::string> words;
  if (bond.active_member == index) {
    words.emplace_back("active");
  }
  if (member.enabled()) {
    words.emplace_back("enabled");
  }
  if (member.may_enable()) {
    words.emplace_back("may-enable");
  }
  if (member.carrier()) {
    words.emplace_back("carrier");
  }
  if (member.primary()) {
    words.emplace_back("primary");
  }
  return words.empty() ? "-" : Join(words, " ");
}

void AppendBondText(const Bond& bond, uint64_t now_ns, std::string* out) {
  *out += "---- " + bond.name + " ----\n";

  KeyValueBlock block;
  block.Add("slot", Num(bond.slot));
  block.Add("mode", std::string(ToString(bond.mode)));
  block.Add("generation", Num(bond.generation));
  block.Add("lacp", std::string(ToString(bond.lacp)));
  block.Add("lacp-fallback-ab", YesNo(bond.lacp_fallback_ab));
  block.Add("hash regime", std::string(ToString(bond.regime)));
  if (!bond.reproducible()) {
    block.Add("note", std::string(kKernelRegimeNote));
  }
  block.Add("basis", Num(bond.basis));
  block.Add("dp type", bond.dp_type);
  block.Add("recirc id", Num(bond.recirc_id));
  block.Add("lb-output action", YesNo(bond.lb_output_active()));
  block.Add("rdma rebalance", YesNo(bond.rdma_rebalance()));
  const Member* active = bond.active();
  block.Add("active member", active != nullptr ? active->name : "none");
  std::string change = Num(AgeMs(now_ns, bond.change_ns)) + " ms ago";
  const std::vector<std::string> reasons = ReasonNames(bond.reasons);
  if (!reasons.empty()) {
    change += " (" + Join(reasons, ", ") + ")";
  }
  block.Add("last change", change);
  block.Add("hash vectors", Num(bond.vectors.size()));
  block.Add("unassigned buckets", Num(bond.UnassignedBuckets()));
  block.AppendTo(out);

  if (bond.members.empty()) {
    *out += "members: none\n";
    return;
  }
  *out += "members:\n";
  const std::vector<size_t> counts = bond.BucketCounts();
  std::vector<std::vector<std::string>> rows = {
      {"name", "ofport", "ifindex", "mac", "buckets", "state"}};
  for (size_t i = 0; i < bond.members.size(); i++) {
    const Member& member = bond.members[i];
    rows.push_back({member.name, Num(member.ofport), Num(member.ifindex),
                    FormatMac(member.mac), Num(counts[i]),
                    MemberState(bond, i)});
  }
  *out += FormatColumns(rows, {false, true, true, false, true, false}, "  ");
}

void WriteTableJson(const TableSnapshot& snapshot, JsonWriter* json) {
  const TableInfo& table = snapshot.table;
  const WriterHealth& health = snapshot.health;
  json->BeginObject();
  json->Key("path"); json->String(table.path);
  json->Key("abi_version"); json->Uint(table.abi_version);
  json->Key("abi_minor"); json->Uint(table.minor_version);
  json->Key("locations"); json->Bool(table.locations);
  json->Key("instance_id"); json->String(Hex64(table.instance_id));
  json->Key("writer_pid"); json->Uint(table.writer_pid);
  json->Key("writer_alive"); json->Bool(health.alive);
  json->Key("writer_exited"); json->Bool(health.exited);
  json->Key("ovs_version"); json->String(table.ovs_version);
  json->Key("hash_impl"); json->String(HashImplName(table.hash_impl));
  json->Key("heartbeat_age_ms"); json->Uint(health.heartbeat_age_ms);
  json->Key("stale"); json->Bool(health.stale);
  json->Key("replaced"); json->Bool(health.replaced);
  json->Key("change_word"); json->Uint(table.change_word);
  json->Key("n_used"); json->Uint(table.n_used);
  json->EndObject();
}

void WriteMemberJson(const Member& member, JsonWriter* json) {
  json->BeginObject();
  json->Key("name"); json->String(member.name);
  json->Key("ofport"); json->Uint(member.ofport);
  json->Key("ifindex"); json->Uint(member.ifindex);
  json->Key("mac"); json->String(FormatMac(member.mac));
  json->Key("enabled"); json->Bool(member.enabled());
  json->Key("may_enable"); json->Bool(member.may_enable());
  json->Key("carrier"); json->Bool(member.carrier());
  json->Key("primary"); json->Bool(member.primary());
  // The kernel netdev that carries its traffic ("" for a DPDK port
  // without one) and where the writer says it is (ABI v1.1).
  json->Key("netdev"); json->String(member.Netdev());
  const MemberLocation& l = member.location;
  json->Key("location");
  json->BeginObject();
  json->Key("kind");
  json->String(l.kind == RDMA_BOND_KIND_DPDK     ? "dpdk"
               : l.kind == RDMA_BOND_KIND_KERNEL ? "kernel"
                                                 : "unknown");
  json->Key("type"); json->String(l.netdev_type);
  json->Key("pci"); json->String(l.pci);
  json->Key("kernel_netdev"); json->String(l.kernel_netdev);
  json->Key("dpdk_port");
  if (l.dpdk_port) {
    json->Uint(*l.dpdk_port);
  } else {
    json->Null();
  }
  json->Key("devargs"); json->String(l.devargs);
  json->Key("rx_rss"); json->Bool(l.rx_rss());
  json->EndObject();
  json->EndObject();
}

void WriteVectorJson(const HashVector& vector, JsonWriter* json) {
  json->BeginObject();
  json->Key("src"); json->String(FormatAddress(vector.ip_version, vector.src));
  json->Key("dst"); json->String(FormatAddress(vector.ip_version, vector.dst));
  json->Key("sport"); json->Uint(vector.sport);
  json->Key("dport"); json->Uint(vector.dport);
  json->Key("proto"); json->Uint(vector.nw_proto);
  json->Key("hash_basis0"); json->Uint(vector.hash_basis0);
  json->Key("hash_basis"); json->Uint(vector.hash_basis);
  json->Key("hash_regime"); json->Uint(vector.hash_regime);
  json->EndObject();
}

void WriteBondJson(const Bond& bond, uint64_t now_ns, JsonWriter* json) {
  json->BeginObject();
  json->Key("slot"); json->Uint(bond.slot);
  json->Key("name"); json->String(bond.name);
  json->Key("generation"); json->Uint(bond.generation);
  json->Key("mode"); json->String(ToString(bond.mode));
  json->Key("lacp"); json->String(ToString(bond.lacp));
  json->Key("lacp_fallback_ab"); json->Bool(bond.lacp_fallback_ab);
  json->Key("regime"); json->String(ToString(bond.regime));
  json->Key("reproducible"); json->Bool(bond.reproducible());
  json->Key("basis"); json->Uint(bond.basis);
  json->Key("dp_type"); json->String(bond.dp_type);
  json->Key("recirc_id"); json->Uint(bond.recirc_id);
  json->Key("lb_output_action"); json->Bool(bond.lb_output_active());
  json->Key("rdma_rebalance"); json->Bool(bond.rdma_rebalance());
  json->Key("may_recirc"); json->Bool(bond.may_recirc());
  json->Key("active_member");
  if (const Member* active = bond.active()) {
    json->String(active->name);
  } else {
    json->Null();
  }
  json->Key("change_age_ms"); json->Uint(AgeMs(now_ns, bond.change_ns));
  json->Key("reasons");
  json->BeginArray();
  for (const std::string& reason : ReasonNames(bond.reasons)) {
    json->String(reason);
  }
  json->EndArray();

  json->Key("members");
  json->BeginArray();
  for (const Member& member : bond.members) {
    WriteMemberJson(member, json);
  }
  json->EndArray();

  json->Key("buckets");
  json->BeginArray();
  for (uint8_t bucket : bond.buckets) {
    if (bucket == RDMA_BOND_NO_MEMBER) {
      json->Null();
    } else {
      json->String(bond.members[bucket].name);
    }
  }
  json->EndArray();

  json->Key("bucket_counts");
  json->BeginObject();
  const std::vector<size_t> counts = bond.BucketCounts();
  for (size_t i = 0; i < bond.members.size(); i++) {
    json->Key(bond.members[i].name);
    json->Uint(counts[i]);
  }
  json->EndObject();

  json->Key("vectors");
  json->BeginArray();
  for (const HashVector& vector : bond.vectors) {
    WriteVectorJson(vector, json);
  }
  json->EndArray();
  json->EndObject();
}

}  // namespace

std::vector<std::string> TableWarnings(const TableSnapshot& snapshot) {
  const TableInfo& table = snapshot.table;
  const WriterHealth& health = snapshot.health;
  const std::string pid = Num(table.writer_pid);
  std::vector<std::string> warnings;
  if (health.exited) {
    // A clean exit explains a stale heartbeat and a dead pid.
    warnings.push_back("ovs-vswitchd (pid " + pid +
                       ") exited: the table will not change");
  } else {
    if (health.stale) {
      warnings.push_back("heartbeat is " + Num(health.heartbeat_age_ms) +
                         " ms old (stale after " + Num(RDMA_BOND_STALE_MS) +
                         " ms): ovs-vswitchd (pid " + pid +
                         ") is hung or dead");
    }
    if (!health.alive) {
      warnings.push_back("writer pid " + pid +
                         " is not running and did not exit cleanly: "
                         "the table is out of date");
    }
  }
  if (health.removed) {
    warnings.push_back(table.path + " was removed after it was opened");
  } else if (health.replaced) {
    warnings.push_back(table.path +
                       " was replaced by a restarted ovs-vswitchd after it "
                       "was opened: this is the old table, run again");
  }
  return warnings;
}

std::string FormatTableText(const TableSnapshot& snapshot) {
  const TableInfo& table = snapshot.table;
  const WriterHealth& health = snapshot.health;
  std::string out;

  KeyValueBlock block;
  block.Add("table", table.path);
  block.Add("instance id", Hex64(table.instance_id));
  std::string pid = Num(table.writer_pid);
  pid += health.exited  ? " (exited)"
         : health.alive ? " (running)"
                        : " (not running)";
  block.Add("writer pid", pid);
  block.Add("ovs version", table.ovs_version);
  block.Add("hash impl", HashImplName(table.hash_impl));
  block.Add("heartbeat age",
            Num(health.heartbeat_age_ms) + " ms" +
                (health.stale ? " (stale)" : ""));
  block.AppendTo(&out);
  for (const std::string& warning : TableWarnings(snapshot)) {
    out += "warning: " + warning + "\n";
  }

  const std::vector<const Bond*> bonds = SortedBonds(snapshot);
  if (bonds.empty()) {
    out += "\nno bonds published\n";
  }
  for (const Bond* bond : bonds) {
    out += '\n';
    AppendBondText(*bond, snapshot.now_ns, &out);
  }
  return out;
}

std::string FormatTableJson(const TableSnapshot& snapshot) {
  JsonWriter json;
  json.BeginObject();
  json.Key("table");
  WriteTableJson(snapshot, &json);
  json.Key("bonds");
  json.BeginArray();
  for (const Bond* bond : SortedBonds(snapshot)) {
    WriteBondJson(*bond, snapshot.now_ns, &json);
  }
  json.EndArray();
  json.EndObject();
  return json.Finish();
}

}  // namespace rdma_bond
