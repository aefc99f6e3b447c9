/* Copyright (c) 2026 The ovs-rdma-bond authors.
 * Licensed under the Apache License, Version 2.0.
 *
 * ovs-rdma-bond-agent: the per-host daemon of ovs-rdma-bond.  This file is
 * its Open vSwitch daemon shell (command line, daemonization, logging,
 * unixctl commands, main loop) around the agent's core (agent.h). */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "command-line.h"
#include "daemon.h"
#include "dirs.h"
#include "fatal-signal.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(rdma_bond_agent);

/* The most descriptors the core may ask to wait on. */
#define AGENT_MAX_FDS 4096

/* Command-line settings, filled by parse_options(). */
struct agent_settings {
    char *unixctl_path;         /* --unixctl, or NULL for the default. */
    const char *pidfile;        /* --pidfile: NULL none, "" the default. */
    struct rdma_bond_agent_options options;
    struct ds peers;            /* --peer values, comma separated. */
    bool dry_run;               /* --dry-run: print the plumbing, exit. */
};

static void parse_options(int argc, char *argv[], struct agent_settings *);
OVS_NO_RETURN static void usage(void);

/* Passes the core's log messages to vlog. */
static void
agent_log(enum rdma_bond_agent_log_level level, const char *message)
{
    switch (level) {
    case RDMA_BOND_AGENT_DBG:
        VLOG_DBG("%s", message);
        break;
    case RDMA_BOND_AGENT_INFO:
        VLOG_INFO("%s", message);
        break;
    case RDMA_BOND_AGENT_WARN:
        VLOG_WARN("%s", message);
        break;
    case RDMA_BOND_AGENT_ERR:
    default:
        VLOG_ERR("%s", message);
        break;
    }
}

/* Answers "rdma-bond/<aux>" with the core's reply. */
static void
agent_unixctl_command(struct unixctl_conn *conn, int argc,
                      const char *argv[], void *agent_)
{
    struct rdma_bond_agent *agent = agent_;
    const char *name = strchr(argv[0], '/') + 1;
    const char **args = xmalloc(argc * sizeof *args);
    bool ok;
    char *reply;

    args[0] = name;
    for (int i = 1; i < argc; i++) {
        args[i] = argv[i];
    }
    reply = rdma_bond_agent_command(agent, argc, args, &ok);
    if (!reply) {
        unixctl_command_reply_error(conn, "out of memory");
    } else if (ok) {
        unixctl_command_reply(conn, reply);
    } else {
        unixctl_command_reply_error(conn, reply);
    }
    free(reply);
    free(args);
}

/* The agent, for agent_unixctl_exit() and agent_fatal_signal_hook()
 * (NULL once destroyed). */
static struct rdma_bond_agent *agent_for_signals;

/* "exit [--cleanup]": with --cleanup, the RoCE plumbing is undone first,
 * as "ovs-appctl -t ovs-vswitchd exit --cleanup" releases its datapath. */
static void
agent_unixctl_exit(struct unixctl_conn *conn, int argc,
                   const char *argv[], void *exiting_)
{
    bool *exiting = exiting_;

    if (argc > 1 && strcmp(argv[1], "--cleanup")) {
        unixctl_command_reply_error(conn, "usage: exit [--cleanup]");
        return;
    }
    if (argc > 1 && agent_for_signals) {
        char *error = rdma_bond_agent_roce_cleanup(agent_for_signals);

        if (error) {
            VLOG_ERR("exit --cleanup: %s", error);
            unixctl_command_reply_error(conn, error);
            free(error);
            *exiting = true;
            return;
        }
    }
    *exiting = true;
    unixctl_command_reply(conn, NULL);
}

/* On SIGTERM, SIGINT or SIGHUP (OVS's fatal signals, from poll_block(), not
 * from the signal handler): the metrics textfile says detached and the
 * summary goes, as on "exit". */
static void
agent_fatal_signal_hook(void *aux OVS_UNUSED)
{
    if (agent_for_signals) {
        rdma_bond_agent_shutdown(agent_for_signals);
    }
}

int
main(int argc, char *argv[])
{
    struct agent_settings settings;
    struct unixctl_server *unixctl;
    struct rdma_bond_agent *agent;
    char *table_path = NULL;
    char *unixctl_path = NULL;
    char *agent_dir;
    bool exiting = false;
    char *error;
    int retval;

    set_program_name(argv[0]);
    ovs_cmdl_proctitle_init(argc, argv);
    service_start(&argc, &argv);
    parse_options(argc, argv, &settings);
    fatal_ignore_sigpipe();

    if (!settings.options.table_path) {
        table_path = xasprintf("%s/rdma-bond.shm", ovs_rundir());
        settings.options.table_path = table_path;
    }
    settings.options.peers = ds_cstr(&settings.peers);
    settings.options.log = agent_log;

    if (settings.dry_run) {
        char *text;

        retval = rdma_bond_agent_roce_dry_run(&settings.options, &text);
        if (retval) {
            ovs_fatal(0, "%s", text);
        }
        fputs(text, stdout);
        free(text);
        exit(EXIT_SUCCESS);
    }

    /* The pidfile, the unixctl socket, the registry socket and the
     * summary live in the agent's own directory, which only the agent's
     * user can write (docs/security.md): "ovs-appctl -t
     * rdma-bond-agent/ovs-rdma-bond-agent" finds it in $OVS_RUNDIR. */
    agent_dir = rdma_bond_agent_prepare_dir(settings.options.table_path,
                                            &error);
    if (!agent_dir) {
        ovs_fatal(0, "%s", error);
    }
    if (settings.pidfile) {
        char *pidfile = (*settings.pidfile
                         ? xstrdup(settings.pidfile)
                         : xasprintf("%s/%s.pid", agent_dir, program_name));
        set_pidfile(pidfile);
        free(pidfile);
    }

    daemonize_start(false);

    if (!settings.unixctl_path) {
        unixctl_path = xasprintf("%s/%s.%ld.ctl", agent_dir, program_name,
                                 (long int) getpid());
    }
    retval = unixctl_server_create(settings.unixctl_path
                                   ? settings.unixctl_path : unixctl_path,
                                   &unixctl);
    if (retval) {
        exit(EXIT_FAILURE);
    }

    /* After daemonize_start(): the core starts a thread, which a fork()
     * would not carry into the daemon. */
    retval = rdma_bond_agent_create(&settings.options, &agent, &error);
    if (retval) {
        ovs_fatal(0, "%s", error);
    }
    agent_for_signals = agent;
    fatal_signal_add_hook(agent_fatal_signal_hook, NULL, NULL, false);

    unixctl_command_register("exit", "[--cleanup]", 0, 1, agent_unixctl_exit,
                             &exiting);
    unixctl_command_register("rdma-bond/show", "", 0, 0,
                             agent_unixctl_command, agent);
    unixctl_command_register("rdma-bond/qps", "[BOND]", 0, 1,
                             agent_unixctl_command, agent);
    unixctl_command_register("rdma-bond/paths", "[PEER]", 0, 1,
                             agent_unixctl_command, agent);
    unixctl_command_register("rdma-bond/explain", "QP", 1, 1,
                             agent_unixctl_command, agent);
    unixctl_command_register("rdma-bond/metrics", "", 0, 0,
                             agent_unixctl_command, agent);

    daemonize_complete();
    VLOG_INFO("ovs-rdma-bond-agent started, table %s",
              settings.options.table_path);

    while (!exiting) {
        int fds[AGENT_MAX_FDS];
        int n_fds, timeout;

        rdma_bond_agent_run(agent);
        unixctl_server_run(unixctl);

        timeout = rdma_bond_agent_wait(agent, fds, AGENT_MAX_FDS, &n_fds);
        for (int i = 0; i < n_fds; i++) {
            poll_fd_wait(fds[i], POLLIN);
        }
        poll_timer_wait(timeout);
        unixctl_server_wait(unixctl);
        if (exiting) {
            poll_immediate_wake();
        }
        poll_block();
        if (should_service_stop()) {
            exiting = true;
        }
    }

    VLOG_INFO("ovs-rdma-bond-agent exiting");
    agent_for_signals = NULL;
    rdma_bond_agent_destroy(agent);
    unixctl_server_destroy(unixctl);
    service_stop();
    ds_destroy(&settings.peers);
    free(table_path);
    free(unixctl_path);
    free(agent_dir);
    return 0;
}

static void
parse_options(int argc, char *argv[], struct agent_settings *settings)
{
    enum {
        OPT_UNIXCTL = UCHAR_MAX + 1,
        OPT_TABLE,
        OPT_SOCKET,
        OPT_SUMMARY,
        OPT_METRICS_FILE,
        OPT_ALLOW_USER,
        OPT_ALLOW_GROUP,
        OPT_PEER,
        OPT_NO_PROBE,
        OPT_PROBE_KEY_FILE,
        OPT_PROBE_TRANSPORT,
        OPT_NO_MANAGE_ROCE,
        OPT_DEVICE_COUNTERS,
        OPT_DRY_RUN,
        OPT_AGENT_PIDFILE,
        VLOG_OPTION_ENUMS,
        DAEMON_OPTION_ENUMS,
    };
    static const struct option long_options[] = {
        {"help",         no_argument, NULL, 'h'},
        {"version",      no_argument, NULL, 'V'},
        {"unixctl",      required_argument, NULL, OPT_UNIXCTL},
        {"table",        required_argument, NULL, OPT_TABLE},
        {"socket",       required_argument, NULL, OPT_SOCKET},
        {"summary",      required_argument, NULL, OPT_SUMMARY},
        {"metrics-file", required_argument, NULL, OPT_METRICS_FILE},
        {"allow-user",   required_argument, NULL, OPT_ALLOW_USER},
        {"allow-group",  required_argument, NULL, OPT_ALLOW_GROUP},
        {"peer",         required_argument, NULL, OPT_PEER},
        {"no-probe",     no_argument, NULL, OPT_NO_PROBE},
        {"probe-key-file", required_argument, NULL, OPT_PROBE_KEY_FILE},
        {"probe-transport", required_argument, NULL, OPT_PROBE_TRANSPORT},
        {"no-manage-roce", no_argument, NULL, OPT_NO_MANAGE_ROCE},
        {"device-counters", required_argument, NULL, OPT_DEVICE_COUNTERS},
        {"dry-run",      no_argument, NULL, OPT_DRY_RUN},
        /* Before DAEMON_LONG_OPTIONS, whose "pidfile" it replaces (getopt
         * takes the first exact match): the default is in the agent's
         * directory, not in $OVS_RUNDIR. */
        {"pidfile",      optional_argument, NULL, OPT_AGENT_PIDFILE},
        DAEMON_LONG_OPTIONS,
        VLOG_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    char *short_options = ovs_cmdl_long_options_to_short_options(long_options);

    memset(settings, 0, sizeof *settings);
    ds_init(&settings->peers);
    settings->options.probe = true;
    settings->options.manage_roce = true;

    for (;;) {
        int c = getopt_long(argc, argv, short_options, long_options, NULL);
        if (c == -1) {
            break;
        }

        switch (c) {
        case 'h':
            usage();

        case 'V':
            ovs_print_version(0, 0);
            exit(EXIT_SUCCESS);

        case OPT_UNIXCTL:
            settings->unixctl_path = optarg;
            break;

        case OPT_TABLE:
            settings->options.table_path = optarg;
            break;

        case OPT_SOCKET:
            settings->options.socket_path = optarg;
            break;

        case OPT_SUMMARY:
            settings->options.summary_path = optarg;
            break;

        case OPT_METRICS_FILE:
            settings->options.metrics_file = optarg;
            break;

        case OPT_ALLOW_USER:
            settings->options.allow_users = optarg;
            break;

        case OPT_ALLOW_GROUP:
            settings->options.allow_groups = optarg;
            break;

        case OPT_PEER:
            ds_put_format(&settings->peers, "%s%s",
                          settings->peers.length ? "," : "", optarg);
            break;

        case OPT_NO_PROBE:
            settings->options.probe = false;
            break;

        case OPT_PROBE_KEY_FILE:
            settings->options.probe_key_file = optarg;
            break;

        case OPT_PROBE_TRANSPORT:
            settings->options.probe_transport = optarg;
            break;

        case OPT_NO_MANAGE_ROCE:
            settings->options.manage_roce = false;
            break;

        case OPT_DEVICE_COUNTERS:
            settings->options.device_counters = optarg;
            break;

        case OPT_DRY_RUN:
            settings->dry_run = true;
            break;

        case OPT_AGENT_PIDFILE:
            settings->pidfile = optarg ? optarg : "";
            break;

        VLOG_OPTION_HANDLERS
        DAEMON_OPTION_HANDLERS

        case '?':
            exit(EXIT_FAILURE);

        default:
            abort();
        }
    }
    free(short_options);

    if (optind < argc) {
        ovs_fatal(0, "unexpected argument \"%s\"; use --help for usage",
                  argv[optind]);
    }
}

static void
usage(void)
{
    printf("%s: the ovs-rdma-bond per-host agent\n"
           "usage: %s [OPTIONS]\n"
           "\nAgent options:\n"
           "  --table=PATH         the bond table (default: "
           "%s/rdma-bond.shm)\n"
           "  --socket=PATH        registry socket (default: "
           "rdma-bond-agent/registry.sock next to the table)\n"
           "  --summary=PATH       summary for ovs-vswitchd's rdma-bond/show "
           "(default: rdma-bond-agent/summary next to the table)\n"
           "  --pidfile[=FILE]     create pidfile (default: "
           "rdma-bond-agent/%s.pid next to the table)\n"
           "  --metrics-file=PATH  keep a Prometheus textfile up to date\n"
           "  --allow-user=USERS   also accept registrations from these "
           "users (comma separated)\n"
           "  --allow-group=GROUPS ... and from members of these groups\n"
           "  --peer=IP            probe paths to this peer host "
           "(repeatable)\n"
           "  --no-probe           do not probe L4 paths\n"
           "  --probe-key-file=FILE  sign and check every probe with the "
           "shared key(s) in FILE\n"
           "  --probe-transport=auto|ud|af-packet  how probes travel "
           "(default auto: UD QPs\n"
           "                       on mlx5 RNICs, AF_PACKET elsewhere)\n"
           "  --no-manage-roce     leave the host's RoCE plumbing alone\n"
           "  --device-counters=auto|off  count what members' RDMA devices "
           "sent beyond the\n"
           "                       QPs' reports as load (default auto: "
           "mlx5)\n"
           "  --dry-run            print what the RoCE plumbing would "
           "change, and exit\n"
           "  --unixctl=SOCKET     override default control socket name\n",
           program_name, program_name, ovs_rundir(), program_name);
    daemon_usage();
    vlog_usage();
    printf("\nOther options:\n"
           "  -h, --help           display this help message\n"
           "  -V, --version        display version information\n");
    exit(EXIT_SUCCESS);
}
