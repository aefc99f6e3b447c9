/* Copyright (c) 2026 The ovs-rdma-bond authors.
 * Licensed under the Apache License, Version 2.0.
 *
 * The agent's core, seen from C.
 *
 * Motivation
 * ==========
 *
 * ovs-rdma-bond-agent is an Open vSwitch-style daemon: its command line,
 * daemonization, logging and unixctl server are OVS's own libraries
 * (lib/daemon.h, vlog, lib/unixctl.h), used from a small C main program
 * (agent_main.c).  Everything the agent does is C++ (librdmabond); this
 * header is the seam between the two.
 *
 * Usage
 * =====
 *
 * The main loop calls rdma_bond_agent_run(), then rdma_bond_agent_wait()
 * and waits (poll_fd_wait() on each descriptor, poll_timer_wait() on the
 * timeout) together with its unixctl server.  Commands are answered by
 * rdma_bond_agent_command().
 *
 * Thread-safety
 * =============
 *
 * One thread calls all functions.  The core starts one thread of its own
 * (the table's change notifier), invisible to the caller.
 */

#ifndef RDMA_BOND_AGENT_AGENT_H
#define RDMA_BOND_AGENT_AGENT_H 1

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Log levels passed to the log callback. */
enum rdma_bond_agent_log_level {
    RDMA_BOND_AGENT_DBG,
    RDMA_BOND_AGENT_INFO,
    RDMA_BOND_AGENT_WARN,
    RDMA_BOND_AGENT_ERR,
};

/* How the agent is set up.  NULL strings take the defaults. */
struct rdma_bond_agent_options {
    /* The table, normally $OVS_RUNDIR/rdma-bond.shm. */
    const char *table_path;
    /* The registry socket; default: registry.sock in the agent's
     * directory (rdma_bond_agent_prepare_dir()). */
    const char *socket_path;
    /* The summary that ovs-vswitchd's "rdma-bond/show" prints; default:
     * summary in the agent's directory. */
    const char *summary_path;
    /* A node-exporter textfile to keep up to date, or NULL for none. */
    const char *metrics_file;
    /* Comma-separated users and groups that may register QPs besides
     * root and the agent's own user. */
    const char *allow_users;
    const char *allow_groups;
    /* Comma-separated IP addresses of peer hosts to probe from the start
     * (peers are also learned from registered QPs and incoming probes). */
    const char *peers;
    /* Whether to probe L4 paths at all. */
    bool probe;
    /* The shared key file that signs and checks every probe frame (one or
     * two keys: docs/agent.md, "Keyed probes"), or NULL for none. */
    const char *probe_key_file;
    /* How probes travel: "auto" (NULL), "ud" (UD QPs on the members'
     * RNICs) or "af-packet" (raw frames on the members' netdevs). */
    const char *probe_transport;
    /* Whether to keep the host's RoCE plumbing for the published bonds
     * (docs/agent.md, "RoCE plumbing"). */
    bool manage_roce;
    /* Whether the members' RDMA device counters count as load: "auto"
     * (NULL; where the device counts only RDMA there: mlx5) or "off". */
    const char *device_counters;
    /* Receives every log message. */
    void (*log)(enum rdma_bond_agent_log_level, const char *message);
};

struct rdma_bond_agent;

/* Returns the agent's directory for the table 'table_path' (NULL for the
 * default), "rdma-bond-agent" next to the table, as a malloc()'d string,
 * after making sure that only this process's user can write it (created
 * if missing).  On failure returns NULL and stores a malloc()'d one-line
 * message in '*errorp'.  Call before daemonizing: the pidfile and the
 * unixctl socket go there. */
char *rdma_bond_agent_prepare_dir(const char *table_path, char **errorp);

/* Creates the agent (binds its registry socket; the table may appear
 * later).  Returns 0 and stores the agent in '*agentp', or returns an
 * errno-style value and stores a malloc()'d message in '*errorp'. */
int rdma_bond_agent_create(const struct rdma_bond_agent_options *,
                           struct rdma_bond_agent **agentp, char **errorp);

/* Does whatever is ready; never blocks. */
void rdma_bond_agent_run(struct rdma_bond_agent *);

/* Stores in 'fds' (at most 'max_fds') the descriptors to wait on for
 * POLLIN and their number in '*n_fds'.  Returns the longest time to wait,
 * in milliseconds (never negative). */
int rdma_bond_agent_wait(struct rdma_bond_agent *, int *fds, int max_fds,
                         int *n_fds);

/* Runs command 'argv[0]' ("show", "qps", "paths", "explain", "metrics")
 * with its arguments.  Returns the malloc()'d reply; '*ok' is false if
 * the reply is an error message. */
char *rdma_bond_agent_command(struct rdma_bond_agent *, int argc,
                              const char *argv[], bool *ok);

/* Undoes the RoCE plumbing the agent made ("exit --cleanup").  Returns
 * NULL on success, or a malloc()'d message. */
char *rdma_bond_agent_roce_cleanup(struct rdma_bond_agent *);

/* --dry-run: reads the table named by 'options' and the host, and returns
 * (malloc()'d) what the RoCE plumbing would change, one command per
 * line, without changing anything and without a running agent's
 * resources.  Returns 0, or an errno-style value with a message in
 * '*textp'. */
int rdma_bond_agent_roce_dry_run(const struct rdma_bond_agent_options *,
                                 char **textp);

/* Before the process ends on a fatal signal: writes the metrics textfile
 * as detached and removes the summary.  Idempotent; call nothing but
 * rdma_bond_agent_destroy() afterwards. */
void rdma_bond_agent_shutdown(struct rdma_bond_agent *);

/* Shuts down (as above), removes the registry socket and frees
 * everything. */
void rdma_bond_agent_destroy(struct rdma_bond_agent *);

#ifdef __cplusplus
}
#endif

#endif /* rdma-bond/agent/agent.h */
