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
#include "ember_task.h"

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

/* DWARF mode: the processes to unwind with DWARF when config.unwind is AUTO (tgid → 1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 8192);
} dwarf_processes SEC(".maps");

/* DWARF mode: registers and stack copies on their way to user space. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} stack_samples SEC(".maps");

/* DWARF mode: one buffer per CPU to assemble a sample in (too large for the BPF stack,
 * and per-CPU map values are limited to 32 KiB). User space sets max_entries to the
 * number of possible CPUs. */
/* Slack of one page past the largest copy, so the verifier can bound a page-sized read
 * at any offset below EMBER_MAX_STACK_COPY. */
struct scratch_buffer {
	__u8 bytes[sizeof(struct ember_stack_sample) + EMBER_MAX_STACK_COPY + 4096];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct scratch_buffer);
	__uint(max_entries, 1);
} scratch SEC(".maps");


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

struct stack_copy {
	struct ember_stack_sample *sample;
	__u32 limit;
	__u32 copied;
	__u32 truncated;
};

/* One page of the copy (a bpf_loop callback: verified once, not per iteration). */
static long copy_stack_page(__u32 index, struct stack_copy *copy)
{
	if (copy->copied >= copy->limit) {
		copy->truncated = 1;
		return 1;
	}
	__u32 chunk = index == 0 ? 4096 - (copy->sample->sp & 4095) : 4096;
	if (chunk > copy->limit - copy->copied)
		chunk = copy->limit - copy->copied;
	__u32 offset = copy->copied;
	if (offset >= EMBER_MAX_STACK_COPY || chunk > 4096)
		return 1;
	if (bpf_probe_read_user(copy->sample->stack + offset, chunk,
				(void *)(copy->sample->sp + offset)) != 0)
		return 1; /* the end of the stack, or a page not present */
	copy->copied = offset + chunk;
	return 0;
}

/* Copies the user stack from sp up, a page at a time, until `limit` bytes or the first
 * page that cannot be read. Returns the bytes copied; *truncated says whether the limit
 * stopped it. */
static __always_inline __u32 copy_user_stack(struct ember_stack_sample *sample, __u32 limit,
					     __u32 *truncated)
{
	struct stack_copy copy = {.sample = sample, .limit = limit};
	bpf_loop(EMBER_MAX_STACK_COPY / 4096 + 1, copy_stack_page, &copy, 0);
	*truncated = copy.truncated;
	return copy.copied;
}

static __always_inline struct ember_stack_sample *
begin_ring_sample(__u64 pid_tgid, __u32 kind)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct ember_stack_sample *sample = (void *)bpf_map_lookup_elem(&scratch, &cpu);
	if (!sample)
		return 0;
	sample->pid = pid_tgid >> 32;
	sample->tid = (__u32)pid_tgid;
	sample->kind = kind;
	sample->stack_size = 0;
	sample->kernel_size = 0;
	sample->truncated = 0;
	sample->cpu = cpu;
	sample->reserved = 0;
	sample->time = bpf_ktime_get_ns();
	sample->stack_words[0] = 0;
	sample->stack_words[1] = 0;
	bpf_get_current_comm(&sample->comm, sizeof(sample->comm));
	return sample;
}

/* Appends the kernel stack after the stack_size bytes already in the sample, and sends it. */
static __always_inline int finish_ring_sample(struct bpf_perf_event_data *ctx, struct ember_config *cfg,
					      struct ember_stack_sample *sample)
{
	__u32 size = sample->stack_size;
	if (size > EMBER_MAX_STACK_COPY)
		return -1;
	if (cfg->kernel_stacks) {
		long kernel = bpf_get_stack(ctx, sample->stack + size,
					    EMBER_MAX_STACK_DEPTH * sizeof(__u64), 0);
		sample->kernel_size = kernel > 0 ? kernel : 0;
	}
	__u32 kernel_size = sample->kernel_size;
	if (kernel_size > EMBER_MAX_STACK_DEPTH * sizeof(__u64))
		return -1;
	/* The size again, in the register the verifier checks: the compiler may reload it from
	 * the sample after the helper call above, unbounded. */
	size = sample->stack_size;
	if (size > EMBER_MAX_STACK_COPY)
		return -1;
	barrier_var(size);
	/* A wakeup is an irq_work, another interrupt per sample: user space drains the buffer
	 * on its own every few milliseconds, and is woken only when the buffer fills up. */
	__u64 wakeup = bpf_ringbuf_query(&stack_samples, BPF_RB_AVAIL_DATA) > (4 << 20) ?
			       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&stack_samples, sample, sizeof(*sample) + size + kernel_size, wakeup) != 0) {
		count(EMBER_RING_BUFFER_FULL);
		return -1;
	}
	return 0;
}

/* DWARF mode: the user registers and a copy of the top of the user stack. */
static __always_inline void send_stack_copy(struct bpf_perf_event_data *ctx, struct ember_config *cfg,
					    struct task_struct *task, __u64 pid_tgid)
{
	struct ember_stack_sample *sample = begin_ring_sample(pid_tgid, EMBER_SAMPLE_STACK_COPY);
	if (!sample)
		return;
	__u32 size = 0;
	if (user_registers(task, &sample->ip, &sample->sp, &sample->bp) == 0) {
		__u32 limit = cfg->stack_copy_size;
		if (limit > EMBER_MAX_STACK_COPY)
			limit = EMBER_MAX_STACK_COPY;
		size = copy_user_stack(sample, limit, &sample->truncated);
	}
	if (size == 0)
		count(EMBER_STACK_COPY_ERROR);
	sample->stack_size = size;
	if (finish_ring_sample(ctx, cfg, sample) == 0)
		count(EMBER_DWARF_SAMPLES);
}

/* LBR mode: the user registers and the CPU's call-stack branch records (the event was
 * opened with branch-stack sampling in call-stack mode, user calls only). */
static __always_inline void send_branch_records(struct bpf_perf_event_data *ctx, struct ember_config *cfg,
						struct task_struct *task, __u64 pid_tgid)
{
	struct ember_stack_sample *sample = begin_ring_sample(pid_tgid, EMBER_SAMPLE_BRANCH_RECORDS);
	if (!sample)
		return;
	long size = 0;
	if (user_registers(task, &sample->ip, &sample->sp, &sample->bp) == 0)
		size = bpf_read_branch_records(ctx, sample->stack,
					       EMBER_MAX_BRANCH_RECORDS * EMBER_BRANCH_RECORD_SIZE, 0);
	if (size < 0) {
		count(EMBER_BRANCH_RECORD_ERROR);
		size = 0;
	}
	sample->stack_size = size;
	if (finish_ring_sample(ctx, cfg, sample) == 0)
		count(EMBER_BRANCH_SAMPLES);
}

/* Frame-pointer mode, for a sample the maps could not count: its addresses, whole. */
static __always_inline void send_addresses(struct bpf_perf_event_data *ctx, struct ember_config *cfg,
					   struct ember_sample_key *key, __u64 pid_tgid, int user_code)
{
	struct ember_stack_sample *sample = begin_ring_sample(pid_tgid, EMBER_SAMPLE_ADDRESSES);
	if (!sample)
		return;
	if (user_code) {
		long user = bpf_get_stack(ctx, sample->stack, EMBER_MAX_STACK_DEPTH * sizeof(__u64),
					  BPF_F_USER_STACK);
		sample->stack_size = user > 0 ? user : 0;
	}
	sample->stack_words[0] = key->stack_words[0];
	sample->stack_words[1] = key->stack_words[1];
	if (finish_ring_sample(ctx, cfg, sample) == 0)
		count(EMBER_OVERFLOW_SAMPLES);
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
	if (tgid == cfg->ignored_tgid)
		return 0;

	count(EMBER_SAMPLES);
	struct task_struct *task = bpf_get_current_task_btf();
	/* A kernel thread has no user stack, and an exiting task's is being torn down (its
	 * samples are the kernel's exit work): neither is a lost stack. */
	int user_code = !(task->flags & (PF_KTHREAD | PF_EXITING));
	if (user_code && (cfg->unwind == EMBER_UNWIND_DWARF ||
			  (cfg->unwind == EMBER_UNWIND_AUTO &&
			   bpf_map_lookup_elem(&dwarf_processes, &tgid)))) {
		send_stack_copy(ctx, cfg, task, pid_tgid);
		return 0;
	}
	if (user_code && cfg->unwind == EMBER_UNWIND_LBR) {
		send_branch_records(ctx, cfg, task, pid_tgid);
		return 0;
	}

	struct ember_sample_key key = {};
	key.pid = tgid;
	key.tid = (__u32)pid_tgid;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	/* -EFAULT means "no such stack" (a kernel thread has no user stack,
	 * a sample in user mode no kernel stack): not a loss. */
	key.kernel_stack_id = -EFAULT;
	if (cfg->kernel_stacks) {
		key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
		count_stack_error(key.kernel_stack_id, EMBER_KERNEL_STACK_COLLISION,
				  EMBER_KERNEL_STACK_ERROR);
	}
	key.user_stack_id = -EFAULT;
	if (user_code) {
		key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		count_stack_error(key.user_stack_id, EMBER_USER_STACK_COLLISION, EMBER_USER_STACK_ERROR);
	}
	if (cfg->stack_words && user_code && key.user_stack_id != -EFAULT) {
		__u64 ip, sp, bp, words[2] = {};
		if (user_registers(task, &ip, &sp, &bp) == 0 &&
		    bpf_probe_read_user(words, sizeof(words), (void *)sp) == 0) {
			key.stack_words[0] = code_address_or_zero(words[0]);
			key.stack_words[1] = code_address_or_zero(words[1]);
		}
	}
	/* A stack whose bucket is taken goes whole through the ring buffer. */
	if (key.user_stack_id == -EEXIST || key.kernel_stack_id == -EEXIST) {
		send_addresses(ctx, cfg, &key, pid_tgid, user_code);
		return 0;
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
	if (value) {
		__sync_fetch_and_add(value, 1);
	} else {
		count(EMBER_COUNTS_MAP_FULL);
		send_addresses(ctx, cfg, &key, pid_tgid, user_code);
	}
	return 0;
}

/* Tells user space at once that a target forked or exec'd (a wakeup is an extra
 * interrupt, but forks and execs are rare next to samples). */
static __always_inline void send_process_event(__u32 kind, __u32 pid)
{
	struct ember_stack_sample event = {.kind = kind, .pid = pid};
	if (bpf_ringbuf_output(&stack_samples, &event, sizeof(event), BPF_RB_FORCE_WAKEUP) != 0)
		count(EMBER_PROCESS_EVENTS_LOST);
}

/* Follow children: a process forked by a target becomes a target; user space hears of
 * it (system-wide, of every new process). A BTF tracepoint needs no tracefs and gives the
 * task structs directly. */
SEC("tp_btf/sched_process_fork")
int follow_fork(__u64 *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx[0];
	struct task_struct *child = (struct task_struct *)ctx[1];
	__u32 zero = 0;
	struct ember_config *cfg = bpf_map_lookup_elem(&config, &zero);
	__u32 parent_tgid = parent->tgid;
	__u32 child_tgid = child->tgid;
	if (!cfg || child_tgid == parent_tgid)
		return 0; /* a new thread */
	if (cfg->filter_by_pid) {
		if (!cfg->follow_forks || !bpf_map_lookup_elem(&targets, &parent_tgid))
			return 0; /* not ours */
		__u8 one = 1;
		if (bpf_map_update_elem(&targets, &child_tgid, &one, BPF_ANY) != 0) {
			count(EMBER_TARGETS_MAP_FULL);
			return 0;
		}
	}
	send_process_event(EMBER_PROCESS_FORKED, child_tgid);
	return 0;
}

/* After exec, a process's old choice of unwinder is void: it takes frame-pointer stacks
 * until user space has looked at its new binary, which it is told to do. */
SEC("tp_btf/sched_process_exec")
int note_exec(__u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	__u32 tgid = task->tgid;
	bpf_map_delete_elem(&dwarf_processes, &tgid);
	__u32 zero = 0;
	struct ember_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (cfg && (!cfg->filter_by_pid || bpf_map_lookup_elem(&targets, &tgid)))
		send_process_event(EMBER_PROCESS_EXECUTED, tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
