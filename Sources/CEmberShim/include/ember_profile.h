/*
 * The layout shared by the BPF program (Sources/EmberSampling/BPF/profile.bpf.c)
 * and the Swift side that reads its maps. Keep it plain C with fixed-width types.
 */
#ifndef EMBER_PROFILE_H
#define EMBER_PROFILE_H

#include <linux/types.h>

#define EMBER_TASK_COMM_LEN 16
/* The kernel's default kernel.perf_event_max_stack. */
#define EMBER_MAX_STACK_DEPTH 127

/* One key of the counts map: who was running and where (stack ids or a negative errno). */
struct ember_sample_key {
	__u32 pid;              /* thread group id (the process) */
	__u32 tid;              /* thread id */
	__s32 user_stack_id;    /* id in the stacks map, or -errno */
	__s32 kernel_stack_id;  /* id in the stacks map, or -errno; -EFAULT: no kernel stack */
	char comm[EMBER_TASK_COMM_LEN];
};

/* The single entry of the config map, written before the events are enabled. */
struct ember_config {
	__u32 filter_by_pid;    /* 0: every task on the system */
	__u32 kernel_stacks;    /* 0: skip bpf_get_stackid for kernel stacks */
	__u32 follow_forks;     /* 1: children of a target become targets */
	__u32 reserved;
};

/* Indices of the per-CPU counters map. Every sample that is not in the counts map is here. */
enum ember_counter {
	EMBER_SAMPLES = 0,             /* samples of target tasks seen by the program */
	EMBER_USER_STACK_COLLISION,    /* -EEXIST: the stack's bucket held another stack */
	EMBER_KERNEL_STACK_COLLISION,
	EMBER_USER_STACK_ERROR,        /* any other error from bpf_get_stackid */
	EMBER_KERNEL_STACK_ERROR,
	EMBER_COUNTS_MAP_FULL,         /* the sample could not be stored at all */
	EMBER_TARGETS_MAP_FULL,        /* a forked child could not be followed */
	EMBER_COUNTER_COUNT,
};

#endif
