/*
 * A copy of the top of the current task's user stack into a ring-buffer record, shared by
 * profile.bpf.c (a CPU sample's, with --unwind dwarf) and offcpu.bpf.c (a blocked thread's at
 * its switch-out). Each program assembles its record in a buffer of its own.
 */
#ifndef EMBER_COPY_BPF_H
#define EMBER_COPY_BPF_H

#include "ember_profile.h"
#include "ember_task.h"
#include "ember_maps.bpf.h" /* config */

/* One buffer per CPU to assemble a record in (too large for the BPF stack, and per-CPU map
 * values are limited to 32 KiB: an array indexed by CPU, sized by user space). Slack of one
 * page past the largest copy, so the verifier can bound a page-sized read at any offset
 * below EMBER_MAX_STACK_COPY. */
struct scratch_buffer {
	__u8 bytes[sizeof(struct ember_stack_sample) + EMBER_MAX_STACK_COPY + 4096];
};

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

/* Copies the user stack from sample->sp up, a page at a time, until `limit` bytes or the
 * first page that cannot be read. Returns the bytes copied; *truncated says whether the
 * limit stopped it. */
static __always_inline __u32 copy_user_stack(struct ember_stack_sample *sample, __u32 limit,
					     __u32 *truncated)
{
	struct stack_copy copy = {.sample = sample, .limit = limit};
	bpf_loop(EMBER_MAX_STACK_COPY / 4096 + 1, copy_stack_page, &copy, 0);
	*truncated = copy.truncated;
	return copy.copied;
}

/* The task's user registers into `sample`, and its stack from sp up (config.stack_copy_size
 * bytes at most): the bytes copied, 0 when its registers or its stack could not be read. */
static __always_inline __u32 copy_task_stack(struct task_struct *task, struct ember_stack_sample *sample)
{
	if (user_registers(task, &sample->ip, &sample->sp, &sample->bp) != 0)
		return 0;
	__u32 limit = config.stack_copy_size;
	if (limit > EMBER_MAX_STACK_COPY)
		limit = EMBER_MAX_STACK_COPY;
	return copy_user_stack(sample, limit, &sample->truncated);
}

#endif
