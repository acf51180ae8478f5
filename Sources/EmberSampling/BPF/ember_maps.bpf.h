/*
 * The maps both of ember's BPF programs declare, in one .bpf.h header both include (as
 * libbpf-tools share code between their programs): profile.bpf.c creates them, offcpu.bpf.c
 * reuses its descriptors (bpf_map__reuse_fd), so the definitions cannot drift apart. Sizes are
 * placeholders: user space sets them from its options before loading. cfi_scratch,
 * cfi_walk_memories and cfi_rule_cache are never shared: each program walks into its own
 * per-CPU buffers.
 */
#ifndef EMBER_MAPS_BPF_H
#define EMBER_MAPS_BPF_H

#include "ember_profile.h"

/* User and kernel stacks walked by the kernel (bpf_get_stackid), by id. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, EMBER_MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 16384);
} stacks SEC(".maps");

/* Processes to sample (tgid → enum ember_target). Unused when config.filter_by_pid is 0. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 8192);
} targets SEC(".maps");

/* What user space chose, fixed before loading (read-only data, as libbpf-tools keep their
 * options): the verifier knows each value, so it skips the paths a recording's options rule
 * out, and no run looks the options up. Each object has its own copy, set alike. */
const volatile struct ember_config config SEC(".rodata.config") = {};

/* Whether a process is sampled now. */
static __always_inline int is_target(__u32 tgid)
{
	if (!config.filter_by_pid)
		return 1;
	__u8 *target = bpf_map_lookup_elem(&targets, &tgid);
	return target && *target == EMBER_TARGET;
}

/* Registers, stack copies, stacks the maps could not count, events, on their way to user space. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} stack_samples SEC(".maps");

/* CFI mode (with AUTO): each process's executable mappings (tgid → its mappings, written
 * by user space); a process with an entry is unwound here by its files' tables. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct ember_process_mappings);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} process_mappings SEC(".maps");

/* CFI mode: where each file's rows are in unwind_rows (index from a mapping's `table`). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ember_unwind_table);
	__uint(max_entries, EMBER_MAX_UNWIND_TABLES);
} unwind_tables SEC(".maps");

/* CFI mode: every file's rows, one table after another (user space writes them through
 * an mmap of the map and sizes it: the tables' budget). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ember_unwind_row);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
} unwind_rows SEC(".maps");

/* CFI mode: the user stacks walked here, by hash (the counts map's keys carry the hash). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct ember_user_stack);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cfi_stacks SEC(".maps");

/* CFI mode: one stack per CPU to walk into (too large for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ember_user_stack);
	__uint(max_entries, 1);
} cfi_scratch SEC(".maps");

#define EMBER_CFI_WINDOW_SIZE 2048

/* A row's rule for one pc, as a walk found it. */
struct cfi_rule {
	__u64 pc;
	__s32 cfa_offset;
	__s16 rbp_offset;
	__u8 rule;
	__u8 plt_threshold;
	__u32 frame_pointer_code; /* the pc is in a mapping unwound by frame pointers */
};

/* CFI mode: what one walk remembers from frame to frame, one per CPU. In a map value, not on
 * the BPF stack: the verifier tracks what is on its stack, and a value kept there that changes
 * from frame to frame makes each frame a state of its own to verify. */
struct cfi_walk_memory {
	struct cfi_rule rule;   /* the current frame's */
	/* A recursion returns to the same call frame after frame: the last two pcs' rules, so
	 * that those frames skip both searches. */
	struct cfi_rule recent[2];
	__u32 next_recent;
	__u32 last_mapping;     /* consecutive frames are mostly in one file: its mapping is tried first */
	/* The piece of user stack the walk reads return addresses and saved rbps from
	 * (ember_cfi.bpf.h's read_stack_word). */
	__u64 window_base;
	__u64 window_length;    /* the bytes from window_base that were read; 0: none */
	__u64 word;             /* the last word read_stack_word read */
	__u8 window[EMBER_CFI_WINDOW_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct cfi_walk_memory);
	__uint(max_entries, 1);
} cfi_walk_memories SEC(".maps");

/* The rules walks found, by the process's mappings and pc: the same return addresses come
 * back sample after sample, and a hit skips the binary searches of the mappings and of the
 * file's rows. Direct-mapped, per CPU and per program (never shared, like
 * cfi_walk_memories), so an entry is never read while another walk writes it. */
#define EMBER_CFI_RULE_CACHE_BITS 10
struct cfi_cached_rule {
	__u64 generation;       /* ember_process_mappings.generation; 0: empty */
	struct cfi_rule rule;   /* rule.pc: the pc it is for */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct cfi_cached_rule);
	__uint(max_entries, 1 << EMBER_CFI_RULE_CACHE_BITS);
} cfi_rule_cache SEC(".maps");

#endif
