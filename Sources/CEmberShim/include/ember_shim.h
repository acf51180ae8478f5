/* C helpers for what Swift cannot call directly. Each is a few lines. */
#ifndef EMBER_SHIM_H
#define EMBER_SHIM_H

#include <sys/types.h>
#include "ember_profile.h"

/* Opens a sampling event on `cpu` for all tasks, `frequency` times a second, created
 * disabled: the software cpu-clock, or with `branch_call_stacks` a cycles event that
 * records the Last Branch Record call stack. Returns the fd, or -errno. (syscall() is
 * variadic.) */
int ember_open_sampling_event(int cpu, unsigned long frequency, int branch_call_stacks);
int ember_event_enable(int fd);

/* Whether the CPU can sample user call stacks from its Last Branch Record: opens (and
 * closes) the event ember_open_sampling_event would. 0 if it can, else -errno. */
int ember_probe_lbr_call_stack(void);
int ember_event_disable(int fd);

/* Gives a cpu-clock event a new period in nanoseconds (PERF_EVENT_IOC_PERIOD; the ioctl
 * takes a pointer). The kernel restarts the event's timer: the next sample comes a whole
 * new period later. 0 or -errno. */
int ember_event_set_period(int fd, unsigned long long nanoseconds);

/* Forks a child that waits on a pipe before exec'ing argv[0] (searched in PATH), so the
 * profiler can attach first. Returns the child's pid or -errno; `*go_fd` receives the pipe
 * end to close (or write to) to let it run, `*status_fd` a CLOEXEC pipe that reports
 * an errno if exec fails and reaches EOF when exec succeeds. */
pid_t ember_spawn_suspended(char *const argv[], int *go_fd, int *status_fd);

/* A pidfd of `pid` (close-on-exec), readable once the process exits; -errno where the
 * kernel has none (before 5.3). (syscall() is variadic.) */
int ember_pidfd_open(pid_t pid);

/* SIGINT/SIGTERM/SIGHUP set a flag instead of killing ember, so it can write its output. */
void ember_install_stop_signals(void);
int ember_stop_signal(void); /* the signal received, or 0 */
void ember_restore_default_signals(void);

/* Routes libbpf's messages into a buffer instead of stderr; for error messages, the last
 * warning is kept, and where the verifier refused a program, "NAME: its reason" ("" if none). */
void ember_capture_libbpf_messages(void);
const char *ember_last_libbpf_message(void);
const char *ember_verifier_refusal(void);
void ember_forget_libbpf_messages(void);

/* Gives the heap's free pages back to the kernel (glibc's malloc_trim, not in Swift's
 * Glibc module): after closing files a long recording's RSS follows what it still uses,
 * not its highest point. */
void ember_return_free_memory(void);

#endif
