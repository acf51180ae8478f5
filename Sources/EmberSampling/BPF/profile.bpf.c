// SPDX-License-Identifier: GPL-2.0
/*
 * ember's sampling program: runs on every cpu-clock perf event, keeps samples of
 * the target processes, and counts them by (pid, tid, comm, user stack, kernel stack).
 * Every sample that cannot be stored whole is counted in `counters`.
 */
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include "ember_profile.h"

/* Sizes are placeholders: user space sets them from its options before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, EMBER_MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 16384);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ember_sample_key);
	__type(value, __u64);
	__uint(max_entries, 65536);
} counts SEC(".maps");

/* Processes to sample (tgid → 1). Unused when config.filter_by_pid is 0. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 8192);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ember_config);
	__uint(max_entries, 1);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, EMBER_COUNTER_COUNT);
} counters SEC(".maps");

static __always_inline void count(__u32 counter)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &counter);
	if (value)
		*value += 1; /* per-CPU: no other writer */
}

/* A collision loses the stack but the sample is still kept (under a "lost" frame). */
static __always_inline void count_stack_error(__s32 id, __u32 collision, __u32 other)
{
	if (id == -EEXIST)
		count(collision);
	else if (id < 0 && id != -EFAULT)
		count(other);
}

SEC("perf_event")
int sample(struct bpf_perf_event_data *ctx)
{
	__u32 zero = 0;
	struct ember_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return 0;

	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if (cfg->filter_by_pid && !bpf_map_lookup_elem(&targets, &tgid))
		return 0;

	count(EMBER_SAMPLES);

	struct ember_sample_key key = {};
	key.pid = tgid;
	key.tid = (__u32)pid_tgid;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	/* -EFAULT means "no such stack" (a kernel thread has no user stack,
	 * a sample in user mode no kernel stack): not a loss. */
	key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	count_stack_error(key.user_stack_id, EMBER_USER_STACK_COLLISION, EMBER_USER_STACK_ERROR);
	if (cfg->kernel_stacks) {
		key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
		count_stack_error(key.kernel_stack_id, EMBER_KERNEL_STACK_COLLISION,
				  EMBER_KERNEL_STACK_ERROR);
	} else {
		key.kernel_stack_id = -EFAULT;
	}

	__u64 *value = bpf_map_lookup_elem(&counts, &key);
	if (value) {
		__sync_fetch_and_add(value, 1);
		return 0;
	}
	__u64 one = 1;
	if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST) == 0)
		return 0;
	/* Another CPU may have inserted the same key meanwhile. */
	value = bpf_map_lookup_elem(&counts, &key);
	if (value)
		__sync_fetch_and_add(value, 1);
	else
		count(EMBER_COUNTS_MAP_FULL);
	return 0;
}

/* Only the fields read here; CO-RE relocates them against the running kernel's BTF. */
struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

/* Follow children: a process forked by a target becomes a target. A BTF tracepoint
 * needs no tracefs and gives the task structs directly. */
SEC("tp_btf/sched_process_fork")
int follow_fork(__u64 *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx[0];
	struct task_struct *child = (struct task_struct *)ctx[1];
	__u32 zero = 0;
	struct ember_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->filter_by_pid || !cfg->follow_forks)
		return 0;
	__u32 parent_tgid = parent->tgid;
	__u32 child_tgid = child->tgid;
	if (child_tgid == parent_tgid || !bpf_map_lookup_elem(&targets, &parent_tgid))
		return 0; /* a new thread, or not ours */
	__u8 one = 1;
	if (bpf_map_update_elem(&targets, &child_tgid, &one, BPF_ANY) != 0)
		count(EMBER_TARGETS_MAP_FULL);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
