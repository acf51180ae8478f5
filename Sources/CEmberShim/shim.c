#define _GNU_SOURCE
#include "ember_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/libbpf.h>

int ember_open_sampling_event(int cpu, unsigned long frequency, int branch_call_stacks)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	if (branch_call_stacks) {
		/* LBR needs a hardware event; call-stack mode records user calls only. */
		attr.type = PERF_TYPE_HARDWARE;
		attr.config = PERF_COUNT_HW_CPU_CYCLES;
		attr.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_BRANCH_STACK;
		attr.branch_sample_type = PERF_SAMPLE_BRANCH_USER | PERF_SAMPLE_BRANCH_CALL_STACK;
	} else {
		attr.type = PERF_TYPE_SOFTWARE;
		attr.config = PERF_COUNT_SW_CPU_CLOCK;
	}
	attr.freq = 1;
	attr.sample_freq = frequency;
	attr.disabled = 1;
	int fd = (int)syscall(SYS_perf_event_open, &attr, -1 /* all tasks */, cpu, -1,
			      PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int ember_probe_lbr_call_stack(void)
{
	int fd = ember_open_sampling_event(0, 99, 1);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int ember_event_enable(int fd)
{
	return ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0 ? -errno : 0;
}

int ember_event_set_period(int fd, unsigned long long nanoseconds)
{
	__u64 period = nanoseconds;
	return ioctl(fd, PERF_EVENT_IOC_PERIOD, &period) < 0 ? -errno : 0;
}

int ember_pidfd_open(pid_t pid)
{
	/* pidfds are close-on-exec from the start. */
	long fd = syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : (int)fd;
}

int ember_event_disable(int fd)
{
	return ioctl(fd, PERF_EVENT_IOC_DISABLE, 0) < 0 ? -errno : 0;
}

pid_t ember_spawn_suspended(char *const argv[], int *go_fd, int *status_fd)
{
	int go[2], status[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(status, O_CLOEXEC) < 0) {
		int err = errno;
		close(go[0]);
		close(go[1]);
		return -err;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int err = errno;
		close(go[0]); close(go[1]); close(status[0]); close(status[1]);
		return -err;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec. */
		char byte;
		close(go[1]);
		close(status[0]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		while (read(go[0], &byte, 1) < 0 && errno == EINTR)
			;
		execvp(argv[0], argv);
		int err = errno;
		(void)!write(status[1], &err, sizeof(err));
		_exit(127);
	}
	close(go[0]);
	close(status[1]);
	*go_fd = go[1];
	*status_fd = status[0];
	return pid;
}

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int signo)
{
	stop_signal = signo;
}

void ember_install_stop_signals(void)
{
	struct sigaction action;
	memset(&action, 0, sizeof(action));
	action.sa_handler = on_stop_signal;
	sigemptyset(&action.sa_mask);
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGHUP, &action, NULL);
}

int ember_stop_signal(void)
{
	return stop_signal;
}

void ember_restore_default_signals(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
}

static char last_message[512];
/* Why the kernel's verifier refused a program ("NAME: the log's reason"): the cause, which
 * libbpf's later "failed to load object" would hide. */
static char verifier_refusal[512];

static int starts_with(const char *text, size_t length, const char *prefix)
{
	size_t prefix_length = strlen(prefix);
	return length >= prefix_length && memcmp(text, prefix, prefix_length) == 0;
}

/* `message` is libbpf's "prog 'NAME': -- BEGIN PROG LOAD LOG --\n<log>-- END PROG LOAD LOG --":
 * the verifier's reason is the last line before its statistics ("processed N insns"). */
static void keep_verifier_refusal(const char *message, const char *begin)
{
	const char *name = strstr(message, "prog '");
	const char *name_end = name ? strchr(name + 6, '\'') : NULL;
	const char *end = strstr(begin, "-- END PROG LOAD LOG --");
	if (!end)
		end = begin + strlen(begin);
	const char *reason = NULL;
	size_t reason_length = 0;
	for (const char *line = strchr(begin, '\n'); line && line + 1 < end;) {
		line++;
		const char *next = memchr(line, '\n', (size_t)(end - line));
		size_t length = next ? (size_t)(next - line) : (size_t)(end - line);
		if (starts_with(line, length, "processed "))
			break;
		if (length > 0 && !starts_with(line, length, "verification time") &&
		    !starts_with(line, length, "stack depth")) {
			reason = line;
			reason_length = length;
		}
		line = next;
	}
	if (!reason)
		return;
	if (name && name_end && name_end < begin)
		snprintf(verifier_refusal, sizeof(verifier_refusal), "%.*s: %.*s", (int)(name_end - name - 6),
			 name + 6, (int)reason_length, reason);
	else
		snprintf(verifier_refusal, sizeof(verifier_refusal), "%.*s", (int)reason_length, reason);
}

static int capture_libbpf_message(enum libbpf_print_level level, const char *format, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	if (strstr(format, "BEGIN PROG LOAD LOG")) {
		/* The whole log, to read its end: printed only when a program is refused. */
		va_list measure;
		va_copy(measure, args);
		int size = vsnprintf(NULL, 0, format, measure);
		va_end(measure);
		char *log = size > 0 ? malloc((size_t)size + 1) : NULL;
		if (log) {
			vsnprintf(log, (size_t)size + 1, format, args);
			const char *begin = strstr(log, "-- BEGIN PROG LOAD LOG --");
			if (begin)
				keep_verifier_refusal(log, begin);
			free(log);
		}
		return 0;
	}
	vsnprintf(last_message, sizeof(last_message), format, args);
	size_t length = strlen(last_message);
	while (length > 0 && last_message[length - 1] == '\n')
		last_message[--length] = '\0';
	return 0;
}

void ember_capture_libbpf_messages(void)
{
	libbpf_set_print(capture_libbpf_message);
}

const char *ember_last_libbpf_message(void)
{
	return last_message;
}

const char *ember_verifier_refusal(void)
{
	return verifier_refusal;
}

void ember_forget_libbpf_messages(void)
{
	last_message[0] = '\0';
	verifier_refusal[0] = '\0';
}

void ember_return_free_memory(void)
{
	malloc_trim(0);
}
