// SPDX-License-Identifier: GPL-2.0
/*
 * ember's off-CPU program: on every context switch, notes when a target thread is switched
 * out, with its stacks (taken in its own context, the only moment its user stack is
 * reachable), and at its switch-in adds the time it was away to the counts, keyed as the
 * CPU profile's samples are. Every block that cannot be stored is counted in
 * offcpu_counters.
 *
 * The maps of ember_maps.bpf.h are the CPU program's (user space hands their descriptors over
 * before loading): one pid filter, one stack table, one ring buffer, and with --unwind auto the
 * processes' mappings and their files' unwind tables, which the CFI walk of ember_cfi.bpf.h
 * reads to take a blocked thread's whole user stack where its code keeps no frame pointers.
 * With --unwind dwarf a blocked thread's user stack is copied through the ring buffer at its
 * switch-out instead, and its block's length follows at its switch-in (EMBER_SAMPLE_BLOCK_*).
 */
#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include "ember_profile.h"
#include "ember_task.h"
#include "ember_maps.bpf.h"
#include "ember_cfi.bpf.h"
#include "ember_copy.bpf.h"

/* Its own (cfi_scratch too). Sizes are placeholders: user space sets them before loading.
 * Allocated as entries arrive, as profile.bpf.c's counts are. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct ember_offcpu_start);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} blocked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ember_offcpu_key);
	__type(value, struct ember_offcpu_value);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} offcpu_counts SEC(".maps");

/* The off-CPU options, fixed before loading as `config` is (ember_maps.bpf.h). */
const volatile struct ember_offcpu_config offcpu_config SEC(".rodata.offcpu") = {};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, EMBER_OFFCPU_COUNTER_COUNT);
} offcpu_counters SEC(".maps");

/* With --unwind dwarf: the buffers blocked stacks' copies are assembled in, one per possible
 * CPU (user space sizes it; 1 entry otherwise). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct scratch_buffer);
	__uint(max_entries, 1);
} copy_scratch SEC(".maps");

/* A new thread's entry in `blocked` before its first switch-out is noted in it. */
static const struct ember_offcpu_start unblocked = {};

static __always_inline void add(__u32 counter, __u64 amount)
{
	__u64 *value = bpf_map_lookup_elem(&offcpu_counters, &counter);
	if (value)
		*value += amount; /* per-CPU: no other writer */
}

#define EMBER_PYTHON_COUNT(event) add(EMBER_OFFCPU_PYTHON_##event, 1)
#include "ember_python.bpf.h"

static __always_inline void count_stack_error(__s32 id, __u32 collision, __u32 other)
{
	if (id == -EEXIST)
		add(collision, 1);
	else if (id < 0 && id != -EFAULT)
		add(other, 1);
}

#define TASK_INTERRUPTIBLE 0x0001
#define TASK_UNINTERRUPTIBLE 0x0002
#define TASK_NOLOAD 0x0400

static __always_inline __u32 state_bit(unsigned int state)
{
	if (state == 0)
		return EMBER_OFFCPU_RUNNABLE;
	if (state & TASK_INTERRUPTIBLE)
		return EMBER_OFFCPU_INTERRUPTIBLE;
	if ((state & TASK_UNINTERRUPTIBLE) && !(state & TASK_NOLOAD))
		return EMBER_OFFCPU_UNINTERRUPTIBLE;
	return EMBER_OFFCPU_OTHER;
}

/* With config.sample_times: the interval of a block just counted under `key`, a small record
 * through the ring buffer. The time in the map is exact either way; an interval the full
 * buffer refuses is counted as lost. */
static __always_inline void send_block_time(struct ember_offcpu_key *key, __u64 start, __u64 elapsed)
{
	if (!config.sample_times)
		return;
	struct ember_stack_sample *record = bpf_ringbuf_reserve(
		&stack_samples, sizeof(struct ember_stack_sample) + sizeof(struct ember_block_time), 0);
	if (!record) {
		add(EMBER_OFFCPU_TIMES_LOST, 1);
		return;
	}
	__builtin_memset(record, 0, sizeof(*record));
	record->pid = key->blocked.pid;
	record->tid = key->blocked.tid;
	record->kind = EMBER_SAMPLE_BLOCK_TIME;
	record->stack_size = sizeof(struct ember_block_time);
	record->time = start;
	struct ember_block_time *payload = (void *)(record + 1);
	__builtin_memcpy(&payload->key, key, sizeof(*key));
	payload->nanoseconds = elapsed;
	bpf_ringbuf_submit(record, BPF_RB_NO_WAKEUP);
}

/* Wakes user space only once the ring buffer is a quarter full: a wakeup is an irq_work, and
 * user space drains the buffer on its own every few milliseconds. */
static __always_inline __u64 ring_wakeup(void)
{
	return bpf_ringbuf_query(&stack_samples, BPF_RB_AVAIL_DATA) >
			       bpf_ringbuf_query(&stack_samples, BPF_RB_RING_SIZE) / 4 ?
		       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void block_header(struct ember_stack_sample *record, struct ember_offcpu_start *start,
					 __u32 kind)
{
	__builtin_memset(record, 0, sizeof(*record));
	record->pid = start->key.pid;
	record->tid = start->key.tid;
	record->kind = kind;
	record->cpu = bpf_get_smp_processor_id();
	record->time = start->time;
	record->kernel_stack_id = start->key.kernel_stack_id;
	record->python_stack_hash = start->key.python_stack_hash;
	__builtin_memcpy(record->comm, start->key.comm, sizeof(record->comm));
}

/* --unwind dwarf, at switch-out: the blocked thread's user registers and the top of its user
 * stack (as a CPU sample's copy), for user space to unwind. 0 if sent. */
static __always_inline int send_block_copy(struct task_struct *task, struct ember_offcpu_start *start)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct ember_stack_sample *record = (void *)bpf_map_lookup_elem(&copy_scratch, &cpu);
	if (!record)
		return -1;
	block_header(record, start, EMBER_SAMPLE_BLOCK_COPY);
	__u32 size = copy_task_stack(task, record);
	if (size == 0)
		add(EMBER_OFFCPU_COPY_ERRORS, 1);
	record->stack_size = size;
	/* The size again, in the register the verifier checks. */
	size = record->stack_size;
	if (size > EMBER_MAX_STACK_COPY)
		return -1;
	barrier_var(size);
	if (bpf_ringbuf_output(&stack_samples, record, sizeof(*record) + size, ring_wakeup()) != 0)
		return -1;
	add(EMBER_OFFCPU_BLOCK_COPIES, 1);
	return 0;
}

/* --unwind auto, at switch-out: a walked user stack cfi_stacks had no room for, its pcs
 * whole (as the CPU program sends such a sample's). 0 if sent. */
static __always_inline int send_block_addresses(struct ember_offcpu_start *start, struct ember_user_stack *walked)
{
	struct ember_stack_sample *record = bpf_ringbuf_reserve(
		&stack_samples, sizeof(struct ember_stack_sample) + EMBER_MAX_STACK_DEPTH * sizeof(__u64), 0);
	if (!record)
		return -1;
	block_header(record, start, EMBER_SAMPLE_BLOCK_ADDRESSES);
	__u32 size = walked->depth * sizeof(__u64);
	if (size > EMBER_MAX_STACK_DEPTH * sizeof(__u64))
		size = EMBER_MAX_STACK_DEPTH * sizeof(__u64);
	barrier_var(size);
	if (size > 0 && bpf_probe_read_kernel(record->stack, size, walked->pcs) != 0)
		size = 0;
	record->stack_size = size;
	record->truncated = walked->end + 1;
	bpf_ringbuf_submit(record, ring_wakeup());
	add(EMBER_OFFCPU_BLOCK_ADDRESSES, 1);
	return 0;
}

/* At switch-in, for a block whose stack went through the ring buffer: its length (and
 * waker), for user space to join with the stack. 0 if sent. */
static __always_inline int send_block_end(struct ember_offcpu_start *start, __u64 elapsed, __u32 kept)
{
	struct ember_stack_sample *record = bpf_ringbuf_reserve(
		&stack_samples, sizeof(struct ember_stack_sample) + sizeof(struct ember_block_end), 0);
	if (!record) {
		add(EMBER_OFFCPU_ENDS_LOST, 1);
		add(EMBER_OFFCPU_ENDS_LOST_NS, elapsed);
		return -1;
	}
	block_header(record, start, EMBER_SAMPLE_BLOCK_END);
	record->stack_size = sizeof(struct ember_block_end);
	struct ember_block_end *end = (void *)(record + 1);
	end->nanoseconds = elapsed;
	end->state = start->state;
	end->kept = kept;
	__builtin_memcpy(&end->waker, &start->waker, sizeof(end->waker));
	bpf_ringbuf_submit(record, ring_wakeup());
	return 0;
}

/* The block `start` ended `elapsed` ns after it began: kept, dropped by a filter, or sent
 * whole through the ring buffer when the counts map has no room. */
static __always_inline void count_block(struct ember_offcpu_start *start, __u64 elapsed)
{
	add(EMBER_OFFCPU_NANOSECONDS, elapsed);
	if (start->dropped) {
		add(EMBER_OFFCPU_STATE_BLOCKS, 1);
		add(EMBER_OFFCPU_STATE_NS, elapsed);
		return;
	}
	__u32 kept = elapsed >= offcpu_config.min_block_ns;
	/* Its stack went through the ring buffer: so does its end. Without room for the end, the
	 * time is counted here, under its key's lost user stack (-ENOSPC). */
	if (start->stack_sent && send_block_end(start, elapsed, kept) == 0) {
		add(kept ? EMBER_OFFCPU_BLOCKS : EMBER_OFFCPU_SHORT_BLOCKS, 1);
		if (!kept)
			add(EMBER_OFFCPU_SHORT_NS, elapsed);
		return;
	}
	if (!kept) {
		add(EMBER_OFFCPU_SHORT_BLOCKS, 1);
		add(EMBER_OFFCPU_SHORT_NS, elapsed);
		return;
	}
	add(EMBER_OFFCPU_BLOCKS, 1);
	struct ember_offcpu_key key;
	__builtin_memcpy(&key.blocked, &start->key, sizeof(key.blocked));
	__builtin_memcpy(&key.waker, &start->waker, sizeof(key.waker));
	struct ember_offcpu_value *value = bpf_map_lookup_elem(&offcpu_counts, &key);
	if (!value) {
		struct ember_offcpu_value zero = {};
		bpf_map_update_elem(&offcpu_counts, &key, &zero, BPF_NOEXIST);
		value = bpf_map_lookup_elem(&offcpu_counts, &key);
	}
	if (value) {
		__sync_fetch_and_add(&value->nanoseconds, elapsed);
		__sync_fetch_and_add(&value->blocks, 1);
		send_block_time(&key, start->time, elapsed);
		return;
	}
	add(EMBER_OFFCPU_COUNTS_MAP_FULL, 1);
	struct ember_stack_sample *record = bpf_ringbuf_reserve(
		&stack_samples, sizeof(struct ember_stack_sample) + sizeof(struct ember_offcpu_payload), 0);
	if (!record) {
		add(EMBER_OFFCPU_RING_BUFFER_FULL, 1);
		add(EMBER_OFFCPU_RING_BUFFER_FULL_NS, elapsed);
		return;
	}
	__builtin_memset(record, 0, sizeof(*record));
	record->pid = start->key.pid;
	record->tid = start->key.tid;
	record->kind = EMBER_SAMPLE_OFF_CPU_TIME;
	record->stack_size = sizeof(struct ember_offcpu_payload);
	record->time = start->time;
	record->stack_words[0] = start->key.stack_words[0];
	record->stack_words[1] = start->key.stack_words[1];
	record->python_stack_hash = start->key.python_stack_hash;
	__builtin_memcpy(record->comm, start->key.comm, sizeof(record->comm));
	struct ember_offcpu_payload *payload = (void *)(record + 1);
	payload->nanoseconds = elapsed;
	payload->user_stack_id = start->key.user_stack_id;
	payload->kernel_stack_id = start->key.kernel_stack_id;
	payload->state = start->state;
	payload->unused = 0;
	payload->user_stack_hash = start->key.user_stack_hash;
	__builtin_memcpy(&payload->waker, &start->waker, sizeof(payload->waker));
	bpf_ringbuf_submit(record, BPF_RB_NO_WAKEUP);
}

/* With --unwind auto, for a process whose mappings user space has given: the current task's
 * user stack (a blocking thread at switch-out, a waker at sched_waking) walked by CFI from its
 * saved user registers, kept in cfi_stacks; its hash, which names it in a key as the CPU
 * program's keys do. 0 when it could not be walked or kept (counted): the frame-pointer walk
 * then takes the stack, as it does for every process without mappings, unless `unstored` is
 * given: a walk cfi_stacks has no room for is then left there, to go through the ring buffer. */
static __always_inline __u64 walked_stack(struct task_struct *task, __u32 tgid,
					  struct ember_user_stack **unstored)
{
	if (config.unwind != EMBER_UNWIND_AUTO)
		return 0;
	struct ember_process_mappings *mappings = bpf_map_lookup_elem(&process_mappings, &tgid);
	if (!mappings)
		return 0;
	struct ember_user_stack *walked = 0;
	__u64 hash = 0;
	__u32 outcome = walk_user_stack(task, mappings, &walked, &hash);
	if (outcome != CFI_WALKED || !walked) {
		add(outcome == CFI_NEEDS_COPY ? EMBER_OFFCPU_CFI_NEEDS_COPY : EMBER_OFFCPU_CFI_PENDING, 1);
		return 0;
	}
	if (store_walked_stack(hash, walked) != 0) {
		if (unstored)
			*unstored = walked; /* counted as it is sent */
		else
			add(EMBER_OFFCPU_CFI_STACKS_FULL, 1);
		return 0;
	}
	add(EMBER_OFFCPU_CFI_STACKS, 1);
	return hash;
}

/* The thread leaving the CPU: when, in which state, and its stacks. */
static __always_inline void note_switch_out(void *ctx, struct task_struct *prev, unsigned int prev_state,
					    __u64 now)
{
	__u32 tid = prev->pid;
	__u32 tgid = prev->tgid;
	if (tid == 0)
		return; /* a CPU's idle task */
	if (!is_target(tgid) || tgid == config.ignored_tgid)
		return;
	if (prev->flags & PF_EXITING)
		return; /* its last switch: it never comes back */

	/* A thread's entry stays while it lives (taken at switch-in by setting its time to 0),
	 * filled in place: not allocated and freed at every switch, nor built on the stack, whose
	 * 512 bytes this program shares with the CFI walk's calls. */
	struct ember_offcpu_start *start = bpf_map_lookup_elem(&blocked, &tid);
	if (!start) {
		bpf_map_update_elem(&blocked, &tid, &unblocked, BPF_NOEXIST);
		start = bpf_map_lookup_elem(&blocked, &tid);
		if (!start) {
			add(EMBER_OFFCPU_BLOCKED_MAP_FULL, 1);
			return;
		}
	} else if (start->time != 0 && start->key.user_stack_id != EMBER_BLOCKED_BEFORE_RECORDING) {
		/* Its previous block never saw its switch-in (rare: a kernel may emit no sched_switch
		 * for some tasks leaving a CPU; docs/unwinding.md): its time is lost, counted. A
		 * thread user space found blocked at the start may have woken before its entry was
		 * written: its block ended as recording began. */
		add(EMBER_OFFCPU_SWITCH_INS_MISSED, 1);
	}
	/* Its time last: until then on_waking and user space see a thread not blocked. */
	__builtin_memset(start, 0, sizeof(*start));
	int copy = 0;
	struct ember_user_stack *unstored = 0;
	start->state = state_bit(prev_state);
	start->dropped = !(offcpu_config.states & start->state);
	start->key.pid = tgid;
	start->key.tid = tid;
	start->key.user_stack_id = -EFAULT;
	start->key.kernel_stack_id = -EFAULT;
	start->waker.user_stack_id = -EFAULT;
	start->waker.kernel_stack_id = -EFAULT;
	if (!start->dropped) {
		bpf_get_current_comm(&start->key.comm, sizeof(start->key.comm));
		if (config.kernel_stacks) {
			/* The first two frames are this program and its tracepoint's trampoline. */
			start->key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 2 & BPF_F_SKIP_FIELD_MASK);
			count_stack_error(start->key.kernel_stack_id, EMBER_OFFCPU_KERNEL_STACK_COLLISION,
					  EMBER_OFFCPU_KERNEL_STACK_ERROR);
		}
		int user_code = !(prev->flags & (PF_KTHREAD | PF_EXITING));
		/* Taken here, in the blocking thread's context: python_stack reads the current task's
		 * thread identity and user memory. */
		if (user_code)
			start->key.python_stack_hash = python_stack((__u64)tgid << 32 | tid);
		if (user_code && config.unwind == EMBER_UNWIND_DWARF)
			copy = 1;
		else if (user_code)
			start->key.user_stack_hash = walked_stack(prev, tgid, &unstored);
		if (copy || unstored) {
			/* Sent below; where it ends up counted here, its stack or end found no room. */
			start->key.user_stack_id = -ENOSPC;
		} else if (start->key.user_stack_hash) {
			start->key.user_stack_id = -ENOENT;
		} else if (user_code) {
			start->key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
			count_stack_error(start->key.user_stack_id, EMBER_OFFCPU_USER_STACK_COLLISION,
					  EMBER_OFFCPU_USER_STACK_ERROR);
			__u64 ip, sp, bp, words[2] = {};
			if (config.stack_words && start->key.user_stack_id >= 0 &&
			    user_registers(prev, &ip, &sp, &bp) == 0 &&
			    bpf_probe_read_user(words, sizeof(words), (void *)sp) == 0) {
				start->key.stack_words[0] = code_address_or_zero(words[0]);
				start->key.stack_words[1] = code_address_or_zero(words[1]);
			}
		}
	}
	start->time = now;
	add(EMBER_OFFCPU_SWITCHES, 1);
	/* The time first: a stack sent for a switch-out not noted would never see its end. */
	int sent;
	if (copy)
		sent = send_block_copy(prev, start);
	else if (unstored)
		sent = send_block_addresses(start, unstored);
	else
		return;
	if (sent != 0) {
		add(EMBER_OFFCPU_STACKS_LOST, 1);
		return;
	}
	start->stack_sent = 1;
}

SEC("tp_btf/sched_switch")
int on_switch(__u64 *ctx)
{
	/* TP_PROTO(bool preempt, struct task_struct *prev, struct task_struct *next,
	 *          unsigned int prev_state) */
	struct task_struct *prev = (struct task_struct *)ctx[1];
	struct task_struct *next = (struct task_struct *)ctx[2];
	unsigned int prev_state = (unsigned int)ctx[3];
	__u64 now = bpf_ktime_get_ns();
	note_switch_out(ctx, prev, prev_state, now);

	/* Only target threads have an entry: this lookup is the whole cost for the others. */
	__u32 tid = next->pid;
	struct ember_offcpu_start *start = bpf_map_lookup_elem(&blocked, &tid);
	if (!start || start->time == 0)
		return 0;
	__u64 elapsed = now > start->time ? now - start->time : 0;
	count_block(start, elapsed);
	start->time = 0;
	return 0;
}

/* With wakeups: the task waking a blocked target thread, with its stacks (taken here, in
 * the waker's context). A wakeup from an interrupt names the task it interrupted. */
SEC("tp_btf/sched_waking")
int on_waking(__u64 *ctx)
{
	struct task_struct *woken = (struct task_struct *)ctx[0];
	if (!offcpu_config.wakeups)
		return 0;
	__u32 tid = woken->pid;
	struct ember_offcpu_start *start = bpf_map_lookup_elem(&blocked, &tid);
	if (!start || start->time == 0 || start->dropped || start->waker.tid != 0)
		return 0; /* not blocked, filtered out, or woken already */
	struct ember_offcpu_waker waker = {};
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	waker.pid = pid_tgid >> 32;
	waker.tid = (__u32)pid_tgid;
	waker.user_stack_id = -EFAULT;
	waker.kernel_stack_id = -EFAULT;
	bpf_get_current_comm(&waker.comm, sizeof(waker.comm));
	if (config.kernel_stacks) {
		/* The first two frames are this program and its tracepoint's trampoline. */
		waker.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 2 & BPF_F_SKIP_FIELD_MASK);
		count_stack_error(waker.kernel_stack_id, EMBER_OFFCPU_KERNEL_STACK_COLLISION,
				  EMBER_OFFCPU_KERNEL_STACK_ERROR);
	}
	struct task_struct *current = bpf_get_current_task_btf();
	int user_code = waker.tid != 0 && !(current->flags & (PF_KTHREAD | PF_EXITING));
	if (user_code)
		waker.user_stack_hash = walked_stack(current, waker.pid, 0);
	if (waker.user_stack_hash) {
		waker.user_stack_id = -ENOENT;
	} else if (user_code) {
		waker.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		count_stack_error(waker.user_stack_id, EMBER_OFFCPU_USER_STACK_COLLISION,
				  EMBER_OFFCPU_USER_STACK_ERROR);
	}
	if (waker.tid == 0)
		waker.tid = (__u32)-1; /* an idle CPU's interrupt: known, but no task */
	__builtin_memcpy(&start->waker, &waker, sizeof(waker));
	return 0;
}

/* A thread that ends gives its entry back. */
SEC("tp_btf/sched_process_exit")
int on_exit(__u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	__u32 tid = task->pid;
	bpf_map_delete_elem(&blocked, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
