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
#include "ember_maps.bpf.h"
#include "ember_cfi.bpf.h"
#include "ember_copy.bpf.h"

/* Its own maps (the shared ones are in ember_maps.bpf.h). Sizes are placeholders: user
 * space sets them from its options before loading. The counts map's size is a bound, its
 * entries allocated as keys arrive (most recordings hold far fewer): preallocated, they
 * would cost every start the whole map. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ember_sample_key);
	__type(value, __u64);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} counts SEC(".maps");

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

/* DWARF mode: the buffers samples are assembled in (ember_copy.bpf.h); user space sets
 * max_entries to the number of possible CPUs. */
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

#define EMBER_PYTHON_COUNT(event) count(EMBER_PYTHON_##event)
#include "ember_python.bpf.h"

/* A collision loses the stack but the sample is still kept (under a "lost" frame). */
static __always_inline void count_stack_error(__s32 id, __u32 collision, __u32 other)
{
	if (id == -EEXIST)
		count(collision);
	else if (id < 0 && id != -EFAULT)
		count(other);
}

static __always_inline struct ember_stack_sample *
begin_ring_sample(__u64 pid_tgid, __u32 kind, __u64 python_hash)
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
	sample->kernel_stack_id = 0;
	sample->time = bpf_ktime_get_ns();
	sample->stack_words[0] = 0;
	sample->stack_words[1] = 0;
	sample->python_stack_hash = python_hash;
	bpf_get_current_comm(&sample->comm, sizeof(sample->comm));
	return sample;
}

/* Appends the kernel stack after the stack_size bytes already in the sample, and sends it. */
static __always_inline int finish_ring_sample(struct bpf_perf_event_data *ctx,
					      struct ember_stack_sample *sample)
{
	__u32 size = sample->stack_size;
	if (size > EMBER_MAX_STACK_COPY)
		return -1;
	if (config.kernel_stacks) {
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

/* DWARF mode, and a CFI walk's fallback: the current task's user registers and a copy of
 * the top of its user stack. The send paths are global functions: the verifier checks each
 * once, on its own, rather than along every path of `sample` that reaches it. */
__noinline int send_stack_copy(struct bpf_perf_event_data *ctx, __u64 python_hash)
{
	struct ember_stack_sample *sample =
		begin_ring_sample(bpf_get_current_pid_tgid(), EMBER_SAMPLE_STACK_COPY, python_hash);
	if (!sample)
		return -1;
	__u32 size = copy_task_stack(bpf_get_current_task_btf(), sample);
	if (size == 0)
		count(EMBER_STACK_COPY_ERROR);
	sample->stack_size = size;
	if (finish_ring_sample(ctx, sample) != 0)
		return -1;
	count(EMBER_DWARF_SAMPLES);
	return 0;
}

/* LBR mode: the user registers and the CPU's call-stack branch records (the event was
 * opened with branch-stack sampling in call-stack mode, user calls only). */
static __always_inline void send_branch_records(struct bpf_perf_event_data *ctx, struct task_struct *task,
						__u64 pid_tgid, __u64 python_hash)
{
	struct ember_stack_sample *sample = begin_ring_sample(pid_tgid, EMBER_SAMPLE_BRANCH_RECORDS, python_hash);
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
	if (finish_ring_sample(ctx, sample) == 0)
		count(EMBER_BRANCH_SAMPLES);
}

/* Frame-pointer or CFI mode, for a sample the maps could not count: its addresses, whole
 * (`walked`: the user stack a CFI walk found is in cfi_scratch; `truncated` then says how
 * it ended, plus 1). */
__noinline int send_addresses(struct bpf_perf_event_data *ctx, struct ember_sample_key *key, int user_code,
			      int walked_in_kernel)
{
	if (!key)
		return -1;
	__u32 zero = 0;
	struct ember_user_stack *walked = walked_in_kernel ? bpf_map_lookup_elem(&cfi_scratch, &zero) : 0;
	struct ember_stack_sample *sample =
		begin_ring_sample(bpf_get_current_pid_tgid(), EMBER_SAMPLE_ADDRESSES, key->python_stack_hash);
	if (!sample)
		return -1;
	if (walked) {
		__u32 size = walked->depth * sizeof(__u64);
		if (size > EMBER_MAX_STACK_DEPTH * sizeof(__u64))
			size = EMBER_MAX_STACK_DEPTH * sizeof(__u64);
		barrier_var(size);
		if (size > 0 && bpf_probe_read_kernel(sample->stack, size, walked->pcs) == 0)
			sample->stack_size = size;
		sample->truncated = walked->end + 1;
	} else if (user_code) {
		long user = bpf_get_stack(ctx, sample->stack, EMBER_MAX_STACK_DEPTH * sizeof(__u64),
					  BPF_F_USER_STACK);
		sample->stack_size = user > 0 ? user : 0;
	}
	sample->stack_words[0] = key->stack_words[0];
	sample->stack_words[1] = key->stack_words[1];
	if (finish_ring_sample(ctx, sample) != 0)
		return -1;
	count(EMBER_OVERFLOW_SAMPLES);
	return 0;
}

/* With config.sample_times: the time of a sample just counted under `key`, a small record
 * through the ring buffer. The count in the map is exact either way; a time the full buffer
 * refuses is counted as lost. */
static __always_inline void send_counted_time(struct ember_sample_key *key)
{
	if (!config.sample_times)
		return;
	struct ember_stack_sample *record =
		bpf_ringbuf_reserve(&stack_samples, sizeof(*record) + sizeof(*key), 0);
	if (!record) {
		count(EMBER_SAMPLE_TIMES_LOST);
		return;
	}
	__builtin_memset(record, 0, sizeof(*record));
	record->pid = key->pid;
	record->tid = key->tid;
	record->kind = EMBER_SAMPLE_COUNTED_TIME;
	record->stack_size = sizeof(*key);
	record->cpu = bpf_get_smp_processor_id();
	record->time = bpf_ktime_get_ns();
	__builtin_memcpy(record->stack, key, sizeof(*key));
	/* No wakeup (an interrupt per sample): user space drains the buffer every few ms. */
	bpf_ringbuf_submit(record, BPF_RB_NO_WAKEUP);
}


SEC("perf_event")
int sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if (!is_target(tgid) || tgid == config.ignored_tgid)
		return 0;

	count(EMBER_SAMPLES);
	struct task_struct *task = bpf_get_current_task_btf();
	/* A kernel thread has no user stack, and an exiting task's is being torn down (its
	 * samples are the kernel's exit work): neither is a lost stack. */
	int user_code = !(task->flags & (PF_KTHREAD | PF_EXITING));
	__u64 python_hash = user_code ? python_stack(pid_tgid) : 0;
	/* AUTO: a process with mappings is walked here by CFI; one marked for DWARF gets stack
	 * copies; the others frame pointers. */
	struct ember_process_mappings *mappings = 0;
	struct ember_user_stack *walked = 0;
	__u64 walked_hash = 0;
	if (user_code && config.unwind == EMBER_UNWIND_AUTO &&
	    (mappings = bpf_map_lookup_elem(&process_mappings, &tgid))) {
		__u32 outcome = walk_user_stack(task, mappings, &walked, &walked_hash);
		if (outcome != CFI_WALKED) {
			/* The user-space unwinder takes it (as --unwind dwarf would). */
			count(outcome == CFI_NEEDS_COPY ? EMBER_CFI_NEEDS_COPY : EMBER_CFI_PENDING);
			send_stack_copy(ctx, python_hash);
			return 0;
		}
		count(EMBER_CFI_SAMPLES);
	} else if (user_code && (config.unwind == EMBER_UNWIND_DWARF ||
			  (config.unwind == EMBER_UNWIND_AUTO &&
			   bpf_map_lookup_elem(&dwarf_processes, &tgid)))) {
		send_stack_copy(ctx, python_hash);
		return 0;
	}
	if (user_code && config.unwind == EMBER_UNWIND_LBR) {
		send_branch_records(ctx, task, pid_tgid, python_hash);
		return 0;
	}

	struct ember_sample_key key = {};
	key.pid = tgid;
	key.tid = (__u32)pid_tgid;
	key.python_stack_hash = python_hash;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	/* -EFAULT means "no such stack" (a kernel thread has no user stack,
	 * a sample in user mode no kernel stack): not a loss. */
	key.kernel_stack_id = -EFAULT;
	if (config.kernel_stacks) {
		key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
		count_stack_error(key.kernel_stack_id, EMBER_KERNEL_STACK_COLLISION,
				  EMBER_KERNEL_STACK_ERROR);
	}
	key.user_stack_id = -EFAULT;
	int cfi_stack_lost = 0;
	if (walked) {
		key.user_stack_id = -ENOENT;
		key.user_stack_hash = walked_hash;
		if (store_walked_stack(walked_hash, walked) != 0) {
			count(EMBER_CFI_STACKS_FULL);
			cfi_stack_lost = 1;
		}
	} else if (user_code) {
		key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		count_stack_error(key.user_stack_id, EMBER_USER_STACK_COLLISION, EMBER_USER_STACK_ERROR);
	}
	if (config.stack_words && user_code && !walked && key.user_stack_id != -EFAULT) {
		__u64 ip, sp, bp, words[2] = {};
		if (user_registers(task, &ip, &sp, &bp) == 0 &&
		    bpf_probe_read_user(words, sizeof(words), (void *)sp) == 0) {
			key.stack_words[0] = code_address_or_zero(words[0]);
			key.stack_words[1] = code_address_or_zero(words[1]);
		}
	}
	/* A stack whose bucket is taken goes whole through the ring buffer. */
	if (key.user_stack_id == -EEXIST || key.kernel_stack_id == -EEXIST || cfi_stack_lost) {
		send_addresses(ctx, &key, user_code, walked != 0);
		return 0;
	}

	__u64 *value = bpf_map_lookup_elem(&counts, &key);
	if (value) {
		__sync_fetch_and_add(value, 1);
		send_counted_time(&key);
		return 0;
	}
	__u64 one = 1;
	if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST) == 0) {
		send_counted_time(&key);
		return 0;
	}
	/* Another CPU may have inserted the same key meanwhile. */
	value = bpf_map_lookup_elem(&counts, &key);
	if (value) {
		__sync_fetch_and_add(value, 1);
		send_counted_time(&key);
	} else {
		count(EMBER_COUNTS_MAP_FULL);
		send_addresses(ctx, &key, user_code, walked != 0);
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
	__u32 parent_tgid = parent->tgid;
	__u32 child_tgid = child->tgid;
	if (child_tgid == parent_tgid)
		return 0; /* a new thread */
	if (config.filter_by_pid) {
		if (!config.follow_forks || !is_target(parent_tgid))
			return 0; /* not ours */
		__u8 target = EMBER_TARGET;
		if (bpf_map_update_elem(&targets, &child_tgid, &target, BPF_ANY) != 0) {
			count(EMBER_TARGETS_MAP_FULL);
			return 0;
		}
	}
	/* A forked child maps what its parent maps: it is walked by CFI at once. */
	struct ember_process_mappings *inherited = bpf_map_lookup_elem(&process_mappings, &parent_tgid);
	if (inherited)
		bpf_map_update_elem(&process_mappings, &child_tgid, inherited, BPF_ANY);
	send_process_event(EMBER_PROCESS_FORKED, child_tgid);
	return 0;
}

/* After exec, a process's old choice of unwinder (and its mappings) is void: it takes frame-pointer stacks
 * until user space has looked at its new binary, which it is told to do. A command ember
 * launched becomes a target here. */
SEC("tp_btf/sched_process_exec")
int note_exec(__u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	__u32 tgid = task->tgid;
	bpf_map_delete_elem(&dwarf_processes, &tgid);
	bpf_map_delete_elem(&process_mappings, &tgid);
	bpf_map_delete_elem(&python_processes, &tgid);  /* a new program: looked at again */
	__u8 *target = config.filter_by_pid ? bpf_map_lookup_elem(&targets, &tgid) : 0;
	if (target && *target == EMBER_TARGET_FROM_EXEC)
		*target = EMBER_TARGET;
	if (!config.filter_by_pid || target)
		send_process_event(EMBER_PROCESS_EXECUTED, tgid);
	return 0;
}

/* A process that ends takes its mappings with it: children inherit their parent's in the
 * fork tracepoint, also those user space never watches (system-wide), so the map must not
 * wait for user space to see them gone. */
SEC("tp_btf/sched_process_exit")
int forget_exit(__u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	__u32 tgid = task->tgid;
	if (task->pid == tgid) {
		bpf_map_delete_elem(&process_mappings, &tgid);
		bpf_map_delete_elem(&python_processes, &tgid);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
